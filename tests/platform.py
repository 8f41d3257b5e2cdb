"""A whole platform as ``pilotage up`` starts it (real processes, a throw-away database), and the
client commands run against it as a user runs them: ``python -m pilotage.cli …`` with
``PILOTAGE_GATEWAY_URL`` and ``PILOTAGE_API_KEY``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.gateway.keys import generate_key
from tests.database import temporary_database
from tests.servers import free_port

SERVICES = ("gateway", "strategy", "kpi", "talent")


@dataclass
class Platform:
    gateway: str
    admin_key: str
    data_dir: Path

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.gateway, headers={"Authorization": f"Bearer {key or self.admin_key}"}, timeout=30
        )

    def pilotage(
        self, *args: str, key: str | None = None, gateway: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PILOTAGE_GATEWAY_URL": gateway or self.gateway,
            "PILOTAGE_API_KEY": key or self.admin_key,
            "PILOTAGE_DATA_DIR": str(self.data_dir),
        }
        return subprocess.run(
            [sys.executable, "-m", "pilotage.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
        )


@contextlib.contextmanager
def running_platform(data_dir: Path) -> Iterator[Platform]:
    ports = {name: free_port() for name in SERVICES}
    admin_key = generate_key().full
    with temporary_database("pilotage_client") as url:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
        env.update({f"PILOTAGE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
        env.update(DATABASE_URL=url, PILOTAGE_DATA_DIR=str(data_dir), PILOTAGE_BOOTSTRAP_ADMIN_KEY=admin_key)
        # The tests' own reads (hundreds of listings to count what is stored) must not be rate
        # limited; the commands' handling of 429 is tested against a scripted gateway.
        env.update(PILOTAGE_RATE_LIMIT_PER_SECOND="100000", PILOTAGE_RATE_LIMIT_BURST="100000")
        # The processes' output goes to a file: a pipe nobody reads fills up and blocks them.
        log = (data_dir / "platform.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "pilotage.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        try:
            _wait_ready(process, f"{gateway}/readyz", data_dir / "platform.log")
            yield Platform(gateway=gateway, admin_key=admin_key, data_dir=data_dir)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()


def _wait_ready(process: subprocess.Popen[str], url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pilotage up exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the platform was not ready in time")
