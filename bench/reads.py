"""Do reads stay flat as history grows? ``python -m bench.reads`` (``make bench-reads``).

One database, grown in steps (by default to 10 thousand, 1 million and 10 million stored points), and
at each size the latency of two reads through the gateway, authenticated, sequential on one
keep-alive connection (``--requests`` each after a warm-up):

- ``GET /v1/kpis/{k}/status``, round-robin over the probe KPIs;
- ``GET /v1/kpis/{k}/series?bucket=day&from=<a year ago>&to=<now>`` of the hourly probe.

What grows is history, not what is read: 500 KPIs, of which ``--probes`` "probe" KPIs have the same
last year of data at every size (one hourly, 8 760 points, the others daily), loaded first; each
step adds points to the other KPIs and older years to the probes. Points are written with SQL
(``generate_series`` into ``kpi.measurements``), then the rollups are built as ingestion would have
built them: ``kpi.rollups_15m`` recomputed from the raw points of the new ranges,
``kpi.rollups_period`` by ``repository.rebuild_period_rollups``; then VACUUM ANALYZE and CHECKPOINT,
so that the reads are not measured against a pending autovacuum or checkpoint.

It starts a throw-away database and the platform, stops them at the end, prints a table (size,
status p50/p99, series p50/p99, load time) and ends with ``ratio: <status p50 at the largest size /
at the smallest>``. Target: ratio <= 1.5. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson

from bench.common import (
    OTHER_LOAD_WARNING,
    BenchError,
    CpuMeter,
    CpuReading,
    Credentials,
    Watched,
    api,
    disturbance_warning,
    env_int,
    fetchval,
    increasing_sizes,
    machine_summary,
    percentile,
    postgres_processes,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)
from services.kpi_service import repository
from services.kpi_service.series import series_window
from shared.settings import Settings

ZONE = "Europe/Paris"  # the organisation's calendar: days, and the series' buckets, are local
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
YEAR = dt.timedelta(days=365)
HOURS_PER_YEAR = 8760
PROBE_HISTORY_SHARE = 0.05  # of each step's new points, to the probes' older years; the rest to the others
BYTES_PER_POINT = 450  # on disk: row and index of the point and of its 15-minute rollup, and WAL to spare
DEFAULT_SIZES = (10_000, 1_000_000, 10_000_000)
QUICK_SIZES = (10_000, 100_000, 1_000_000)

# The rollups of the new points, exactly as ingestion keeps them: every 15-minute bucket of the new
# ranges recomputed from the raw points (as tests/kpi_service/test_router_rollups_property.py does).
_FILL_POINTS = """
INSERT INTO kpi.measurements (kpi_id, ts, value, recorded_at, recorded_by)
SELECT g.kpi_id, g.first_ts + i * g.step, round((100 + 10 * random())::numeric, 3)::float8, now(), 'bench'
FROM (SELECT * FROM bench_growth ORDER BY kpi_id, first_ts) g CROSS JOIN LATERAL generate_series(0, g.n - 1) AS i
"""
_BUCKET = "date_bin('15 minutes', {ts}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_FILL_15M = f"""
INSERT INTO kpi.rollups_15m AS r
    (kpi_id, bucket_start, count, sum, min, max, first_ts, first_value, last_ts, last_value)
SELECT m.kpi_id, {_BUCKET.format(ts="m.ts")}, count(*), sum(m.value), min(m.value), max(m.value),
       min(m.ts), (array_agg(m.value ORDER BY m.ts))[1], max(m.ts), (array_agg(m.value ORDER BY m.ts DESC))[1]
FROM bench_growth g
JOIN kpi.measurements m ON m.kpi_id = g.kpi_id
    AND m.ts >= {_BUCKET.format(ts="g.first_ts")}
    AND m.ts < {_BUCKET.format(ts="g.first_ts + (g.n - 1) * g.step")} + interval '15 minutes'
