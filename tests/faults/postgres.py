"""A PostgreSQL server of a test's own (the embedded one, in the test's folder), which the test may
kill like a crash would and start again on the same data folder and socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from shared.embedded_postgres import embedded_server_url, stop_embedded_server


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])


def _server_processes(data_dir: Path) -> list[psutil.Process]:
    """The postmaster and every backend of the server in ``data_dir`` (they all name its folder, or
    are children of the postmaster)."""
    folder = str(data_dir / "postgres")
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and folder in " ".join(process.info["cmdline"] or ()):
                found.append(process)
    return found


def kill_server(data_dir: Path, timeout: float = 20.0) -> None:
    """SIGKILL the postmaster, as a crash or the OOM killer would, and wait until it and its backends
    are gone (they end on their own when they notice the postmaster died), so that it can restart."""
    pid = postmaster_pid(data_dir)
    children = psutil.Process(pid).children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for process in [psutil.Process(pid), *children]:
        with contextlib.suppress(psutil.NoSuchProcess):
            # A zombie counts as alive for the package's check: wait until it has been reaped.
            while process.is_running() and time.monotonic() < deadline:
                time.sleep(0.05)
    if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        raise AssertionError("the killed postmaster is still there")
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by init: until then the embedded package believes it runs


def start_server(data_dir: Path) -> str:
    """Start (or restart) the server on the same data folder and socket; its URL."""
    return embedded_server_url(data_dir)


@contextlib.asynccontextmanager
async def own_server(data_dir: Path) -> AsyncIterator[str]:
    """A fresh server in ``data_dir``: yields its URL; stopped at the end, whatever state it is in."""
    try:
        yield await asyncio.to_thread(start_server, data_dir)
    finally:
        with contextlib.suppress(Exception):
            if _server_processes(data_dir):
                await asyncio.to_thread(stop_embedded_server, data_dir)
