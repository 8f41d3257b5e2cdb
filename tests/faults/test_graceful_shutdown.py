"""SIGTERM to ``pilotage up`` while long requests are in flight (10 000-point batches, overviews):
they complete with their normal answer and what they acknowledged is stored, new connections are
refused, every child process exits, nothing is left running, and the exit status is 0."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from pilotage.serve import APPS
from services.gateway.keys import generate_key
from shared.db import plain_url
from tests.database import temporary_database
from tests.faults.processes import platform_environment, wait_ready
from tests.servers import free_port

pytestmark = pytest.mark.e2e

BATCH = 10_000
ORIGIN = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30)


@dataclass
class Sent:
    what: str
    started: float
    finished: float
    status: int | None
    body: Any
    error: str | None = None


def _batch(number: int) -> dict[str, Any]:
    first = number * BATCH
    return {
        "points": [
            {"kpi": "ops.shutdown", "ts": (ORIGIN + dt.timedelta(seconds=first + i)).isoformat(), "value": 1.0}
            for i in range(BATCH)
        ]
    }


class Sender(threading.Thread):
    """Sends one kind of request again and again, each on a new connection, until one is refused."""

    def __init__(self, gateway: str, key: str, what: str, serial: list[int], sent: list[Sent]) -> None:
        super().__init__(daemon=True)
        self.gateway, self.key, self.what, self.serial, self.sent = gateway, key, what, serial, sent

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Connection": "close"}
        while True:
            number = self.serial.pop(0)
            body = _batch(number) if self.what == "batch" else None
            started = time.monotonic()
            try:
                with httpx.Client(base_url=self.gateway, headers=headers, timeout=60) as client:
                    if body is not None:
                        response = client.post("/v1/measurements", json=body)
                    else:
                        response = client.get("/v1/alignment/overview")
            except httpx.HTTPError as exc:
                self.sent.append(Sent(f"{self.what} {number}", started, time.monotonic(), None, None, repr(exc)))
                return
            self.sent.append(
                Sent(f"{self.what} {number}", started, time.monotonic(), response.status_code, response.json())
            )


def test_sigterm_lets_in_flight_requests_finish_and_stops_everything(tmp_path: Path) -> None:
    ports = {name: free_port() for name in APPS}
    key = generate_key().full
    with temporary_database("pilotage_shutdown") as url:
        env = platform_environment(url, tmp_path, ports, PILOTAGE_BOOTSTRAP_ADMIN_KEY=key)
        up = subprocess.Popen([sys.executable, "-m", "pilotage.cli", "up"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            wait_ready(gateway, alive=None)
            for name in APPS:
                wait_ready(f"http://127.0.0.1:{ports[name]}")
            headers = {"Authorization": f"Bearer {key}"}
            kpi = {"key": "ops.shutdown", "name": "Shutdown", "unit": "u", "domain": "operations",
                   "direction": "increase", "aggregation": "sum", "cadence": "daily"}  # fmt: skip
            assert httpx.post(f"{gateway}/v1/kpis", json=kpi, headers=headers, timeout=30).status_code == 201
            children = psutil.Process(up.pid).children(recursive=True)
            assert len(children) >= 4

            serial = list(range(1000))
            sent: list[Sent] = []
            senders = [Sender(gateway, key, "batch", serial, sent) for _ in range(3)]
            senders.append(Sender(gateway, key, "overview", serial, sent))
            for sender in senders:
                sender.start()
            time.sleep(1.5)
            up.send_signal(signal.SIGTERM)
            terminated = time.monotonic()
            for sender in senders:
                sender.join(timeout=60)
            output, _ = up.communicate(timeout=60)
        finally:
            if up.poll() is None:
                up.kill()
                up.communicate()

        assert up.returncode == 0, output
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], alive
        for port in ports.values():
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"

        before = [s for s in sent if s.started < terminated]
        in_flight = [s for s in before if s.finished > terminated]
        assert in_flight, "no request was in flight when SIGTERM came"
        for request in before:
            if request.status is None:
                # Sent in the instant the listening socket closed: refused, never begun.
                assert "ConnectError" in (request.error or ""), request
                continue
            assert request.status == 200, request
            if request.what.startswith("batch"):
                assert request.body["inserted"] == BATCH, request
        for request in sent:
            if request.started > terminated + 0.5:
                assert request.status is None, request
                assert "ConnectError" in (request.error or ""), request  # refused, not reset
        acknowledged = sum(s.status == 200 for s in sent if s.what.startswith("batch"))
        assert acknowledged > 0
        assert asyncio.run(_stored(url)) == acknowledged * BATCH
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if "pilotage.serve" in " ".join(p.info["cmdline"] or ())]
    assert not [p for p in leftovers if str(ports["gateway"]) in " ".join(p.info["cmdline"] or ())]


async def _stored(url: str) -> int:
    connection = await asyncpg.connect(plain_url(url))
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM kpi.measurements")
        return count
    finally:
        await connection.close()
