"""The platform's public contract: the gateway's merged OpenAPI document, kept in ``docs/openapi.json``.

A test fails when the live document differs from the snapshot, and when the snapshot's last update
broke clients without saying so. A change is *breaking* when a client written against the old
document can fail against the new one: a path or operation removed; a parameter removed or newly
required; in a request body, a property removed, newly required, or narrowed to fewer types or enum
values; in a response, a property removed or widened to more types, or an enum value removed::

    python -m pilotage.contract check                  # the snapshot is current (exit 1 if not)
    python -m pilotage.contract write                  # refresh it; refuses a breaking change…
    python -m pilotage.contract write --acknowledge    # …unless acknowledged: listed in the snapshot

Acknowledged changes are stored under ``x-pilotage-breaking-changes`` of the snapshot they came
with, so the commit that breaks the contract says so in the file it changes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
ACKNOWLEDGED = "x-pilotage-breaking-changes"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_REF = "#/components/schemas/"


def platform_document() -> dict[str, Any]:
    """The document the gateway serves at ``/openapi.json``, built in-process from each app's own."""
    from services.gateway.config import ROUTES
    from services.gateway.main import app as gateway
    from services.gateway.openapi import merge
    from services.gateway.proxy import RouteTable
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    services = {"strategy": strategy.openapi(), "kpi": kpi.openapi(), "talent": talent.openapi()}
    routes = RouteTable(ROUTES, {name: f"http://{name}" for name in services})
    return merge(gateway.openapi(), services, routes)


