"""``/metrics`` of a process run with several uvicorn workers sums every worker's samples."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port


def _healthz_count_and_pids(text: str) -> tuple[float, set[str]]:
    count = 0.0
    pids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pilotage_http_requests_total" and sample.labels.get("route") == "/healthz":
                count += sample.value
            if sample.name == "pilotage_db_pool_connections":
                pids.add(sample.labels["pid"])
    return count, pids


def test_a_scrape_of_any_worker_counts_the_requests_of_all(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PILOTAGE_DATA_DIR": str(tmp_path)}
    env["PILOTAGE_ENV"] = "development"  # its keys are generated into the data folder
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pilotage.serve", "kpi", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        answered_by: set[str] = set()
        made = 1
        # New connections each time: the kernel spreads them over the workers' shared socket.
        while len(answered_by) < 2 and time.monotonic() < deadline:
            for _ in range(10):
                assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
                made += 1
            _, pids = _healthz_count_and_pids(httpx.get(f"{base}/metrics", timeout=5).text)
            answered_by |= pids
        assert len(answered_by) == 2, "every scrape was answered by one worker"
        for _ in range(4):  # whichever worker answers, it reports both workers' requests
            count, _ = _healthz_count_and_pids(httpx.get(f"{base}/metrics", timeout=5).text)
            assert count == made
    finally:
        process.terminate()
        process.wait(timeout=30)
