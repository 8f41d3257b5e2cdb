"""``/metrics`` on every process, parsed with the Prometheus text parser; access records as JSON."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.main import build_app as build_gateway
from services.kpi_service.main import app as kpi_app
from services.strategy_service.main import app as strategy_app
from services.talent_service.main import app as talent_app
from shared.health import BreakerState, CircuitState
from shared.observability import configure_logging
from shared.settings import Settings
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.probe import HEADERS, probe_app


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples(text).items() if n == name and wanted <= got)


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.mark.parametrize("app", [kpi_app, strategy_app, talent_app], ids=["kpi", "strategy", "talent"])
async def test_every_service_serves_metrics_without_a_key(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = await scrape(client)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"pilotage_http_requests", "pilotage_http_request_duration_seconds", "pilotage_breaker_state"} <= names


async def test_the_gateway_serves_metrics_without_a_key() -> None:
    transport = httpx.ASGITransport(app=build_gateway(Settings()))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = await scrape(client)
    assert "pilotage_http_requests_in_progress" in text


async def test_requests_are_counted_by_route_template_never_by_raw_path(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    route = "/v1/kpis/{id_or_key}"
    before = await scrape(kpi_client)
    for _ in range(3):
        assert (await kpi_client.get(f"/v1/kpis/{kpi['key']}")).status_code == 200
    assert (await kpi_client.get(f"/v1/kpis/no.such_{uuid.uuid4().hex[:6]}")).status_code == 404
    after = await scrape(kpi_client)

    def moved(name: str, **labels: str) -> float:
        where = {"service": "kpi", "route": route, "method": "GET", **labels}
        return value(after, name, **where) - value(before, name, **where)

    assert moved("pilotage_http_requests_total", status="200") == 3
    assert moved("pilotage_http_requests_total", status="404") == 1
    assert moved("pilotage_http_request_duration_seconds_count") == 4
    assert kpi["key"] not in after  # no label carries a path's value


async def test_points_ingested_are_counted_by_outcome(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    before = await scrape(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-03-10T08:00:00Z", 1), (kpi["key"], "2026-03-11T08:00:00Z", 2))
    await push_ok(kpi_client, (kpi["key"], "2026-03-10T08:00:00Z", 5), (kpi["key"], "2026-03-11T08:00:00Z", 2))
    after = await scrape(kpi_client)

    def moved(outcome: str) -> float:
        name = "pilotage_points_ingested_total"
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert (moved("inserted"), moved("updated"), moved("unchanged")) == (2, 1, 1)
    # The KPI's first points move its status off no_data: one change recorded, by the ingestion.
    events = "pilotage_status_events_total"
    assert value(after, events, cause="ingestion") - value(before, events, cause="ingestion") >= 1


async def test_the_database_pools_are_reported(kpi_client: httpx.AsyncClient) -> None:
    await create_kpi(kpi_client)
    text = await scrape(kpi_client)
    pools = {dict(labels)["pool"] for (name, labels) in samples(text) if name == "pilotage_db_pool_connections"}
    assert "orm" in pools


def _probe(settings: Settings) -> httpx.AsyncClient:
    router = APIRouter(tags=["probe"])

    @router.get("/v1/probe")
    async def probe() -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=probe_app([router], settings))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_token_mode_asks_for_the_bearer_token() -> None:
    async with _probe(Settings(metrics="token", metrics_token="scrape-me-" + "x" * 24)) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        await scrape(client, Authorization="Bearer scrape-me-" + "x" * 24)


async def test_metrics_can_be_turned_off() -> None:
    async with _probe(Settings(metrics="off")) as client:
        assert (await client.get("/metrics")).status_code in (401, 404)
        assert (await client.get("/v1/probe", headers=HEADERS)).status_code == 200


def test_token_mode_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="PILOTAGE_METRICS_TOKEN"):
        Settings(metrics="token")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process logging as it runs in production (JSON lines), written to a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("info", "probe", "json")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_each_request_writes_one_json_access_record(json_log: io.StringIO) -> None:
    async with _probe(Settings(env="production", internal_token_private_key_file=None)) as client:
        response = await client.get("/v1/probe", headers={**HEADERS, "X-Request-Id": "req-42"})
    assert response.status_code == 200
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "pilotage.access"]
    assert len(access) == 1, records
    record = access[0]
    assert record["service"] == "probe"
    assert record["level"] == "INFO"
    assert record["request_id"] == "req-42"
    assert record["key_id"] == "testkey01"
    assert record["route"] == "/v1/probe"
    assert record["method"] == "GET"
    assert record["status"] == 200
    assert record["duration_ms"] >= 0
    assert record["time"]


def test_console_logs_in_development_json_elsewhere() -> None:
    assert Settings(env="development").effective_log_format == "console"
    assert Settings(env="production").effective_log_format == "json"
    assert Settings(env="development", log_format="json").effective_log_format == "json"


async def test_each_dependency_breaker_is_reported_by_state() -> None:
    states = {"kpi": CircuitState.open, "talent": CircuitState.half_open, "strategy": CircuitState.closed}
    router = APIRouter(tags=["probe"])
    app = probe_app([router], Settings())
    app.state.breakers = {
        name: (lambda state=state: BreakerState(state=state, failures=0, retry_in=None))
        for name, state in states.items()
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        text = await scrape(client)
    reported = {dependency: value(text, "pilotage_breaker_state", dependency=dependency) for dependency in states}
    assert reported == {"kpi": 2.0, "talent": 1.0, "strategy": 0.0}
