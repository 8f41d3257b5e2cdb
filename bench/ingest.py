"""Ingestion throughput, API against raw SQL: ``python -m bench.ingest`` (``make bench-ingest``).

One run, the same batches on both sides, the same concurrency:

1. ``POST /v1/measurements`` through the gateway, authenticated with an API key (rate limit set never
   to refuse), ``--clients`` aiohttp clients each sending ``--batch``-point batches of new points
   spread over ``--kpis`` KPIs (created through the API first: daily cadence, every aggregation);
2. the same arrays (kpi ids, timestamps, values) written by as many asyncpg connections straight
   into ``bench_raw.measurements`` — same columns, primary key and foreign key as
   ``kpi.measurements`` — with the core of ``repository._UPSERT``: ``unnest``, ``INSERT … ON
   CONFLICT DO UPDATE … WHERE value IS DISTINCT FROM``, without the rollups and status, which are
   the API's extra work.

The request bodies (orjson) and the arrays are built before the clock starts. The API side runs for
``--seconds``; the raw side then writes exactly the batches the API wrote. At the end the row counts
of both tables must equal what was sent. It starts a throw-away database and the platform, stops
them at the end, and ends with ``ratio: <api rows/s / raw rows/s>``. Target: ratio >= 0.5. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import asyncpg
import httpx
import orjson

from bench.common import (
    OTHER_LOAD_WARNING,
    BenchError,
    CpuMeter,
    CpuReading,
    Credentials,
    Platform,
    Watched,
    api,
    disturbance_warning,
    env_int,
    fetchval,
    machine_summary,
    percentile,
    postgres_processes,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)

AGGREGATIONS = ("sum", "avg", "min", "max", "last")
DOMAINS = ("supply_chain", "hr", "productivity", "quality", "marketing", "customer", "finance", "operations")
STEP = dt.timedelta(minutes=1)  # between two points of one KPI
RECORDED_BY = "bench"

RAW_SCHEMA = """
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.measurements (
    kpi_id uuid NOT NULL REFERENCES kpi.kpis (id),
    ts timestamptz NOT NULL,
    value double precision NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by varchar(16),
    PRIMARY KEY (kpi_id, ts)
);
"""
# The core of repository._UPSERT: the same input, order, conflict rule and idempotence; no rollups.
RAW_UPSERT = """
INSERT INTO bench_raw.measurements AS m (kpi_id, ts, value, recorded_at, recorded_by)
SELECT kpi_id, ts, value, $4, $5
FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[]) AS t(kpi_id, ts, value)
ORDER BY kpi_id, ts
ON CONFLICT (kpi_id, ts) DO UPDATE
    SET value = EXCLUDED.value, recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by
    WHERE m.value IS DISTINCT FROM EXCLUDED.value
