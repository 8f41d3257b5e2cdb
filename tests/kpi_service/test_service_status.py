"""Status rules: shortfall, thresholds for each direction, periods and staleness (pure functions),
and the sweep that records what the clock made stale (on real, concurrent transactions)."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kpi_service import repository
from services.kpi_service.calendar_units import local_midnight, sql_cadence_unit, sql_local_instant
from services.kpi_service.config import KpiSettings
from services.kpi_service.main import app
from services.kpi_service.repository import STALE_SWEEP_LOCK
from services.kpi_service.service import ingest, sweep_stale
from services.kpi_service.status import (
    PeriodAggregate,
    Target,
    ThresholdRule,
    add_periods,
    judge,
    period_last_day,
    period_start,
    sql_stale_since,
    stale_since,
    trend,
)
from shared.auth import Principal as Principal
from shared.auth import Scope as Scope
from shared.auth import internal_token_authenticator
from shared.contracts.kpi import Aggregation, Cadence, Direction, Status, ThresholdMode
from shared.db import Database
from tests.auth import verifier_for
from tests.kpi_service.conftest import UseSettings
from tests.kpi_service.helpers import ago, committed_kpi, fetch

WRITER = frozenset({Scope.measurements_write.value})

YEAR = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
RELATIVE = ThresholdRule(ThresholdMode.relative, amber=0.05, red=0.10)
ABSOLUTE = ThresholdRule(ThresholdMode.absolute, amber=2, red=5)


def target(value: float | None = None, low: float | None = None, high: float | None = None) -> Target:
    return Target(*YEAR, value, low, high)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, Status.green), (96, Status.green), (95, Status.green), (94.9, Status.amber), (90, Status.amber),
     (89.9, Status.red), (120, Status.green)],
)  # fmt: skip
def test_increase_relative(value: float, expected: Status) -> None:
    # "amber below 95 % of target, red below 90 %"
    assert judge(value, Direction.increase, target(100), RELATIVE) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, Status.green), (2.1, Status.green), (2.105, Status.amber), (2.2, Status.amber), (2.25, Status.red),
     (0, Status.green)],
)  # fmt: skip
def test_decrease_relative(value: float, expected: Status) -> None:
    # A scrap rate targeted at 2 %: good when low.
    assert judge(value, Direction.decrease, target(2), RELATIVE) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, Status.green), (20, Status.green), (8, Status.green), (7.9, Status.amber), (25, Status.amber),
     (25.1, Status.red), (4.9, Status.red)],
)  # fmt: skip
def test_target_range_absolute(value: float, expected: Status) -> None:
    # Inventory days between 10 and 20; 2 days outside is tolerated, 5 is the limit of amber.
    assert judge(value, Direction.target_range, target(low=10, high=20), ABSOLUTE) is expected


def test_target_range_relative_scales_with_the_nearest_edge() -> None:
    band = target(low=10, high=20)
    assert judge(9.5, Direction.target_range, band, RELATIVE) is Status.green  # 5 % of 10
    assert judge(9.4, Direction.target_range, band, RELATIVE) is Status.amber
    assert judge(21, Direction.target_range, band, RELATIVE) is Status.green  # 5 % of 20
    assert judge(22.5, Direction.target_range, band, RELATIVE) is Status.red


def test_without_thresholds_any_shortfall_is_red() -> None:
    assert judge(100, Direction.increase, target(100), None) is Status.green
    assert judge(99.99, Direction.increase, target(100), None) is Status.red
    assert judge(0.5, Direction.decrease, target(0), RELATIVE) is Status.red  # relative to 0: no tolerance


@pytest.mark.parametrize(
    ("day", "cadence", "start", "last"),
    [
        (dt.date(2026, 3, 15), Cadence.daily, dt.date(2026, 3, 15), dt.date(2026, 3, 15)),
        (dt.date(2026, 3, 15), Cadence.weekly, dt.date(2026, 3, 9), dt.date(2026, 3, 15)),  # ISO: Monday
        (dt.date(2026, 2, 15), Cadence.monthly, dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2028, 2, 29), Cadence.monthly, dt.date(2028, 2, 1), dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 31), Cadence.monthly, dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
    ],
)
def test_periods(day: dt.date, cadence: Cadence, start: dt.date, last: dt.date) -> None:
    assert period_start(day, cadence) == start
    assert period_last_day(start, cadence) == last


def test_add_periods_crosses_years() -> None:
    assert add_periods(dt.date(2026, 11, 1), Cadence.monthly, 3) == dt.date(2027, 2, 1)
    assert add_periods(dt.date(2026, 1, 1), Cadence.monthly, -1) == dt.date(2025, 12, 1)


def test_stale_after_two_whole_periods_without_data_in_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    # Last data on Friday 2026-03-27 (daily): Saturday and Sunday pass without data; stale from
    # Monday 00:00 Paris — which is 22:00 UTC on Sunday, since DST began on the 29th.
    assert stale_since(dt.date(2026, 3, 27), Cadence.daily, paris, dt.timedelta()) == dt.datetime(
        2026, 3, 29, 22, 0, tzinfo=dt.UTC
    )
    assert stale_since(dt.date(2026, 1, 1), Cadence.monthly, paris, dt.timedelta(hours=6)) == dt.datetime(
        2026, 4, 1, 4, 0, tzinfo=dt.UTC
    )


def test_trend_only_against_the_period_just_before() -> None:
    now = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    current = PeriodAggregate(dt.date(2026, 3, 1), 2, 10.0, 4.0, 6.0, 6.0, now)
    before = PeriodAggregate(dt.date(2026, 2, 1), 1, 4.0, 4.0, 4.0, 4.0, now)
    assert trend(current, before, Cadence.monthly, Aggregation.avg) == (dt.date(2026, 2, 1), 4.0, 1.0, 0.25)
    gap = PeriodAggregate(dt.date(2026, 1, 1), 1, 4.0, 4.0, 4.0, 4.0, now)
    assert trend(current, gap, Cadence.monthly, Aggregation.avg) is None
    zero = PeriodAggregate(dt.date(2026, 2, 1), 1, 0.0, 0.0, 0.0, 0.0, now)
    assert trend(current, zero, Cadence.monthly, Aggregation.sum) == (dt.date(2026, 2, 1), 0.0, 10.0, None)


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [(Aggregation.sum, 12.0), (Aggregation.avg, 4.0), (Aggregation.min, 1.0), (Aggregation.max, 8.0),
     (Aggregation.last, 3.0)],
)  # fmt: skip
def test_aggregations(aggregation: Aggregation, expected: float) -> None:
    period = PeriodAggregate(dt.date(2026, 3, 1), 3, 12.0, 1.0, 8.0, 3.0, dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert period.value(aggregation) == expected


async def _make_stale_unrecorded(database: Database, key: str) -> None:
    """Data five days old, ingested while the grace made it fresh: stale now, not recorded so."""
    body = f'{{"points": [{{"kpi": "{key}", "ts": "{ago(days=5)}", "value": 1}}]}}'.encode()
    async with database.session() as session:
        await ingest(
            session, body, principal=Principal("t", WRITER), dry_run=False, settings=KpiSettings(stale_grace_hours=1000)
        )


async def _time_events(database_url: str, key: str) -> list[tuple[str, str]]:
    rows = await fetch(
        database_url,
        "SELECT e.from_status, e.to_status FROM kpi.status_events e JOIN kpi.kpis k ON k.id = e.kpi_id "
        "WHERE k.key = $1 AND e.cause = 'time'",
        key,
    )
    return [(r["from_status"], r["to_status"]) for r in rows]


async def test_racing_sweeps_record_a_stale_kpi_once(database_url: str) -> None:
    """Real concurrent sweeps (as from several processes): one sweeps, the others skip or find
    nothing left, and the change is recorded once."""
    async with committed_kpi(database_url) as (database, key):
        await _make_stale_unrecorded(database, key)
        settings = KpiSettings()
        results = await asyncio.wait_for(asyncio.gather(*(sweep_stale(database, settings) for _ in range(4))), 30)
        assert sorted(r or 0 for r in results) == [0, 0, 0, 1], results  # one recorded; the others skipped
        assert await sweep_stale(database, settings) == 0
        assert await _time_events(database_url, key) == [("no_target", "stale")]


async def test_a_sweep_skips_while_another_holds_the_lock(database_url: str) -> None:
    async with committed_kpi(database_url) as (database, key):
        await _make_stale_unrecorded(database, key)
        async with database.session() as other:
            await (await repository.driver(other)).execute("SELECT pg_advisory_xact_lock($1, $2)", *STALE_SWEEP_LOCK)
            assert await sweep_stale(database, KpiSettings()) is None
            assert await _time_events(database_url, key) == []
        assert await sweep_stale(database, KpiSettings()) == 1
        assert await _time_events(database_url, key) == [("no_target", "stale")]


async def test_a_fresh_kpi_is_not_swept(database_url: str) -> None:
    async with committed_kpi(database_url) as (database, key):
        await _make_stale_unrecorded(database, key)
        assert await sweep_stale(database, KpiSettings(stale_grace_hours=1000)) == 0
        assert await _time_events(database_url, key) == []


async def test_the_running_service_sweeps_by_itself(database_url: str, kpi_settings: UseSettings) -> None:
    """The app's lifespan runs the sweep every ``stale_sweep_seconds``, and stops it at shutdown."""
    async with committed_kpi(database_url) as (database, key):
        await _make_stale_unrecorded(database, key)
        kpi_settings(stale_sweep_seconds=0.05)
        app.state.database = database
        app.state.authenticator = internal_token_authenticator(verifier_for("kpi"))
        try:
            async with app.router.lifespan_context(app):
                for _ in range(100):
                    if await _time_events(database_url, key):
                        break
                    await asyncio.sleep(0.05)
                tasks = {t.get_name() for t in asyncio.all_tasks()}
                assert "stale-sweep" in tasks
            assert "stale-sweep" not in {t.get_name() for t in asyncio.all_tasks() if not t.done()}
        finally:
            del app.state.database
            del app.state.authenticator
        assert await _time_events(database_url, key) == [("no_target", "stale")]


