"""kpi schema: definitions, targets, measurements, rollups, status

The KPI service's part of the single history this replaced (its revisions 0001 and 0003). The
columns of ``kpis`` keep the order that history gave them (the thresholds and ``version`` last).

Revision ID: kpi_0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "kpi_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("kpi",)
depends_on: str | Sequence[str] | None = None

# A replaced value is kept, with when and by whom it was replaced. A row trigger sees the row version
# it actually replaces, even when two writers race on the same (kpi, ts): neither value is lost.
REVISION_FUNCTION = """
CREATE FUNCTION kpi.keep_measurement_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi.measurement_revisions (kpi_id, ts, value, recorded_at, recorded_by, replaced_at, replaced_by)
    VALUES (OLD.kpi_id, OLD.ts, OLD.value, OLD.recorded_at, OLD.recorded_by, NEW.recorded_at, NEW.recorded_by);
    RETURN NULL;
END
$$
"""
REVISION_TRIGGER = """
CREATE TRIGGER measurements_keep_revision
    AFTER UPDATE ON kpi.measurements
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value)
    EXECUTE FUNCTION kpi.keep_measurement_revision();
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS kpi")
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
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("threshold_mode", sa.String(length=8), nullable=True),
        sa.Column("threshold_amber", sa.Double(), nullable=True),
        sa.Column("threshold_red", sa.Double(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "aggregation IN ('sum', 'avg', 'min', 'max', 'last')", name=op.f("ck_kpis_aggregation_valid")
        ),
        sa.CheckConstraint("cadence IN ('daily', 'weekly', 'monthly')", name=op.f("ck_kpis_cadence_valid")),
        sa.CheckConstraint(
            "direction IN ('increase', 'decrease', 'target_range')", name=op.f("ck_kpis_direction_valid")
        ),
        sa.CheckConstraint(
            "domain IN ('supply_chain', 'hr', 'productivity', 'quality', 'marketing', 'customer', 'finance', 'operations')",
            name=op.f("ck_kpis_domain_valid"),
        ),
        sa.CheckConstraint("threshold_mode IN ('absolute', 'relative')", name=op.f("ck_kpis_threshold_mode_valid")),
        sa.CheckConstraint(
            "(threshold_mode IS NULL) = (threshold_amber IS NULL)", name=op.f("ck_kpis_thresholds_complete")
        ),
        sa.CheckConstraint(
            "(threshold_mode IS NULL) = (threshold_red IS NULL)", name=op.f("ck_kpis_thresholds_complete_red")
        ),
        sa.CheckConstraint(
            "threshold_amber >= 0 AND threshold_red >= threshold_amber", name=op.f("ck_kpis_thresholds_ordered")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpis")),
        sa.UniqueConstraint("key", name=op.f("uq_kpis_key")),
        schema="kpi",
    )
    op.create_index(op.f("ix_kpis_owner_org_unit_id"), "kpis", ["owner_org_unit_id"], unique=False, schema="kpi")
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
        schema="kpi",
    )
    op.create_table(
        "measurement_revisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=16), nullable=True),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement_revisions")),
        schema="kpi",
    )
    op.create_index(
        "ix_measurement_revisions_kpi_id_ts", "measurement_revisions", ["kpi_id", "ts"], unique=False, schema="kpi"
    )
    op.create_table(
        "rollups_15m",
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_value", sa.Double(), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Double(), nullable=False),
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kpi_id", "bucket_start", name=op.f("pk_rollups_15m")),
        schema="kpi",
    )
    op.create_table(
        "rollups_period",
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_value", sa.Double(), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Double(), nullable=False),
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("kpi_id", "period_start", name=op.f("pk_rollups_period")),
        schema="kpi",
    )
    op.create_table(
        "service_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_state")),
        schema="kpi",
    )
    op.create_table(
        "kpi_targets",
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("min", sa.Double(), nullable=True),
        sa.Column("max", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "(value IS NOT NULL) <> (min IS NOT NULL AND max IS NOT NULL)", name=op.f("ck_kpi_targets_value_or_band")
        ),
        sa.CheckConstraint("min <= max", name=op.f("ck_kpi_targets_band_ordered")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_kpi_targets_period_ordered")),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpi.kpis.id"], name=op.f("fk_kpi_targets_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kpi_id", "period_start", name=op.f("pk_kpi_targets")),
        schema="kpi",
    )
    op.create_table(
        "measurements",
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["kpi_id"], ["kpi.kpis.id"], name=op.f("fk_measurements_kpi_id_kpis")),
        sa.PrimaryKeyConstraint("kpi_id", "ts", name=op.f("pk_measurements")),
        schema="kpi",
    )
    op.create_table(
        "status_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpi.kpis.id"], name=op.f("fk_status_events_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_events")),
        schema="kpi",
    )
    op.create_index(
        "ix_status_events_kpi_id_occurred_at", "status_events", ["kpi_id", "occurred_at"], unique=False, schema="kpi"
    )
    op.create_index(
        "ix_status_events_occurred_at_id", "status_events", ["occurred_at", "id"], unique=False, schema="kpi"
    )
    op.create_table(
        "status_states",
        sa.Column("kpi_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpi.kpis.id"], name=op.f("fk_status_states_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kpi_id", name=op.f("pk_status_states")),
        schema="kpi",
    )
    op.execute(REVISION_FUNCTION)
    op.execute(REVISION_TRIGGER)


def downgrade() -> None:
    # The schema goes with the branch's version table, once the branch is at base (migrations/env.py).
    op.execute("DROP TRIGGER IF EXISTS measurements_keep_revision ON kpi.measurements")
    op.execute("DROP FUNCTION IF EXISTS kpi.keep_measurement_revision()")
    op.drop_table("status_states", schema="kpi")
    op.drop_index("ix_status_events_occurred_at_id", table_name="status_events", schema="kpi")
    op.drop_index("ix_status_events_kpi_id_occurred_at", table_name="status_events", schema="kpi")
    op.drop_table("status_events", schema="kpi")
    op.drop_table("measurements", schema="kpi")
    op.drop_table("kpi_targets", schema="kpi")
    op.drop_table("service_state", schema="kpi")
    op.drop_table("rollups_period", schema="kpi")
    op.drop_table("rollups_15m", schema="kpi")
    op.drop_index("ix_measurement_revisions_kpi_id_ts", table_name="measurement_revisions", schema="kpi")
    op.drop_table("measurement_revisions", schema="kpi")
    op.drop_table("idempotency_records", schema="kpi")
    op.drop_index(op.f("ix_kpis_owner_org_unit_id"), table_name="kpis", schema="kpi")
    op.drop_table("kpis", schema="kpi")
