"""initiatives, their updates, and closed objectives' frozen figures

Revision ID: strategy_0004
Revises: strategy_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "strategy_0004"
down_revision: str | None = "strategy_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "initiatives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("responsible_person_id", sa.Uuid(), nullable=True),
        sa.Column("objective_id", sa.Uuid(), nullable=True),
        sa.Column("key_result_id", sa.Uuid(), nullable=True),
        sa.Column("kpi", sa.String(length=100), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'done', 'cancelled')", name=op.f("ck_initiatives_status_valid")
        ),
        sa.CheckConstraint("due_date >= start_date", name=op.f("ck_initiatives_dates_ordered")),
        sa.CheckConstraint(
            "objective_id IS NOT NULL OR key_result_id IS NOT NULL OR kpi IS NOT NULL",
            name=op.f("ck_initiatives_has_target"),
        ),
        sa.CheckConstraint("(status = 'done') = (done_on IS NOT NULL)", name=op.f("ck_initiatives_done_on_when_done")),
        sa.CheckConstraint("done_on IS NULL OR done_on >= start_date", name=op.f("ck_initiatives_done_after_start")),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["strategy.objectives.id"],
            name=op.f("fk_initiatives_objective_id_objectives"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["key_result_id"],
            ["strategy.key_results.id"],
            name=op.f("fk_initiatives_key_result_id_key_results"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiatives")),
        schema="strategy",
    )
    for column in ("owner_org_unit_id", "objective_id", "key_result_id", "kpi"):
        op.create_index(op.f(f"ix_initiatives_{column}"), "initiatives", [column], unique=False, schema="strategy")
    op.create_table(
        "initiative_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("initiative_id", sa.Uuid(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "progress IS NULL OR (progress >= 0 AND progress <= 1)", name=op.f("ck_initiative_updates_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["strategy.initiatives.id"],
            name=op.f("fk_initiative_updates_initiative_id_initiatives"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_updates")),
        schema="strategy",
    )
    op.create_index(
        "ix_initiative_updates_initiative_id_created_at",
        "initiative_updates",
        ["initiative_id", "created_at"],
        unique=False,
        schema="strategy",
    )
    op.add_column("objectives", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True), schema="strategy")
    op.add_column("objectives", sa.Column("retrospective", sa.Text(), nullable=True), schema="strategy")
    op.add_column("objectives", sa.Column("final_progress", sa.Float(), nullable=True), schema="strategy")
    op.add_column("objectives", sa.Column("final_expected_progress", sa.Float(), nullable=True), schema="strategy")
    op.add_column("objectives", sa.Column("final_pace_status", sa.String(length=16), nullable=True), schema="strategy")


def downgrade() -> None:
    for column in ("final_pace_status", "final_expected_progress", "final_progress", "retrospective", "closed_at"):
        op.drop_column("objectives", column, schema="strategy")
    op.drop_index("ix_initiative_updates_initiative_id_created_at", table_name="initiative_updates", schema="strategy")
    op.drop_table("initiative_updates", schema="strategy")
    for column in ("kpi", "key_result_id", "objective_id", "owner_org_unit_id"):
        op.drop_index(op.f(f"ix_initiatives_{column}"), table_name="initiatives", schema="strategy")
    op.drop_table("initiatives", schema="strategy")
