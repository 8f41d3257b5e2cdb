"""talent schema: org unit keys, versions and archiving; idempotency records

Units that existed before keys get ``u<id without hyphens>`` (a valid slug), to be read as a
placeholder: keys never change afterwards.

Revision ID: talent_0002
Revises: talent_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "talent_0002"
down_revision: str | None = "talent_0001"
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
        schema="talent",
    )
    op.add_column("org_units", sa.Column("key", sa.String(length=40), nullable=True), schema="talent")
    op.execute("UPDATE talent.org_units SET key = 'u' || replace(id::text, '-', '')")
    op.alter_column("org_units", "key", nullable=False, schema="talent")
    op.add_column("org_units", sa.Column("version", sa.Integer(), server_default="1", nullable=False), schema="talent")
    op.add_column("org_units", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True), schema="talent")
    op.create_unique_constraint(op.f("uq_org_units_key"), "org_units", ["key"], schema="talent")
    op.create_check_constraint(
        op.f("ck_org_units_key_slug"), "org_units", "key ~ '^[a-z][a-z0-9_]{0,39}$'", schema="talent"
    )
    op.create_check_constraint(
        op.f("ck_org_units_not_own_parent"), "org_units", "parent_id IS NULL OR parent_id <> id", schema="talent"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_org_units_not_own_parent"), "org_units", schema="talent", type_="check")
    op.drop_constraint(op.f("ck_org_units_key_slug"), "org_units", schema="talent", type_="check")
    op.drop_constraint(op.f("uq_org_units_key"), "org_units", schema="talent", type_="unique")
    op.drop_column("org_units", "archived_at", schema="talent")
    op.drop_column("org_units", "version", schema="talent")
    op.drop_column("org_units", "key", schema="talent")
    op.drop_table("idempotency_records", schema="talent")
