"""The gateway as the client commands (``pilotage import``, ``pilotage demo``) reach it: where it is,
which key to send, and the retries a well-behaved client makes.

    async with GatewayClient.from_environment() as gateway:
        response = await gateway.request("POST", "/v1/measurements", json={"points": [...]})

``PILOTAGE_GATEWAY_URL`` names the gateway (default ``http://127.0.0.1:<PILOTAGE_GATEWAY_PORT>``);
``PILOTAGE_API_KEY`` the key (default: ``PILOTAGE_BOOTSTRAP_ADMIN_KEY`` when set, else the
development admin key ``pilotage up`` keeps in ``<data dir>/dev-admin-key``). 429 and 503 are
retried, honouring ``Retry-After``; so are 502, 504 and a dropped connection, since every call these
commands make is safe to repeat (upserts, and creations under an ``Idempotency-Key``). An
unreachable gateway or a refused key is a :class:`FatalError`.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from shared.settings import Settings

DEVELOPMENT_KEY_FILE = "dev-admin-key"  # where `pilotage up` keeps the development admin key
RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class FatalError(Exception):
    """Nothing more can be done: the gateway cannot be reached, or it refuses the key (401/403)."""


def gateway_url() -> str:
    configured = os.environ.get("PILOTAGE_GATEWAY_URL")
    if configured:
        return configured.rstrip("/")
    return f"http://127.0.0.1:{Settings().gateway_port}"


def api_key() -> str:
    for variable in ("PILOTAGE_API_KEY", "PILOTAGE_BOOTSTRAP_ADMIN_KEY"):  # a bootstrapped platform's own key
        configured = os.environ.get(variable)
        if configured:
            return configured.strip()
    path = Settings().data_dir / DEVELOPMENT_KEY_FILE
    try:
        return Path(path).read_text().strip()
    except OSError:
        raise FatalError(
            f"No API key: set PILOTAGE_API_KEY, or start the platform once with `pilotage up` "
            f"(it keeps a development admin key in {path})."
        ) from None


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return min(max(float(header), 0.0), 60.0)
        except ValueError:
            pass
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return min(0.25 * 2.0**attempt, 10.0) * (0.5 + random.random() / 2)  # jitter, not a secret


class GatewayClient:
    """An ``httpx.AsyncClient`` on the gateway with the key, and :meth:`request` with retries."""

    def __init__(self, base_url: str, key: str, *, attempts: int = 8, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self.attempts = attempts
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=16),
        )

    @classmethod
    def from_environment(cls) -> GatewayClient:
        return cls(gateway_url(), api_key())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The gateway's answer, after retrying what is worth retrying; raises :class:`FatalError` on
        401/403 and when the gateway stays unreachable."""
        for attempt in range(self.attempts):
            try:
                response = await self._http.request(
                    method, path, json=json, content=content, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt >= 2:
                    raise FatalError(f"Cannot reach the gateway at {self.base_url}: {exc}.") from None
                await asyncio.sleep(_backoff(attempt))
                continue
            except httpx.TransportError as exc:
                if attempt == self.attempts - 1:
                    raise FatalError(f"The gateway at {self.base_url} kept failing: {exc!r}.") from None
                await asyncio.sleep(_backoff(attempt))
                continue
            if response.status_code in (401, 403):
                raise FatalError(f"The gateway refused the key ({response.status_code}): {problem_detail(response)}")
            if response.status_code in RETRIED_STATUSES and attempt < self.attempts - 1:
                await asyncio.sleep(_retry_after(response, attempt))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def ready(self, wait: float = 10.0) -> bool:
        """Whether ``GET /readyz`` answers 200 within ``wait`` seconds (a busy machine answers late)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                if (await self._http.get("/readyz", timeout=5)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.5)


def problem_detail(response: httpx.Response) -> str:
    """The ``detail`` (or ``title``) of a problem+json answer, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:200]
