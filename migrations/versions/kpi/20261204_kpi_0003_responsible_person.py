"""A KPI's responsible person

The person who answers for a KPI (the seed's "Responsable"): a talent person id, optional, indexed
for "the KPIs this person answers for". A nullable column without a default is a catalogue change:
no table rewrite.

Revision ID: kpi_0003
Revises: kpi_0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "kpi_0003"
down_revision: str | None = "kpi_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("kpis", sa.Column("responsible_person_id", sa.Uuid(), nullable=True), schema="kpi")
    op.create_index(
        op.f("ix_kpis_responsible_person_id"), "kpis", ["responsible_person_id"], unique=False, schema="kpi"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_kpis_responsible_person_id"), table_name="kpis", schema="kpi")
    op.drop_column("kpis", "responsible_person_id", schema="kpi")
