"""Publishing HR indicators to the KPI service as ``hr.<indicator>.<org unit key>`` KPIs (DESIGN §9
"Published HR KPIs"), so that they get targets, status, series and alerts like every other KPI.

One publish, for every unit that is not archived: the monthly series of its indicators (the same
set-based statement ``GET /v1/hr-indicators/series`` runs, one per unit over every month), one point
per calendar month with a value, stamped at the month's first instant in the organisation's time
zone; the definitions it needs are created first. Measurements are keyed by ``(kpi, ts)`` and
replaced on rewrite, so publishing again writes nothing new, and a corrected HR record corrects the
months it changes. One publish runs at a time across processes (an advisory lock).

The talent service calls the KPI service as itself, with ``kpi:write`` + ``measurements:write`` and
only for ``hr.*`` keys (DESIGN §4): it cannot read KPIs, so it learns which definitions are missing
from a dry-run ingestion (:meth:`KpiClient.writable`) rather than from a listing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.config import TalentSettings
from services.talent_service.models import OrgUnit
from services.talent_service.publishing import repository
from services.talent_service.publishing.schemas import HrPublishRequest, HrPublishResult
from services.talent_service.schemas import HrIndicators, SeriesBucket
from services.talent_service.service import MAX_SERIES_PERIODS, hr_indicator_series, next_bucket, series_periods
from shared.calendar import local_midnight
from shared.clients import KpiClient
from shared.contracts.kpi import Aggregation, Cadence, Direction, Domain, KpiCreate, MeasurementPointIn
from shared.db import Database
from shared.errors import Conflict, FieldError, UnprocessableContent

logger = logging.getLogger("pilotage.talent.publishing")

JOB = "job:hr-publish"
"""Whom the periodic job's calls to the KPI service are made for (the ``act`` claim)."""
FIRST_RUN_DELAY_SECONDS = 30.0
"""After start-up, the periodic job waits this long (or its interval, if shorter) before its first
publish: the KPI service, started alongside, has time to come up."""


@dataclass(frozen=True, slots=True)
class PublishedIndicator:
    """One indicator of §9 as a KPI: where its monthly value comes from and how it is judged."""

    name: str
    label: str
    unit: str
    direction: Direction
    description: str
    value: Callable[[HrIndicators], float | None]


def _engagement_enps(item: HrIndicators) -> float | None:
    return item.engagement.enps if item.engagement is not None else None


INDICATORS: tuple[PublishedIndicator, ...] = (
    # Headcount is neither better up nor down: it is judged against a planned band.
    PublishedIndicator(
        "headcount", "Headcount", "people", Direction.target_range,
        "Members at the close of the month's last day (the last day counted in the current month).",
        lambda i: float(i.headcount_end),
    ),
    PublishedIndicator(
        "turnover_rate", "Turnover rate", "ratio", Direction.decrease,
        "Separations in the month divided by its average headcount (a fraction: 0.02 is 2 %).",
        lambda i: i.turnover_rate,
    ),
    PublishedIndicator(
        "voluntary_turnover_rate", "Voluntary turnover rate", "ratio", Direction.decrease,
        "Voluntary separations in the month divided by its average headcount (a fraction).",
        lambda i: i.voluntary_turnover_rate,
    ),
    PublishedIndicator(
        "retention_rate", "Retention rate", "ratio", Direction.increase,
        "Share of the month's opening headcount still members at its close (a fraction).",
        lambda i: i.retention_rate,
    ),
    PublishedIndicator(
        "internal_mobility_rate", "Internal mobility rate", "ratio", Direction.increase,
        "Internal moves in the month divided by its average headcount (a fraction).",
        lambda i: i.internal_mobility_rate,
    ),
    PublishedIndicator(
        "training_completion_rate", "Training completion rate", "ratio", Direction.increase,
        "Of the month's enrolments by members, the share completed by the month's end (a fraction).",
        lambda i: i.training_completion_rate,
    ),
    PublishedIndicator(
        "skill_coverage", "Skill coverage", "ratio", Direction.increase,
        "Required skills covered by members at the close of the month (a fraction).",
        lambda i: i.skill_coverage,
    ),
    PublishedIndicator(
        "enps", "eNPS", "score", Direction.increase,
        "Employee net promoter score (-100 to 100) of the latest survey ending in the month.",
        _engagement_enps,
    ),
)  # fmt: skip


