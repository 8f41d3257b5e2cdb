"""What every typed client shares: authentication, the circuit breaker, and the one mapping from a
failed dependency to the answer of the service that called it.

A client method is one HTTP call (or one per chunk of a batch) and returns contract models. When the
dependency fails, the method raises a :class:`~shared.errors.DependencyError` that is already the
right problem+json answer, naming the dependency in ``source``; a route lets it propagate:

- connection refused or lost, connect timeout, no pooled connection in time, a 502 or 503 from
  the dependency, or its breaker open (no call made): :class:`~shared.errors.DependencyUnavailable`,
  **503** with ``Retry-After``;
- no answer within the deadline (``PILOTAGE_UPSTREAM_DEADLINE``, retries included), or a 504 from the
  dependency: :class:`~shared.errors.DependencyTimeout`, **504**;
- a 500 (or another 5xx) from the dependency, or a 2xx that is not its contract:
  :class:`~shared.errors.DependencyFailed`, **502**;
- a 4xx (a bad reference, a refused write): :class:`~shared.errors.DependencyRejected`, **502** unless
  caught, with the dependency's status and problem.

``Retry-After`` is the dependency's own when it sent one with its 503, otherwise
``PILOTAGE_UPSTREAM_UNAVAILABLE_RETRY_AFTER``; for an open breaker it is the time until the probe.
A 4xx usually means the caller's input named something the dependency does not know; a caller that
can say which of its own fields did so catches :class:`~shared.errors.DependencyRejected` and answers
on that field (uncaught, it is a 502 that repeats what the dependency said)::

    async def link_kpi(body: KeyResultCreate, kpi: KpiClientDep) -> KeyResultPublic:
        try:
            [status] = await kpi.statuses([body.kpi])
        except DependencyRejected as rejected:
            if rejected.dependency_status != 404:
                raise
            raise UnprocessableContent(
                "No such KPI.",
                errors=[FieldError(pointer="/kpi", message=f"Unknown KPI {body.kpi!r}.", code="unknown_kpi")],
            ) from None
        ...  # a DependencyUnavailable or DependencyTimeout propagates: 503/504 naming "kpi"

**Circuit breaker.** One per dependency and process (purgatory, asyncio-native: an ``async with``
block counts the call; it is typed and kept, unlike aiobreaker, and unlike pybreaker, whose async
support needs Tornado, or circuitbreaker, a decorator over a module-level registry without type
information). After ``PILOTAGE_BREAKER_FAILURES`` consecutive failures — unreachable, timeout, 5xx,
or a call its caller gave up on — it opens: calls answer the 503 at once, without a network call,
for ``PILOTAGE_BREAKER_RESET_SECONDS``; then calls go through again as probes: the first success
closes it, the first failure opens it again. A 4xx or an answer that is not the contract does not count: the
dependency is up, and pausing calls would not help. ``/readyz`` reports each breaker.

**Authentication.** A client is given a :data:`TokenSource`: ``(audience, act) -> token``, the value
of the internal-token header for the dependency, signed as the calling service, naming the caller it
acts for (``act``: the key id of the request being served, ``None`` for the service's own work).
:meth:`ServiceClient.acting_for` binds the caller; the ``…ClientDep`` aliases do it per request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import httpx
import orjson
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ValidationError

from shared.auth import INTERNAL_TOKEN_HEADER
from shared.errors import (
    DependencyFailed,
    DependencyRejected,
    DependencyTimeout,
    DependencyUnavailable,
    Problem,
)
from shared.health import BreakerState, CircuitState
from shared.http_client import create_service_client, keyed_create_retry_policy
from shared.pagination import MAX_LIMIT, Page
from shared.settings import Settings

if TYPE_CHECKING:
    from httpx_retries import Retry
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

logger = logging.getLogger("pilotage.clients")

TokenSource = Callable[[str, str | None], str]
"""``(audience, act) -> internal token``: how a client authenticates each call."""

M = TypeVar("M", bound=BaseModel)


class Breaker:
    """The circuit breaker in front of one dependency, and what ``/readyz`` says about it."""

    def __init__(self, source: str, failures: int, reset_seconds: float) -> None:
        self._source = source
        self._reset_seconds = reset_seconds
        self._factory = AsyncCircuitBreakerFactory(default_threshold=failures, default_ttl=reset_seconds)
        self._circuit: AsyncCircuitBreaker | None = None

    async def circuit(self) -> AsyncCircuitBreaker:
        if self._circuit is None:
            self._circuit = await self._factory.get_breaker(self._source)
        return self._circuit

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it is not open)."""
        if self._circuit is None or self._circuit.context.state != "opened":
            return 0.0
        opened_at = self._circuit.context.opened_at or 0.0
        return max(0.0, opened_at + self._reset_seconds - time.time())

    def state(self) -> BreakerState:
        context = self._circuit.context if self._circuit is not None else None
        if context is None or context.state == "closed":
            return BreakerState(
                state=CircuitState.closed, failures=(context.failure_count or 0) if context else 0, retry_in=None
            )
        if context.state == "half-opened":
            return BreakerState(state=CircuitState.half_open, failures=0, retry_in=None)
        retry_in = self.retry_in()
        # Past its pause, an open breaker lets the next call through as a probe.
        return BreakerState(
            state=CircuitState.open if retry_in > 0 else CircuitState.half_open, failures=0, retry_in=round(retry_in, 3)
        )