GROUP BY 1, 2
ON CONFLICT (kpi_id, bucket_start) DO UPDATE SET
    count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
    first_ts = EXCLUDED.first_ts, first_value = EXCLUDED.first_value,
    last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value
"""


@dataclass
class Kpi:
    key: str
    id: uuid.UUID
    earliest: dt.datetime  # its points so far start here (loading goes back in time)


@dataclass(frozen=True)
class Range:
    """``n`` points of one KPI: ``first``, ``first + step``, …"""

    kpi: uuid.UUID
    first: dt.datetime
    n: int
    step: dt.timedelta


@dataclass(frozen=True)
class Latency:
    name: str
    seconds: list[float]
    cpu: CpuReading

    def ms(self, percent: float) -> float:
        return percentile(sorted(self.seconds), percent) * 1000

    def cpu_us(self) -> dict[str, float]:
        return {name: used * 1e6 / len(self.seconds) for name, used in self.cpu.used.items() if used > 0}


@dataclass(frozen=True)
class Level:
    points: int
    load_seconds: float
    database_bytes: int
    status: Latency
    series: Latency


# --------------------------------------------------------------------------- the KPIs


def create_kpis(client: httpx.Client, total: int, probes: int, now: dt.datetime) -> tuple[list[Kpi], list[Kpi]]:
    """The probes (0: hourly avg; then daily, other aggregations) and the other KPIs, via the API."""
    aggregations = ("avg", "sum", "last", "max", "min")
    cadences = ("daily", "daily", "weekly", "monthly")
    made: list[Kpi] = []
    for index in range(total):
        probe = index < probes
        key = f"bench.probe_{index}" if probe else f"bench.kpi_{index:04d}"
        body = {
            "key": key,
            "name": f"Reads benchmark {key}",
            "unit": "u",
            "domain": "operations",
            "direction": "increase",
            "aggregation": aggregations[index % len(aggregations)],
            "cadence": "daily" if probe else cadences[index % len(cadences)],
            "thresholds": {"mode": "relative", "amber": 0.02, "red": 0.08},
        }
        response = api(client, "POST", "/v1/kpis", 201, json=body)
        made.append(Kpi(key, uuid.UUID(response.json()["id"]), now))
    return made[:probes], made[probes:]


def set_targets(client: httpx.Client, probes: Sequence[Kpi], today: dt.date) -> None:
    """Targets over the last two years that the probes meet, nearly meet and miss (green, amber, red)."""
    values = (100.0, 107.0, 112.0, 125.0)
    for index, probe in enumerate(probes):
        target = {"period_start": str(today - 2 * YEAR), "period_end": str(today + DAY), "value": values[index % 4]}
        api(client, "PUT", f"/v1/kpis/{probe.key}/targets", 200, json={"targets": [target]})


# --------------------------------------------------------------------------- loading


def probe_year(probes: Sequence[Kpi], now: dt.datetime, window_start: dt.datetime) -> list[Range]:
    """The last year of each probe: for the first, every hour of the series' window (a year, widened
    to whole local days: 8 760 to 8 784 points), so that older history never falls inside what the
    series reads; for the others, daily at noon UTC."""
    last_hour = now.replace(minute=0, second=0, microsecond=0)
    if last_hour >= now - dt.timedelta(minutes=10):
        last_hour -= HOUR
    first_hour = window_start.replace(minute=0, second=0, microsecond=0)
    if first_hour < window_start:
        first_hour += HOUR
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    last_noon = noon if noon <= now else noon - DAY
    ranges = []
    for index, probe in enumerate(probes):
        if index == 0:
            ranges.append(Range(probe.id, first_hour, (last_hour - first_hour) // HOUR + 1, HOUR))
        else:
            ranges.append(Range(probe.id, last_noon - 364 * DAY, 365, DAY))
        probe.earliest = ranges[-1].first
    return ranges


def history(kpis: Sequence[Kpi], points: int) -> list[Range]:
    """``points`` hourly points spread evenly over ``kpis``, each before what it already has."""
    ranges = []
    for index, kpi in enumerate(kpis):
        n = points // len(kpis) + (index < points % len(kpis))
        if n:
            start = kpi.earliest.replace(minute=0, second=0, microsecond=0)
            if start >= kpi.earliest:
                start -= HOUR
            ranges.append(Range(kpi.id, start - (n - 1) * HOUR, n, HOUR))
            kpi.earliest = ranges[-1].first
    return ranges


def growth(probes: Sequence[Kpi], others: Sequence[Kpi], points: int) -> list[Range]:
    """``points`` new points: a share to the probes' older years, the rest to the other KPIs."""
    to_probes = int(points * PROBE_HISTORY_SHARE) if others else points
    return history(probes, to_probes) + history(others, points - to_probes)