def kpi_key(indicator: PublishedIndicator, unit: OrgUnit) -> str:
    return f"hr.{indicator.name}.{unit.key}"


def kpi_definition(indicator: PublishedIndicator, unit: OrgUnit) -> KpiCreate:
    """The definition of a published indicator (domain hr, monthly, aggregation last, owned by the
    unit): what a publish creates when the KPI does not exist. An existing one is left as it is."""
    return KpiCreate(
        key=kpi_key(indicator, unit),
        name=f"{indicator.label}: {unit.name}"[:200],
        description=f"{indicator.description} Org unit `{unit.key}` and its whole subtree, per calendar "
        "month (DESIGN §9). Published by the talent service, which rewrites its points on every publish.",
        unit=indicator.unit,
        domain=Domain.hr,
        direction=indicator.direction,
        aggregation=Aggregation.last,
        cadence=Cadence.monthly,
        owner_org_unit_id=unit.id,
        tags=["hr"],
    )


EARLIEST_MONTH = dt.date(1900, 1, 1)
"""No month before it is published (nor asked for: 422), so that every month has a first instant."""


def months_before(first_of_month: dt.date, count: int) -> dt.date:
    """The first day of the month ``count`` months before, not before :data:`EARLIEST_MONTH`."""
    index = first_of_month.year * 12 + first_of_month.month - 1 - count
    return max(dt.date(max(index, 12) // 12, max(index, 12) % 12 + 1, 1), EARLIEST_MONTH)


def publish_range(request: HrPublishRequest, settings: TalentSettings) -> tuple[dt.date, dt.date]:
    """The first day of the first month and the last day counted (the last month's end, cut at
    today); 422 on the field at fault for a range that is reversed, ahead or too long."""
    today = settings.today()
    for pointer, day in (("/from", request.from_), ("/to", request.to)):
        if day is not None and day < EARLIEST_MONTH:
            raise UnprocessableContent(
                f"HR indicators are published from {EARLIEST_MONTH} on.",
                errors=[FieldError(pointer=pointer, message=f"Before {EARLIEST_MONTH}.", code="too_early")],
            )
    end = min(request.to or today, today)
    last_month = end.replace(day=1)
    start = (request.from_ or months_before(last_month, settings.hr_publish_months - 1)).replace(day=1)
    if request.from_ is not None and request.from_ > today:
        raise UnprocessableContent(
            f"The range starts after today ({today}).",
            errors=[FieldError(pointer="/from", message="After today.", code="future")],
        )
    if request.to is not None and request.from_ is not None and request.to < request.from_:
        raise UnprocessableContent(
            "`to` is before `from`.", errors=[FieldError(pointer="/to", message="Before `from`.", code="reversed")]
        )
    months = (last_month.year - start.year) * 12 + last_month.month - start.month + 1
    if months > MAX_SERIES_PERIODS:
        raise UnprocessableContent(
            f"A publish covers at most {MAX_SERIES_PERIODS} months; this one would cover {months}.",
            errors=[FieldError(pointer="/from", message="Too far back.", code="too_long")],
        )
    last = min(next_bucket(last_month, SeriesBucket.month) - dt.timedelta(days=1), today)
    return start, last


async def publish(
    session: AsyncSession, kpi: KpiClient, settings: TalentSettings, request: HrPublishRequest
) -> HrPublishResult | None:
    """Publish the months of ``request`` for every active unit; ``None`` (nothing done) when another
    publish holds the lock. A failing KPI service raises the client's error (503/504/502 naming
    ``kpi``); what was ingested before it stays (a publish is safe to repeat)."""
    start, last = publish_range(request, settings)
    if not await repository.try_publish_lock(session):
        return None
    months = series_periods(start, last, SeriesBucket.month)
    stamps = [local_midnight(a, settings.zone) for a, _ in months]
    units = await repository.active_org_units(session)
    wanted: dict[str, KpiCreate] = {}
    points: dict[str, list[MeasurementPointIn]] = {}
    began = time.monotonic()
    for unit in units:
        series = await hr_indicator_series(session, str(unit.id), SeriesBucket.month, start, last, settings)
        for indicator in INDICATORS:
            key = kpi_key(indicator, unit)
            found = [
                MeasurementPointIn(kpi=key, ts=ts, value=value)
                for ts, item in zip(stamps, series.items, strict=True)
                if (value := indicator.value(item)) is not None
            ]
            if found:
                wanted[key] = kpi_definition(indicator, unit)
                points[key] = found
    result = HrPublishResult(
        from_=start, to=last, months=len(months), org_units=len(units), kpis=0, kpis_created=0,
        archived_kpis=[], points=0, inserted=0, updated=0, unchanged=0,
    )  # fmt: skip
    if not wanted:
        return result
    computed = time.monotonic()
    state = await kpi.writable(list(wanted), at=stamps[0])
    created = await kpi.create_kpis(
        [wanted[key] for key in sorted(state.unknown)], concurrency=settings.hr_publish_concurrency
    )
    defined = time.monotonic()
    sent = [point for key, found in points.items() if key not in state.archived for point in found]
    counts = await kpi.ingest(sent)
    logger.info(
        "HR indicators of %d units over %d months: computed in %.1f s, %d definitions created in %.1f s, "
        "%d points sent in %.1f s",
        len(units), len(months), computed - began, len(state.unknown), defined - computed, len(sent),
        time.monotonic() - defined,
    )  # fmt: skip
    result.kpis = len(wanted) - len(state.archived)
    result.kpis_created = sum(1 for c in created if c is not None)
    result.archived_kpis = sorted(state.archived)
    result.points = len(sent)
    result.inserted, result.updated, result.unchanged = counts.inserted, counts.updated, counts.unchanged
    return result


async def publish_now(
    session: AsyncSession, kpi: KpiClient, settings: TalentSettings, request: HrPublishRequest
) -> HrPublishResult:
    """``POST /v1/hr-indicators/publish``: a publish, or 409 while another one runs."""
    result = await publish(session, kpi, settings, request)
    if result is None:
        raise Conflict("HR indicators are being published by another run; retry when it has finished.")
    return result


async def publish_once(database: Database, kpi: KpiClient, settings: TalentSettings) -> HrPublishResult | None:
    """One run of the periodic job: the default months, in a transaction of its own; ``None`` when
    another process is publishing (it skips)."""
    async with database.session() as session:
        result = await publish(session, kpi, settings, HrPublishRequest())
    if result is None:
        logger.info("HR indicators: another process is publishing; skipped")
    else:
        logger.info(
            "HR indicators published: %d months, %d units, %d KPIs (%d created), %d points "
            "(%d inserted, %d updated, %d unchanged)",
            result.months, result.org_units, result.kpis, result.kpis_created, result.points,
            result.inserted, result.updated, result.unchanged,
        )  # fmt: skip
    return result


async def publish_forever(database: Database, kpi: KpiClient, settings: TalentSettings) -> None:
    """Publish every ``hr_publish_interval_seconds`` until cancelled (the first run shortly after
    start-up); a failed run (the KPI service or the database away) is logged and the next one tries
    again: the service itself never stops for it."""
    interval = settings.hr_publish_interval_seconds
    await asyncio.sleep(min(interval, FIRST_RUN_DELAY_SECONDS))
    while True:
        try:
            await publish_once(database, kpi, settings)
        except Exception:
            logger.exception("publishing HR indicators failed; next try in %s s", interval)
        await asyncio.sleep(interval)