async def test_a_sweep_skips_a_kpi_being_changed_instead_of_deadlocking_with_it(database_url: str) -> None:
    """A change holds the KPI's row, then takes its status lock; a sweep must not hold that status lock
    while waiting for the row."""
    async with committed_kpi(database_url) as (database, key):
        await _make_stale_unrecorded(database, key)
        async with database.session() as change:
            kpi = await repository.get_kpi(change, key, for_update=True)
            assert kpi is not None
            assert await asyncio.wait_for(sweep_stale(database, KpiSettings()), 5) == 0
            await repository.lock_statuses(await repository.driver(change), [kpi.id])
        assert await sweep_stale(database, KpiSettings()) == 1
        assert await _time_events(database_url, key) == [("no_target", "stale")]


@pytest.mark.parametrize("cadence", list(Cadence))
async def test_the_sql_twins_agree_with_the_python_rules(connection: AsyncConnection, cadence: Cadence) -> None:
    """The staleness instant and the period of a day, computed by PostgreSQL from the generated SQL,
    equal the Python definitions (DST and month ends included)."""
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    stale = f"SELECT {sql_stale_since('$1::date', '$2::text', '$3::text', '$4::interval')}"
    period = f"SELECT date_trunc({sql_cadence_unit('$2::text')}, $1::date::timestamp)::date"
    grace = dt.timedelta(hours=5)
    zones = ("UTC", "Europe/Paris", "America/St_Johns", "Pacific/Chatham", *MIDNIGHT_CHANGES)
    days = (dt.date(2026, 1, 31), dt.date(2026, 3, 27), dt.date(2026, 10, 24), dt.date(2028, 2, 29), *MIDNIGHT_DAYS)
    for zone in zones:
        for day in days:
            start = period_start(day, cadence)
            assert await raw.fetchval(period, day, cadence.value) == start
            expected = stale_since(start, cadence, ZoneInfo(zone), grace)
            assert await raw.fetchval(stale, start, cadence.value, zone, grace) == expected, (zone, day)


