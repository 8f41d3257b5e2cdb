"""Boundaries and API hygiene that must hold for every service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.routes import api_routes

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("gateway", "kpi_service", "strategy_service", "talent_service")


def _imports(package: Path) -> set[tuple[Path, str]]:
    found: set[tuple[Path, str]] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path, node.module))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_services_never_import_each_other(service: str) -> None:
    others = [f"services.{s}" for s in SERVICES if s != service]
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in _imports(ROOT / "services" / service)
        if any(module == o or module.startswith(o + ".") for o in others)
    ]
    assert offending == []


def test_shared_never_imports_services_or_the_cli() -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in _imports(ROOT / "shared")
        if module.split(".")[0] in ("services", "pilotage", "migrations")
    ]
    assert offending == []


def _apps() -> dict[str, FastAPI]:
    from services.gateway.main import app as gateway
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    return {"gateway": gateway, "kpi": kpi, "strategy": strategy, "talent": talent}


def _routes() -> list[tuple[str, APIRoute]]:
    return [(name, r) for name, app in _apps().items() for r in api_routes(app.routes)]


@pytest.mark.parametrize(("app_name", "route"), _routes(), ids=lambda v: getattr(v, "path", v))
def test_every_route_has_tag_operation_id_and_response_model(app_name: str, route: APIRoute) -> None:
    assert route.tags, f"{app_name} {route.path} has no tag"
    assert route.response_model is not None or route.status_code == 204, f"{route.path} has no response model"
    operation = _apps()[app_name].openapi()["paths"][route.path_format]
    for method in route.methods or ():
        assert operation[method.lower()]["operationId"] == f"{route.tags[0]}:{route.name}"


@pytest.mark.parametrize("app_name", ["gateway", "kpi", "strategy", "talent"])
def test_operation_ids_are_unique(app_name: str) -> None:
    spec = _apps()[app_name].openapi()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("app_name", ["gateway", "kpi", "strategy", "talent"])
def test_errors_are_documented_as_problem_json(app_name: str) -> None:
    spec = _apps()[app_name].openapi()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path in ("/healthz", "/readyz"):
                continue
            for status in ("422", "500"):
                assert "application/problem+json" in op["responses"][status]["content"], f"{method} {path} {status}"


@pytest.mark.parametrize("app_name", ["gateway", "kpi", "strategy", "talent"])
def test_authenticated_operations_document_401_403_and_503(app_name: str) -> None:
    spec = _apps()[app_name].openapi()
    for path, operations in spec["paths"].items():
        if path in ("/healthz", "/readyz"):
            continue
        for method, op in operations.items():
            for status in ("401", "403", "503"):
                assert "application/problem+json" in op["responses"][status]["content"], f"{method} {path} {status}"
