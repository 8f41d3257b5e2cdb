"""key results linked to KPIs

Revision ID: strategy_0003
Revises: strategy_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "strategy_0003"
down_revision: str | None = "strategy_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("key_results", sa.Column("kpi", sa.String(length=100), nullable=True), schema="strategy")
    op.add_column(
        "key_results",
        sa.Column("kpi_value", sa.String(length=8), server_default="latest", nullable=False),
        schema="strategy",
    )
    op.create_check_constraint(
        op.f("ck_key_results_kpi_value_valid"), "key_results", "kpi_value IN ('latest', 'period')", schema="strategy"
    )
    op.add_column("key_results", sa.Column("kpi_aggregation", sa.String(length=8), nullable=True), schema="strategy")
    op.create_index(op.f("ix_key_results_kpi"), "key_results", ["kpi"], unique=False, schema="strategy")


def downgrade() -> None:
    op.drop_index(op.f("ix_key_results_kpi"), table_name="key_results", schema="strategy")
    op.drop_column("key_results", "kpi_aggregation", schema="strategy")
    op.drop_constraint(op.f("ck_key_results_kpi_value_valid"), "key_results", schema="strategy", type_="check")
    op.drop_column("key_results", "kpi_value", schema="strategy")
    op.drop_column("key_results", "kpi", schema="strategy")
