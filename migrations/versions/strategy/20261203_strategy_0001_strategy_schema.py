"""strategy schema: objectives

The strategy service's part of the single history this replaced (its revision 0001).

Revision ID: strategy_0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "strategy_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("strategy",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS strategy")
    op.create_table(
        "objectives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("owner_org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("level IN ('company', 'department', 'team')", name=op.f("ck_objectives_level_valid")),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'completed', 'cancelled')", name=op.f("ck_objectives_status_valid")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_objectives_period_ordered")),
        sa.CheckConstraint("weight > 0", name=op.f("ck_objectives_weight_positive")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["strategy.objectives.id"],
            name=op.f("fk_objectives_parent_id_objectives"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objectives")),
        schema="strategy",
    )
    op.create_index(
        op.f("ix_objectives_owner_org_unit_id"), "objectives", ["owner_org_unit_id"], unique=False, schema="strategy"
    )
    op.create_index(op.f("ix_objectives_parent_id"), "objectives", ["parent_id"], unique=False, schema="strategy")


def downgrade() -> None:
    # The schema goes with the branch's version table, once the branch is at base (migrations/env.py).
    op.drop_index(op.f("ix_objectives_parent_id"), table_name="objectives", schema="strategy")
    op.drop_index(op.f("ix_objectives_owner_org_unit_id"), table_name="objectives", schema="strategy")
    op.drop_table("objectives", schema="strategy")
