"""The HTTP server of every Pilotage process: uvicorn on httptools, bounded so that no client can hold
more than its share of it.

:func:`server_config` is the one place the server is configured — ``python -m pilotage.serve`` (what
``pilotage up`` and the compose file run) and the tests' real servers all use it::

    config = server_config("services.kpi_service.main:app", settings, host="0.0.0.0", port=8002)
    uvicorn.Server(config).run()

uvicorn bounds idle keep-alive connections, but not the time a client takes to send its headers nor
their size (httptools accepts any), and its connection cap answers plain text. The protocol here
adds those, from the settings:

- ``header_read_timeout_seconds``: the request line and headers must arrive within it, counted from
  the connection (or from the first byte of a later request on it): 408, then the connection closes.
  A client that has sent nothing by then is disconnected.
- ``max_header_bytes``: request line and headers above it: 431, and the connection closes.
- ``max_connections``: beyond that many open connections, or requests in progress, a request gets a
  503 with ``Retry-After`` and its connection closes.
- a response sent before the request's body has arrived (a refusal) leaves the rest of that body the
  same ``header_read_timeout_seconds`` to arrive before the connection closes, so that a body
  trickled after its answer holds nothing for long either.

Bodies are bounded by :class:`shared.limits.BodyLimitMiddleware` (size, and time to send).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from shared.errors import problem_body, send_problem
from shared.settings import Settings

OVERLOAD_RETRY_AFTER = 1


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus what :class:`BoundedHttpToolsProtocol` enforces."""

    def __init__(self, app: Any, *, header_read_timeout: float, max_header_bytes: int, **options: Any) -> None:
        super().__init__(app, **options)
        self.header_read_timeout = header_read_timeout
        self.max_header_bytes = max_header_bytes


def server_config(
    app: ASGIApp | str,
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    lifespan: Literal["auto", "on", "off"] = "on",
    log_level: str | None = None,
) -> ServerConfig:
    """The server of one process (``app`` an import string when ``workers`` > 1)."""
    return ServerConfig(
        app,
        host=host,
        port=port,
        workers=workers,
        lifespan=lifespan,
        http=BoundedHttpToolsProtocol,
        header_read_timeout=settings.header_read_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        # For h11, should anyone swap the protocol: the same bound on an unfinished request head.
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_connections,
        backlog=settings.listen_backlog,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        server_header=False,
        access_log=False,  # every app writes its own structured access record (shared.metrics)
        log_level=log_level or settings.log_level,
    )


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing; the refusal is already decided."""


async def _overloaded(scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG001
    await send_problem(
        send,
        503,
        "The server is at its connection limit; retry shortly.",
        headers={"Retry-After": str(OVERLOAD_RETRY_AFTER), "Connection": "close"},
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size limit, a connection cap
    answered with problem+json, and a bound on the body left unread after a response."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout: float | None = getattr(config, "header_read_timeout", None)
        self._max_header_bytes: int | None = getattr(config, "max_header_bytes", None)
        # The cap is applied here rather than by uvicorn, which would answer it in plain text.
        self._connection_cap = self.limit_concurrency
        self.limit_concurrency = None
        self._timer: asyncio.TimerHandle | None = None  # the head's deadline, or the unread body's
        self._head_open = False  # a request has begun and its headers are not all in
        self._messages = 0
        self._head_bytes = 0  # request line and complete headers, counted by the parser callbacks
        self._head_chunk_bytes = 0  # bytes of chunks that fell wholly inside the head being read
        self._refused = False

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        open_before, messages_before = self._head_open, self._messages
        super().data_received(data)
        if self._head_open and open_before and self._messages == messages_before and not self._refused:
            # The parser holds a header it has not finished; count what it is being fed.
            self._head_chunk_bytes += len(data)
            self._check_head_size(self._head_chunk_bytes)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal of ours stopped the parser: it is answered already
            super().send_400_response(msg)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._messages += 1
        self._head_bytes = self._head_chunk_bytes = 0
        if self._timer is None:
            self._arm(self._header_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_bytes += len(url)
        if not self._check_head_size(self._head_bytes):
            raise _HeadRefused

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_bytes += len(name) + len(value) + 4
        if not self._check_head_size(self._head_bytes):
            raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._disarm()
        cap = self._connection_cap
        if cap is not None and (len(self.connections) > cap or len(self.tasks) >= cap):
            self.logger.warning("Exceeded concurrency limit.")
            app, self.app = self.app, _overloaded
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            self._disarm()  # the rest of an answered body has arrived: the connection goes on

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle  # the latest request: the one answered unless others are pipelined behind it
        if cycle.response_complete and cycle.more_body and not self.transport.is_closing():
            # Answered before its body arrived (a refusal): the rest of the body gets a deadline too.
            self._arm(self._header_timeout, self._close)

    # Limits

    def _check_head_size(self, size: int) -> bool:
        if self._max_header_bytes is None or size <= self._max_header_bytes:
            return True
        self._refuse(431, f"The request line and headers exceed {self._max_header_bytes} bytes.")
        return False

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._head_open:
            self._refuse(408, f"The request headers were not received within {self._header_timeout:g} s.")
        else:
            self._close()  # nothing sent at all

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a problem and close: the rest of this connection's input is not read."""
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        body = orjson.dumps(problem_body(status, detail))
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _close(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, delay: float | None, callback: Any) -> None:
        self._disarm()
        if delay is not None:
            self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
