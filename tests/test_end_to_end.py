"""``pilotage up`` as a user runs it: real processes, real HTTP between them, clean shutdown."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import psutil
import pytest

from services.gateway.keys import generate_key
from tests.database import temporary_database
from tests.servers import free_port

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "strategy", "kpi", "talent")


def _ports() -> dict[str, int]:
    return {name: free_port() for name in SERVICES}


def _environment(ports: dict[str, int], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update({f"PILOTAGE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update(extra)
    return env


def _wait_ready(process: subprocess.Popen[str], url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pilotage up exited early:\n{_output(process)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("not ready in time")


# The platform's output goes to a file, never to a pipe: every request writes an access record, and a
# pipe nobody reads until the end fills up and blocks the processes that write to it.
_OUTPUTS: dict[int, IO[str]] = {}


def _run_up(env: dict[str, str]) -> subprocess.Popen[str]:
    output = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed when read at the end
    process = subprocess.Popen(
        [sys.executable, "-m", "pilotage.cli", "up"], env=env, stdout=output, stderr=subprocess.STDOUT, text=True
    )
    _OUTPUTS[process.pid] = output
    return process


def _output(process: subprocess.Popen[str]) -> str:
    output = _OUTPUTS[process.pid]
    output.seek(0)
    return output.read()


def _finish(process: subprocess.Popen[str]) -> None:
    """Kill the platform if it still runs, wait for it and close its output."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=60)
    output = _OUTPUTS.pop(process.pid, None)
    if output is not None:
        output.close()


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    text = _output(process)
    _OUTPUTS.pop(process.pid).close()
    return text


ADMIN_KEY = generate_key().full


@pytest.fixture
def up_on_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    ports = _ports()
    with temporary_database("pilotage_e2e") as url:
        env = _environment(
            ports, DATABASE_URL=url, PILOTAGE_DATA_DIR=str(tmp_path), PILOTAGE_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY
        )
        process = _run_up(env)
        try:
            yield process, ports
        finally:
            _finish(process)


def test_up_serves_every_service_through_the_gateway_and_stops_cleanly(
    up_on_server: tuple[subprocess.Popen[str], dict[str, int]],
) -> None:
    process, ports = up_on_server
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    for name in SERVICES:
        _wait_ready(process, f"http://127.0.0.1:{ports[name]}/readyz")

    readiness = httpx.get(f"{gateway}/readyz").json()
    assert readiness["status"] == "ready"
    checks = {k: v["status"] for k, v in readiness["checks"].items()}
    assert checks == {"database": "ok", "kpi": "ok", "strategy": "ok", "talent": "ok"}

    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        for path in ("/v1/kpis", "/v1/objectives", "/v1/org-units"):
            response = admin.get(path, headers={"x-request-id": "e2e-1"})
            assert response.status_code == 200, (path, response.text)
            assert response.json() == {"items": [], "next_cursor": None}
            assert response.headers["x-request-id"] == "e2e-1"
        assert admin.get("/v1/kpi-domains").json()[0]["key"] == "supply_chain"

        # Scopes are enforced by the services themselves, behind the gateway and when reached directly.
        reader = admin.post("/v1/api-keys", json={"name": "dashboard", "scopes": ["kpi:read"]}).json()["key"]
        as_reader = {"Authorization": f"Bearer {reader}"}
        assert httpx.get(f"{gateway}/v1/kpis", headers=as_reader).status_code == 200
        assert httpx.get(f"{gateway}/v1/objectives", headers=as_reader).status_code == 403
        assert httpx.get(f"{gateway}/v1/kpis").status_code == 401
        for name, path in (("kpi", "/v1/kpis"), ("strategy", "/v1/objectives"), ("talent", "/v1/org-units")):
            direct = httpx.get(f"http://127.0.0.1:{ports[name]}{path}", headers=as_reader)
            assert direct.status_code == 401, name

        _kpi_contract_through_the_gateway(admin)

    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 4
    output = _stop(process)
    assert process.returncode == 0, output
    assert "ready" in output
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    for port in ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_up_with_the_embedded_database_stops_it_too(tmp_path: Path) -> None:
    ports = _ports()
    process = _run_up(_environment(ports, PILOTAGE_DATA_DIR=str(tmp_path)))
    try:
        _wait_ready(process, f"http://127.0.0.1:{ports['gateway']}/readyz")
        dev_key = (tmp_path / "dev-admin-key").read_text().strip()
        assert (tmp_path / "dev-admin-key").stat().st_mode & 0o777 == 0o600
        headers = {"Authorization": f"Bearer {dev_key}"}
        assert httpx.get(f"http://127.0.0.1:{ports['gateway']}/v1/objectives", headers=headers).status_code == 200
        postmaster = tmp_path / "postgres" / "postmaster.pid"
        assert postmaster.exists()
        postgres_pid = int(postmaster.read_text().split()[0])
        output = _stop(process)
        assert process.returncode == 0, output
        assert "(embedded)" in output
        assert f"admin key {dev_key}" in output
        # pg_ctl returns once the server removed its pid file, a moment before the process itself ends.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(postgres_pid).wait(timeout=10)
        assert not psutil.pid_exists(postgres_pid) or psutil.Process(postgres_pid).status() == psutil.STATUS_ZOMBIE
        assert not postmaster.exists()
    finally:
        _finish(process)


