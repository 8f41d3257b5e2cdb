"""The platform's OpenAPI contract, as real clients use it.

The fast tests check the documents themselves (merged in process). The slow ones start the platform
as `pilotage up` does and drive it with the tools clients use: a Python client generated from the
live gateway's `/openapi.json` by openapi-python-client, and schemathesis over every service's own
document and the gateway's.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.keys import generate_key
from shared.auth import INTERNAL_TOKEN_HEADER
from tests.auth import install_test_keys, token
from tests.database import temporary_database
from tests.test_end_to_end import _environment, _finish, _ports, _run_up, _stop, _wait_ready

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BIN = Path(sys.executable).parent
SERVICES = ("kpi", "strategy", "talent")


# ---------------------------------------------------------------- the documents, in process


def _service_documents() -> dict[str, dict[str, Any]]:
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    return {"kpi": kpi.openapi(), "strategy": strategy.openapi(), "talent": talent.openapi()}


def _platform_document() -> dict[str, Any]:
    from services.gateway.config import ROUTES
    from services.gateway.main import app as gateway
    from services.gateway.openapi import merge
    from services.gateway.proxy import RouteTable

    routes = RouteTable(ROUTES, {name: f"http://{name}" for name in SERVICES})
    return merge(gateway.openapi(), _service_documents(), routes)


def _inline_enums(document: dict[str, Any]) -> list[str]:
    """Where an enum is written in place rather than named in ``components/schemas``."""
    found: list[str] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            if "enum" in node and not (len(path) == 3 and path[:2] == ("components", "schemas")):
                found.append("/".join(path))
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, str(index)))

    walk(document, ())
    return found


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _assert_problem(response: dict[str, Any], where: object) -> None:
    assert response["content"] == {PROBLEM: {"schema": PROBLEM_REF}}, where


def test_every_enum_of_every_document_is_a_named_component() -> None:
    documents = {"platform": _platform_document(), **_service_documents()}
    assert {name: _inline_enums(document) for name, document in documents.items()} == {name: [] for name in documents}
    schemas = documents["platform"]["components"]["schemas"]
    assert schemas["Bucket"]["enum"] == ["day", "week", "month", "quarter", "year"]
    series = documents["platform"]["paths"]["/v1/kpis/{id_or_key}/series"]["get"]
    bucket = next(p for p in series["parameters"] if p["name"] == "bucket")
    assert bucket["schema"]["$ref"] == "#/components/schemas/Bucket"


def test_every_route_the_gateway_serves_documents_its_own_answers() -> None:
    document = _platform_document()
    authenticated = [(p, m, op) for p, m, op in _operations(document) if op.get("security")]
    served = {path for path, _, _ in authenticated}
    assert {"/v1/api-keys", "/v1/audit-events", "/v1/kpis/{id_or_key}/series", "/v1/objectives"} <= served
    for path, method, operation in authenticated:
        responses = operation["responses"]
        for status in ("401", "403", "429", "503", "504"):
            _assert_problem(responses[status], (method, path, status))
        assert responses["429"]["headers"]["Retry-After"]["required"] is True, (method, path)
        assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
        assert "Retry-After" in responses["503"]["headers"], (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
    # Health is not authenticated: no 401 or 429 can come from it.
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]


def test_every_error_response_is_problem_json_with_its_schema() -> None:
    documents = {"platform": _platform_document(), **_service_documents()}
    for name, document in documents.items():
        assert "Problem" in document["components"]["schemas"], name
        for path, method, operation in _operations(document):
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and (path, status) != ("/readyz", "503"):
                    _assert_problem(response, (name, method, path, status))
        for path, method, operation in _operations(document):
            if path not in ("/healthz", "/readyz"):
                for status in ("401", "403", "503"):
                    assert status in operation["responses"], (name, method, path, status)


def test_no_parameter_is_documented_as_null() -> None:
    """A parameter is left out or sent as a string; `null` cannot be sent, so none may be documented."""
    for name, document in {"platform": _platform_document(), **_service_documents()}.items():
        for path, method, operation in _operations(document):
            for parameter in operation.get("parameters", ()):
                assert "null" not in str(parameter["schema"]), (name, method, path, parameter)
    events = _platform_document()["paths"]["/v1/kpi-events"]["get"]["parameters"]
    assert next(p for p in events if p["name"] == "kpi")["schema"]["type"] == "array"


def test_documented_success_headers() -> None:
    document = _platform_document()
    created = document["paths"]["/v1/api-keys"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    kpi = document["paths"]["/v1/kpis/{id_or_key}"]
    assert set(document["paths"]["/v1/kpis"]["post"]["responses"]["201"]["headers"]) == {"ETag", "Location"}
    for method, status in (("get", "200"), ("get", "304"), ("patch", "200"), ("delete", "200")):
        assert kpi[method]["responses"][status]["headers"]["ETag"]["required"] is True, (method, status)
    assert kpi["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/KpiPublic")


# ---------------------------------------------------------------- the live platform


@dataclass(frozen=True)
class Platform:
    ports: dict[str, int]
    admin_key: str
    kpi: str  # a KPI with targets and measurements, for operations addressed by `{id_or_key}`

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url("gateway"), headers={"Authorization": f"Bearer {self.admin_key}"})


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """`pilotage up` on a throw-away database, with a bootstrap admin key and the suite's key pairs
    (so the tests can sign internal tokens to call each service directly)."""
    ports = _ports()
    admin_key = generate_key().full
    with temporary_database("pilotage_contract") as url:
        env = _environment(
            ports,
            DATABASE_URL=url,
            PILOTAGE_DATA_DIR=str(install_test_keys(tmp_path_factory.mktemp("data"))),
            PILOTAGE_BOOTSTRAP_ADMIN_KEY=admin_key,
        )
        process = _run_up(env)
        try:
            for name in ports:
                _wait_ready(process, f"http://127.0.0.1:{ports[name]}/readyz")
            platform = Platform(ports, admin_key, "contract.seeded")
            _seed(platform)
            yield platform
            output = _stop(process)
            assert process.returncode == 0, output
        finally:
            _finish(process)


def _seed(platform: Platform) -> None:
    with platform.admin() as admin:
        created = admin.post(
            "/v1/kpis",
            json={"key": platform.kpi, "name": "Seeded", "unit": "%", "domain": "quality", "direction": "increase",
                  "aggregation": "avg", "cadence": "daily", "thresholds": {"mode": "absolute", "amber": 1, "red": 2}},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        targets = {"targets": [{"period_start": "2020-01-01", "period_end": "2099-12-31", "value": 90}]}
        assert admin.put(f"/v1/kpis/{platform.kpi}/targets", json=targets).status_code == 200
        now = dt.datetime.now(dt.UTC)
        points = [
            {"kpi": platform.kpi, "ts": (now - dt.timedelta(days=days)).isoformat(), "value": 90 + days}
            for days in range(5)
        ]
        assert admin.post("/v1/measurements", json={"points": points}).status_code == 200


# ---------------------------------------------------------------- a generated client


def _generate_client(document: bytes, into: Path, package: str) -> None:
    """openapi-python-client over ``document``; any warning fails (it would mean a route or a model
    silently missing from the client: the generator still exits 0 then)."""
    (into / "openapi.json").write_bytes(document)
    # No post hooks: formatting the generated code is not part of the contract (and needs no tool).
    (into / "config.yaml").write_text(f"package_name_override: {package}\npost_hooks: []\n")
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json", "--output-path", "client",
         "--config", "config.yaml"],
        cwd=into, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output.splitlines() == ["Generating client"], output


def test_a_generator_warning_fails_the_generation(tmp_path: Path) -> None:
    """The check the live test relies on: a response the generator drops is a failure, not a warning."""
    gone = {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}
    operation = {
        "operationId": "things:list",
        "tags": ["things"],
        "responses": {"200": {"description": "OK", "content": gone}},
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Dropped", "version": "1"},
        "paths": {"/things": {"get": operation}},
    }
    with pytest.raises(AssertionError, match="Could not find reference"):
        _generate_client(json.dumps(document).encode(), tmp_path, "dropped_client")


@pytest.mark.slow
def test_a_client_generated_from_the_live_document_drives_a_kpi_scenario(platform: Platform, tmp_path: Path) -> None:
    package = "pilotage_contract_client"
    spec = httpx.get(f"{platform.url('gateway')}/openapi.json")
    assert spec.status_code == 200
    assert "x-pilotage-unavailable" not in spec.json()["info"]
    _generate_client(spec.content, tmp_path, package)
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        _drive_kpi_scenario(platform, package)
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]


def _drive_kpi_scenario(platform: Platform, package: str) -> None:
    def load(name: str) -> Any:
        return importlib.import_module(f"{package}.{name}")

    models = load("models")
    kpis = {op: load(f"api.kpis.kpis{op}") for op in ("create_kpi", "put_targets", "ingest_measurements",
                                                        "get_status", "get_series", "get_kpi")}  # fmt: skip
    client = load("client").AuthenticatedClient(base_url=platform.url("gateway"), token=platform.admin_key)
    with client:
        body = models.KpiCreate(
            key="contract.client", name="Through the generated client", unit="h", domain=models.Domain.OPERATIONS,
            direction=models.Direction.DECREASE, aggregation=models.Aggregation.SUM, cadence=models.Cadence.DAILY,
            thresholds=models.Thresholds(mode=models.ThresholdMode.RELATIVE, amber=0.1, red=0.2),
        )  # fmt: skip
        created = kpis["create_kpi"].sync_detailed(client=client, body=body)
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, models.KpiPublic)
        assert created.parsed.key == "contract.client"
        assert created.headers["etag"] == '"1"'

        period = dt.date(2020, 1, 1), dt.date(2099, 12, 31)
        targets = models.TargetsPut(targets=[models.TargetIn(period_start=period[0], period_end=period[1], value=10)])
        put = kpis["put_targets"].sync_detailed("contract.client", client=client, body=targets)
        assert put.status_code == 200, put.content

        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        points = [
            models.MeasurementPointIn(kpi="contract.client", ts=today - dt.timedelta(days=1, hours=-h), value=v)
            for h, v in ((8, 4.0), (12, 5.0))
        ] + [models.MeasurementPointIn(kpi="contract.client", ts=today - dt.timedelta(days=2), value=20.0)]
        ingested = kpis["ingest_measurements"].sync_detailed(client=client, body=models.MeasurementBatch(points=points))
        assert ingested.status_code == 200, ingested.content
        assert (ingested.parsed.inserted, ingested.parsed.updated, ingested.parsed.unchanged) == (3, 0, 0)

        status = kpis["get_status"].sync_detailed("contract.client", client=client).parsed
        assert isinstance(status, models.KpiStatus)
        # Yesterday's sum, 9 h, is within 10 % of the 10 h target on the good side: green, and down from 20.
        assert (status.status, status.value, status.count) == (models.Status.GREEN, 9.0, 2)
        assert status.trend.previous_value == 20.0

        series = kpis["get_series"].sync_detailed("contract.client", client=client, bucket=models.Bucket.DAY).parsed
        assert isinstance(series, models.Series)
        assert series.bucket == models.Bucket.DAY
        assert [(b.value, b.count) for b in series.buckets] == [(20.0, 1), (9.0, 2)]
        assert series.buckets[-1].start == today - dt.timedelta(days=1)

        # Errors come back as the documented problem model.
        missing = kpis["get_kpi"].sync_detailed("contract.nothing", client=client)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.status == 404
        refused = kpis["ingest_measurements"].sync_detailed(
            client=client,
            body=models.MeasurementBatch(points=[models.MeasurementPointIn(kpi="contract.nothing", ts=today, value=1)]),
        )
        assert refused.status_code == 422
        assert [(e.pointer, e.code, e.location) for e in refused.parsed.errors] == [
            ("/points/0/kpi", "unknown_kpi", models.ErrorLocation.BODY)
        ]


# ---------------------------------------------------------------- a contract fuzzer

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "ignored_auth",
)
SEED = 20261203
# Test cases per operation and phase: bounded so that the four runs stay well within three minutes
# on two cores; the seed and deterministic generation make every failure reproduce.
MAX_EXAMPLES = {"gateway": 20, "kpi": 10, "strategy": 20, "talent": 20}


def _credentials(platform: Platform, target: str) -> str:
    if target == "gateway":
        return f"Authorization: Bearer {platform.admin_key}"
    # The platform signs with the suite's keys; a test token lasts longer than the run.
    return f"{INTERNAL_TOKEN_HEADER}: {token(target, 'admin', key_id='contract01')}"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("target", ["gateway", *SERVICES])
def test_schemathesis_finds_nothing(platform: Platform, target: str, tmp_path: Path) -> None:
    # Operations addressed by `{id_or_key}` reach a KPI that exists, so the fuzzer gets past the 404.
    (tmp_path / "schemathesis.toml").write_text(f'[parameters]\n"path.id_or_key" = "{platform.kpi}"\n')
    result = subprocess.run(
        [str(BIN / "schemathesis"), "--config-file", "schemathesis.toml", "run",
         f"{platform.url(target)}/openapi.json",
         "--header", _credentials(platform, target),
         "--checks", ",".join(CHECKS),
         "--max-examples", str(MAX_EXAMPLES[target]),
         "--seed", str(SEED), "--generation-deterministic",
         "--workers", "1", "--request-timeout", "10", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    assert " passed" in output
