"""The gateway's OpenAPI document covers every route it serves, the forwarded ones included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.gateway.conftest import running_gateway
from tests.servers import free_port, serve


@pytest.fixture
async def service_urls() -> AsyncIterator[dict[str, str]]:
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    async with AsyncExitStack() as stack:
        yield {
            f"{name}_url": await stack.enter_async_context(serve(app))
            for name, app in (("kpi", kpi), ("strategy", strategy), ("talent", talent))
        }


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


async def test_one_document_drives_the_whole_platform(
    database_url: str, admin_key: str, service_urls: dict[str, str]
) -> None:
    async with running_gateway(database_url, admin_key, **service_urls) as gateway, gateway.as_key(None) as anonymous:
        response = await anonymous.get("/openapi.json")
        assert response.status_code == 200
        spec = response.json()
        assert (await anonymous.get("/docs")).status_code == 200
    paths = spec["paths"]
    for path in ("/v1/kpis", "/v1/kpis/{id_or_key}/status", "/v1/measurements", "/v1/kpi-statuses",
                 "/v1/objectives", "/v1/org-units", "/v1/api-keys", "/v1/audit-events", "/healthz",
                 "/v1/alignment/objectives/{objective_id}", "/v1/alignment/overview",
                 "/v1/alignment/org-units/{id_or_key}", "/v1/alignment/gaps"):  # fmt: skip
        assert path in paths, path
    assert "x-pilotage-unavailable" not in spec["info"]
    operations = [(p, m, op) for p, ops in paths.items() for m, op in ops.items()]
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids))
    for path, method, op in operations:
        if path in ("/healthz", "/readyz"):
            continue
        assert op["security"] == [{"HTTPBearer": []}], (method, path)
        assert "application/problem+json" in op["responses"]["422"]["content"], (method, path)
    assert list(spec["components"]["securitySchemes"]) == ["HTTPBearer"]
    schemas = spec["components"]["schemas"]
    assert {ref.removeprefix("#/components/schemas/") for ref in _refs(spec)} <= set(schemas)
    for path in ("/v1/alignment/objectives/{objective_id}", "/v1/alignment/org-units/{id_or_key}"):
        assert {"401", "403", "404", "429", "503", "504"} <= set(paths[path]["get"]["responses"]), path
    assert paths["/v1/alignment/overview"]["get"]["operationId"] == "alignment:get_alignment_overview"
    ingest = paths["/v1/measurements"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert ingest == {"$ref": "#/components/schemas/MeasurementBatch"}


async def test_a_missing_service_is_named_and_the_rest_served(
    database_url: str, admin_key: str, service_urls: dict[str, str]
) -> None:
    urls = {**service_urls, "talent_url": f"http://127.0.0.1:{free_port()}"}
    async with running_gateway(database_url, admin_key, **urls) as gateway, gateway.as_key(None) as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
    assert spec["info"]["x-pilotage-unavailable"] == ["talent"]
    assert "/v1/kpis" in spec["paths"]
    assert "/v1/org-units" not in spec["paths"]


def test_clashing_schema_names_are_told_apart() -> None:
    from services.gateway.config import ROUTES
    from services.gateway.openapi import merge
    from services.gateway.proxy import RouteTable

    routes = RouteTable(ROUTES, {"kpi": "http://k", "strategy": "http://s", "talent": "http://t"})
    base = {"paths": {}, "components": {"schemas": {"Item": {"type": "string"}}}}
    kpi = {
        "paths": {"/v1/kpis": {"get": {"responses": {"200": {"$ref": "#/components/schemas/Item"}}}}},
        "components": {"schemas": {"Item": {"type": "integer"}}},
    }
    merged = merge(base, {"kpi": kpi}, routes)
    assert merged["components"]["schemas"]["Item"] == {"type": "string"}
    assert merged["components"]["schemas"]["KpiItem"] == {"type": "integer"}
    assert merged["paths"]["/v1/kpis"]["get"]["responses"]["200"]["$ref"] == "#/components/schemas/KpiItem"


def test_a_renamed_schema_carries_its_new_title() -> None:
    """Generated clients name a model by its title, so the title moves with the name."""
    from services.gateway.config import ROUTES
    from services.gateway.openapi import merge
    from services.gateway.proxy import RouteTable

    routes = RouteTable(ROUTES, {"kpi": "http://k", "strategy": "http://s", "talent": "http://t"})
    bucket = {"title": "SeriesBucket", "type": "string"}
    base = {"paths": {}, "components": {"schemas": {"SeriesBucket": {**bucket, "enum": ["day", "month"]}}}}
    talent = {"paths": {}, "components": {"schemas": {"SeriesBucket": {**bucket, "enum": ["month", "year"]}}}}
    schemas = merge(base, {"talent": talent}, routes)["components"]["schemas"]
    assert schemas["SeriesBucket"]["title"] == "SeriesBucket"
    assert schemas["TalentSeriesBucket"] == {"title": "TalentSeriesBucket", "type": "string", "enum": ["month", "year"]}