"""


@dataclass(frozen=True)
class Batch:
    body: bytes  # the JSON the API receives
    kpi_ids: list[uuid.UUID]  # the arrays raw SQL receives, point for point the same
    timestamps: list[dt.datetime]
    values: list[float]

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Kpis:
    keys: list[str]
    ids: list[uuid.UUID]


@dataclass(frozen=True)
class Phase:
    name: str
    batches: int
    rows: int
    latencies: list[float]  # seconds per batch
    cpu: CpuReading
    exhausted: bool = False  # the prepared batches ran out before the time was up

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.cpu.seconds

    def latency_ms(self, percent: float) -> float:
        return percentile(sorted(self.latencies), percent) * 1000

    def cpu_ms_per_batch(self) -> dict[str, float]:
        return {name: used * 1000 / self.batches for name, used in self.cpu.used.items() if used > 0}


# --------------------------------------------------------------------------- the data


def create_kpis(client: httpx.Client, count: int) -> Kpis:
    """``count`` KPIs through the API: daily, every aggregation in turn, a target they all meet (so
    the status, once green, stays green: ingestion then records no status change per batch)."""
    keys, ids = [], []
    for index in range(count):
        key = f"bench.ingest_{index:04d}"
        body = {
            "key": key,
            "name": f"Ingestion benchmark {index}",
            "unit": "u",
            "domain": DOMAINS[index % len(DOMAINS)],
            "direction": "increase",
            "aggregation": AGGREGATIONS[index % len(AGGREGATIONS)],
            "cadence": "daily",
            "thresholds": {"mode": "relative", "amber": 0.05, "red": 0.1},
        }
        response = api(client, "POST", "/v1/kpis", 201, json=body)
        keys.append(key)
        ids.append(uuid.UUID(response.json()["id"]))
    today = dt.datetime.now(dt.UTC).date()
    target = {"period_start": str(today - dt.timedelta(days=3650)), "period_end": str(today), "value": 95}
    for key in keys:
        response = api(client, "PUT", f"/v1/kpis/{key}/targets", 200, json={"targets": [target]})
    return Kpis(keys, ids)


def make_batches(kpis: Kpis, start: dt.datetime, points: int, size: int, seed: int) -> list[Batch]:
    """``points`` new points in ``size``-point batches: point ``n`` is for KPI ``n % K`` at
    ``start + (n // K)`` minutes, so each batch spreads over every KPI (``size / K`` points each)."""
    rng = random.Random(seed)
    count = len(kpis.ids)
    batches = []
    for first in range(0, points, size):
        numbers = range(first, min(first + size, points))
        instants = {n // count: start + (n // count) * STEP for n in numbers}
        texts = {slot: instant.isoformat() for slot, instant in instants.items()}
        kpi_ids = [kpis.ids[n % count] for n in numbers]
        timestamps = [instants[n // count] for n in numbers]
        values = [round(rng.uniform(100.0, 110.0), 3) for _ in numbers]
        body = orjson.dumps(
            {
                "points": [
                    {"kpi": kpis.keys[n % count], "ts": texts[n // count], "value": value}
                    for n, value in zip(numbers, values, strict=True)
                ]
            }
        )
        batches.append(Batch(body, kpi_ids, timestamps, values))
    return batches


def client_queues(batches: Sequence[Batch], clients: int, layout: str) -> list[list[Batch]]:
    """What each client sends, in order. ``per-client``: each its own stretch of time (batches of one
    client never touch the rollup rows of another's); ``interleaved``: neighbouring batches go to
    different clients, which then write the same 15-minute buckets and days at the same time."""
    if layout == "interleaved":
        return [list(batches[c::clients]) for c in range(clients)]
    share = -(-len(batches) // clients)
    return [list(batches[c * share : (c + 1) * share]) for c in range(clients)]


# --------------------------------------------------------------------------- the two writers


Send = Callable[[int, Batch], Awaitable[None]]  # (client number, batch)


@dataclass(frozen=True)
class Driven:
    sent: list[list[Batch]]  # per client, the batches it sent, in order
    latencies: list[float]  # seconds per batch
    exhausted: bool  # a client ran out of batches before the time was up


async def drive(queues: Sequence[Sequence[Batch]], send: Send, seconds: float | None) -> Driven:
    """Each client sends its batches one after another until they run out or ``seconds`` pass (a
    batch under way is finished)."""
    latencies: list[float] = []
    sent: list[list[Batch]] = [[] for _ in queues]
    exhausted = False
    deadline = None if seconds is None else time.perf_counter() + seconds

    async def client(number: int, queue: Sequence[Batch], done: list[Batch]) -> None:
        nonlocal exhausted
        for batch in queue:
            if deadline is not None and time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            await send(number, batch)
            latencies.append(time.perf_counter() - started)
            done.append(batch)
        exhausted = exhausted or deadline is not None

    await asyncio.gather(*(client(n, queue, done) for n, (queue, done) in enumerate(zip(queues, sent, strict=True))))
    return Driven(sent, latencies, exhausted)


class ApiWriter:
    """aiohttp, one keep-alive connection per client, pre-serialized bodies."""

    def __init__(self, gateway_url: str, headers: Mapping[str, str], clients: int) -> None:
        self.url = gateway_url + "/v1/measurements"
        self.headers = {**headers, "Content-Type": "application/json"}
        self.clients = clients

    async def run(self, queues: Sequence[Sequence[Batch]], seconds: float | None, meter: CpuMeter) -> Driven:
        connector = aiohttp.TCPConnector(limit=self.clients)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, headers=self.headers, timeout=timeout) as session:

            async def send(_client: int, batch: Batch) -> None:
                async with session.post(self.url, data=batch.body) as response:
                    content = await response.read()
                    if response.status != 200:
                        raise BenchError(f"POST /v1/measurements answered {response.status}: {content[:300]!r}")
                inserted = orjson.loads(content)["inserted"]
                if inserted != batch.size:
                    raise BenchError(f"a batch of {batch.size} new points inserted {inserted}: {content[:300]!r}")

            try:
                meter.start()
                return await drive(queues, send, seconds)
            except aiohttp.ClientError as exc:
                raise BenchError(f"POST /v1/measurements: {exc!r}") from exc


class RawWriter:
    """asyncpg, one connection per client, the same arrays the API hands to its upsert."""

    def __init__(self, database_url: str, clients: int) -> None:
        self.database_url = database_url
        self.clients = clients

    async def run(self, queues: Sequence[Sequence[Batch]], seconds: float | None, meter: CpuMeter) -> Driven:
        connections = [await asyncpg.connect(self.database_url) for _ in queues]
        try:

            async def send(client: int, batch: Batch) -> None:
                status = await connections[client].execute(
                    RAW_UPSERT, batch.kpi_ids, batch.timestamps, batch.values, dt.datetime.now(dt.UTC), RECORDED_BY
                )
                if status != f"INSERT 0 {batch.size}":
                    raise BenchError(f"raw upsert of {batch.size} new points: {status}")

            meter.start()
            driven = await drive(queues, send, seconds)
            meter.stop()  # while the backends live: their CPU time goes with them
            return driven
        finally:
            for connection in connections:
                await connection.close()


# --------------------------------------------------------------------------- the run


async def _execute(url: str, statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statements)
    finally:
        await connection.close()


def checkpoint(url: str) -> None:
    """Write the previous phase's dirty pages out now rather than during the next phase."""
    with contextlib.suppress(asyncpg.PostgresError):  # needs superuser or pg_checkpoint
        asyncio.run(_execute(url, "CHECKPOINT"))


def run_phase(
    name: str,
    writer: ApiWriter | RawWriter,
    queues: Sequence[Sequence[Batch]],
    seconds: float | None,
    watch: Mapping[str, Watched],
) -> tuple[Phase, list[list[Batch]]]:
    meter = CpuMeter(watch)
    driven = asyncio.run(writer.run(queues, seconds, meter))
    cpu = meter.reading or meter.stop()
    rows = sum(b.size for sent in driven.sent for b in sent)
    if not driven.latencies:
        raise BenchError(f"{name}: no batch completed")
    return Phase(name, len(driven.latencies), rows, driven.latencies, cpu, driven.exhausted), driven.sent


def check_rows(database_url: str, table: str, expected: int, *, rollups: bool) -> str:
    """The table holds exactly the rows sent (and, for the API, the rollups count each once)."""
    statements = {table: f"SELECT count(*) FROM {table}"}
    if rollups:
        for rollup in ("kpi.rollups_15m", "kpi.rollups_period"):
            statements[f"sum(count) of {rollup}"] = f"SELECT sum(count) FROM {rollup}"
    counts = {name: fetchval(database_url, statement) for name, statement in statements.items()}
    wrong = {name: count for name, count in counts.items() if count != expected}
    if wrong:
        raise BenchError(f"{expected} points were sent, but {wrong}")
    return f"{table}: {expected} rows = points sent" + (", rollups count each once" if rollups else "")


def measure_both(
    args: argparse.Namespace, platform: Platform, credentials: Credentials, database_url: str, kpis: Kpis
) -> tuple[Phase, Phase]:
    watch: dict[str, Watched] = {"gateway": platform.pids["gateway"], "kpi": platform.pids["kpi"]}
    postgres = postgres_processes(database_url)
    if postgres is not None:
        watch["postgres"] = postgres
    api = ApiWriter(platform.url("gateway"), credentials.gateway_headers(), args.clients)
    raw = RawWriter(database_url, args.clients)

    # Time runs backwards from now: the warm-up's points are the most recent, the measured ones
    # older (a backfill); the status of each KPI then stays green, as on a normal day.
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=15)
    warm_points = args.clients * args.batch * 30
    warm_start = end - -(-warm_points // args.kpis) * STEP
    warm_queues = client_queues(make_batches(kpis, warm_start, warm_points, args.batch, 1), args.clients, args.layout)
    print("warm-up:   API ...", flush=True)
    warm, warm_sent = run_phase("api warm-up", api, warm_queues, args.warmup, watch)

    # Enough batches for twice the warm-up's pace; if they run out, the work done is still measured.
    points = max(int(warm.rows_per_second * args.seconds * 2), args.clients * args.batch * 4)
    points -= points % args.batch
    start = warm_start - -(-points // args.kpis) * STEP
    print(f"preparing: {points} points in {points // args.batch} batches ...", flush=True)
    queues = client_queues(make_batches(kpis, start, points, args.batch, 2), args.clients, args.layout)
    checkpoint(database_url)
    print("measuring: API ...", flush=True)
    api_phase, sent = run_phase("api (gateway)", api, queues, args.seconds, watch)
    checks = [check_rows(database_url, "kpi.measurements", warm.rows + api_phase.rows, rollups=True)]

    print("measuring: raw SQL on the same batches ...", flush=True)
    run_phase("raw warm-up", raw, warm_sent, None, watch)
    checkpoint(database_url)
    raw_phase, _ = run_phase("raw asyncpg", raw, sent, None, watch)
    checks.append(check_rows(database_url, "bench_raw.measurements", warm.rows + raw_phase.rows, rollups=False))
    for line in checks:
        print(f"check:     {line}", flush=True)
    return api_phase, raw_phase


def run(args: argparse.Namespace) -> tuple[Phase, Phase]:
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(
        f"load:      {args.clients} clients, {args.batch}-point batches of new points over {args.kpis} KPIs "
        f"({args.layout}); API {args.warmup}s warm-up + {args.seconds}s, then raw SQL on the same batches",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        platform = stack.enter_context(
            running_platform(database_url, extra_env=credentials.platform_env, quiet=not args.verbose)
        )
        asyncio.run(_execute(database_url, RAW_SCHEMA))
        print(f"setup:     creating {args.kpis} KPIs through the API ...", flush=True)
        headers = credentials.gateway_headers()
        with httpx.Client(base_url=platform.url("gateway"), headers=headers, timeout=30.0) as client:
            kpis = create_kpis(client, args.kpis)
        return measure_both(args, platform, credentials, database_url, kpis)


def format_phases(phases: Sequence[Phase]) -> str:
    header = (
        f"{'side':<16} {'rows/s':>9} {'batches':>8} {'rows':>9} {'p50 ms':>8} {'p99 ms':>8} {'other CPUs':>10}"
        "  CPU ms/batch"
    )
    lines = [header]
    for phase in phases:
        cpu = " + ".join(f"{name} {ms:.1f}" for name, ms in phase.cpu_ms_per_batch().items() if ms >= 0.05)
        other = "-" if phase.cpu.other_cpus is None else f"{phase.cpu.other_cpus:.2f}"
        lines.append(
            f"{phase.name:<16} {phase.rows_per_second:>9.0f} {phase.batches:>8} {phase.rows:>9} "
            f"{phase.latency_ms(50):>8.1f} {phase.latency_ms(99):>8.1f} {other:>10}  {cpu}"
        )
    for phase in phases:
        if phase.exhausted:
            lines.append(f"NOTE: {phase.name} ran out of prepared batches before the time was up (fixed work).")
    disturbed = [p.name for p in phases if (p.cpu.other_cpus or 0) > OTHER_LOAD_WARNING]
    lines += disturbance_warning(disturbed)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=int, default=env_int("BENCH_INGEST_SECONDS", 30),
        help="Measured seconds of the API side (BENCH_INGEST_SECONDS).",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=int, default=env_int("BENCH_WARMUP", 3), help="Warm-up seconds (BENCH_WARMUP)."
    )
    parser.add_argument(
        "--clients", type=int, default=env_int("BENCH_INGEST_CLIENTS", 4),
        help="Concurrent clients on each side (BENCH_INGEST_CLIENTS).",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=1000, help="Points per batch (at most 10 000).")
    parser.add_argument("--kpis", type=int, default=200, help="KPIs the points are spread over.")
    parser.add_argument(
        "--layout", choices=("per-client", "interleaved"), default="per-client",
        help="per-client: each client backfills its own stretch of time; interleaved: concurrent batches "
        "write the same 15-minute buckets and days (they contend for the rollup rows).",
    )  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.warmup < 1 or args.clients < 1 or not 1 <= args.batch <= 10_000 or args.kpis < 1:
        parser.error("--seconds, --warmup, --clients, --kpis must be >= 1 and --batch within 1..10000")
    outcome = run_benchmark("bench.ingest", lambda: run(args))
    if isinstance(outcome, int):
        return outcome
    api, raw = outcome
    print()
    print(format_phases([api, raw]))
    print()
    print(f"api rows/s: {api.rows_per_second:.0f}  raw rows/s: {raw.rows_per_second:.0f}")
    print(f"ratio: {api.rows_per_second / raw.rows_per_second:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