def test_up_refuses_a_taken_port_clearly() -> None:
    ports = _ports()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["kpi"]))
        blocker.listen()
        result = subprocess.run(
            [sys.executable, "-m", "pilotage.cli", "up"],
            env=_environment(ports, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"kpi port {ports['kpi']}" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_an_unreachable_database_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pilotage.cli", "up"],
        env=_environment(_ports(), DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr


def _kpi_contract_through_the_gateway(admin: httpx.Client) -> None:
    """The KPI routes client scripts rely on, end to end through real processes."""
    created = admin.post(
        "/v1/kpis",
        json={"key": "supply.otd", "name": "On-time delivery", "unit": "%", "domain": "supply_chain",
              "direction": "increase", "aggregation": "avg", "cadence": "daily",
              "thresholds": {"mode": "relative", "amber": 0.05, "red": 0.1}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    targets = {"targets": [{"period_start": "2020-01-01", "period_end": "2099-12-31", "value": 95}]}
    assert admin.put("/v1/kpis/supply.otd/targets", json=targets).status_code == 200
    now = dt.datetime.now(dt.UTC)
    points = [{"kpi": "supply.otd", "ts": (now - dt.timedelta(hours=h)).isoformat(), "value": 96.0} for h in (1, 2)]
    assert admin.post("/v1/measurements", json={"points": points}).json()["inserted"] == 2
    assert admin.post("/v1/measurements", json={"points": points}).json()["unchanged"] == 2
    bad = admin.post(
        "/v1/measurements", json={"points": [{"kpi": "supply.otd", "ts": "2026-01-01T00:00:00", "value": 1}]}
    )
    assert (bad.status_code, bad.json()["errors"][0]["pointer"]) == (422, "/points/0/ts")
    status = admin.get("/v1/kpis/supply.otd/status").json()
    assert status["status"] == "green"
    assert admin.get("/v1/kpi-statuses", params={"kpi": "supply.otd"}).json()["items"][0]["status"] == "green"
    assert admin.get("/v1/kpis/supply.otd/series", params={"bucket": "month"}).json()["buckets"][-1]["count"] >= 1
    assert len(admin.get("/v1/kpis/supply.otd/measurements").json()["items"]) == 2
    events = admin.get("/v1/kpi-events", params={"kpi": "supply.otd"}).json()["items"]
    assert events[-1]["to_status"] == "green"
    stale = admin.patch("/v1/kpis/supply.otd", json={"name": "OTIF"}, headers={"If-Match": created.headers["etag"]})
    assert stale.status_code == 412  # the targets changed it since it was created
    current = admin.get("/v1/kpis/supply.otd").headers["etag"]
    assert admin.patch("/v1/kpis/supply.otd", json={"name": "OTIF"}, headers={"If-Match": current}).status_code == 200
    spec = admin.get("/openapi.json").json()
    assert "/v1/kpis/{id_or_key}/series" in spec["paths"]
    time.sleep(1.0)  # the audit trail is written in batches, off the request path
    audited = admin.get("/v1/audit-events", params={"path_prefix": "/v1/"}).json()["items"]
    assert {("POST", "/v1/kpis"), ("PUT", "/v1/kpis/supply.otd/targets"), ("PATCH", "/v1/kpis/supply.otd")} <= {
        (e["method"], e["path"]) for e in audited
    }
