"""RFC 9457 problem details for every error a Pilotage service returns.

Raise a :class:`ProblemError` subclass anywhere in a request; :func:`install_problem_handlers`
turns it, and every error FastAPI or Starlette produce on their own (validation, unknown route,
wrong method, malformed JSON, unhandled exceptions), into ``application/problem+json``::

    raise NotFound(f"No KPI {key!r}.")
    raise UnprocessableContent("Targets overlap.", errors=[FieldError(pointer="/targets/1", ...)])

A failed call to another service is a :class:`DependencyError` (503, 504 or 502, naming the service
in ``source``); the typed clients of :mod:`shared.clients` raise them, and document when.
"""

from __future__ import annotations

import copy
import itertools
import logging
import socket
import traceback
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

logger = logging.getLogger("pilotage.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:pilotage:problem:"
# A problem lists at most this many field errors, and says how many there were in all: a request
# with a million bad fields must not cost a million error objects and a body forty times its size.
MAX_REPORTED_ERRORS = 100


class ErrorLocation(StrEnum):
    """Where a refused value was: the body (then a JSON pointer says where in it) or a parameter."""

    body = "body"
    query = "query"
    path = "path"
    header = "header"
    cookie = "cookie"


class FieldError(BaseModel):
    """One reason a request was refused, located by a JSON pointer into the body or by parameter."""

    model_config = ConfigDict(extra="forbid")

    location: ErrorLocation = ErrorLocation.body
    pointer: str | None = Field(
        default=None, description="JSON pointer (RFC 6901) into the request body, e.g. `/points/17/ts`."
    )
    parameter: str | None = Field(default=None, description="Name of the query, path or header parameter.")
    message: str
    code: str = Field(description="Machine-readable reason, e.g. `missing`, `too_large`, `unknown_kpi`.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[f"{PROBLEM_TYPE_PREFIX}validation-error"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    source: str | None = Field(
        default=None, description="The service whose failure caused this answer (502, 503, 504), e.g. `kpi`."
    )
    truncated: bool | None = Field(
        default=None, description=f"True when `errors` lists only the first {MAX_REPORTED_ERRORS} errors found."
    )
    error_count: int | None = Field(default=None, description="How many errors were found in all, when truncated.")


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemError(StarletteHTTPException):
    """Base of every error a route raises on purpose. Subclasses fix status and type."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        error_count: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``error_count``: how many errors were found, when ``errors`` holds only the first ones."""
        super().__init__(self.status, detail, dict(headers) if headers else None)
        self.errors = list(errors) if errors else None
        self.error_count = error_count

    @property
    def title(self) -> str:
        return status_title(self.status)

    def members(self) -> dict[str, Any]:
        """Extension members (RFC 9457 §3.2) added to the problem body; none by default."""
        return {}


def status_title(status: int) -> str:
    """The reason phrase, as RFC 9110 names it."""
    return _RFC9110_TITLES.get(status) or HTTPStatus(status).phrase


_RFC9110_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class BadRequest(ProblemError):
    status = 400
    slug = "bad-request"


class Unauthorized(ProblemError):
    status = 401
    slug = "unauthorized"


class Forbidden(ProblemError):
    status = 403
    slug = "forbidden"


class NotFound(ProblemError):
    status = 404
    slug = "not-found"


class RequestTimeout(ProblemError):
    status = 408
    slug = "request-timeout"


class Conflict(ProblemError):
    status = 409
    slug = "conflict"


class PreconditionFailed(ProblemError):
    status = 412
    slug = "precondition-failed"


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "payload-too-large"


class UnprocessableContent(ProblemError):
    status = 422
    slug = "validation-error"


class PreconditionRequired(ProblemError):
    status = 428
    slug = "precondition-required"


class TooManyRequests(ProblemError):
    status = 429
    slug = "rate-limited"


class ServiceUnavailable(ProblemError):
    status = 503
    slug = "service-unavailable"


class GatewayTimeout(ProblemError):
    status = 504
    slug = "gateway-timeout"


class DependencyError(ProblemError):
    """Another service this one called failed; the problem names it in ``source``. Raised by the
    typed clients of :mod:`shared.clients` (which document when each subclass is raised), never
    built by routes. Uncaught, each is its own answer: no route needs a handler for them."""

    status = 502
    slug = "bad-gateway"

    def __init__(self, source: str, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail, headers=headers)
        self.source = source

    def members(self) -> dict[str, Any]:
        return {"source": self.source}


class DependencyUnavailable(DependencyError):
    """The dependency cannot be reached, answered 502/503, or its circuit breaker is open: 503."""

    status = 503
    slug = "dependency-unavailable"

    def __init__(self, source: str, detail: str, *, retry_after: int) -> None:
        super().__init__(source, detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class DependencyTimeout(DependencyError):
    """The dependency did not answer within the deadline (or answered 504 itself): 504."""

    status = 504
    slug = "dependency-timeout"


class DependencyFailed(DependencyError):
    """The dependency failed on its side (500) or answered something that is not its contract: 502."""

    slug = "dependency-failed"


class DependencyRejected(DependencyError):
    """The dependency refused the request with a 4xx: ``dependency_status`` and its ``problem``.

    A caller that can say which of its own fields caused it (an unknown KPI key) catches this and
    answers on that field; uncaught, it is a 502 saying what the dependency said."""

    slug = "dependency-rejected"

    def __init__(self, source: str, dependency_status: int, problem: Problem | None) -> None:
        said = (problem.detail or problem.title) if problem else status_title(dependency_status)
        super().__init__(source, f"The {source} service refused the request ({dependency_status}): {said}")
        self.dependency_status = dependency_status
        self.problem = problem

    def members(self) -> dict[str, Any]:
        members = super().members()
        members["dependency_status"] = self.dependency_status
        if self.problem is not None:
            members["dependency_problem"] = self.problem.model_dump(mode="json", exclude_none=True)
        return members


_SLUG_BY_STATUS = {cls.status: cls.slug for cls in ProblemError.__subclasses__()}
_SLUG_BY_STATUS[405] = "method-not-allowed"


def problem_body(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Iterable[FieldError] | None = None,
    error_count: int | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    from shared.observability import current_request_id  # late: observability imports errors

    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + (slug or _SLUG_BY_STATUS.get(status, "error")),
        "title": title or status_title(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        listed = list(itertools.islice(errors, MAX_REPORTED_ERRORS + 1))
        total = max(error_count or 0, len(listed))
        body["errors"] = [e.model_dump(exclude_none=True) for e in listed[:MAX_REPORTED_ERRORS]]
        if total > len(body["errors"]):
            body["truncated"] = True
            body["error_count"] = total
    return body


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: Iterable[FieldError] | None = None,
    error_count: int | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> ProblemResponse:
    """A problem+json response, usable as an ASGI app by pure-ASGI middleware too."""
    return ProblemResponse(
        problem_body(status, detail, slug=slug, errors=errors, error_count=error_count, instance=instance),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


async def send_problem(send: Send, status: int, detail: str, **kwargs: Any) -> None:
    """Send a complete problem response from pure-ASGI code that has no ``receive`` to hand."""
    response = problem_response(status, detail, **kwargs)
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def json_pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def field_errors_from_validation(errors: Sequence[Any]) -> list[FieldError]:
    """Translate pydantic/FastAPI validation errors into located field errors."""
    result: list[FieldError] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
        rest = loc[1:] if loc and loc[0] == where else loc
        message = str(error.get("msg", "Invalid value."))
        code = str(error.get("type", "invalid"))
        if where == "body":
            result.append(FieldError(location="body", pointer=json_pointer(rest), message=message, code=code))
        else:
            name = ".".join(str(p) for p in rest) or None
            result.append(FieldError(location=where, parameter=name, message=message, code=code))
    return result


def _request_instance(request: Request) -> str:
    return request.url.path


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    body = problem_body(
        exc.status,
        exc.detail,
        slug=exc.slug,
        errors=exc.errors,
        error_count=exc.error_count,
        instance=_request_instance(request),
    )
    return ProblemResponse({**exc.members(), **body}, status_code=exc.status, headers=exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    if exc.status_code == 404 and detail is None:
        detail = f"No route matches {request.url.path}."
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return ProblemResponse(
        problem_body(exc.status_code, detail, instance=_request_instance(request)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    malformed = [e for e in raw if e.get("type") == "json_invalid"]
    if malformed:
        ctx = malformed[0].get("ctx") or {}
        position = malformed[0].get("loc", ("body", 0))[-1]
        return problem_response(
            400,
            f"The request body is not valid JSON: {ctx.get('error', 'decode error')} at character {position}.",
            slug="malformed-json",
            instance=_request_instance(request),
        )
    return problem_response(
        422,
        "The request is not valid; see `errors` for each field.",
        slug=UnprocessableContent.slug,
        # pydantic has found every error already; only the reported ones are translated.
        errors=field_errors_from_validation(raw[:MAX_REPORTED_ERRORS]),
        error_count=len(raw),
        instance=_request_instance(request),
    )


# Errors of the database are answered by their SQLSTATE, which says whose fault they are. Anything
# not listed is a bug of ours: a 500, logged.
_RETRY_LATER_STATES = {"40001", "40P01", "53300", "57014", "57P01", "57P02", "57P03"}  # also class 08
_CONFLICT_STATES = {"23505", "23P01", "23503"}  # unique, exclusion, foreign key
_UNSTORABLE_STATES = {"22001", "22003", "22008", "22021", "22P05"}  # too long, out of range, bad text


class DatabaseUnreachable(ConnectionError):
    """A new database connection could not be made (server down, restarting, full)."""


_CONNECTION_LOST: tuple[type[Exception], ...] = (
    DatabaseUnreachable,
    asyncpg.ConnectionDoesNotExistError,
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    socket.gaierror,
)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, raised by asyncpg directly or wrapped by SQLAlchemy."""
    for candidate in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot serve right now (down, restarting, overloaded,
    a timeout or a conflict worth retrying) rather than a bad request or a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state.startswith("08") or state in _RETRY_LATER_STATES
    cause = getattr(exc, "orig", None) or exc
    cause = getattr(cause, "__cause__", None) or cause
    return isinstance(exc, _CONNECTION_LOST) or isinstance(cause, _CONNECTION_LOST)


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)


def is_database_error(exc: BaseException) -> bool:
    """Errors whose text may quote a statement's parameters or the values of a row."""
    return isinstance(exc, (StatementError, *_DRIVER_ERRORS))


def describe_database_error(exc: BaseException) -> str:
    """What may be logged of a database error: its kind, SQLSTATE, the names of the table and
    constraint it concerns and the first words of its statement. Never its parameters, nor its
    message and detail, where PostgreSQL quotes values (``Failing row contains (...)``)."""
    orig = getattr(exc, "orig", None)
    candidates = (exc, orig, getattr(orig, "__cause__", None))
    driver = next((c for c in candidates if isinstance(c, _DRIVER_ERRORS)), None)
    parts = [type(driver or exc).__name__, f"SQLSTATE {_sqlstate(exc) or 'unknown'}"]
    for name in ("table_name", "constraint_name"):
        value = getattr(driver, name, None)
        if isinstance(value, str) and value:
            parts.append(f"{name.removesuffix('_name')} {value}")
    statement = getattr(exc, "statement", None)
    if isinstance(statement, str) and statement.strip():
        parts.append(f"statement {' '.join(statement.split()[:3])} …")
    return ", ".join(parts)


def loggable_traceback(exc: BaseException) -> str:
    """``exc``'s traceback, causes included, where every database error is told by
    :func:`describe_database_error` instead of its own text."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for error in reversed(chain):
        if parts:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(error.__traceback__))
        if is_database_error(error):
            parts.append(f"{type(error).__module__}.{type(error).__qualname__}: {describe_database_error(error)}\n")
        else:
            parts.extend(traceback.format_exception_only(error))
    return "".join(parts).rstrip("\n")


class DatabaseErrorRedaction(logging.Filter):
    """Keeps the values out of every log record that carries a database error, whoever logs it: the
    traceback is rendered by :func:`loggable_traceback`, an error given as an argument by its
    description."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = loggable_traceback(record.exc_info[1])
            record.exc_info = None
        if isinstance(record.args, tuple) and any(isinstance(a, BaseException) for a in record.args):
            record.args = tuple(
                describe_database_error(a) if isinstance(a, BaseException) and is_database_error(a) else a
                for a in record.args
            )
        return True


def unavailable_response(instance: str | None = None) -> ProblemResponse:
    return problem_response(
        503, "The database is unavailable; retry shortly.", headers={"Retry-After": "2"}, instance=instance
    )


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):
        logger.warning("database unavailable: %s", describe_database_error(exc))
        return unavailable_response(_request_instance(request))
    state = _sqlstate(exc)
    if state in _CONFLICT_STATES:
        return problem_response(
            409,
            "The change conflicts with existing data; read it again and retry.",
            instance=_request_instance(request),
        )
    if state in _UNSTORABLE_STATES:
        return problem_response(
            422,
            "A value cannot be stored (for example a NUL character, or a number or date out of range).",
            slug=UnprocessableContent.slug,
            instance=_request_instance(request),
        )
    return await _on_unhandled(request, exc)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    from shared.observability import REQUEST_ID_HEADER, current_request_id

    # Not exc_info: the text of a database error met on the way may quote parameters and row values.
    logger.error("unhandled error on %s %s\n%s", request.method, request.url.path, loggable_traceback(exc))
    request_id = current_request_id()
    return problem_response(
        500,
        "An unexpected error occurred; it has been logged.",
        instance=_request_instance(request),
        headers={REQUEST_ID_HEADER: request_id} if request_id else None,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ResponseValidationError, _on_unhandled)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_database_error)
    app.add_exception_handler(asyncpg.PostgresError, _on_database_error)
    for lost in _CONNECTION_LOST:
        app.add_exception_handler(lost, _on_database_error)
    app.add_exception_handler(Exception, _on_unhandled)


# ---------------------------------------------------------------- OpenAPI documentation

PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"  # ``create_app`` puts Problem in every document

_SECONDS = {"type": "integer", "minimum": 0}
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "Version of the resource, for `If-Match`.", "schema": {"type": "string"}},
    "Location": {"description": "Path of the created resource.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": _SECONDS},
    "WWW-Authenticate": {"description": "The scheme to authenticate with: `Bearer`.", "schema": {"type": "string"}},
    "RateLimit-Limit": {"description": "Requests per second allowed to this API key.", "schema": _SECONDS},
    "RateLimit-Remaining": {"description": "Requests left now: 0 when refused.", "schema": _SECONDS},
    "RateLimit-Reset": {"description": "Seconds until the full burst is available again.", "schema": _SECONDS},
}
# Headers that always come with a problem of that status (``required``) or may (not).
_PROBLEM_HEADERS: dict[int, dict[str, bool]] = {
    401: {"WWW-Authenticate": True},
    429: {"Retry-After": True, "RateLimit-Limit": True, "RateLimit-Remaining": True, "RateLimit-Reset": True},
    503: {"Retry-After": False},
}


def response_headers(*names: str, required: bool = True) -> dict[str, dict[str, Any]]:
    """OpenAPI ``headers`` of a response carrying ``names`` (keys of :data:`RESPONSE_HEADERS`)."""
    return {name: {**copy.deepcopy(RESPONSE_HEADERS[name]), "required": required} for name in names}


def problem_response_object(status: int) -> dict[str, Any]:
    """The OpenAPI response object of a problem+json answer with ``status``, with its headers."""
    response: dict[str, Any] = {
        "description": status_title(status),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }
    headers = _PROBLEM_HEADERS.get(status)
    if headers:
        response["headers"] = {
            name: {**copy.deepcopy(RESPONSE_HEADERS[name]), "required": required} for name, required in headers.items()
        }
    return response


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json (and its headers) for the given statuses."""
    return {status: problem_response_object(status) for status in statuses}
