"""Authentication and scopes checked before a request body is read (pure ASGI).

FastAPI reads and parses a route's body before it solves the route's dependencies, so a caller
without the scope would otherwise have its whole body received (for as long as it takes to send)
and parsed before the 403. :class:`ScopeGate` finds the route a request with a body is for, and
answers 401 or 403 at once when the caller's credentials or scopes cannot pass the route's
:class:`~shared.auth.ScopeChecker` dependencies. The route checks them again, as before; the gate
only answers earlier what the route would answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import Authenticator, Principal, ScopeChecker
from shared.errors import ProblemError, problem_response


@dataclass(frozen=True, slots=True)
class _Guarded:
    path: re.Pattern[str]
    methods: frozenset[str]
    checkers: tuple[ScopeChecker, ...]


def _checkers(dependant: Dependant) -> Iterator[ScopeChecker]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, ScopeChecker):
            yield sub.call
        yield from _checkers(sub)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class ScopeGate:
    """In front of a service's routes; requests without a body pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[_Guarded] | None = None

    def _table(self, app: FastAPI) -> list[_Guarded]:
        if self._routes is None:  # the routes are all in place by the first request
            self._routes = [
                _Guarded(context.path_regex, frozenset(context.methods or ()), tuple(_checkers(context.dependant)))
                for context in iter_route_contexts(app.routes)
                if isinstance(context.original_route, APIRoute)
            ]
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        path, method = scope["path"], scope["method"]
        route = next((r for r in self._table(app) if method in r.methods and r.path.match(path)), None)
        if route is not None and route.checkers:
            refusal = await self._refusal(app, scope, route)
            if refusal is not None:
                # The rest of the body is discarded by the server (within its deadline).
                response = problem_response(
                    refusal.status, str(refusal.detail), slug=refusal.slug, headers=refusal.headers, instance=path
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refusal(app: FastAPI, scope: Scope, route: _Guarded) -> ProblemError | None:
        authenticator: Authenticator | None = getattr(app.state, "authenticator", None)
        if authenticator is None:
            return None  # not started: the route answers
        try:
            principal: Principal = await authenticator(Request(scope))
            for checker in route.checkers:
                await checker(principal)
        except ProblemError as exc:
            return exc
        return None
