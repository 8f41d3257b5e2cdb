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
# The domain services follow one template (the gateway is a composition layer: views over clients).
TEMPLATED = ("kpi_service", "strategy_service", "talent_service")
TEMPLATE_FILES = ("main.py", "config.py", "models.py", "schemas.py", "repository.py", "service.py", "router.py")


def _file_imports(path: Path) -> set[str]:
    """Modules ``path`` imports, ``from package import module`` counted as ``package.module`` too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imports(package: Path) -> set[tuple[Path, str]]:
    return {(path, module) for path in package.rglob("*.py") for module in _file_imports(path)}


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


@pytest.mark.parametrize("service", TEMPLATED)
def test_every_service_has_the_template_files(service: str) -> None:
    present = {p.name for p in (ROOT / "services" / service).glob("*.py")}
    assert set(TEMPLATE_FILES) - present == set()


def _router_files(service: str) -> list[Path]:
    """``router.py``, and the routers of sub-domains (``<sub>/router.py``) of a split service."""
    return sorted((ROOT / "services" / service).rglob("router.py"))


@pytest.mark.parametrize("service", TEMPLATED)
def test_routers_speak_http_only(service: str) -> None:
    """A router calls its service: it never imports a repository nor builds queries."""
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _router_files(service)
        for module in _file_imports(path)
        if module.split(".")[0] in ("sqlalchemy", "sqlmodel", "asyncpg")
        or module.endswith(".repository")
        or module.startswith("shared.pagination.paginate")
    ]
    assert _router_files(service), f"{service} has no router"
    assert offending == []


def test_the_router_check_sees_what_it_forbids(tmp_path: Path) -> None:
    router = tmp_path / "router.py"
    router.write_text("from services.kpi_service import repository\nfrom sqlmodel import col\nimport sqlalchemy.orm\n")
    assert {"services.kpi_service.repository", "sqlmodel", "sqlalchemy.orm"} <= _file_imports(router)


@pytest.mark.parametrize("service", TEMPLATED)
def test_every_route_calls_its_service(service: str) -> None:
    """Each route function of a router refers to ``service`` (HTTP in, the service's answer out)."""
    for path in _router_files(service):
        tree = ast.parse(path.read_text(), str(path))
        routes = [
            node
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
            and any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in
                    ("get", "post", "put", "patch", "delete") for d in node.decorator_list)
        ]  # fmt: skip
        assert routes, f"{path} has no routes"
        for route in routes:
            names = {n.id for n in ast.walk(route) if isinstance(n, ast.Name)}
            assert "service" in names, f"{path.relative_to(ROOT)}: {route.name} does not call the service"


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
