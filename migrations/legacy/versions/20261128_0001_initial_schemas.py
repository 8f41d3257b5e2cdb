"""initial schemas

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMAS = ("gateway", "kpi", "strategy", "talent")


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "kpis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("aggregation", sa.String(length=8), nullable=False),
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("owner_org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("tags", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "aggregation IN ('sum', 'avg', 'min', 'max', 'last')",
            name=op.f("ck_kpis_aggregation_valid"),
        ),
        sa.CheckConstraint(
            "cadence IN ('daily', 'weekly', 'monthly')",
            name=op.f("ck_kpis_cadence_valid"),
        ),
        sa.CheckConstraint(
            "direction IN ('increase', 'decrease', 'target_range')",
            name=op.f("ck_kpis_direction_valid"),
        ),
        sa.CheckConstraint(
            "domain IN ('supply_chain', 'hr', 'productivity', 'quality', 'marketing', 'customer', 'finance', 'operations')",
            name=op.f("ck_kpis_domain_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpis")),
        sa.UniqueConstraint("key", name=op.f("uq_kpis_key")),
        schema="kpi",
    )
    op.create_index(
        op.f("ix_kpis_owner_org_unit_id"),
        "kpis",
        ["owner_org_unit_id"],
        unique=False,
        schema="kpi",
    )
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
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "level IN ('company', 'department', 'team')",
            name=op.f("ck_objectives_level_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'completed', 'cancelled')",
            name=op.f("ck_objectives_status_valid"),
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
        op.f("ix_objectives_owner_org_unit_id"),
        "objectives",
        ["owner_org_unit_id"],
        unique=False,
        schema="strategy",
    )
    op.create_index(
        op.f("ix_objectives_parent_id"),
        "objectives",
        ["parent_id"],
        unique=False,
        schema="strategy",
    )
    op.create_table(
        "org_units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('company', 'department', 'team')",
            name=op.f("ck_org_units_kind_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["talent.org_units.id"],
            name=op.f("fk_org_units_parent_id_org_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_units")),
        schema="talent",
    )
    op.create_index(
        op.f("ix_org_units_parent_id"),
        "org_units",
        ["parent_id"],
        unique=False,
        schema="talent",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_org_units_parent_id"), table_name="org_units", schema="talent")
    op.drop_table("org_units", schema="talent")
    op.drop_index(op.f("ix_objectives_parent_id"), table_name="objectives", schema="strategy")
    op.drop_index(
        op.f("ix_objectives_owner_org_unit_id"),
        table_name="objectives",
        schema="strategy",
    )
    op.drop_table("objectives", schema="strategy")
    op.drop_index(op.f("ix_kpis_owner_org_unit_id"), table_name="kpis", schema="kpi")
    op.drop_table("kpis", schema="kpi")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema}")
