"""Hostile input on every write route of the platform's OpenAPI document: bodies of the maximum size
nested as deep as they go, 100 000-character strings, NUL characters and invalid UTF-8, numbers
beyond float64 and int64, timestamps at years 1 and 9999 with ±14:00 offsets; and tampered cursors
and repeated parameters on the lists. Each is a 4xx problem+json, never a 500, and nothing is
written. In-process against the services on real PostgreSQL (the gateway passes bodies through)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pilotage.contract import platform_document
from services.gateway.config import ROUTES
from services.gateway.proxy import RouteTable
from shared.auth import ServiceIdentity
from shared.clients import KpiClient
from shared.settings import Settings
from tests.auth import TEST_KEYS, TTL_SECONDS
from tests.servers import free_port

WRITE_METHODS = ("post", "put", "patch", "delete")
# POSTs that only read (a query too large for a query string): refusing is not required of them, a 5xx is.
READS = frozenset({"/v1/kpi-aggregates", "/v1/initiative-lookups"})
LONG = "x" * 100_000
_REF = "#/components/schemas/"

DOCUMENT = platform_document()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
OWNER = RouteTable(ROUTES, {name: name for name in ROUTES})


def _operations(methods: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path, operation)`` of the routes the services own (the gateway's own are its keys)."""
    return [
        (method, path, operation)
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        if method in methods and OWNER.match(path) is not None
    ]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].removeprefix(_REF)]
    return schema


Leaf = Callable[[dict[str, Any], str], Any]


def _plausible(schema: dict[str, Any], name: str) -> Any:
    """A value that passes ``schema`` as far as a cheap guess goes."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "string":
        if fmt == "date":
            return "2026-01-15"
        if fmt == "date-time":
            return "2026-01-15T10:00:00+00:00"
        if fmt == "uuid":
            return str(uuid.uuid4())
        pattern = schema.get("pattern", "")
        if "A-Z]{3}" in pattern:
            return "EUR"
        if "@" in pattern or name == "email":
            return "someone@example.com"
        return "abuse_x"
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    return "abuse_x"


def instance(schema: dict[str, Any], leaf: Leaf, name: str = "", depth: int = 0) -> Any:
    """A body for ``schema`` with every property filled (one item per array), each leaf by ``leaf``."""
    schema = _resolve(schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        concrete = [o for o in options if _resolve(o).get("type") != "null"]
        return instance(concrete[0] if concrete else options[0], leaf, name, depth)
    if "allOf" in schema:
        return instance(schema["allOf"][0], leaf, name, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {k: instance(v, leaf, k, depth + 1) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [instance(schema.get("items", {}), leaf, name, depth + 1)]
    return leaf(schema, name)


def _kind(schema: dict[str, Any]) -> str:
    return f"{schema.get('type')}:{schema.get('format', '')}"


class _Replacing:
    """A leaf that puts ``value`` in every field of one of ``kinds``, and says whether it found any."""

    def __init__(self, kinds: set[str], value: Any) -> None:
        self.kinds = kinds
        self.value = value
        self.replaced = False

    def __call__(self, schema: dict[str, Any], name: str) -> Any:
        if "enum" not in schema and _kind(schema) in self.kinds:
            self.replaced = True
            return self.value
        return _plausible(schema, name)


def _replacing(kinds: set[str], value: Any) -> Leaf:
    return _Replacing(kinds, value)


# Literals JSON allows but no float64 or int64 holds: written into the text after serialisation.
_HUGE_FLOAT, _HUGE_INT = "__huge_float__", "__huge_int__"
_NUMBERS = {"number:", "integer:"}
_TEXT = {"string:"}
_TIMES = {"string:date-time"}
_DATES = {"string:date"}


def _abuses() -> Iterator[tuple[str, Leaf | None, bytes | None]]:
    """``(name, leaf, raw)``: a body built by ``leaf`` from the route's schema, or ``raw`` bytes."""
    yield "long strings", _replacing(_TEXT, LONG), None
    yield "NUL in strings", _replacing(_TEXT, "a\x00b"), None
    yield "1e400", _replacing(_NUMBERS, _HUGE_FLOAT), None
    yield "10**400", _replacing(_NUMBERS, _HUGE_INT), None
    yield "-10**400", _replacing(_NUMBERS, "-" + _HUGE_INT), None
    for stamp in ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59-14:00",
                  "9999-12-31T23:59:59+14:00", "2026-01-15T10:00:00"):  # fmt: skip
        yield f"timestamp {stamp}", _replacing(_TIMES, stamp), None
    for day in ("0001-01-01", "9999-12-31"):
        yield f"date {day}", _replacing(_DATES, day), None
    yield "invalid UTF-8", None, b'{"name": "\xff\xfe\xc3", "title": "\xed\xa0\x80"}'
    yield "escaped lone surrogate", None, b'{"name": "\\ud800", "title": "\\udfff", "key": "\\ud800x"}'
    depth = Settings().max_body_bytes // 2
    yield "nested arrays at the size limit", None, b"[" * depth + b"]" * depth
    pairs = (Settings().max_body_bytes - 2) // 6
    yield "nested objects", None, b'{"a":' * pairs + b"1" + b"}" * pairs
    yield "empty", None, b""
    yield "not an object", None, b"[]"