async def load(url: str, ranges: Sequence[Range], *, zone: str) -> None:
    """Write the points of ``ranges`` and their rollups, then vacuum, analyze and checkpoint."""
    connection = await asyncpg.connect(url, command_timeout=None)
    try:
        # This session only: the statement timeout is the services', not the loader's.
        await connection.execute(
            "SET statement_timeout = 0; SET work_mem = '256MB'; SET synchronous_commit = off; SELECT setseed(0.42)"
        )
        async with connection.transaction():
            await connection.execute(
                "CREATE TEMPORARY TABLE bench_growth "
                "(kpi_id uuid, first_ts timestamptz, n int, step interval) ON COMMIT DROP"
            )
            await connection.copy_records_to_table(
                "bench_growth", records=[(r.kpi, r.first, r.n, r.step) for r in ranges]
            )
            await connection.execute("ANALYZE bench_growth")
            await connection.execute(_FILL_POINTS)
            await connection.execute(_FILL_15M)
            await repository.rebuild_period_rollups(connection, None, zone)
        for table in ("kpi.measurements", "kpi.rollups_15m", "kpi.rollups_period"):
            await connection.execute(f"VACUUM (ANALYZE) {table}")
        with contextlib.suppress(asyncpg.PostgresError):  # needs superuser or pg_checkpoint
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def check_disk(database_url: str, largest: int) -> str:
    """Enough free space for the largest size where the database keeps its files, when that is
    on this machine (the embedded server, or a local one)."""
    needed = largest * BYTES_PER_POINT
    directory: Path | None = None
    settings = Settings()
    if not settings.database_url:
        directory = settings.data_dir / "postgres"
    else:
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            directory = Path(str(fetchval(database_url, "SHOW data_directory")))
    if directory is None or not directory.exists():
        return f"needs about {needed / 1e9:.2f} GB on the database server (not on this machine: not checked)"
    free = shutil.disk_usage(directory).free
    if free < needed * 1.5:
        raise BenchError(
            f"{largest} points need about {needed / 1e9:.1f} GB (and some to spare); "
            f"{directory} has {free / 1e9:.1f} GB free. Use smaller --sizes or --quick."
        )
    return f"needs about {needed / 1e9:.2f} GB; {free / 1e9:.0f} GB free in {directory}"


# --------------------------------------------------------------------------- measuring


class Client:
    """One keep-alive HTTP/1.1 connection, requests one after another (as little client as can be)."""

    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self.headers = dict(headers)

    def get(self, path: str) -> bytes:
        try:
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(f"GET {path}: {exc!r}") from exc
        body = response.read()
        if response.status != 200:
            raise BenchError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self.connection.close()


def timed(
    client: Client, name: str, paths: Sequence[str], count: int, warmup: int, watch: Mapping[str, Watched]
) -> Latency:
    for index in range(warmup):
        client.get(paths[index % len(paths)])
    seconds = []
    meter = CpuMeter(watch)
    for index in range(count):
        started = time.perf_counter()
        client.get(paths[index % len(paths)])
        seconds.append(time.perf_counter() - started)
    return Latency(name, seconds, meter.stop())


