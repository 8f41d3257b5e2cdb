"""KpiClient against the real KPI service: in-process and through uvicorn, contract models out,
batches chunked at the route's limits, 4xx answers as typed rejections."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Receive, Scope, Send

from services.kpi_service.models import Kpi
from shared.clients import KpiClient
from shared.clients.kpi import POINTS_PER_CALL, STATUS_QUERY_BYTES, STATUSES_PER_CALL, key_chunks
from shared.contracts.kpi import (
    Aggregation,
    Cadence,
    Direction,
    Domain,
    IngestResult,
    KpiCreate,
    KpiPublic,
    KpiStatus,
    MeasurementPointIn,
    Status,
)
from shared.errors import DependencyRejected, DependencyUnavailable, FieldError
from shared.observability import RequestIdMiddleware
from tests.auth import TEST_KEYS, token
from tests.servers import serve
from tests.shared.conftest import Recorder, client_settings, token_header, tokens

WRITER = tokens("kpi:read", "kpi:write", "measurements:write")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def kpi_create(key: str, **overrides: object) -> KpiCreate:
    values: dict[str, object] = {
        "key": key,
        "name": "On-time delivery",
        "unit": "%",
        "domain": Domain.supply_chain,
        "direction": Direction.increase,
        "aggregation": Aggregation.avg,
        "cadence": Cadence.daily,
    }
    values.update(overrides)
    return KpiCreate.model_validate(values)


def errors_of(rejected: DependencyRejected) -> list[FieldError]:
    assert rejected.problem is not None
    assert rejected.problem.errors is not None
    return rejected.problem.errors


def point(key: str, value: float, at: dt.datetime = NOW) -> MeasurementPointIn:
    return MeasurementPointIn(kpi=key, ts=at, value=value)


async def test_create_kpi_returns_the_contract_model(kpi: KpiClient) -> None:
    created = await kpi.create_kpi(kpi_create("clients.create", tags=["b", "a"]))
    assert isinstance(created, KpiPublic)
    assert (created.key, created.tags, created.version) == ("clients.create", ["a", "b"], 1)


async def test_create_kpi_with_an_idempotency_key_is_safe_to_repeat(kpi: KpiClient) -> None:
    body = kpi_create("clients.idempotent")
    first = await kpi.create_kpi(body, idempotency_key="create-clients-idempotent")
    again = await kpi.create_kpi(body, idempotency_key="create-clients-idempotent")
    assert again == first
    with pytest.raises(DependencyRejected) as taken:  # without the key, the repeat is a conflict
        await kpi.create_kpi(body)
    assert taken.value.dependency_status == 409
    with pytest.raises(DependencyRejected) as reused:  # the same key for another request
        await kpi.create_kpi(kpi_create("clients.other"), idempotency_key="create-clients-idempotent")
    assert reused.value.dependency_status == 422
    assert errors_of(reused.value)[0].parameter == "Idempotency-Key"


class FailsFirst:
    """In front of the real KPI app: the first request is answered 503, the rest reach the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls += 1
            if self.calls == 1:
                await send({"type": "http.response.start", "status": 503, "headers": [(b"retry-after", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


async def test_create_kpi_with_an_idempotency_key_is_retried_like_a_read(kpi_app: FastAPI) -> None:
    for key, expected_calls in (("clients.retried", 2), (None, 1)):
        upstream = FailsFirst(kpi_app)
        client = KpiClient.create(
            client_settings(upstream_retries=2), WRITER, base_url="http://kpi",
            transport=httpx.ASGITransport(app=upstream),
        )  # fmt: skip
        async with client:
            if key is not None:
                created = await client.create_kpi(kpi_create("clients.retried"), idempotency_key=key)
                assert created.key == "clients.retried"
            else:  # without a key a POST is never sent twice
                with pytest.raises(DependencyUnavailable):
                    await client.create_kpi(kpi_create("clients.not_retried"))
        assert upstream.calls == expected_calls


async def test_get_kpi_by_key_or_id_and_none_when_unknown(kpi: KpiClient) -> None:
    created = await kpi.create_kpi(kpi_create("clients.get"))
    assert await kpi.get_kpi("clients.get") == created
    assert await kpi.get_kpi(str(created.id)) == created
    assert await kpi.get_kpi("clients.nowhere") is None
    assert await kpi.get_kpi(str(uuid.uuid4())) is None
    assert await kpi.get_kpi("a/../kpis") is None  # quoted into one path segment, not a traversal


async def test_ingest_counts_inserts_updates_and_unchanged(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.ingest"))
    first = [point("clients.ingest", 90, NOW - dt.timedelta(hours=2)), point("clients.ingest", 92)]
    assert await kpi.ingest(first) == IngestResult(inserted=2, updated=0, unchanged=0)
    again = [point("clients.ingest", 90, NOW - dt.timedelta(hours=2)), point("clients.ingest", 95)]
    assert await kpi.ingest(again) == IngestResult(inserted=0, updated=1, unchanged=1)


async def test_ingest_dry_run_writes_nothing(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.dry"))
    counts = await kpi.ingest([point("clients.dry", 1)], dry_run=True)
    assert counts == IngestResult(inserted=1, updated=0, unchanged=0, dry_run=True)
    [status] = await kpi.statuses(["clients.dry"])
    assert status.status == Status.no_data


async def test_ingest_refused_points_are_a_typed_rejection_by_index(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.refused"))
    with pytest.raises(DependencyRejected) as refused:
        await kpi.ingest([point("clients.refused", 1), point("clients.unknown", 2)])
    assert refused.value.dependency_status == 422
    assert [(e.pointer, e.code) for e in errors_of(refused.value)] == [("/points/1/kpi", "unknown_kpi")]
    [status] = await kpi.statuses(["clients.refused"])
    assert status.count == 0  # all or nothing


async def test_ingest_chunks_at_the_route_limit(kpi: KpiClient, kpi_recorder: Recorder) -> None:
    await kpi.create_kpi(kpi_create("clients.bulk"))
    start = NOW - dt.timedelta(days=20)
    points = [point("clients.bulk", i, start + dt.timedelta(minutes=i)) for i in range(POINTS_PER_CALL + 1)]
    kpi_recorder.requests.clear()
    assert await kpi.ingest(points) == IngestResult(inserted=POINTS_PER_CALL + 1, updated=0, unchanged=0)
    assert [r.url.path for r in kpi_recorder.requests] == ["/v1/measurements"] * 2


async def test_the_route_refuses_one_point_more_than_a_chunk(kpi_app: FastAPI) -> None:
    body = {"points": [{"kpi": "x.y", "ts": NOW.isoformat(), "value": 1}] * (POINTS_PER_CALL + 1)}
    async with _raw(kpi_app, "measurements:write") as raw:
        assert (await raw.post("/v1/measurements", json=body)).status_code == 413


async def test_statuses_in_the_order_asked(kpi: KpiClient) -> None:
    for key in ("clients.s1", "clients.s2"):
        await kpi.create_kpi(kpi_create(key))
    await kpi.ingest([point("clients.s1", 10), point("clients.s1", 20, NOW - dt.timedelta(minutes=1))])
    statuses = await kpi.statuses(["clients.s2", "clients.s1", "clients.s2"])
    assert all(isinstance(s, KpiStatus) for s in statuses)
    assert [(s.kpi, s.count, s.value) for s in statuses] == [("clients.s2", 0, None), ("clients.s1", 2, 15.0)]
    assert statuses[1].status == Status.no_target
    assert await kpi.statuses([]) == []


async def test_unknown_kpis_are_a_typed_rejection_naming_each(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.known"))
    with pytest.raises(DependencyRejected) as unknown:
        await kpi.statuses(["clients.known", "clients.ghost", "clients.phantom"])
    rejected = unknown.value
    assert (rejected.status, rejected.source, rejected.dependency_status) == (502, "kpi", 404)
    assert [e.message for e in errors_of(rejected)] == [
        "Unknown KPI 'clients.ghost'.",
        "Unknown KPI 'clients.phantom'.",
    ]


async def _insert_kpis(connection: AsyncConnection, keys: list[str]) -> None:
    rows = [
        {"key": k, "name": k, "unit": "%", "domain": "quality", "direction": "increase", "aggregation": "avg",
         "cadence": "daily"}
        for k in keys
    ]  # fmt: skip
    await connection.execute(insert(Kpi), rows)


async def test_1200_keys_are_three_calls(kpi: KpiClient, kpi_recorder: Recorder, connection: AsyncConnection) -> None:
    keys = [f"clients.chunk_{i:04}" for i in range(1200)]
    await _insert_kpis(connection, keys)
    kpi_recorder.requests.clear()
    statuses = await kpi.statuses(keys)
    assert [s.kpi for s in statuses] == keys
    sizes = sorted(len(r.url.params.get_list("kpi")) for r in kpi_recorder.requests)
    assert sizes == [200, STATUSES_PER_CALL, STATUSES_PER_CALL]


def test_long_keys_make_smaller_calls_whose_query_fits_the_header_limit() -> None:
    keys = [f"clients.{'long_key_segment_' * 5}{i:04}" for i in range(700)]
    parts = key_chunks(keys, STATUSES_PER_CALL, STATUS_QUERY_BYTES)
    assert [k for part in parts for k in part] == keys
    assert len(parts) > 2
    assert all(len(str(httpx.QueryParams([("kpi", k) for k in part]))) <= STATUS_QUERY_BYTES for part in parts)
    assert key_chunks(["a"] * 1001, STATUSES_PER_CALL, STATUS_QUERY_BYTES)[0] == ["a"] * STATUSES_PER_CALL


async def test_the_route_refuses_one_key_more_than_a_chunk(kpi_app: FastAPI, connection: AsyncConnection) -> None:
    keys = [f"clients.limit_{i:04}" for i in range(STATUSES_PER_CALL + 1)]
    await _insert_kpis(connection, keys)
    async with _raw(kpi_app, "kpi:read") as raw:
        assert (await raw.get("/v1/kpi-statuses", params={"kpi": keys[:-1]})).status_code == 200
        assert (await raw.get("/v1/kpi-statuses", params={"kpi": keys})).status_code == 422


async def test_missing_scope_is_a_typed_rejection(kpi_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=kpi_app)
    reader = KpiClient.create(client_settings(), tokens("kpi:read"), base_url="http://kpi", transport=transport)
    async with reader:
        with pytest.raises(DependencyRejected) as refused:
            await reader.create_kpi(kpi_create("clients.forbidden"))
    assert refused.value.dependency_status == 403


async def test_calls_sign_for_the_dependency_and_act_for_the_caller(kpi: KpiClient, kpi_recorder: Recorder) -> None:
    seen: list[tuple[str, str | None]] = []
    signed = tokens("kpi:read")

    def recording(audience: str, act: str | None) -> str:
        seen.append((audience, act))
        return signed(audience, act)

    await kpi.create_kpi(kpi_create("clients.acting"))
    client = KpiClient(kpi._http, recording, kpi._breaker, unavailable_retry_after=5)
    await client.acting_for("callerkey01").statuses(["clients.acting"])
    await client.statuses(["clients.acting"])
    assert seen == [("kpi", "callerkey01"), ("kpi", None)]
    claims = jwt.decode(
        token_header(kpi_recorder.requests[-1]), TEST_KEYS["gateway"].public_key(), algorithms=["EdDSA"], audience="kpi"
    )
    assert (claims["sub"], claims["scopes"]) == ("testkey01", ["kpi:read"])


async def test_through_uvicorn_with_the_request_id_downstream(kpi_app: FastAPI, connection: AsyncConnection) -> None:
    keys = [f"clients.uvicorn.{'long_key_segment_' * 4}{i:04}" for i in range(700)]  # 85-character keys
    await _insert_kpis(connection, keys)
    recorder = Recorder(kpi_app)
    async with serve(recorder) as url:
        client = KpiClient.create(
            client_settings(), tokens("kpi:read", "kpi:write", "measurements:write"), base_url=url
        )
        async with client:
            created = await client.create_kpi(kpi_create("clients.served"))
            assert await client.ingest([point("clients.served", 3)]) == IngestResult(inserted=1, updated=0, unchanged=0)
            assert await client.get_kpi("clients.served") == created

            async def caller(scope: dict[str, object], receive: object, send: object) -> None:
                del scope, receive
                [status] = await client.statuses(["clients.served"])
                assert status.value == 3.0
                assert len(await client.statuses(keys)) == 700  # split so that each query fits the header limit
                await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
                await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

            transport = httpx.ASGITransport(app=RequestIdMiddleware(caller))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://caller") as outer:
                assert (await outer.get("/", headers={"x-request-id": "trace-clients-7"})).status_code == 204
    assert [r.headers.get("x-request-id") for r in recorder.requests[-3:]] == ["trace-clients-7"] * 3


def _raw(app: FastAPI, *scopes: str) -> httpx.AsyncClient:
    headers = {"x-internal-token": token("kpi", *scopes)}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kpi", headers=headers)
