"""``pilotage demo`` against a real platform: it builds the company it promises through the public
API, and running it again changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.database import temporary_database
from tests.platform import Platform, running_platform
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("demo")) as running:
        yield running


def _all(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]] | None:
    """Every item of a listing, or None when the platform does not serve the route."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = client.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def _snapshot(client: httpx.Client) -> dict[str, Any]:
    """What the platform holds, counted through the API (assignments and salaries per person, points
    per KPI, check-ins per key result)."""
    people = _all(client, "/v1/people") or []
    kpis = _all(client, "/v1/kpis") or []
    objectives = _all(client, "/v1/objectives") or []
    snapshot: dict[str, Any] = {
        "org_units": sorted(u["key"] for u in _all(client, "/v1/org-units") or []),
        "people": sorted((p["employee_number"], p["end_date"], p["job_title"]) for p in people),
        "assignments": sum(len(client.get(f"/v1/people/{p['id']}/assignments").json()["items"]) for p in people),
        "salaries": sum(len(client.get(f"/v1/people/{p['id']}/salaries").json()["items"]) for p in people),
        "kpis": sorted(k["key"] for k in kpis),
        "points": {k["key"]: len(_all(client, f"/v1/kpis/{k['key']}/measurements") or []) for k in kpis},
        "objectives": sorted((o["level"], o["title"]) for o in objectives),
    }
    key_results = [kr for o in objectives for kr in _all(client, f"/v1/objectives/{o['id']}/key-results") or []]
    snapshot["key_results"] = sorted(kr["title"] for kr in key_results)
    snapshot["check_ins"] = sum(
        len(client.get(f"/v1/key-results/{kr['id']}/check-ins").json()["items"]) for kr in key_results
    )
    for name, path in (("skills", "/v1/skills"), ("trainings", "/v1/trainings"), ("initiatives", "/v1/initiatives")):
        listed = _all(client, path)
        snapshot[name] = None if listed is None else len(listed)
    snapshot["assessments"] = sum(
        len(client.get(f"/v1/people/{p['id']}/skills").json()["items"]) for p in people if not p["end_date"]
    )
    snapshot["enrolments"] = len(_all(client, "/v1/enrolments") or [])
    snapshot["surveys"] = sorted(s["key"] for s in _all(client, "/v1/engagement-surveys") or [])
    snapshot["hr_points"] = sum(
        len(_all(client, f"/v1/kpis/{k['key']}/measurements") or []) for k in kpis if k["key"].startswith("hr.")
    )
    return snapshot


def _alignment(admin: httpx.Client) -> None:
    """The overview shows the story: on-time delivery red under the supply-chain objective, the
    defect rate stale under the product one, a team far behind yet confident."""
    overview = admin.get("/v1/alignment/overview").json()
    nodes: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any]) -> None:
        nodes[node["title"]] = node
        for child in node.get("children", []):
            walk(child)

    for root in overview["objectives"]:
        walk(root)
    assert len(nodes) == 10
    assert overview["missing"] == []

    def codes(title: str) -> set[str]:
        return {reason["code"] for reason in nodes[title]["reasons"]}

    assert nodes["Deliver on time at a lower cost"]["verdict"] != "on_track"
    assert "kpi_red" in codes("Deliver on time at a lower cost")
    assert "kpi_stale" in codes("Ship faster with fewer defects")
    assert "overconfident" in codes("Plan transport with accurate forecasts")


def _capability_engagement_and_initiatives(admin: httpx.Client) -> None:
    """The parts built on the skills, trainings, engagement and initiatives routes."""
    assert len(_all(admin, "/v1/skills") or []) == 30
    gaps = admin.get("/v1/org-units/logistics/skill-gaps").json()
    assert gaps["skill_coverage"] < 0.8  # a real gap
    assert any(item["skill"] == "forecasting" and item["missing"] > 0 for item in gaps["items"])
    assert _all(admin, "/v1/enrolments", status="completed")

    surveys = _all(admin, "/v1/engagement-surveys") or []
    assert len(surveys) == 2
    results = admin.get(
        f"/v1/engagement-surveys/{surveys[0]['key']}/results", params={"org_unit": "product", "breakdown": "children"}
    ).json()
    design = next(part for part in results["parts"] if part["org_unit_key"] == "design")
    assert design["responses"] < 5
    assert design["suppressed"] is True

    initiatives = {i["title"]: i for i in _all(admin, "/v1/initiatives") or []}
    assert len(initiatives) == 3
    verdicts = {
        title: admin.get(f"/v1/initiatives/{i['id']}/effect").json().get("verdict")
        for title, i in initiatives.items()
        if i["kpi"]
    }
    assert sorted(verdicts.values()) == ["improved", "inconclusive"]
    assert [title for title, i in initiatives.items() if i["overdue"]] == ["Automated regression suite"]

    published = [k for k in _all(admin, "/v1/kpis", domain="hr") or [] if k["key"].startswith("hr.")]
    assert any(k["key"] == "hr.headcount.acme" for k in published)


