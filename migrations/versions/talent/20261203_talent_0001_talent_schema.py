"""talent schema: org units

The talent service's part of the single history this replaced (its revision 0001).

Revision ID: talent_0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "talent_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("talent",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS talent")
    op.create_table(
        "org_units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('company', 'department', 'team')", name=op.f("ck_org_units_kind_valid")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["talent.org_units.id"],
            name=op.f("fk_org_units_parent_id_org_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_units")),
        schema="talent",
    )
    op.create_index(op.f("ix_org_units_parent_id"), "org_units", ["parent_id"], unique=False, schema="talent")


def downgrade() -> None:
    # The schema goes with the branch's version table, once the branch is at base (migrations/env.py).
    op.drop_index(op.f("ix_org_units_parent_id"), table_name="org_units", schema="talent")
    op.drop_table("org_units", schema="talent")
