"""Client of the KPI service: statuses, aggregates, ingestion and KPI definitions, speaking :mod:`shared.contracts.kpi`.

::

    async with KpiClient.create(settings, token_source) as kpi:
        statuses = await kpi.statuses(["supply.on_time_delivery", "hr.turnover_rate.sales"])
        counts = await kpi.ingest([MeasurementPointIn(kpi="hr.headcount.sales", ts=month_start, value=42)])
        quarter = await kpi.aggregates([KpiAggregateRequest(kpi="supply.otd", from_=q_start, to=q_end)])
        owners = {entry.key: entry.owner_org_unit_id for entry in await kpi.index()}
        # A writer without kpi:read (the talent service) learns which of its KPIs exist from a dry run:
        state = await kpi.writable(["hr.headcount.sales", "hr.enps.sales"], at=month_start)
        await kpi.create_kpis([definition for definition in wanted if definition.key in state.unknown])
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, TypeVar
from urllib.parse import quote

import httpx
from fastapi import Depends, Request

from shared.auth import CurrentPrincipal
from shared.clients.base import ServiceClient, json_bytes
from shared.contracts.kpi import (
    MAX_AGGREGATE_REQUESTS,
    AggregateInclude,
    IngestResult,
    KpiAggregate,
    KpiAggregateRequest,
    KpiAggregates,
    KpiCreate,
    KpiIndex,
    KpiIndexEntry,
    KpiPublic,
    KpiStatus,
    KpiStatuses,
    MeasurementPointIn,
)
from shared.errors import MAX_REPORTED_ERRORS, DependencyRejected

STATUSES_PER_CALL = 500
"""The most keys ``GET /v1/kpi-statuses`` takes at once."""
POINTS_PER_CALL = 10_000
"""The most points ``POST /v1/measurements`` takes at once (the KPI service's default batch limit)."""

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# Keys travel in the query string, which servers bound with the headers (32 KiB by default here):
# a call carries at most this many bytes of them, so long keys make more, smaller calls.
STATUS_QUERY_BYTES = 16 * 1024


def key_chunks(keys: Sequence[str], size: int, max_bytes: int) -> list[Sequence[str]]:
    """``keys`` in runs of at most ``size`` whose encoded ``kpi=`` parameters fit ``max_bytes``."""
    result: list[Sequence[str]] = []
    current: list[str] = []
    used = 0
    for key in keys:
        cost = len(str(httpx.QueryParams({"kpi": key}))) + 1
        if current and (len(current) == size or used + cost > max_bytes):
            result.append(current)
            current, used = [], 0
        current.append(key)
        used += cost
    if current:
        result.append(current)
    return result


@dataclass(frozen=True, slots=True)
class Writability:
    """What a dry run says of KPI keys: those that do not exist and those that are archived (both
    refuse measurements); every other key asked is writable."""

    unknown: frozenset[str] = field(default_factory=frozenset)
    archived: frozenset[str] = field(default_factory=frozenset)


class KpiClient(ServiceClient):
    service = "kpi"

    async def statuses(self, keys: Iterable[str]) -> list[KpiStatus]:
        """Status of each KPI (key or id), in the order asked, one call per 500 distinct keys (fewer
        when long keys would make the query string too long).

        An unknown key is :class:`~shared.errors.DependencyRejected` (404), its ``problem.errors``
        naming each unknown key."""
        # One chunk after the other: each is a few milliseconds, more than 500 keys is rare, and the
        # KPI service sees at most one of our calls at a time.
        statuses: list[KpiStatus] = []
        for part in key_chunks(list(dict.fromkeys(keys)), STATUSES_PER_CALL, STATUS_QUERY_BYTES):
            statuses.extend(await self._statuses(part))
        return statuses

    async def _statuses(self, keys: Sequence[str]) -> list[KpiStatus]:
        response = await self._send("GET", "/v1/kpi-statuses", params=httpx.QueryParams([("kpi", key) for key in keys]))
        return self._answer(response, KpiStatuses).items

    async def ingest(self, points: Sequence[MeasurementPointIn], *, dry_run: bool = False) -> IngestResult:
        """Write measurements (or, ``dry_run``, only validate and count them), one call per 10 000
        points. Each call is all-or-nothing and writing the same ``(kpi, ts)`` again only replaces
        its value, so after a failure the whole list can be sent again."""
        total = IngestResult(inserted=0, updated=0, unchanged=0, dry_run=dry_run)
        for part in chunks(points, POINTS_PER_CALL):
            body = json_bytes({"points": [{"kpi": p.kpi, "ts": p.ts, "value": p.value} for p in part]})
            params = httpx.QueryParams({"dry_run": "true"}) if dry_run else None
            counts = self._answer(
                await self._send("POST", "/v1/measurements", params=params, content=body), IngestResult
            )
            total.inserted += counts.inserted
            total.updated += counts.updated
            total.unchanged += counts.unchanged
        return total

    async def writable(self, keys: Iterable[str], *, at: dt.datetime) -> Writability:
        """Which of ``keys`` do not exist or are archived, asked without reading any KPI (a caller
        with ``measurements:write`` only, like the talent service, may not): a dry-run ingestion of
        one point per key at ``at`` (a past instant), whose 422 names each unwritable point by
        pointer. One call per 100 keys, so that every refusal is listed (a problem lists at most
        100 errors); nothing is written. A key the caller may not write is a 403
        (:class:`~shared.errors.DependencyRejected`)."""
        unknown: set[str] = set()
        archived: set[str] = set()
        for part in chunks(list(dict.fromkeys(keys)), MAX_REPORTED_ERRORS):
            body = json_bytes({"points": [{"kpi": key, "ts": at, "value": 0.0} for key in part]})
            response = await self._send(
                "POST", "/v1/measurements", params=httpx.QueryParams({"dry_run": "true"}), content=body
            )
            if response.is_success:
                continue
            rejected = self.rejected(response)
            errors = rejected.problem.errors if rejected.problem is not None else None
            if response.status_code != 422 or not errors:
                raise rejected
            for error in errors:
                index = _point_index(error.pointer)
                if index is None or index >= len(part) or error.code not in ("unknown_kpi", "archived_kpi"):
                    raise rejected  # refused for another reason: not a question of existence
                (unknown if error.code == "unknown_kpi" else archived).add(part[index])
        return Writability(unknown=frozenset(unknown), archived=frozenset(archived))

    async def create_kpis(self, kpis: Sequence[KpiCreate], *, concurrency: int = 1) -> list[KpiPublic | None]:
        """Create each definition (one call each, ``concurrency`` at a time, each retried safely with
        its own ``Idempotency-Key``): in order, the created KPI, or ``None`` where the key was taken
        meanwhile (someone else created it). The first other failure is raised once the calls under
        way have ended."""
        limit = asyncio.Semaphore(max(1, concurrency))

        async def create(kpi: KpiCreate) -> KpiPublic | None:
            async with limit:
                try:
                    return await self.create_kpi(kpi, idempotency_key=str(uuid.uuid4()))
                except DependencyRejected as rejected:
                    if rejected.dependency_status != 409:
                        raise
                    return None

        outcomes = await asyncio.gather(*(create(kpi) for kpi in kpis), return_exceptions=True)
        created: list[KpiPublic | None] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            created.append(outcome)
        return created

    async def aggregates(
        self, requests: Sequence[KpiAggregateRequest], include: Iterable[AggregateInclude] = ()
    ) -> list[KpiAggregate]:
        """Each request's KPI aggregated over its local days (``POST /v1/kpi-aggregates``), in the
        order asked, one call per 500 requests; ``include`` adds each KPI's status and/or its daily
        values. The call only reads, so it is retried like a GET. An unknown KPI is
        :class:`~shared.errors.DependencyRejected` (422), its ``problem.errors`` naming each request
        by pointer (``/requests/3/kpi``)."""
        parts = sorted(set(include))
        items: list[KpiAggregate] = []
        for part in chunks(requests, MAX_AGGREGATE_REQUESTS):
            body = json_bytes(
                {"requests": [{"kpi": r.kpi, "from": r.from_, "to": r.to} for r in part], "include": parts}
            )
            response = await self._send("POST", "/v1/kpi-aggregates", content=body, read=True)
            items.extend(self._answer(response, KpiAggregates).items)
        return items

    async def index(
        self, *, owners: Iterable[uuid.UUID] = (), keys: Iterable[str] = (), with_status: bool = False
    ) -> list[KpiIndexEntry]:
        """Every KPI that is not archived, ordered by key, with its owner org unit and responsible
        person (``GET /v1/kpi-index``): the complete list in one call, not a page. With ``owners``
        or ``keys``, only the KPIs owned by one of those units or named (unknown keys are left
        out, not refused); ``with_status`` adds each one's status."""
        named = [*(("owner", str(unit)) for unit in owners), *(("kpi", key) for key in dict.fromkeys(keys))]
        params = httpx.QueryParams([*named, *([("include", "status")] if with_status else [])])
        response = await self._send("GET", "/v1/kpi-index", params=params)
        return self._answer(response, KpiIndex).items

    async def get_kpi(self, id_or_key: str) -> KpiPublic | None:
        """The KPI definition, or ``None`` when there is no such KPI."""
        response = await self._send("GET", f"/v1/kpis/{quote(id_or_key, safe='')}")
        if response.status_code == 404:
            return None
        return self._answer(response, KpiPublic)

    async def create_kpi(self, kpi: KpiCreate, *, idempotency_key: str | None = None) -> KpiPublic:
        """Create a KPI definition. With ``idempotency_key``, sending the same request again (after a
        lost answer) returns the KPI created the first time instead of a 409, so the call is retried
        on a connection failure or a 502/503/504 like a read. A taken key is
        :class:`~shared.errors.DependencyRejected` (409)."""
        response = await self._send("POST", "/v1/kpis", content=json_bytes(kpi), idempotency_key=idempotency_key)
        return self._answer(response, KpiPublic)


def _point_index(pointer: str | None) -> int | None:
    """``17`` for ``/points/17/kpi``."""
    parts = (pointer or "").split("/")
    if len(parts) != 4 or parts[1] != "points" or parts[3] != "kpi" or not parts[2].isdigit():
        return None
    return int(parts[2])


async def _kpi_client(request: Request, principal: CurrentPrincipal) -> KpiClient:
    client: KpiClient = request.app.state.kpi_client
    return client.acting_for(principal.key_id)


KpiClientDep = Annotated[KpiClient, Depends(_kpi_client)]
"""The process's :class:`KpiClient`, acting for the caller of the request being served."""
