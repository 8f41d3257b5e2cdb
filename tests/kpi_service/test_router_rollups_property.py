"""Rollups kept as points arrive equal a from-scratch recomputation over the raw points, whatever
the order, lateness, replacements and time zone (property-based)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.kpi_service.conftest import UseSettings
from tests.kpi_service.helpers import create_kpi, push_ok

ORIGIN = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)  # spans a DST change in both hemispheres' zones
# Santiago (4 April) and the Azores (29 March) change their clocks at midnight within the window.
ZONES = [
    "UTC",
    "Europe/Paris",
    "Asia/Kolkata",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Atlantic/Azores",
    "America/Santiago",
]

points = st.tuples(st.integers(0, 60 * 24 * 50), st.integers(-1000, 1000))  # minute offset, value
batches = st.lists(st.lists(points, min_size=1, max_size=40), min_size=1, max_size=6)

_COLUMNS = "count, sum, min, max, first_ts, first_value, last_ts, last_value"
_FROM_RAW_15M = """
SELECT date_bin('15 minutes', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, count(*) AS count, sum(value) AS sum,
       min(value) AS min, max(value) AS max, min(ts) AS first_ts, (array_agg(value ORDER BY ts))[1] AS first_value,
       max(ts) AS last_ts, (array_agg(value ORDER BY ts DESC))[1] AS last_value
FROM kpi.measurements WHERE kpi_id = $1 GROUP BY 1 ORDER BY 1
"""
_FROM_RAW_PERIOD = """
SELECT date_trunc($2, ts AT TIME ZONE $3)::date AS bucket, count(*) AS count, sum(value) AS sum,
       min(value) AS min, max(value) AS max, min(ts) AS first_ts, (array_agg(value ORDER BY ts))[1] AS first_value,
       max(ts) AS last_ts, (array_agg(value ORDER BY ts DESC))[1] AS last_value
FROM kpi.measurements WHERE kpi_id = $1 GROUP BY 1 ORDER BY 1
"""
UNIT = {"daily": "day", "weekly": "week", "monthly": "month"}


def _rows(records: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in records]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches, zone=st.sampled_from(ZONES), cadence=st.sampled_from(["daily", "weekly", "monthly"]))
async def test_rollups_equal_a_recomputation(
    kpi_client: httpx.AsyncClient,
    connection: AsyncConnection,
    kpi_settings: UseSettings,
    batches: list[list[tuple[int, int]]],
    zone: str,
    cadence: str,
) -> None:
    kpi_settings(org_timezone=zone)
    kpi = await create_kpi(kpi_client, cadence=cadence)
    for batch in batches:
        unique = dict(batch)  # one value per (kpi, ts) in a batch
        await push_ok(
            kpi_client,
            *[(kpi["key"], (ORIGIN + dt.timedelta(minutes=m)).isoformat(), float(v)) for m, v in unique.items()],
        )
    kpi_settings()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    kpi_id = uuid.UUID(kpi["id"])
    kept_15m = await raw.fetch(
        f"SELECT bucket_start AS bucket, {_COLUMNS} FROM kpi.rollups_15m WHERE kpi_id = $1 ORDER BY 1", kpi_id
    )
    kept_period = await raw.fetch(
        f"SELECT period_start AS bucket, {_COLUMNS} FROM kpi.rollups_period WHERE kpi_id = $1 ORDER BY 1", kpi_id
    )
    assert _rows(kept_15m) == _rows(await raw.fetch(_FROM_RAW_15M, kpi_id))
    assert _rows(kept_period) == _rows(await raw.fetch(_FROM_RAW_PERIOD, kpi_id, UNIT[cadence], zone))

    # And the series endpoint's local days equal the raw points bucketed in that zone.
    series = await kpi_client.get(
        f"/v1/kpis/{kpi['key']}/series",
        params={"bucket": "week", "tz": zone, "from": ORIGIN.isoformat(), "to": (ORIGIN + dt.timedelta(days=51)).isoformat()},  # noqa: E501
    )  # fmt: skip
    expected = await raw.fetch(
        "SELECT date_trunc('week', ts AT TIME ZONE $2) AS w, count(*), sum(value) FROM kpi.measurements "
        "WHERE kpi_id = $1 GROUP BY 1 ORDER BY 1",
        kpi_id,
        zone,
    )
    assert [(b["count"], b["sum"]) for b in series.json()["buckets"]] == [(r[1], r[2]) for r in expected]
