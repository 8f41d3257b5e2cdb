"""``pilotage import`` against a real platform (``pilotage up`` processes): good rows stored exactly,
bad rows in the rejects file by line number, resumable, fatal errors told apart."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platform import Platform, running_platform
from tests.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        with running.client() as admin:
            for key in ("imp.output", "imp.jsonl", "imp.resume"):
                created = admin.post(
                    "/v1/kpis",
                    json={"key": key, "name": key, "unit": "u", "domain": "operations", "direction": "increase",
                          "aggregation": "sum", "cadence": "daily"},
                )  # fmt: skip
                assert created.status_code == 201, created.text
            unit = admin.post("/v1/org-units", json={"key": "imp_ops", "name": "Operations", "kind": "department"})
            assert unit.status_code == 201, unit.text
        yield running


def _stored(platform: Platform, kpi: str) -> dict[str, float]:
    with platform.client() as admin:
        response = admin.get(f"/v1/kpis/{kpi}/measurements", params={"limit": 500})
        assert response.status_code == 200, response.text
        return {item["ts"]: item["value"] for item in response.json()["items"]}


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


CSV_ROWS = """kpi,ts,value
imp.output,2025-03-01T08:00:00Z,10
imp.output,2025-03-02T08:00:00Z,
imp.output,2025-03-03T08:00:00Z,ten
imp.output,2025-03-04T08:00:00,4
imp.nosuch,2025-03-05T08:00:00Z,5
imp.output,2025-03-06T10:00:00+02:00,6.5
imp.output
imp.output,2099-01-01T00:00:00Z,7
imp.output,2025-03-08T08:00:00Z,8
"""


def test_csv_import_stores_good_rows_and_lists_bad_ones_then_resume_sends_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    source = tmp_path / "points.csv"
    source.write_text(CSV_ROWS)
    result = platform.pilotage("import", "measurements", str(source), "--batch-size", "3", "--no-progress")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "9 rows read, 3 accepted (inserted 3, updated 0, unchanged 0), 6 rejected" in result.stdout

    assert _stored(platform, "imp.output") == {
        "2025-03-01T08:00:00Z": 10.0,
        "2025-03-06T08:00:00Z": 6.5,
        "2025-03-08T08:00:00Z": 8.0,
    }
    # Written as batches finish (several are in flight): sorted within a batch, not across batches.
    rejects = sorted(_rejects(tmp_path / "points.csv.rejects.csv"), key=lambda row: int(row["line"]))
    assert [row["line"] for row in rejects] == ["3", "4", "5", "6", "8", "9"]
    reasons = {row["line"]: row["reason"] for row in rejects}
    assert reasons["3"] == "missing value"
    assert "unparsable number" in reasons["4"]
    assert "naive timestamp" in reasons["5"]
    assert reasons["6"].startswith("kpi: ")  # refused by the server
    assert "imp.nosuch" in reasons["6"]
    assert reasons["8"] == "missing ts"
    assert reasons["9"].startswith("ts: ")
    assert "future" in reasons["9"]
    assert rejects[0]["row"] == "imp.output,2025-03-02T08:00:00Z,"

    again = platform.pilotage("import", "measurements", str(source), "--resume", "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 rows read, 0 accepted (nothing sent), 0 rejected, 9 skipped" in again.stdout
    assert len(_rejects(tmp_path / "points.csv.rejects.csv")) == 6  # nothing reported twice

    # Without --resume the file is sent again: the same values, so nothing changes.
    fresh = platform.pilotage("import", "measurements", str(source), "--no-progress")
    assert fresh.returncode == 2
    assert "3 accepted (inserted 0, updated 0, unchanged 3)" in fresh.stdout


def test_resume_skips_the_acknowledged_line_ranges(platform: Platform, tmp_path: Path) -> None:
    source = tmp_path / "resume.csv"
    lines = [f"imp.resume,2025-04-{day:02d}T12:00:00Z,{day}" for day in range(1, 11)]
    source.write_text("kpi,ts,value\n" + "\n".join(lines) + "\n")
    # As a run cut short would have left it: lines 2-4 and 8 acknowledged, out of order.
    (tmp_path / "resume.csv.progress").write_text("[8,8]\n[2,4]\n[3,")
    result = platform.pilotage("import", "measurements", str(source), "--resume", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 rows read, 6 accepted" in result.stdout
    assert "4 skipped" in result.stdout
    stored = _stored(platform, "imp.resume")
    assert sorted(int(v) for v in stored.values()) == [4, 5, 6, 8, 9, 10]
    # The progress file now covers every line: a third run sends nothing.
    third = platform.pilotage("import", "measurements", str(source), "--resume", "--no-progress")
    assert "0 rows read" in third.stdout
    assert "10 skipped" in third.stdout


def test_json_lines_with_mapped_fields_and_a_dry_run(platform: Platform, tmp_path: Path) -> None:
    source = tmp_path / "points.jsonl"
    source.write_text(
        '{"metric": "imp.jsonl", "time": "2025-05-01T00:00:00Z", "v": 1.5}\n'
        "\n"
        '{"metric": "imp.jsonl", "time": "2025-05-02T00:00:00Z", "v": "2"}\n'
        "not json\n"
        '{"metric": "imp.jsonl", "time": "2025-05-03T00:00:00Z", "v": NaN}\n'
        '{"metric": "imp.jsonl", "time": "2025-05-04T00:00:00Z", "v": true}\n'
        '{"metric": "imp.jsonl", "time": "2025-05-05T00:00:00Z", "v": 5}\n'
    )
    mapping = ("--kpi-column", "metric", "--ts-column", "time", "--value-column", "v", "--no-progress")
    dry = platform.pilotage("import", "measurements", str(source), "--dry-run", *mapping)
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert "(dry run)" in dry.stdout
    assert "inserted 3" in dry.stdout
    assert _stored(platform, "imp.jsonl") == {}
    assert not (tmp_path / "points.jsonl.progress").exists()  # a dry run acknowledges nothing

    result = platform.pilotage("import", "measurements", str(source), *mapping)
    assert result.returncode == 2, result.stdout + result.stderr
    assert _stored(platform, "imp.jsonl") == {
        "2025-05-01T00:00:00Z": 1.5,
        "2025-05-02T00:00:00Z": 2.0,
        "2025-05-05T00:00:00Z": 5.0,
    }
    reasons = {row["line"]: row["reason"] for row in _rejects(tmp_path / "points.jsonl.rejects.csv")}
    assert reasons == {"4": "not a JSON object", "5": "not a JSON object", "6": "not a number: True"}


def test_people_import_upserts_by_employee_number(platform: Platform, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "employee_number,name,email,job_title,hire_date,end_date,separation_reason,org_unit\n"
        "E1,Ada Lovelace,ada@example.com,Analyst,2024-01-15,,,imp_ops\n"
        "E2,Alan Turing,alan@example.com,,2024-02-01,2025-06-30,voluntary,imp_ops\n"
        "E3,No Mail,,,2024-02-01,,,imp_ops\n"
        "E4,Grace Hopper,grace@example.com,,2024-13-01,,,imp_ops\n"
        "E5,Edsger Dijkstra,edsger@example.com,,2024-03-01,,,nosuch_unit\n"
        "E6,Bad Mail,not-an-email,,2024-03-01,,,imp_ops\n"
        "E7,Barbara Liskov,barbara@example.com,,2024-04-01,,,imp_ops\n"
    )
    result = platform.pilotage("import", "people", str(source), "--no-progress")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "3 accepted (inserted 3, updated 0, unchanged 0), 4 rejected" in result.stdout
    reasons = {row["line"]: row["reason"] for row in _rejects(tmp_path / "people.csv.rejects.csv")}
    assert set(reasons) == {"4", "5", "6", "7"}
    assert reasons["4"] == "missing email"
    assert "unparsable date hire_date" in reasons["5"]
    assert "nosuch_unit" in reasons["6"]
    assert reasons["7"].startswith("email: ")  # refused by the server, mapped back from /people/i/email
    with platform.client() as admin:
        people = admin.get(
            "/v1/people", params={"org_unit": "imp_ops", "active_on": "2025-01-01", "limit": 100}
        ).json()["items"]
    assert {p["employee_number"]: p["end_date"] for p in people} == {"E1": None, "E2": "2025-06-30", "E7": None}

    again = platform.pilotage("import", "people", str(source), "--no-progress")
    assert "inserted 0, updated 0, unchanged 3" in again.stdout


def test_fatal_errors_stop_with_status_1(platform: Platform, tmp_path: Path) -> None:
    source = tmp_path / "fatal.csv"
    source.write_text("kpi,ts,value\nimp.output,2025-06-01T00:00:00Z,1\n")
    refused = platform.pilotage("import", "measurements", str(source), "--no-progress", key="pk_nobody01_" + "x" * 40)
    assert refused.returncode == 1
    assert "refused the key (401)" in refused.stderr
    assert "Traceback" not in refused.stderr

    with platform.client() as admin:
        reader = admin.post("/v1/api-keys", json={"name": "reader", "scopes": ["kpi:read"]}).json()["key"]
    forbidden = platform.pilotage("import", "measurements", str(source), "--no-progress", key=reader)
    assert forbidden.returncode == 1
    assert "(403)" in forbidden.stderr

    unreachable = platform.pilotage(
        "import", "measurements", str(source), "--no-progress", gateway=f"http://127.0.0.1:{free_port()}"
    )
    assert unreachable.returncode == 1
    assert "Cannot reach the gateway" in unreachable.stderr

    no_column = tmp_path / "nocolumn.csv"
    no_column.write_text("kpi,when,value\nimp.output,2025-06-01T00:00:00Z,1\n")
    header = platform.pilotage("import", "measurements", str(no_column), "--no-progress")
    assert header.returncode == 1
    assert "no column 'ts'" in header.stderr
    assert _stored(platform, "imp.output").get("2025-06-01T00:00:00Z") is None
