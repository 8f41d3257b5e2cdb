"""The import's client side over real HTTP against a scripted gateway: 429/503 retried as told by
Retry-After, a truncated 422 narrowed down until the batch goes in, line numbers through quoted
multi-line CSV fields, and the progress file's ranges."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pilotage.client import FatalError, GatewayClient
from pilotage.importer import Acknowledged, ImportOptions, ImportSummary, Measurements, batches, read_csv, run_import
from tests.servers import serve


class ScriptedGateway:
    """Answers POST /v1/measurements from a script of statuses, then judges the points itself:
    a point whose value is negative is refused, and only the first two refusals are listed."""

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.bodies: list[list[dict[str, Any]]] = []

    async def measurements(self, request: Request) -> Response:
        points = json.loads(await request.body())["points"]
        self.bodies.append(points)
        if self.script:
            status = self.script.pop(0)
            return JSONResponse({"title": "busy"}, status_code=status, headers={"Retry-After": "0"})
        bad = [i for i, p in enumerate(points) if p["value"] < 0]
        if bad:
            errors = [{"pointer": f"/points/{i}/value", "message": "Negative.", "code": "range"} for i in bad[:2]]
            body = {"title": "Unprocessable", "errors": errors, "truncated": len(bad) > 2, "error_count": len(bad)}
            return JSONResponse(body, status_code=422)
        return JSONResponse({"inserted": len(points), "updated": 0, "unchanged": 0, "dry_run": False})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/measurements", self.measurements, methods=["POST"])])


def _file(tmp_path: Path, values: list[float]) -> Path:
    path = tmp_path / "points.csv"
    rows = [f"k.x,2025-01-{i + 1:02d}T00:00:00Z,{v}" for i, v in enumerate(values)]
    path.write_text("kpi,ts,value\n" + "\n".join(rows) + "\n")
    return path


async def test_429_and_503_are_retried_and_a_truncated_422_is_narrowed_down(tmp_path: Path) -> None:
    gateway = ScriptedGateway([429, 503])
    path = _file(tmp_path, [1, -1, 2, -2, 3, -3, 4])
    async with serve(gateway.app()) as url, GatewayClient(url, "pk_test0001_" + "a" * 32) as client:
        summary = await run_import(Measurements(), ImportOptions(path=path, show_progress=False), client)
    assert (summary.accepted, summary.rejected, summary.exit_code) == (4, 3, 2)
    # 429, 503, then 422 listing two of the three bad points, 422 listing the last, then 200.
    assert [len(body) for body in gateway.bodies] == [7, 7, 7, 5, 4]
    assert [p["value"] for p in gateway.bodies[-1]] == [1, 2, 3, 4]
    rejects = (tmp_path / "points.csv.rejects.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in rejects] == ["line", "3", "5", "7"]
    assert rejects[1].endswith("value: Negative.")
    assert Acknowledged.load(tmp_path / "points.csv.progress").__contains__(8)


async def test_a_gateway_that_stays_unavailable_is_fatal(tmp_path: Path) -> None:
    gateway = ScriptedGateway([503] * 20)
    path = _file(tmp_path, [1, 2])
    async with serve(gateway.app()) as url, GatewayClient(url, "pk_test0001_" + "a" * 32, attempts=3) as client:
        with pytest.raises(FatalError, match="answered 503"):
            await run_import(Measurements(), ImportOptions(path=path, show_progress=False), client)
    assert len(gateway.bodies) == 3
    assert not Acknowledged.load(tmp_path / "points.csv.progress")


def test_line_numbers_follow_physical_lines_through_quoted_fields() -> None:
    data = b'kpi,ts,value\n"a\nb",2025-01-01T00:00:00Z,1\n\nc,2025-01-02T00:00:00Z,2\n'
    records = list(read_csv(io.BytesIO(data)))
    assert [(r.line, r.raw) for r in records if r.raw] == [
        (0, "kpi,ts,value"),
        (2, '"a\nb",2025-01-01T00:00:00Z,1'),
        (5, "c,2025-01-02T00:00:00Z,2"),
    ]
    assert sum(r.nbytes for r in records) == len(data)


def test_acknowledged_ranges_merge_in_any_order() -> None:
    done = Acknowledged([(10, 20), (2, 4), (5, 9), (30, 30)])
    assert [line for line in range(1, 33) if line in done] == [*range(2, 21), 30]


def test_batches_hold_at_most_the_route_maximum_of_rows_good_or_bad(tmp_path: Path) -> None:
    lines = ["k.x,not-a-time,1"] * 7 + ["k.x,2025-01-01T00:00:00Z,1"] * 2
    path = tmp_path / "bad.csv"
    path.write_text("kpi,ts,value\n" + "\n".join(lines) + "\n")
    options = ImportOptions(path=path, batch_size=3)
    with path.open("rb") as file:
        made = list(batches(Measurements(), read_csv(file), options, Acknowledged(), ImportSummary()))
    assert [(b.first_line, b.last_line, b.rows, len(b.items)) for b in made] == [
        (2, 4, 3, 0),
        (5, 7, 3, 0),
        (8, 10, 3, 2),
    ]
    assert sum(b.nbytes for b in made) == path.stat().st_size