def check_reads(client: Client, status_paths: Sequence[str], series_path: str) -> tuple[str, str]:
    """What the reads answer: each probe's verdict, and the series' buckets and points (the same at
    every size: the read is of the same year of data)."""
    verdicts = [orjson.loads(client.get(path))["status"] for path in status_paths]
    series = orjson.loads(client.get(series_path))
    points = sum(bucket["count"] for bucket in series["buckets"])
    return ", ".join(verdicts), f"{len(series['buckets'])} buckets, {points} points"


async def _explain(url: str, probe: Kpi, start: dt.datetime, end: dt.datetime) -> str:
    connection = await asyncpg.connect(url)
    try:
        plans = []
        for title, statement, arguments in (
            ("status", repository._STATUS_BY_KEY, ([probe.key],)),
            ("series", repository._SERIES, (probe.id, start, end, "day", ZONE, "1 day")),
        ):
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *arguments)
            plans.append(f"--- {title}\n" + "\n".join(row[0] for row in rows))
        return "\n".join(plans)
    finally:
        await connection.close()


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, sizes: Sequence[int]) -> list[Level]:
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(
        f"reads:     {args.requests} sequential requests per read after {args.warmup_requests} warm-up, one "
        f"connection, through the gateway; sizes {', '.join(f'{s:,}' for s in sizes)} points",
        flush=True,
    )
    levels: list[Level] = []
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        print(f"disk:      {check_disk(database_url, sizes[-1])}", flush=True)
        env = {**credentials.platform_env, "PILOTAGE_ORG_TIMEZONE": ZONE}
        platform = stack.enter_context(running_platform(database_url, extra_env=env, quiet=not args.verbose))
        now = dt.datetime.now(dt.UTC)
        print(f"setup:     creating {args.kpis} KPIs ({args.probes} probes) through the API ...", flush=True)
        headers = credentials.gateway_headers()
        with httpx.Client(base_url=platform.url("gateway"), headers=headers, timeout=30.0) as setup:
            probes, others = create_kpis(setup, args.kpis, args.probes, now)
            start, end = now.replace(minute=0, second=0, microsecond=0) - YEAR, now.replace(second=0, microsecond=0)
            window = _series_window(start, end)
            first = probe_year(probes, now, window[0])
            base = sum(r.n for r in first)
            if sizes[0] < base:
                raise BenchError(f"the smallest size must hold the probes' year: {base} points")
            ranges = first + growth(probes, others, sizes[0] - base)
            stamp = "%Y-%m-%dT%H:%M:%SZ"
            series_path = f"/v1/kpis/{probes[0].key}/series?bucket=day&from={start:{stamp}}&to={end:{stamp}}"
            status_paths = [f"/v1/kpis/{p.key}/status" for p in probes]
            watch: dict[str, Watched] = {"gateway": platform.pids["gateway"], "kpi": platform.pids["kpi"]}
            postgres = postgres_processes(database_url)
            if postgres is not None:
                watch["postgres"] = postgres

            client = Client(platform.url("gateway"), headers)
            stack.callback(client.close)
            total = 0
            for index, size in enumerate(sizes):
                if index:
                    ranges = growth(probes, others, size - total)
                print(f"load:      {size:,} points (+{size - total:,}) ...", flush=True)
                began = time.monotonic()
                asyncio.run(load(database_url, ranges, zone=ZONE))
                loaded = time.monotonic() - began
                total = size
                if index == 0:
                    set_targets(setup, probes, now.date())
                stored = fetchval(database_url, "SELECT count(*) FROM kpi.measurements")
                if stored != size:
                    raise BenchError(f"{size} points were to be stored, {stored} are")
                database_bytes = int(str(fetchval(database_url, "SELECT pg_database_size(current_database())")))
                client.close()  # a new connection: the server dropped the idle one while loading
                verdicts, series_check = check_reads(client, status_paths, series_path)
                print(
                    f"           loaded in {loaded:.1f}s, database {database_bytes / 1e9:.2f} GB; "
                    f"status {verdicts}; series {series_check}",
                    flush=True,
                )
                status = timed(client, "status", status_paths, args.requests, args.warmup_requests, watch)
                series = timed(client, "series", [series_path], args.requests, args.warmup_requests, watch)
                print(f"           status p50 {status.ms(50):.2f} ms, series p50 {series.ms(50):.2f} ms", flush=True)
                if args.explain:
                    print(asyncio.run(_explain(database_url, probes[0], *window)), flush=True)
                levels.append(Level(size, loaded, database_bytes, status, series))
    return levels


