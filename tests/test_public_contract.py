"""The public contract guard: the committed snapshot is the live document, and what breaks clients
is refused unless acknowledged."""

from __future__ import annotations

import copy
import shutil
import subprocess
from typing import Any

import orjson
import pytest

from pilotage.contract import (
    ACKNOWLEDGED,
    SNAPSHOT,
    breaking_changes,
    platform_document,
    read_snapshot,
    without_acknowledgements,
)


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    return platform_document()


def test_the_committed_snapshot_is_the_live_document(live: dict[str, Any]) -> None:
    assert without_acknowledgements(read_snapshot()) == live, (
        "docs/openapi.json differs from the platform's OpenAPI document: run `make openapi` "
        "(a breaking change needs `make openapi ACKNOWLEDGE=1` and says so in the snapshot)"
    )


def _git(*args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", *args], cwd=SNAPSHOT.parents[1], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


def test_the_last_snapshot_update_acknowledges_what_it_breaks() -> None:
    history = _git("log", "--format=%H", "-n", "2", "--", "docs/openapi.json")
    commits = history.split() if history else []
    if len(commits) < 2:
        pytest.skip("no earlier snapshot in this checkout's history (shallow clone or first snapshot)")
    current_text = _git("show", f"{commits[0]}:docs/openapi.json")
    previous_text = _git("show", f"{commits[1]}:docs/openapi.json")
    assert current_text is not None
    assert previous_text is not None
    current, previous = orjson.loads(current_text), orjson.loads(previous_text)
    breaking = breaking_changes(without_acknowledgements(previous), without_acknowledgements(current))
    assert sorted(breaking) == sorted(current.get(ACKNOWLEDGED, [])), (
        "the snapshot's last update breaks clients without acknowledging it (or acknowledges what it does not break)"
    )


def _op(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def _schema_of(document: dict[str, Any], operation: dict[str, Any], where: str) -> dict[str, Any]:
    if where == "request":
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    else:
        ref = next(
            r["content"]["application/json"]["schema"]["$ref"]
            for status, r in operation["responses"].items()
            if status.startswith("2") and "$ref" in r.get("content", {}).get("application/json", {}).get("schema", {})
        )
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_an_unchanged_document_breaks_nothing(live: dict[str, Any]) -> None:
    assert breaking_changes(live, copy.deepcopy(live)) == []


def test_adding_is_not_breaking(live: dict[str, Any]) -> None:
    new = copy.deepcopy(live)
    new["paths"]["/v1/brand-new"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    created = _schema_of(new, _op(new, "/v1/kpis", "post"), "response")
    created["properties"]["brand_new_field"] = {"type": "string"}
    _op(new, "/v1/kpis")["parameters"].append({"in": "query", "name": "new_filter", "schema": {"type": "string"}})
    assert breaking_changes(live, new) == []


def test_a_removed_path_or_operation_breaks(live: dict[str, Any]) -> None:
    new = copy.deepcopy(live)
    del new["paths"]["/v1/kpi-statuses"]
    del new["paths"]["/v1/kpis/{id_or_key}"]["delete"]
    changes = breaking_changes(live, new)
    assert "/v1/kpi-statuses: path removed" in changes
    assert "DELETE /v1/kpis/{id_or_key}: operation removed" in changes


def test_a_removed_response_field_or_a_widened_type_breaks(live: dict[str, Any]) -> None:
    new = copy.deepcopy(live)
    public = _schema_of(new, _op(new, "/v1/kpis/{id_or_key}"), "response")
    del public["properties"]["name"]
    public["properties"]["key"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    changes = breaking_changes(live, new)
    assert any(c.endswith(".name: removed") and c.startswith("GET /v1/kpis/{id_or_key}") for c in changes)
    assert any(".key: may now be ['null']" in c for c in changes)


def test_a_newly_required_field_or_parameter_breaks(live: dict[str, Any]) -> None:
    new = copy.deepcopy(live)
    body = _schema_of(new, _op(new, "/v1/kpis", "post"), "request")
    optional = next(name for name in body["properties"] if name not in body.get("required", []))
    body.setdefault("required", []).append(optional)
    _op(new, "/v1/kpis")["parameters"].append(
        {"in": "query", "name": "must_give", "required": True, "schema": {"type": "string"}}
    )
    changes = breaking_changes(live, new)
    assert f"POST /v1/kpis body.{optional}: newly required" in changes
    assert "GET /v1/kpis: parameter must_give (query) newly required" in changes


def test_a_removed_enum_value_or_a_narrowed_request_type_breaks(live: dict[str, Any]) -> None:
    new = copy.deepcopy(live)
    enum_name, enum = next((n, s) for n, s in new["components"]["schemas"].items() if len(s.get("enum", [])) > 2)
    removed = enum["enum"].pop()
    changes = breaking_changes(live, new)
    assert any(f"enum values removed [{removed!r}]".replace("'", '"') in c.replace("'", '"') for c in changes), (
        enum_name,
        changes,
    )
    narrowed = copy.deepcopy(live)
    body = _schema_of(narrowed, _op(narrowed, "/v1/kpis", "post"), "request")
    body["properties"]["name"] = {"type": "integer"}
    assert any(c.startswith("POST /v1/kpis body.name: accepts ['integer']") for c in breaking_changes(live, narrowed))
