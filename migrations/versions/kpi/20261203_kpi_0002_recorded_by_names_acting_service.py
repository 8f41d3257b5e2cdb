"""recorded_by names a service and the caller it acts for

A measurement written by a service for a caller is recorded as ``<service> for <act>`` (e.g.
``talent for k3f9a1b2``, ``talent for job:hr-publish``), longer than a key id. Widening a varchar
is a catalogue change in PostgreSQL: no table rewrite.

Revision ID: kpi_0002
Revises: kpi_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "kpi_0002"
down_revision: str | None = "kpi_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("measurements", "recorded_by"),
    ("measurement_revisions", "recorded_by"),
    ("measurement_revisions", "replaced_by"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(64), existing_type=sa.String(16), schema="kpi")


def downgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(16),
            existing_type=sa.String(64),
            schema="kpi",
            postgresql_using=f"left({column}, 16)",
        )