def _body(leaf: Leaf | None, raw: bytes | None, operation: dict[str, Any]) -> bytes | None:
    if raw is not None:
        # An empty body is the defaults where the body is optional.
        return None if raw == b"" and not operation.get("requestBody", {}).get("required") else raw
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None or leaf is None:
        return None
    if isinstance(leaf, _Replacing):
        leaf.replaced = False
    encoded = orjson.dumps(instance(content["schema"], leaf))
    if isinstance(leaf, _Replacing) and not leaf.replaced:
        return None  # no field of that kind: the body would be a plausible one
    return encoded.replace(f'"{_HUGE_FLOAT}"'.encode(), b"1e400").replace(f'"{_HUGE_INT}"'.encode(), b"1" + b"0" * 400)


async def _row_counts(connection: AsyncConnection) -> dict[str, int]:
    tables = (
        await connection.execute(
            text(
                "SELECT schemaname || '.' || tablename FROM pg_tables "
                "WHERE schemaname IN ('kpi', 'strategy', 'talent') AND tablename NOT LIKE 'alembic%'"
            )
        )
    ).scalars()
    counts = {}
    for table in tables:
        counts[table] = (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    return counts


@pytest.fixture
async def clients(
    kpi_client: httpx.AsyncClient, strategy_client: httpx.AsyncClient, talent_client: httpx.AsyncClient
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    # What the lifespans would give the services that call the KPI service: here a client of a port
    # that refuses connections (a body is judged before any call is made).
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    settings = Settings(kpi_url=f"http://127.0.0.1:{free_port()}")
    identities = {"strategy": ServiceIdentity("strategy", TEST_KEYS["strategy"], TTL_SECONDS)}
    identities["talent"] = ServiceIdentity("talent", TEST_KEYS["talent"], TTL_SECONDS)
    for name, app in (("strategy", strategy), ("talent", talent)):
        app.state.kpi_client = KpiClient.create(settings, identities[name])
    try:
        yield {"kpi": kpi_client, "strategy": strategy_client, "talent": talent_client}
    finally:
        for app in (strategy, talent):
            await app.state.kpi_client.aclose()
            del app.state.kpi_client


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, (path, response.text)
    created: dict[str, Any] = response.json()
    return created


async def seed(clients: dict[str, httpx.AsyncClient]) -> dict[str, str]:
    """One resource of each kind a write path names, so that hostile bodies reach the routes whose
    path names something (not a 404 in front of them): what each path segment's parameter is."""
    kpi, strategy, talent = clients["kpi"], clients["strategy"], clients["talent"]
    await _created(kpi, "/v1/kpis", {"key": "abuse.kpi", "name": "Abuse", "unit": "u", "domain": "operations",
                                     "direction": "increase", "aggregation": "avg", "cadence": "daily"})  # fmt: skip
    objective = await _created(strategy, "/v1/objectives", {"title": "Abuse", "level": "company",
                               "period_start": "2026-01-01", "period_end": "2026-12-31"})  # fmt: skip
    key_result = await _created(
        strategy,
        f"/v1/objectives/{objective['id']}/key-results",
        {"title": "Abuse", "kind": "increase", "start_value": 0, "target_value": 10},
    )
    initiative = await _created(strategy, "/v1/initiatives", {"title": "Abuse", "objective_id": objective["id"],
                                "start_date": "2026-01-01", "due_date": "2026-03-31"})  # fmt: skip
    unit = await _created(talent, "/v1/org-units", {"key": "abuse_unit", "name": "Abuse", "kind": "company"})
    person = await _created(talent, "/v1/people", {"employee_number": "A1", "name": "Ab Use", "email": "a@example.com",
                            "hire_date": "2024-01-01", "org_unit_id": unit["id"]})  # fmt: skip
    await _created(talent, "/v1/skills", {"key": "abuse_skill", "name": "Abuse"})
    await _created(talent, "/v1/trainings", {"key": "abuse_training", "name": "Abuse", "skills": ["abuse_skill"]})
    enrolment = await _created(talent, "/v1/trainings/abuse_training/enrolments",
                               {"person_id": person["id"], "enrolled_on": "2024-06-01"})  # fmt: skip
    await _created(talent, "/v1/engagement-surveys", {"key": "abuse_survey", "name": "Abuse",
                   "period_start": "2026-01-01", "period_end": "2026-01-31"})  # fmt: skip
    return {
        "kpis": "abuse.kpi",
        "objectives": objective["id"],
        "key-results": key_result["id"],
        "initiatives": initiative["id"],
        "org-units": "abuse_unit",
        "people": person["id"],
        "trainings": "abuse_training",
        "enrolments": enrolment["id"],
        "engagement-surveys": "abuse_survey",
    }


def _path(template: str, resources: dict[str, str]) -> str:
    """The path with its parameter naming the seeded resource of its collection (a collection added
    later and not seeded yet gets an id that names nothing: its bodies are still judged first)."""
    parts = template.split("/")
    nothing = str(uuid.UUID(int=7))
    return "/".join(resources.get(parts[i - 1], nothing) if p.startswith("{") else p for i, p in enumerate(parts))


async def _etag(client: httpx.AsyncClient, path: str) -> str:
    """The resource's current ETag, so that a PATCH is judged on its body, not refused for its version."""
    response = await client.get(path)
    etag: str = response.headers.get("etag", '"0"')
    return etag


def _assert_refused(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json", (what, response.text[:200])
    problem = response.json()
    assert problem["status"] == response.status_code, what


async def test_hostile_bodies_on_every_write_route_are_refused_and_write_nothing(
    clients: dict[str, httpx.AsyncClient], connection: AsyncConnection
) -> None:
    resources = await seed(clients)
    before = await _row_counts(connection)
    tried = 0
    for (method, template, operation), (abuse, leaf, raw) in itertools.product(
        _operations(WRITE_METHODS), list(_abuses())
    ):
        body = _body(leaf, raw, operation) if "requestBody" in operation else None
        if body is None:
            continue
        upstream = OWNER.match(template)
        assert upstream is not None
        path = _path(template, resources)
        if_match = await _etag(clients[upstream.name], path) if method == "patch" else '"0"'
        headers = {"content-type": "application/json", "if-match": if_match, "idempotency-key": str(uuid.uuid4())}
        response = await clients[upstream.name].request(method.upper(), path, content=body, headers=headers)
        if template in READS:
            assert response.status_code < 500, (abuse, template, response.text[:500])
        else:
            _assert_refused(response, f"{abuse}: {method.upper()} {template}")
        tried += 1
    assert tried > 250
    assert await _row_counts(connection) == before


async def test_tampered_cursors_and_repeated_parameters_on_lists(clients: dict[str, httpx.AsyncClient]) -> None:
    resources = await seed(clients)
    lists = [
        (path, operation)
        for method, path, operation in _operations(("get",))
        if any(p["name"] == "cursor" for p in operation.get("parameters", ()))
    ]
    assert len(lists) >= 10
    cursors = ("garbage", "eyJ4IjoxfQ", "AAAA", "%00", "\x00", "a" * 5000, "eyJrIjpbMSwyLDNdLCJ2IjoxfQ==", "-1")
    for template, _operation in lists:
        upstream = OWNER.match(template)
        assert upstream is not None
        client = clients[upstream.name]
        path = _path(template, resources)
        for cursor in cursors:
            response = await client.get(path, params={"cursor": cursor})
            _assert_refused(response, f"cursor {cursor[:20]!r} on {template}")
        for repeated in ({"limit": ["1", "2"]}, {"limit": ["1", "x"]}, {"cursor": ["a", "b"]}, {"limit": ["0"]}):
            response = await client.get(path, params=repeated)
            assert response.status_code < 500, (template, repeated, response.text[:300])
            if response.status_code >= 400:
                _assert_refused(response, f"{repeated} on {template}")
