"""One OpenAPI document for the whole platform, so that one generated client drives it all.

The gateway's own document is merged with each service's (fetched over HTTP, cached briefly): the
paths the gateway forwards to that service, their component schemas, and the gateway's bearer
scheme in place of the services' internal token. A schema name two services use differently is
prefixed with the service's name. Every authenticated operation, the gateway's own and each forwarded
one, documents what the gateway itself may answer before or instead of the service: 401, 403, 429
(with ``Retry-After``), 503 and 504, as problem+json. A service that does not answer is listed under
``x-pilotage-unavailable`` and the document is served without its paths.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from services.gateway.proxy import RouteTable, Upstream, UpstreamPool
from shared.errors import problem_response_object

logger = logging.getLogger("pilotage.gateway.openapi")

BEARER = "HTTPBearer"
FETCH_TIMEOUT = 5.0
FRESH_SECONDS = 60.0  # a complete document
RETRY_SECONDS = 5.0  # a document missing a service
_REF_PREFIX = "#/components/schemas/"
# What the gateway answers on any authenticated route: bad key, missing scope (the service's 403 is
# passed through), rate limit, service or database down, service too slow.
GATEWAY_STATUSES = (401, 403, 429, 503, 504)
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX) :] in renames:
            node = {**node, "$ref": _REF_PREFIX + renames[ref[len(_REF_PREFIX) :]]}
        return {k: _rename_refs(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def merge(base: dict[str, Any], services: dict[str, dict[str, Any]], routes: RouteTable) -> dict[str, Any]:
    """``base`` (the gateway's document) plus the forwarded paths of each service's document."""
    merged = copy.deepcopy(base)
    schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
    paths: dict[str, Any] = merged.setdefault("paths", {})
    for name, document in services.items():
        theirs: dict[str, Any] = document.get("components", {}).get("schemas", {})
        renames = {
            schema: f"{name.capitalize()}{schema}"
            for schema, body in theirs.items()
            if schema in schemas and schemas[schema] != body
        }
        for schema, body in theirs.items():
            renamed = _rename_refs(body, renames)
            if schema in renames and "title" in renamed:
                # Generators name models by title: two titles alike would still collide.
                renamed = {**renamed, "title": renames[schema]}
            schemas[renames.get(schema, schema)] = renamed
        for path, operations in document.get("paths", {}).items():
            upstream = routes.match(path)
            if upstream is None or upstream.name != name:
                continue  # health and anything the gateway does not forward
            paths[path] = {
                method: {**_rename_refs(operation, renames), "security": [{BEARER: []}]}
                if isinstance(operation, dict)
                else operation
                for method, operation in operations.items()
            }
    for operations in paths.values():
        for method, operation in operations.items():
            if method in _METHODS and operation.get("security"):
                _document_gateway_answers(operation)
    return merged


def _document_gateway_answers(operation: dict[str, Any]) -> None:
    """The gateway's own answers, in place of what a service documented for the same status (the
    gateway's 401 and 429 carry headers a service's do not; their body is the same problem)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in GATEWAY_STATUSES:
        responses[str(status)] = problem_response_object(status)


class PlatformDocument:
    """The merged document, rebuilt at most every ``FRESH_SECONDS`` (sooner while a service is missing)."""

    def __init__(self, own: Callable[[], dict[str, Any]], routes: RouteTable, pool: UpstreamPool) -> None:
        self._own = own
        self._routes = routes
        self._pool = pool
        self._cached: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        if self._cached is not None and time.monotonic() < self._expires:
            return self._cached
        async with self._lock:
            if self._cached is None or time.monotonic() >= self._expires:
                self._cached, complete = await self._build()
                self._expires = time.monotonic() + (FRESH_SECONDS if complete else RETRY_SECONDS)
            return self._cached

    async def _fetch(self, upstream: Upstream) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(FETCH_TIMEOUT), self._pool.session.get(f"{upstream.base_url}/openapi.json") as r:
                if r.status != 200:
                    return None
                document: dict[str, Any] = orjson.loads(await r.read())
                return document
        except Exception as exc:  # any failure only means "this service's part is missing for now"
            logger.warning("no OpenAPI document from the %s service: %r", upstream.name, exc)
            return None

    async def _build(self) -> tuple[bytes, bool]:
        upstreams = self._routes.upstreams
        documents = await asyncio.gather(*(self._fetch(u) for u in upstreams))
        available = {u.name: d for u, d in zip(upstreams, documents, strict=True) if d is not None}
        merged = merge(self._own(), available, self._routes)
        missing = sorted(u.name for u in upstreams if u.name not in available)
        if missing:
            merged["info"]["x-pilotage-unavailable"] = missing
        return orjson.dumps(merged), not missing
