"""Every error class answers RFC 9457 problem+json, with the right status and no internals."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from shared.errors import MAX_REPORTED_ERRORS, Conflict, DatabaseErrorRedaction, FieldError, UnprocessableContent
from shared.schemas import StrictModel
from shared.settings import Settings
from tests.probe import HEADERS, probe_app

PROBLEM = "application/problem+json"


class Point(StrictModel):
    kpi: str
    value: float


class Batch(StrictModel):
    points: list[Point]


class Count(BaseModel):
    count: int


router = APIRouter(prefix="/v1", tags=["probe"])


@router.post("/batches", response_model=Count)
async def create_batch(batch: Batch) -> Count:
    return Count(count=len(batch.points))


@router.get("/conflict", response_model=Count)
async def conflict() -> Count:
    raise Conflict("Already exists.")


@router.get("/invalid", response_model=Count)
async def invalid() -> Count:
    raise UnprocessableContent(
        "Bad targets.", errors=[FieldError(pointer="/targets/1/from", message="Overlaps.", code="overlap")]
    )


@router.get("/boom", response_model=Count)
async def boom() -> Count:
    raise RuntimeError("secret internal detail")


app = probe_app([router], Settings(max_body_bytes=1000))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=HEADERS) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:pilotage:problem:")
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_validation_error_points_at_each_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/batches", json={"points": [{"kpi": "a", "value": 1}, {"kpi": "b", "value": "x"}, {"value": 2}]}
    )
    body = assert_problem(response, 422)
    pointers = {(e["pointer"], e["code"]) for e in body["errors"]}  # type: ignore[attr-defined]
    assert pointers == {("/points/1/value", "float_parsing"), ("/points/2/kpi", "missing")}


async def test_unknown_body_fields_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batches", json={"points": [], "extra": True})
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "location": "body",
            "pointer": "/extra",
            "message": "Extra inputs are not permitted",
            "code": "extra_forbidden",
        }
    ]


async def test_a_flood_of_errors_is_cut_at_the_limit_and_counted(client: httpx.AsyncClient) -> None:
    bad = MAX_REPORTED_ERRORS + 50  # each point a number, not an object
    response = await client.post("/v1/batches", json={"points": [0] * bad})
    body = assert_problem(response, 422)
    assert len(body["errors"]) == MAX_REPORTED_ERRORS  # type: ignore[arg-type]
    assert body["errors"][-1]["pointer"] == f"/points/{MAX_REPORTED_ERRORS - 1}"  # type: ignore[index]
    assert body["truncated"] is True
    assert body["error_count"] == bad
    few = assert_problem(await client.post("/v1/batches", json={"points": [], "extra": 1}), 422)
    assert "truncated" not in few
    assert "error_count" not in few


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_rejected(client: httpx.AsyncClient, token: str) -> None:
    raw = '{"points": [{"kpi": "a", "value": TOKEN}]}'.replace("TOKEN", token)
    response = await client.post("/v1/batches", content=raw, headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/points/0/value"  # type: ignore[index]
    assert body["errors"][0]["code"] == "finite_number"  # type: ignore[index]


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batches", content=b'{"points": [', headers={"content-type": "application/json"})
    body = assert_problem(response, 400)
    assert body["type"] == "urn:pilotage:problem:malformed-json"


async def test_query_parameter_errors_name_the_parameter(kpi_client: httpx.AsyncClient) -> None:
    response = await kpi_client.get("/v1/kpis", params={"limit": 100000})
    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == "query"  # type: ignore[index]
    assert body["errors"][0]["parameter"] == "limit"  # type: ignore[index]


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/nothing-here"), 404)
    assert body["detail"] == "No route matches /v1/nothing-here."


async def test_wrong_method_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/batches")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_declared_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batches", content=b"x" * 1001, headers={"content-type": "application/json"})
    assert_problem(response, 413)


async def test_streamed_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100

    response = await client.post("/v1/batches", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_a_body_not_sent_in_time_is_a_408_that_closes_the_connection() -> None:
    slow_app = probe_app([router], Settings(body_read_timeout_seconds=0.3))

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"points": '
        await asyncio.sleep(1)
        yield b"[]}"

    transport = httpx.ASGITransport(app=slow_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=HEADERS) as slow_client:
        response = await slow_client.post("/v1/batches", content=trickle())
        body = assert_problem(response, 408)
        assert response.headers["connection"] == "close"
        assert "0.3 s" in str(body["detail"])
        fast = await slow_client.post("/v1/batches", json={"points": []})
        assert fast.status_code == 200, "a body in time is read as before"


async def test_body_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batches", json={"points": [{"kpi": "a", "value": 1.5}]})
    assert response.status_code == 200
    assert response.json() == {"count": 1}


async def test_raised_problems_keep_their_status_and_errors(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/conflict"), 409)
    body = assert_problem(await client.get("/v1/invalid"), 422)
    assert body["errors"] == [
        {"location": "body", "pointer": "/targets/1/from", "message": "Overlaps.", "code": "overlap"}
    ]


async def test_unhandled_exception_is_a_500_without_internals(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/v1/boom")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["detail"] == "An unexpected error occurred; it has been logged."
    assert "secret internal detail" in caplog.text  # logged for operators, not shown to callers


async def test_request_id_is_echoed_when_valid_and_replaced_when_not(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await client.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (asyncpg.UniqueViolationError("duplicate key"), 409),
        (asyncpg.ForeignKeyViolationError("no such parent"), 409),
        (asyncpg.NotNullViolationError("null in a required column"), 500),  # our bug, not the caller's
        (asyncpg.CheckViolationError("check failed"), 500),
        (asyncpg.CharacterNotInRepertoireError("NUL"), 422),
        (asyncpg.NumericValueOutOfRangeError("too big"), 422),
        (asyncpg.DivisionByZeroError("division by zero"), 500),
        (asyncpg.InvalidParameterValueError("time zone not recognized"), 500),
        (asyncpg.CannotConnectNowError("starting up"), 503),
        (asyncpg.AdminShutdownError("terminating"), 503),
        (asyncpg.QueryCanceledError("statement timeout"), 503),
        (asyncpg.DeadlockDetectedError("deadlock"), 503),
        (asyncpg.ConnectionDoesNotExistError("gone"), 503),
        (ConnectionRefusedError("refused"), 503),
        (asyncpg.InterfaceError("another operation is in progress"), 500),  # misuse: a bug
        (FileNotFoundError("no such file"), 500),
    ],
)
async def test_database_errors_are_answered_by_whose_fault_they_are(error: Exception, status: int) -> None:
    failing = APIRouter(prefix="/v1", tags=["probe"])

    @failing.get("/fails", response_model=Count)
    async def fails() -> Count:
        raise error

    transport = httpx.ASGITransport(app=probe_app([failing]), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=HEADERS) as client:
        response = await client.get("/v1/fails")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if status == 503:
        assert response.headers["retry-after"] == "2"


def _failing_app(error: Exception) -> FastAPI:
    failing = APIRouter(prefix="/v1", tags=["probe"])

    @failing.get("/fails", response_model=Count)
    async def fails() -> Count:
        raise error

    return probe_app([failing])


async def test_a_database_error_is_logged_by_its_sqlstate_never_with_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver_error = asyncpg.UndefinedTableError('relation "gateway.api_keyz" does not exist: s3cr3t-message')
    wrapped = DBAPIError(
        "INSERT INTO gateway.api_keys (id, secret_hash) VALUES ($1::VARCHAR, $2::VARCHAR)",
        ("k1", "s3cr3t-parameter"),
        driver_error,
    )
    later = RuntimeError("while writing")
    later.__cause__ = wrapped  # a database error met on the way is hidden too
    for error in (wrapped, driver_error, later):
        transport = httpx.ASGITransport(app=_failing_app(error), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=HEADERS) as client:
            caplog.clear()
            response = await client.get("/v1/fails")
        assert response.status_code == 500
        assert "s3cr3t" not in caplog.text, error
        assert "42P01" in caplog.text
        assert "UndefinedTableError" in caplog.text
        assert "fails" in caplog.text, "the traceback is kept: it says where"
    assert "INSERT INTO gateway.api_keys" in caplog.text  # the statement's first words, not its values


def test_the_log_filter_keeps_database_values_out_whoever_logs_them() -> None:
    driver_error = asyncpg.CheckViolationError("new row violates check constraint: s3cr3t-message")
    wrapped = DBAPIError("UPDATE talent.salaries SET amount=$1", (123456.0, "s3cr3t-parameter"), driver_error)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(DatabaseErrorRedaction())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise wrapped
        except DBAPIError:
            logger.exception("a batch was refused")
        logger.warning("could not store it yet (%r); retrying", wrapped)
        logger.warning("plain values pass: %r", ValueError("kept"))
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cr3t" not in text
    assert "123456" not in text
    assert text.count("CheckViolationError, SQLSTATE 23514") == 2
    assert "statement UPDATE talent.salaries SET …" in text
    assert "ValueError('kept')" in text
