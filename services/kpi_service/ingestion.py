"""Validating a measurement batch by hand: orjson, then one pass over the points, every problem
reported with its JSON pointer. Hand validation of 10 000 points is several times faster than
building a pydantic model per point, and ingestion is the busiest path of the platform."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.errors import MAX_REPORTED_ERRORS, BadRequest, FieldError, PayloadTooLarge, UnprocessableContent
from shared.schemas import parse_rfc3339


@dataclass
class Batch:
    """Valid points, deduplicated, as parallel arrays ready for ``unnest``."""

    kpi_ids: list[uuid.UUID] = field(default_factory=list)
    timestamps: list[dt.datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    received: int = 0  # points in the request, repeats included (a repeat counts as unchanged)


def _error(index: int, name: str | None, message: str, code: str) -> tuple[int, str | None, str, str]:
    return index, name, message, code


class _Errors:
    """Every error is counted and its point marked bad; only the first ``MAX_REPORTED_ERRORS`` become
    field errors of the answer."""

    def __init__(self) -> None:
        self.kept: list[FieldError] = []
        self.count = 0
        self.bad_points: set[int] = set()

    def append(self, error: tuple[int, str | None, str, str]) -> None:
        index, name, message, code = error
        self.count += 1
        self.bad_points.add(index)
        if len(self.kept) < MAX_REPORTED_ERRORS:
            pointer = f"/points/{index}" + (f"/{name}" if name else "")
            self.kept.append(FieldError(pointer=pointer, message=message, code=code))


def parse_points(body: bytes, max_points: int) -> list[Any]:
    """The ``points`` array of the body, or a 400/413/422 that says what is wrong with its shape."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # NaN and Infinity are not JSON: orjson refuses them here
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise UnprocessableContent(
            "The body must be an object.", errors=[FieldError(pointer="", message="Expected an object.", code="type")]
        )
    unknown = sorted(set(document) - {"points"})
    if unknown:
        raise UnprocessableContent(
            "Unknown fields.",
            errors=[
                FieldError(pointer=f"/{k}", message="Unknown field.", code="extra_forbidden")
                for k in unknown[:MAX_REPORTED_ERRORS]
            ],
            error_count=len(unknown),
        )
    points = document.get("points")
    if not isinstance(points, list):
        raise UnprocessableContent(
            "`points` must be an array.",
            errors=[FieldError(pointer="/points", message="Expected an array of points.", code="type")],
        )
    if len(points) > max_points:
        raise PayloadTooLarge(f"A batch holds at most {max_points} points; this one has {len(points)}.")
    return points


def _timestamp(raw: object) -> tuple[dt.datetime | None, str, str]:
    if not isinstance(raw, str):
        return None, "Expected an RFC 3339 timestamp string.", "type"
    try:
        return parse_rfc3339(raw), "", ""
    except ValueError as exc:
        code = "naive_timestamp" if "no offset" in str(exc) else "invalid_timestamp"
        message = str(exc)
        return None, message[:1].upper() + message[1:] + ".", code


# Values are bounded so that every rollup sum stays finite: 10^300 leaves room for 10^8 points of
# that size in one period before float64 overflows (at 1.8e308).
MAX_ABS_VALUE = 1e300


def validate_points(
    points: list[Any],
    known: dict[str, tuple[uuid.UUID, bool]],
    *,
    now: dt.datetime,
    future_tolerance: dt.timedelta,
) -> Batch:
    """Check every point; raise one 422 listing every bad one, or return the batch to write.
    ``known`` maps KPI keys to ``(id, archived)``."""
    errors = _Errors()
    batch = Batch(received=len(points))
    seen: dict[tuple[uuid.UUID, dt.datetime], tuple[float, int]] = {}
    latest = now + future_tolerance
    for index, point in enumerate(points):
        if not isinstance(point, dict):
            errors.append(_error(index, None, "Expected an object with kpi, ts and value.", "type"))
            continue
        unknown = set(point) - {"kpi", "ts", "value"}
        for name in sorted(unknown):
            errors.append(_error(index, name, "Unknown field.", "extra_forbidden"))
        key = point.get("kpi")
        kpi_id = None
        if not isinstance(key, str):
            errors.append(_error(index, "kpi", "Expected a KPI key.", "missing" if key is None else "type"))
        elif "\x00" in key:
            errors.append(_error(index, "kpi", "A KPI key never contains a NUL character.", "nul_character"))
        elif key not in known:
            errors.append(_error(index, "kpi", f"No KPI with key {key!r}.", "unknown_kpi"))
        elif known[key][1]:
            errors.append(_error(index, "kpi", f"KPI {key!r} is archived.", "archived_kpi"))
        else:
            kpi_id = known[key][0]
        ts, message, code = _timestamp(point.get("ts")) if "ts" in point else (None, "Required.", "missing")
        if ts is None:
            errors.append(_error(index, "ts", message, code))
        elif ts > latest:
            errors.append(_error(index, "ts", f"More than {future_tolerance} in the future.", "future_timestamp"))
            ts = None
        value = point.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(_error(index, "value", "Expected a number.", "missing" if value is None else "type"))
            value = None
        else:
            value = float(value)
            if not math.isfinite(value):  # orjson refuses NaN, Infinity and 1e400 before we get here
                errors.append(_error(index, "value", "Expected a finite number.", "finite_number"))
                value = None
            elif abs(value) > MAX_ABS_VALUE:
                errors.append(
                    _error(index, "value", f"Beyond ±{MAX_ABS_VALUE:g}: its sums could not be stored.", "out_of_range")
                )
                value = None
        if kpi_id is None or ts is None or value is None:
            continue
        previous = seen.get((kpi_id, ts))
        if previous is not None:
            if previous[0] != value:
                errors.append(
                    _error(
                        index,
                        None,
                        f"Same kpi and ts as point {previous[1]} with another value.",
                        "conflicting_duplicate",
                    )
                )
            continue
        seen[(kpi_id, ts)] = (value, index)
        batch.kpi_ids.append(kpi_id)
        batch.timestamps.append(ts)
        batch.values.append(value)
    if errors.count:
        raise UnprocessableContent(
            f"{len(errors.bad_points)} of {len(points)} points are invalid; nothing was written.",
            errors=errors.kept,
            error_count=errors.count,
        )
    return batch