@pytest.mark.timeout(900)
def test_demo_builds_the_promised_company_and_a_second_run_changes_nothing(platform: Platform) -> None:
    first = platform.pilotage("demo", "--size", "small", "--no-progress")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "demo ready: created" in first.stdout
    assert "/v1/alignment/overview" in first.stdout
    assert "Traceback" not in first.stderr

    with platform.client() as admin:
        before = _snapshot(admin)

        assert len(before["org_units"]) == 1 + 4 + 12
        assert len(before["people"]) == 40
        reasons = {p["separation_reason"] for p in _all(admin, "/v1/people") or [] if p["end_date"]}
        assert "voluntary" in reasons
        assert before["assignments"] > 40  # moves beyond each first assignment
        assert before["salaries"] > 40  # raises beyond each hire-date salary
        own = [k for k in before["kpis"] if not k.startswith("hr.")]  # hr.*: published by the talent service
        assert len(own) == 8
        assert {k.split(".")[0] for k in own} >= {"supply", "customer", "productivity", "quality"}
        assert min(before["points"][k] for k in own) >= 80

        statuses = admin.get(
            "/v1/kpi-statuses", params=[("kpi", "supply.on_time_delivery"), ("kpi", "quality.defect_rate")]
        ).json()["items"]
        assert {s["kpi"]: s["status"] for s in statuses} == {
            "supply.on_time_delivery": "red",
            "quality.defect_rate": "stale",
        }
        satisfaction = admin.get("/v1/kpis/customer.satisfaction_rate").json()
        marketing = admin.get("/v1/org-units/sales_marketing").json()
        assert satisfaction["owner_org_unit_id"] == marketing["id"]
        productivity = admin.get("/v1/kpis/productivity.team_output").json()
        responsible = admin.get(f"/v1/people/{productivity['responsible_person_id']}").json()
        platform_team = admin.get("/v1/org-units/platform").json()
        assert responsible["org_unit_id"] == platform_team["id"]
        assert responsible["job_title"].endswith("lead")

        levels = {level for level, _title in before["objectives"]}
        assert levels == {"company", "department", "team"}
        assert before["check_ins"] >= 3
        linked = _all(admin, "/v1/key-results", kpi="supply.on_time_delivery")
        assert linked
        assert all(kr["current_source"] == "kpi" for kr in linked)

        _capability_engagement_and_initiatives(admin)
        _alignment(admin)

    second = platform.pilotage("demo", "--size", "small", "--no-progress")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "created nothing" in second.stdout
    with platform.client() as admin:
        assert _snapshot(admin) == before


@pytest.mark.timeout(300)
def test_demo_refuses_a_platform_it_cannot_reach(platform: Platform) -> None:
    result = platform.pilotage("demo", "--size", "small", "--no-progress", gateway="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "not ready" in result.stderr
    refused = platform.pilotage("demo", "--size", "small", "--no-progress", key="pk_nobody01_" + "y" * 40)
    assert refused.returncode == 1
    assert "refused the key (401)" in refused.stderr


@pytest.mark.timeout(600)
def test_demo_start_starts_the_platform_in_the_background_when_nothing_answers(tmp_path: Path) -> None:
    """`make demo` on a machine where nothing runs: `pilotage up` is started in its own session, the
    demo loads, and the platform keeps running after the command has ended."""
    ports = {name: free_port() for name in ("gateway", "strategy", "kpi", "talent")}
    with temporary_database("pilotage_demo_start") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PILOTAGE_") and "DATABASE_URL" not in k}
        env.update({f"PILOTAGE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        env.update(DATABASE_URL=url, PILOTAGE_DATA_DIR=str(tmp_path))
        result = subprocess.run(
            [sys.executable, "-m", "pilotage.cli", "demo", "--start", "--size", "small", "--no-progress"],
            env=env, capture_output=True, text=True, timeout=500,
        )  # fmt: skip
        started = re.search(r"background \(pid (\d+)", result.stderr)
        assert started, result.stderr
        up = psutil.Process(int(started.group(1)))
        try:
            assert result.returncode == 0, result.stdout + result.stderr
            assert "demo ready: created" in result.stdout
            assert f"export KEY=$(cat {tmp_path / 'dev-admin-key'})" in result.stdout
            assert up.is_running()
            key = (tmp_path / "dev-admin-key").read_text().strip()
            kpis = httpx.get(
                f"http://127.0.0.1:{ports['gateway']}/v1/kpis/supply.on_time_delivery/status",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert kpis.json()["status"] == "red"
        finally:
            up.terminate()
            up.wait(timeout=60)
