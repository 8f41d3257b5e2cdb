"""The platform as separate OS processes (``python -m pilotage.serve <name>``, as ``pilotage up`` and
the compose file run them), over a throw-away database, so that a test can SIGKILL one process and
start it again while the others keep serving."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pilotage import migrate
from pilotage.serve import APPS
from services.gateway.keys import generate_key
from tests.auth import install_test_keys
from tests.database import temporary_database
from tests.servers import free_port

NAMES = tuple(APPS)  # strategy, kpi, talent, gateway


def platform_environment(database_url: str, data_dir: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    """What every process of one platform is started with."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update({f"PILOTAGE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update(DATABASE_URL=database_url, PILOTAGE_DATA_DIR=str(data_dir), PILOTAGE_LOG_LEVEL="warning")
    env.update(extra)
    return env


def wait_ready(url: str, timeout: float = 60.0, alive: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {alive.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout:.0f} s")


@dataclass
class Processes:
    env: dict[str, str]
    ports: dict[str, int]
    logs: Path
    admin_key: str
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        command = [sys.executable, "-m", "pilotage.serve", name, "--host", "127.0.0.1", "--port", str(self.ports[name])]
        self.running[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        wait_ready(self.url(name), timeout, self.running[name])

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no goodbye — what a crash or the OOM killer does."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()


@contextlib.contextmanager
def platform_processes(data_dir: Path, **extra: str) -> Iterator[Processes]:
    """The three services and the gateway, each its own process, ready; all stopped at the end."""
    ports = {name: free_port() for name in NAMES}
    admin_key = generate_key().full
    with temporary_database("pilotage_faults") as url:
        migrate.upgrade(url)
        install_test_keys(data_dir)  # laid before the processes start, so they need not race to make them
        env = platform_environment(url, data_dir, ports, PILOTAGE_BOOTSTRAP_ADMIN_KEY=admin_key, **extra)
        processes = Processes(env, ports, data_dir, admin_key)
        try:
            for name in NAMES:
                processes.start(name)
            for name in NAMES:
                processes.wait_ready(name)
            yield processes
        finally:
            processes.stop_all()
