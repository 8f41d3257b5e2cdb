"""One service killed (SIGKILL) under a light loop of requests, then started again, for each of the
KPI, strategy and talent services, every process its own: the gateway answers 503 problem+json with
Retry-After for the dead service's routes, the alignment views answer partial 200s naming what is
missing (a 503 naming strategy when strategy, the part they cannot do without, is the one down),
the breakers open and close again as readiness shows, no answer is a 500 and none outlasts its
deadline."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.processes import Processes, platform_processes

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CLIENT_DEADLINE = 10.0  # seconds: no answer may take longer


@dataclass
class Seen:
    path: str
    status: int | None
    elapsed: float
    content_type: str | None
    body: Any
    retry_after: str | None = None


class Loop:
    """A light, steady loop of reads through the gateway, every answer kept."""

    def __init__(self, gateway: str, key: str, paths: list[str]) -> None:
        self.paths = paths
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=CLIENT_DEADLINE
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Loop:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=CLIENT_DEADLINE + 5)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in self.paths:
                started = time.monotonic()
                try:
                    response = self._client.get(path)
                except httpx.HTTPError as exc:
                    self.seen.append(Seen(path, None, time.monotonic() - started, None, repr(exc)))
                    continue
                headers = response.headers
                body = response.json() if response.content else None
                elapsed = time.monotonic() - started
                self.seen.append(
                    Seen(
                        path,
                        response.status_code,
                        elapsed,
                        headers.get("content-type"),
                        body,
                        headers.get("retry-after"),
                    )
                )
                time.sleep(0.02)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Processes]:
    # A breaker opens after 2 failures and probes again after 2 s, so a test sees both within seconds.
    with platform_processes(
        tmp_path, PILOTAGE_BREAKER_FAILURES="2", PILOTAGE_BREAKER_RESET_SECONDS="2", PILOTAGE_UPSTREAM_RETRIES="0"
    ) as processes:
        yield processes


def _seed(admin: httpx.Client) -> str:
    today = dt.date.today()
    kpi = {"key": "ops.fault_kpi", "name": "Fault KPI", "unit": "u", "domain": "operations", "direction": "increase",
           "aggregation": "avg", "cadence": "daily"}  # fmt: skip
    assert admin.post("/v1/kpis", json=kpi).status_code == 201
    unit = admin.post("/v1/org-units", json={"key": "fault_ops", "name": "Operations", "kind": "company"})
    assert unit.status_code == 201, unit.text
    objective = admin.post(
        "/v1/objectives",
        json={"title": "Deliver", "level": "company", "owner_org_unit_id": unit.json()["id"],
              "period_start": (today - dt.timedelta(days=30)).isoformat(),
              "period_end": (today + dt.timedelta(days=60)).isoformat(), "status": "active"},
    )  # fmt: skip
    assert objective.status_code == 201, objective.text
    objective_id: str = objective.json()["id"]
    key_result = admin.post(
        f"/v1/objectives/{objective_id}/key-results",
        json={"title": "On time", "kind": "increase", "start_value": 0, "target_value": 100, "kpi": "ops.fault_kpi"},
    )
    assert key_result.status_code == 201, key_result.text
    return objective_id


def _readiness(processes: Processes) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{processes.url('gateway')}/readyz", timeout=CLIENT_DEADLINE).json()
    return answer


def _until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


PROXIED = {"kpi": "/v1/kpis", "strategy": "/v1/objectives", "talent": "/v1/org-units"}


def test_a_killed_service_is_answered_for_cleanly_and_comes_back(platform: Processes) -> None:
    gateway = platform.url("gateway")
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {platform.admin_key}"}, timeout=30) as admin:
        objective_id = _seed(admin)
    views = ["/v1/alignment/overview", f"/v1/alignment/objectives/{objective_id}"]
    paths = [*PROXIED.values(), f"/v1/objectives/{objective_id}", *views]

    with Loop(gateway, platform.admin_key, paths) as loop:
        for victim in ("kpi", "strategy", "talent"):
            _kill_and_restart(platform, loop, victim, objective_id, views)

    for seen in loop.seen:
        assert seen.status is not None, seen  # the gateway always answers
        assert seen.status < 500 or seen.status == 503, seen
        assert seen.elapsed < CLIENT_DEADLINE, seen


def _kill_and_restart(platform: Processes, loop: Loop, victim: str, objective_id: str, views: list[str]) -> None:
    platform.kill(victim)
    killed_at = len(loop.seen)
    _until(lambda: len([s for s in loop.seen[killed_at:] if s.path == views[0]]) >= 3)

    down = loop.seen[killed_at:]
    proxied = [s for s in down if s.path == PROXIED[victim]]
    assert proxied, victim
    for seen in proxied:
        body, retry_after = seen.body, seen.retry_after
        assert (seen.status, seen.content_type) == (503, "application/problem+json"), (victim, seen)
        assert (retry_after or "").isdigit(), (victim, seen)
    for seen in (s for s in down if s.path in views):
        body, retry_after = seen.body, seen.retry_after
        if victim == "strategy":  # the views cannot do without it
            assert seen.status == 503, (victim, seen)
            assert body["source"] == "strategy", body
            assert (retry_after or "").isdigit(), seen
        else:
            assert seen.status == 200, (victim, seen)
            assert body["partial"] is True
            assert {"source": victim, "reason": "unavailable"} in body["missing"], body
    if victim == "kpi":  # the strategy service reads KPI values itself and says it could not
        for seen in (s for s in down if s.path == f"/v1/objectives/{objective_id}"):
            assert seen.status == 200, seen
            assert seen.body["degraded"] == ["kpi"], seen

    # Readiness is cached for a second (PILOTAGE_READINESS_CACHE_SECONDS): it may still say ready.
    _until(lambda: _readiness(platform)["status"] == "not_ready", timeout=5)
    readiness = _readiness(platform)
    assert readiness["checks"][victim]["status"] == "failing"
    assert readiness["dependencies"][victim]["state"] in ("open", "half_open"), readiness

    platform.start(victim)
    platform.wait_ready(victim)
    back_at = len(loop.seen)
    _until(lambda: any(s.path == PROXIED[victim] and s.status == 200 for s in loop.seen[back_at:]))
    _until(lambda: _readiness(platform)["dependencies"][victim]["state"] == "closed")
    _until(lambda: _readiness(platform)["status"] == "ready")
    # The strategy service's own breaker in front of the KPI service (not in the gateway's readiness)
    # lets its probe through once its pause (2 s) is over.
    time.sleep(2.5)
    recovered_at = len(loop.seen)
    _until(lambda: len(loop.seen) > recovered_at + len(loop.paths))
    for seen in loop.seen[recovered_at:]:
        assert seen.status == 200, (victim, seen)
        if seen.path in views:
            assert seen.body["missing"] == [], seen