def _series_window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window the series endpoint reads for [start, end) in ZONE (whole local days)."""
    window = series_window("day", start, end, ZoneInfo(ZONE))
    return window.start, window.end


def format_levels(levels: Sequence[Level]) -> str:
    def cpu(latency: Latency) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in latency.cpu_us().items() if us >= 1)

    def other(latency: Latency) -> str:
        return "-" if latency.cpu.other_cpus is None else f"{latency.cpu.other_cpus:.2f}"

    lines = [
        f"{'points':>12} {'status p50':>10} {'p99 ms':>7} {'series p50':>10} {'p99 ms':>7} {'load s':>7} "
        f"{'DB GB':>6}  {'other CPUs':>10}  CPU µs/req status | series"
    ]
    for level in levels:
        lines.append(
            f"{level.points:>12,} {level.status.ms(50):>10.2f} {level.status.ms(99):>7.2f} "
            f"{level.series.ms(50):>10.2f} {level.series.ms(99):>7.2f} {level.load_seconds:>7.1f} "
            f"{level.database_bytes / 1e9:>6.2f}  {other(level.status):>4} {other(level.series):>5}  "
            f"{cpu(level.status)} | {cpu(level.series)}"
        )
    disturbed = [
        f"{lat.name} at {level.points:,}"
        for level in levels
        for lat in (level.status, level.series)
        if (lat.cpu.other_cpus or 0) > OTHER_LOAD_WARNING
    ]
    lines += disturbance_warning(disturbed)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=increasing_sizes, default=None,
        help=f"Stored points at each step (default {','.join(map(str, DEFAULT_SIZES))}).",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"Sizes {','.join(map(str, QUICK_SIZES))}.")
    parser.add_argument(
        "--requests", type=int, default=env_int("BENCH_READS_REQUESTS", 300),
        help="Measured requests per read and size (BENCH_READS_REQUESTS).",
    )  # fmt: skip
    parser.add_argument("--warmup-requests", type=int, default=50, help="Warm-up requests per read and size.")
    parser.add_argument("--kpis", type=int, default=500, help="KPIs in all.")
    parser.add_argument("--probes", type=int, default=4, help="Probe KPIs (the first is the hourly one).")
    parser.add_argument("--explain", action="store_true", help="Print EXPLAIN ANALYZE of both reads at each size.")
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")
    args = parser.parse_args(argv)
    sizes: Sequence[int] = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.requests < 1 or args.warmup_requests < 0 or not 1 <= args.probes < args.kpis:
        parser.error("--requests >= 1, --warmup-requests >= 0, 1 <= --probes < --kpis")
    outcome = run_benchmark("bench.reads", lambda: run(args, sizes))
    if isinstance(outcome, int):
        return outcome
    levels = outcome
    first, last = levels[0], levels[-1]
    print()
    print(format_levels(levels))
    print(f"load: {sum(level.load_seconds for level in levels):.0f}s in all")
    print()
    print(f"series ratio: {last.series.ms(50) / first.series.ms(50):.2f}")
    print(f"ratio: {last.status.ms(50) / first.status.ms(50):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