def render(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def without_acknowledgements(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != ACKNOWLEDGED}


class _Schemas:
    """Resolves ``$ref`` within one document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: Any) -> tuple[str | None, dict[str, Any]]:
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith(_REF):
            name = schema["$ref"][len(_REF) :]
            return name, self.schemas.get(name, {})
        return None, schema if isinstance(schema, dict) else {}


def _alternatives(schemas: _Schemas, schema: dict[str, Any]) -> list[dict[str, Any]]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        return [schemas.resolve(o)[1] for o in options]
    return [schema]


def _types(schemas: _Schemas, schema: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for option in _alternatives(schemas, schema):
        kind = option.get("type")
        if isinstance(kind, list):
            found |= set(kind)
        elif isinstance(kind, str):
            found.add(kind)
        elif "properties" in option:
            found.add("object")
        elif "const" in option:
            found.add(type(option["const"]).__name__)
    if "integer" in found and "number" in found:
        found.discard("integer")
    return found


def _enum(schemas: _Schemas, schema: dict[str, Any]) -> set[Any] | None:
    values: set[Any] = set()
    for option in _alternatives(schemas, schema):
        if isinstance(option.get("enum"), list):
            values |= {orjson.dumps(v) for v in option["enum"]}
        elif "const" in option:
            values.add(orjson.dumps(option["const"]))
        elif option.get("type") != "null":
            return None  # an unconstrained alternative: any value
    return values or None


def _object_part(schemas: _Schemas, schema: dict[str, Any]) -> dict[str, Any] | None:
    for option in _alternatives(schemas, schema):
        if "properties" in option:
            return option
    return None


def _items(schemas: _Schemas, schema: dict[str, Any]) -> dict[str, Any] | None:
    for option in _alternatives(schemas, schema):
        if option.get("type") == "array" and isinstance(option.get("items"), dict):
            return schemas.resolve(option["items"])[1]
    return None


def _values(schemas: _Schemas, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a map's values (``additionalProperties``)."""
    for option in _alternatives(schemas, schema):
        if isinstance(option.get("additionalProperties"), dict):
            return schemas.resolve(option["additionalProperties"])[1]
    return None


def _compare(
    old: _Schemas, new: _Schemas, before: Any, after: Any, where: str, request: bool, seen: set[tuple[int, int]]
) -> Iterator[str]:
    _, before = old.resolve(before)
    _, after = new.resolve(after)
    if (id(before), id(after)) in seen:  # a recursive schema (a tree node's children) is compared once
        return
    seen.add((id(before), id(after)))
    old_types, new_types = _types(old, before), _types(new, after)
    if old_types and new_types:
        if request and not old_types <= new_types:
            yield f"{where}: accepts {sorted(new_types)} instead of {sorted(old_types)}"
        if not request and not new_types <= old_types:
            yield f"{where}: may now be {sorted(new_types - old_types)}"
    old_enum, new_enum = _enum(old, before), _enum(new, after)
    if old_enum is not None and new_enum is not None and old_enum - new_enum:
        removed = sorted(orjson.loads(v) for v in old_enum - new_enum)
        yield f"{where}: enum values removed {removed}"
    old_object, new_object = _object_part(old, before), _object_part(new, after)
    if old_object is not None and new_object is not None:
        old_props: dict[str, Any] = old_object.get("properties", {})
        new_props: dict[str, Any] = new_object.get("properties", {})
        for name in sorted(old_props.keys() - new_props.keys()):
            yield f"{where}.{name}: removed"
        if request:
            newly = set(new_object.get("required", ())) - set(old_object.get("required", ()))
            for name in sorted(newly):
                yield f"{where}.{name}: newly required"
        for name in sorted(old_props.keys() & new_props.keys()):
            yield from _compare(old, new, old_props[name], new_props[name], f"{where}.{name}", request, seen)
    old_items, new_items = _items(old, before), _items(new, after)
    if old_items is not None and new_items is not None:
        yield from _compare(old, new, old_items, new_items, f"{where}[]", request, seen)
    old_values, new_values = _values(old, before), _values(new, after)
    if old_values is not None and new_values is not None:
        yield from _compare(old, new, old_values, new_values, f"{where}{{}}", request, seen)


def _json_schema(body: dict[str, Any] | None) -> Any:
    content = (body or {}).get("content", {})
    for media, part in content.items():
        if "json" in media:
            return part.get("schema")
    return None


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a client of ``old`` may trip over in ``new``, one line each."""
    old_schemas, new_schemas = _Schemas(old), _Schemas(new)
    changes: list[str] = []
    new_paths: dict[str, Any] = new.get("paths", {})
    for path, operations in sorted(old.get("paths", {}).items()):
        if path not in new_paths:
            changes.append(f"{path}: path removed")
            continue
        for method in _METHODS:
            if method not in operations:
                continue
            before, after = operations[method], new_paths[path].get(method)
            where = f"{method.upper()} {path}"
            if after is None:
                changes.append(f"{where}: operation removed")
                continue
            old_params = {(p["in"], p["name"]): p for p in before.get("parameters", ())}
            new_params = {(p["in"], p["name"]): p for p in after.get("parameters", ())}
            for key in sorted(old_params.keys() - new_params.keys()):
                changes.append(f"{where}: parameter {key[1]} ({key[0]}) removed")
            for key, parameter in sorted(new_params.items()):
                if parameter.get("required") and not old_params.get(key, {}).get("required"):
                    changes.append(f"{where}: parameter {key[1]} ({key[0]}) newly required")
                if key in old_params:
                    changes += _compare(
                        old_schemas,
                        new_schemas,
                        old_params[key].get("schema"),
                        parameter.get("schema"),
                        f"{where} {key[1]}",
                        True,
                        set(),
                    )
            old_body, new_body = _json_schema(before.get("requestBody")), _json_schema(after.get("requestBody"))
            if old_body is not None and new_body is not None:
                changes += _compare(old_schemas, new_schemas, old_body, new_body, f"{where} body", True, set())
            elif new_body is not None and (after.get("requestBody") or {}).get("required"):
                changes.append(f"{where}: body newly required")
            for status, response in sorted(before.get("responses", {}).items()):
                if not status.startswith("2"):
                    continue
                new_response = after.get("responses", {}).get(status)
                if new_response is None:
                    changes.append(f"{where}: response {status} removed")
                    continue
                old_out, new_out = _json_schema(response), _json_schema(new_response)
                if old_out is not None and new_out is not None:
                    changes += _compare(old_schemas, new_schemas, old_out, new_out, f"{where} → {status}", False, set())
    return changes


def read_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(path.read_bytes())
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pilotage.contract", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["check", "write"])
    parser.add_argument("--acknowledge", action="store_true", help="Write even when the change breaks clients.")
    args = parser.parse_args(argv)
    live = platform_document()
    previous = read_snapshot() if SNAPSHOT.exists() else None
    if args.action == "check":
        if previous is None or without_acknowledgements(previous) != live:
            sys.stderr.write(f"{SNAPSHOT} is not the live document: run `make openapi`.\n")
            return 1
        return 0
    breaking = breaking_changes(without_acknowledgements(previous), live) if previous is not None else []
    if breaking and not args.acknowledge:
        sys.stderr.write("Breaking changes (write again with --acknowledge to accept them):\n")
        sys.stderr.writelines(f"  {line}\n" for line in breaking)
        return 1
    SNAPSHOT.write_bytes(render({**live, ACKNOWLEDGED: breaking} if breaking else live))
    return 0


if __name__ == "__main__":
    sys.exit(main())