# Zones whose clocks change at midnight: it happens twice (Azores, Havana) or not at all (Santiago).
MIDNIGHT_CHANGES = ("Atlantic/Azores", "America/Havana", "America/Santiago")
MIDNIGHT_DAYS = (dt.date(2026, 10, 25), dt.date(2026, 11, 1), dt.date(2026, 9, 6), dt.date(2026, 10, 22))


async def test_a_local_day_starts_at_its_first_instant_in_sql_as_in_python(connection: AsyncConnection) -> None:
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    query = f"SELECT {sql_local_instant('$1::date', '$2::text')}"
    for zone in ("UTC", "Europe/Paris", "Asia/Kolkata", *MIDNIGHT_CHANGES):
        for day in (*MIDNIGHT_DAYS, dt.date(2026, 3, 29), dt.date(2026, 4, 5)):
            assert await raw.fetchval(query, day, zone) == local_midnight(day, ZoneInfo(zone)), (zone, day)
    # The case that went wrong: PostgreSQL alone puts the Azores' 25 October at the second midnight.
    assert await raw.fetchval("SELECT '2026-10-25'::timestamp AT TIME ZONE 'Atlantic/Azores'") == dt.datetime(
        2026, 10, 25, 1, tzinfo=dt.UTC
    )
    assert await raw.fetchval(query, dt.date(2026, 10, 25), "Atlantic/Azores") == dt.datetime(
        2026, 10, 25, tzinfo=dt.UTC
    )
