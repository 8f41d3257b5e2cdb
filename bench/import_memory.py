"""Memory of ``pilotage import measurements`` as the file grows: ``python -m bench.import_memory``.

Starts a throw-away database and the platform, creates ``--kpis`` KPIs, writes CSV files of
``--small`` and ``--rows`` rows on the fly (one point a minute per KPI, in the past), imports each
with the real command (a subprocess, as a user runs it) and samples that process's resident memory
every 20 ms. A streamed import holds a bounded number of batches whatever the file's length, so the
peak at ``--rows`` stays close to the peak at ``--small``. Ends with
``ratio: <peak RSS at --rows / peak RSS at --small>`` (flat: close to 1). See docs/operations.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.common import Credentials, run_benchmark, running_platform, throwaway_database


def write_csv(path: Path, rows: int, kpis: list[str]) -> None:
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=rows // len(kpis) + 10)
    with path.open("w") as file:
        file.write("kpi,ts,value\n")
        for index in range(rows):
            minute, kpi = divmod(index, len(kpis))
            ts = (start + dt.timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
            file.write(f"{kpis[kpi]},{ts},{index % 997 / 7:.3f}\n")


def import_peak(path: Path, gateway: str, key: str, data_dir: Path) -> tuple[float, float, str]:
    """Peak RSS (MiB), seconds and the summary line of one import."""
    env = {**os.environ, "PILOTAGE_GATEWAY_URL": gateway, "PILOTAGE_API_KEY": key, "PILOTAGE_DATA_DIR": str(data_dir)}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pilotage.cli", "import", "measurements", str(path), "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}): {out}{err}")
    return peak / 2**20, time.monotonic() - started, out.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--kpis", type=int, default=20)
    args = parser.parse_args()

    def run() -> int:
        credentials = Credentials.generate()
        with throwaway_database() as url, running_platform(url, extra_env=credentials.platform_env) as platform:
            gateway = platform.url("gateway")
            kpis = [f"bench.import_{i:02d}" for i in range(args.kpis)]
            with httpx.Client(base_url=gateway, headers=credentials.gateway_headers(), timeout=30) as admin:
                for key in kpis:
                    body = {"key": key, "name": key, "unit": "u", "domain": "operations", "direction": "increase",
                            "aggregation": "avg", "cadence": "daily"}  # fmt: skip
                    admin.post("/v1/kpis", json=body).raise_for_status()
            peaks = []
            with tempfile.TemporaryDirectory(prefix="pilotage-import-") as folder:
                for rows in (args.small, args.rows):
                    path = Path(folder) / f"points-{rows}.csv"
                    write_csv(path, rows, kpis)
                    size = path.stat().st_size / 2**20
                    peak, seconds, summary = import_peak(path, gateway, credentials.api_key, credentials.data_dir)
                    peaks.append(peak)
                    print(f"{rows:>10,} rows ({size:,.0f} MiB): peak RSS {peak:,.1f} MiB, {seconds:,.1f} s — {summary}")
            print(f"ratio: {peaks[1] / peaks[0]:.2f}")
            return 0

    result = run_benchmark("import_memory", run)
    return result if isinstance(result, int) else 1


if __name__ == "__main__":
    sys.exit(main())
