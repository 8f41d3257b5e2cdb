"""Run the three services and the gateway as processes (``python -m pilotage.serve``), and stop them all
cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

from pilotage.serve import APPS

__all__ = ["APPS", "StartupError", "Supervisor", "child_environment", "serve_command"]


class StartupError(Exception):
    """The platform could not start; the message says why and what to do."""


@dataclass
class Process:
    name: str
    port: int
    popen: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the supervisor dies, so nothing is orphaned even on SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Supervisor:
    host: str
    ports: dict[str, int]
    env: dict[str, str]
    workers: int = 1
    graceful_seconds: float = 15.0
    processes: list[Process] = field(default_factory=list)

    def check_ports(self) -> None:
        taken = [f"{name} port {port}" for name, port in self.ports.items() if port_in_use(self.host, port)]
        if taken:
            raise StartupError(
                f"Already in use on {self.host}: {', '.join(taken)}. Stop what holds them or choose other ports "
                "(--gateway-port/--kpi-port/... or PILOTAGE_GATEWAY_PORT/PILOTAGE_KPI_PORT/...)."
            )

    def start(self) -> None:
        # The processes' own setting wins; the supervisor waits as long as they do.
        env = {"PILOTAGE_GRACEFUL_SHUTDOWN_SECONDS": str(int(self.graceful_seconds)), **self.env}
        self.graceful_seconds = float(env["PILOTAGE_GRACEFUL_SHUTDOWN_SECONDS"])
        for name in APPS:
            command = [sys.executable, *serve_command(name, self.host, self.ports[name], self.workers)]
            popen = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
            self.processes.append(Process(name, self.ports[name], popen))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {p.name: p for p in self.processes}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, process in list(pending.items()):
                    if not process.alive:
                        raise StartupError(f"The {name} process exited with code {process.popen.returncode}.")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"http://{self.host}:{process.port}/readyz").status_code == 200:
                            del pending[name]
                if pending and time.monotonic() > deadline:
                    raise StartupError(f"Not ready after {timeout:.0f}s: {', '.join(sorted(pending))}.")
                if pending:
                    time.sleep(0.2)

    def first_exited(self) -> Process | None:
        return next((p for p in self.processes if not p.alive), None)

    def stop(self) -> None:
        """The gateway first, so that no new request reaches a stopping service; then the services.
        Each gets SIGTERM and ``graceful_seconds`` to finish its in-flight requests, then SIGKILL."""
        gateway = [p for p in self.processes if p.name == "gateway"]
        services = [p for p in self.processes if p.name != "gateway"]
        for group in (gateway, services):
            for process in group:
                if process.alive:
                    process.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.graceful_seconds + 5
            for process in group:
                try:
                    process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
        self.processes.clear()


def serve_command(process: str, host: str, port: int, workers: int = 1) -> list[str]:
    """The arguments after the Python interpreter that run ``process`` (as the compose file does): its
    server configuration comes from the settings, the same for every way of starting it."""
    command = ["-m", "pilotage.serve", process, "--host", host, "--port", str(port)]
    return command + (["--workers", str(workers)] if workers != 1 else [])


def child_environment(database_url: str, host: str, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["PILOTAGE_HOST"] = host
    for name, port in ports.items():
        env[f"PILOTAGE_{name.upper()}_PORT"] = str(port)
    return env