class ServiceClient:
    """Base of the typed clients: one instance per dependency and process, sharing its connection
    pool and breaker with the views :meth:`acting_for` returns."""

    service: ClassVar[str]
    """The dependency's name: the token audience, the ``source`` of its errors, its settings URL."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_source: TokenSource,
        breaker: Breaker,
        *,
        unavailable_retry_after: int,
        keyed_retry: Retry | None = None,
        act: str | None = None,
    ) -> None:
        self._http = http
        self._token_source = token_source
        self._breaker = breaker
        self._unavailable_retry_after = unavailable_retry_after
        self._keyed_retry = keyed_retry
        self.act = act

    @classmethod
    def create(
        cls,
        settings: Settings,
        token_source: TokenSource,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client of the dependency at ``base_url`` (default: its URL in ``settings``)."""
        http = create_service_client(base_url or settings.service_urls[cls.service], settings, transport=transport)
        breaker = Breaker(cls.service, settings.breaker_failures, settings.breaker_reset_seconds)
        return cls(
            http,
            token_source,
            breaker,
            unavailable_retry_after=settings.upstream_unavailable_retry_after,
            keyed_retry=keyed_create_retry_policy(settings),
        )

    def acting_for(self, act: str | None) -> Self:
        """The same client (pool, breaker) calling on behalf of the caller whose key id is ``act``."""
        return type(self)(
            self._http,
            self._token_source,
            self._breaker,
            unavailable_retry_after=self._unavailable_retry_after,
            keyed_retry=self._keyed_retry,
            act=act,
        )

    def calling_as(self, token_source: TokenSource, act: str | None) -> Self:
        """The same client (pool, breaker) signing with ``token_source`` for the caller ``act``: the
        gateway forwards each caller's own identity and scopes to the services a view calls."""
        return type(self)(
            self._http,
            token_source,
            self._breaker,
            unavailable_retry_after=self._unavailable_retry_after,
            keyed_retry=self._keyed_retry,
            act=act,
        )

    def breaker_state(self) -> BreakerState:
        return self._breaker.state()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ one call, mapped

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        read: bool = False,
    ) -> httpx.Response:
        """One call through the breaker. Returns any answer below 500; raises the mapped
        :class:`DependencyError` for everything else. A POST with ``idempotency_key`` is retried
        like a GET (the server answers a repeat with its first answer), and so is one that only
        reads (``read``: a query too large for a query string)."""
        circuit = await self._breaker.circuit()
        sent = {INTERNAL_TOKEN_HEADER: self._token_source(self.service, self.act), **(headers or {})}
        if content is not None:
            sent["content-type"] = "application/json"
        extensions = None
        if idempotency_key is not None:
            sent["idempotency-key"] = idempotency_key
        if (idempotency_key is not None or read) and self._keyed_retry is not None:
            extensions = {"retry": self._keyed_retry}
        try:
            async with circuit:
                return await self._exchange(
                    method, path, params=params, content=content, headers=sent, extensions=extensions
                )
        except OpenedState:
            retry_after = max(1, math.ceil(self._breaker.retry_in()))
            raise DependencyUnavailable(
                self.service,
                f"The {self.service} service keeps failing; calls to it resume in {retry_after} s.",
                retry_after=retry_after,
            ) from None

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None,
        content: bytes | None,
        headers: Mapping[str, str],
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers, extensions=extensions
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError) as exc:
            logger.warning("%s unreachable: %s %s: %r", self.service, method, path, exc)
            raise self._unavailable(f"The {self.service} service cannot be reached; retry shortly.") from None
        except httpx.TimeoutException as exc:
            logger.warning("%s timed out: %s %s: %r", self.service, method, path, exc)
            raise DependencyTimeout(self.service, f"The {self.service} service did not answer in time.") from None
        except httpx.TransportError as exc:  # the connection broke mid-exchange
            logger.warning("%s connection failed: %s %s: %r", self.service, method, path, exc)
            raise self._unavailable(f"The {self.service} service cannot be reached; retry shortly.") from None
        status = response.status_code
        if status in (502, 503):
            logger.warning("%s answered %d: %s %s", self.service, status, method, path)
            raise self._unavailable(
                f"The {self.service} service is unavailable; retry shortly.", response.headers.get("retry-after")
            )
        if status == 504:
            raise DependencyTimeout(self.service, f"The {self.service} service timed out ({status}).")
        if status >= 500:
            logger.warning("%s answered %d: %s %s", self.service, status, method, path)
            raise DependencyFailed(self.service, f"The {self.service} service failed ({status}).")
        return response

    def _unavailable(self, detail: str, retry_after: str | None = None) -> DependencyUnavailable:
        seconds = int(retry_after) if retry_after is not None and retry_after.isdigit() else None
        return DependencyUnavailable(self.service, detail, retry_after=seconds or self._unavailable_retry_after)

    def _answer(self, response: httpx.Response, model: type[M]) -> M:
        """The contract model of a 2xx answer; a 4xx is :class:`DependencyRejected`."""
        if not response.is_success:
            raise self.rejected(response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            logger.warning("%s answered outside its contract (%s): %s", self.service, model.__name__, exc)
            raise DependencyFailed(
                self.service, f"The {self.service} service answered something that is not its contract."
            ) from None

    async def _page(self, path: str, params: Mapping[str, str | None], page: type[Page[M]]) -> Page[M]:
        sent = {name: value for name, value in params.items() if value is not None}
        return self._answer(await self._send("GET", path, params=httpx.QueryParams(sent)), page)

    async def _every_page(self, path: str, params: Mapping[str, str | None], page: type[Page[M]]) -> list[M]:
        """Every item of a list route, following ``next_cursor`` with the largest pages it serves."""
        items: list[M] = []
        cursor: str | None = None
        while True:
            answer = await self._page(path, {**params, "limit": str(MAX_LIMIT), "cursor": cursor}, page)
            items.extend(answer.items)
            if answer.next_cursor is None:
                return items
            cursor = answer.next_cursor

    def rejected(self, response: httpx.Response) -> DependencyRejected:
        """The :class:`DependencyRejected` of a 4xx answer, with the dependency's problem if it sent one."""
        problem: Problem | None
        try:
            problem = Problem.model_validate_json(response.content)
        except ValidationError:
            problem = None
        return DependencyRejected(self.service, response.status_code, problem)


def json_bytes(value: Any) -> bytes:
    """A request body: a model or a JSON-ready value, serialised once."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(by_alias=True).encode()
    return orjson.dumps(value)
