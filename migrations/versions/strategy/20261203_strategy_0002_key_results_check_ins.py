"""key results, check-ins, versions and idempotency

Revision ID: strategy_0002
Revises: strategy_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "strategy_0002"
down_revision: str | None = "strategy_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("principal", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_records")),
        schema="strategy",
    )
    op.create_table(
        "key_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("objective_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("start_value", sa.Float(), nullable=False),
        sa.Column("target_value", sa.Float(), nullable=False),
        sa.Column("weight", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('increase', 'decrease', 'stay_above', 'stay_below', 'milestone')",
            name=op.f("ck_key_results_kind_valid"),
        ),
        sa.CheckConstraint("weight > 0", name=op.f("ck_key_results_weight_positive")),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["strategy.objectives.id"],
            name=op.f("fk_key_results_objective_id_objectives"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_results")),
        schema="strategy",
    )
    op.create_index(
        op.f("ix_key_results_objective_id"), "key_results", ["objective_id"], unique=False, schema="strategy"
    )
    op.create_table(
        "check_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_result_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name=op.f("ck_check_ins_confidence_range")),
        sa.ForeignKeyConstraint(
            ["key_result_id"],
            ["strategy.key_results.id"],
            name=op.f("fk_check_ins_key_result_id_key_results"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_ins")),
        schema="strategy",
    )
    op.create_index(
        "ix_check_ins_key_result_id_checked_at",
        "check_ins",
        ["key_result_id", "checked_at"],
        unique=False,
        schema="strategy",
    )
    op.add_column(
        "objectives", sa.Column("version", sa.Integer(), server_default="1", nullable=False), schema="strategy"
    )
    op.add_column("objectives", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True), schema="strategy")


def downgrade() -> None:
    op.drop_column("objectives", "archived_at", schema="strategy")
    op.drop_column("objectives", "version", schema="strategy")
    op.drop_index("ix_check_ins_key_result_id_checked_at", table_name="check_ins", schema="strategy")
    op.drop_table("check_ins", schema="strategy")
    op.drop_index(op.f("ix_key_results_objective_id"), table_name="key_results", schema="strategy")
    op.drop_table("key_results", schema="strategy")
    op.drop_table("idempotency_records", schema="strategy")
