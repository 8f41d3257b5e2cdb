"""kpi definitions targets measurements rollups status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = (
    ("threshold_mode_valid", "threshold_mode IN ('absolute', 'relative')"),
    ("thresholds_complete", "(threshold_mode IS NULL) = (threshold_amber IS NULL)"),
    ("thresholds_complete_red", "(threshold_mode IS NULL) = (threshold_red IS NULL)"),
    ("thresholds_ordered", "threshold_amber >= 0 AND threshold_red >= threshold_amber"),
)

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
    op.add_column("kpis", sa.Column("threshold_mode", sa.String(length=8), nullable=True), schema="kpi")
    op.add_column("kpis", sa.Column("threshold_amber", sa.Double(), nullable=True), schema="kpi")
    op.add_column("kpis", sa.Column("threshold_red", sa.Double(), nullable=True), schema="kpi")
    op.add_column("kpis", sa.Column("version", sa.Integer(), server_default="1", nullable=False), schema="kpi")
    for name, condition in CHECKS:
        op.create_check_constraint(op.f(f"ck_kpis_{name}"), "kpis", condition, schema="kpi")
    op.execute(REVISION_FUNCTION)
    op.execute(REVISION_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS measurements_keep_revision ON kpi.measurements")
    op.execute("DROP FUNCTION IF EXISTS kpi.keep_measurement_revision()")
    for name, _ in CHECKS:
        op.drop_constraint(op.f(f"ck_kpis_{name}"), "kpis", schema="kpi", type_="check")
    op.drop_column("kpis", "version", schema="kpi")
    op.drop_column("kpis", "threshold_red", schema="kpi")
    op.drop_column("kpis", "threshold_amber", schema="kpi")
    op.drop_column("kpis", "threshold_mode", schema="kpi")
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
