"""Soak: ``python -m bench.soak [--minutes 10]`` (``make soak``). A script, not a test.

Mixed traffic at a steady rate through the gateway of a platform started as ``pilotage up`` starts
it (``pilotage.supervisor``), on a throw-away database: measurement batches, KPI statuses, the
alignment views, and objective CRUD (create, read, patch with ``If-Match``, archive). Requests are
sent on a fixed schedule (open loop: a slow answer does not slow the arrivals), at most
``--concurrency`` at once.

It reports the resident memory of every process at the start, after the warm-up (the first window)
and at the end; p50/p99 and the error counts of every window (``--window`` seconds, a minute by
default). It exits non-zero unless every process's memory grew by less than 10 % after the warm-up,
every window's p99 stays within 2x the first window's, and no answer was a 5xx (or a request
failed). The figures of a run are in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import psutil

from bench.common import (
    Credentials,
    Platform,
    api,
    machine_summary,
    percentile,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)

KPIS = 20
OBJECTIVES = 10
BATCH = 100
MEMORY_GROWTH_LIMIT = 0.10
P99_LIMIT = 2.0


@dataclass
class Window:
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)

    def all_latencies(self) -> list[float]:
        return sorted(itertools.chain.from_iterable(self.latencies.values()))


def rss_of(platform: Platform) -> dict[str, int]:
    """Resident memory of each process (its workers included), in bytes."""
    sizes: dict[str, int] = {}
    for name, pid in platform.pids.items():
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
        sizes[name] = sum(m.memory_info().rss for m in members if m.is_running())
    return sizes


def _set_up(client: httpx.Client) -> list[str]:
    """KPIs with targets, org units and objectives whose key results are linked to the KPIs."""
    today = dt.date.today()
    keys = [f"soak.kpi_{n}" for n in range(KPIS)]
    for key in keys:
        api(client, "POST", "/v1/kpis", 201, json={
            "key": key, "name": key, "unit": "u", "domain": "operations", "direction": "increase",
            "aggregation": "avg", "cadence": "daily", "thresholds": {"mode": "relative", "amber": 0.05, "red": 0.1},
        })  # fmt: skip
        api(client, "PUT", f"/v1/kpis/{key}/targets", 200,
            json={"targets": [{"period_start": "2020-01-01", "period_end": "2099-12-31", "value": 50}]})  # fmt: skip
    unit = api(client, "POST", "/v1/org-units", 201, json={"key": "soak", "name": "Soak", "kind": "company"}).json()
    objectives = []
    for n in range(OBJECTIVES):
        objective = api(client, "POST", "/v1/objectives", 201, json={
            "title": f"Soak {n}", "level": "company", "owner_org_unit_id": unit["id"], "status": "active",
            "period_start": (today - dt.timedelta(days=30)).isoformat(),
            "period_end": (today + dt.timedelta(days=60)).isoformat(),
        }).json()  # fmt: skip
        objectives.append(objective["id"])
        for key in keys[n * 2 : n * 2 + 2]:
            api(client, "POST", f"/v1/objectives/{objective['id']}/key-results", 201,
                json={"title": key, "kind": "increase", "start_value": 0, "target_value": 100, "kpi": key})  # fmt: skip
    return objectives


class Traffic:
    """The mix: each call is one operation, timed, its answer counted."""

    def __init__(self, client: httpx.AsyncClient, objectives: list[str]) -> None:
        self.client = client
        self.objectives = objectives
        self.batches = itertools.count()
        self.origin = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30)
        self.random = random.Random(7)

    async def ingest(self) -> list[int]:
        number = next(self.batches)
        key = f"soak.kpi_{number % KPIS}"
        first = number * BATCH
        points = [
            {"kpi": key, "ts": (self.origin + dt.timedelta(seconds=first + i)).isoformat(), "value": 40 + (i % 20)}
            for i in range(BATCH)
        ]
        return [(await self.client.post("/v1/measurements", json={"points": points})).status_code]

    async def status(self) -> list[int]:
        keys = self.random.sample(range(KPIS), 5)
        params = httpx.QueryParams([("kpi", f"soak.kpi_{k}") for k in keys])
        return [(await self.client.get("/v1/kpi-statuses", params=params)).status_code]

    async def views(self) -> list[int]:
        if self.random.random() < 0.5:
            return [(await self.client.get("/v1/alignment/overview")).status_code]
        objective = self.random.choice(self.objectives)
        return [(await self.client.get(f"/v1/alignment/objectives/{objective}")).status_code]

    async def crud(self) -> list[int]:
        today = dt.date.today()
        body = {"title": "Soak CRUD", "level": "team", "period_start": today.isoformat(),
                "period_end": (today + dt.timedelta(days=30)).isoformat()}  # fmt: skip
        created = await self.client.post("/v1/objectives", json=body)
        if created.status_code != 201:
            return [created.status_code]
        path = f"/v1/objectives/{created.json()['id']}"
        read = await self.client.get(path)
        patched = await self.client.patch(
            path, json={"title": "Soak CRUD, renamed"}, headers={"If-Match": read.headers.get("etag", "")}
        )
        archived = await self.client.delete(path, headers={"If-Match": patched.headers.get("etag", "")})
        return [created.status_code, read.status_code, patched.status_code, archived.status_code]


MIX: list[tuple[str, float]] = [("ingest", 0.3), ("status", 0.3), ("views", 0.2), ("crud", 0.2)]


async def _drive(
    traffic: Traffic,
    seconds: float,
    rate: float,
    concurrency: int,
    window_seconds: float,
    on_window: Callable[[int, Window], None],
) -> list[Window]:
    windows: list[Window] = []
    slots = asyncio.Semaphore(concurrency)
    kinds = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    operations: dict[str, Callable[[], Awaitable[list[int]]]] = {
        "ingest": traffic.ingest, "status": traffic.status, "views": traffic.views, "crud": traffic.crud,
    }  # fmt: skip
    choose = random.Random(11)
    started = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()

    last = max(0, int(seconds // window_seconds) - 1)  # a request begun in the final instant counts in the last window

    def window_at(moment: float) -> Window:
        index = min(last, int((moment - started) // window_seconds))
        while len(windows) <= index:
            windows.append(Window())
        return windows[index]

    async def one(kind: str) -> None:
        async with slots:
            began = time.monotonic()
            try:
                statuses = await operations[kind]()
                labels = [str(s) for s in statuses]
            except httpx.HTTPError as exc:
                labels = [type(exc).__name__]
            window = window_at(began)
            window.latencies[kind].append(time.monotonic() - began)
            window.statuses.update(labels)

    sent = 0
    reported = 0
    while (now := time.monotonic()) - started < seconds:
        due = started + sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(one(choose.choices(kinds, weights)[0]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
        finished = int((time.monotonic() - started) // window_seconds)
        while reported < finished and reported < len(windows):
            on_window(reported, windows[reported])
            reported += 1
    await asyncio.gather(*tasks)
    for index in range(reported, len(windows)):
        on_window(index, windows[index])
    return windows


def _line(index: int, window: Window, window_seconds: float) -> str:
    every = window.all_latencies()
    if not every:
        return f"window {index + 1}: no requests"
    per_kind = "  ".join(
        f"{kind} p50 {percentile(sorted(v), 50) * 1000:.0f}/p99 {percentile(sorted(v), 99) * 1000:.0f} ms"
        for kind, v in sorted(window.latencies.items())
    )
    statuses = " ".join(f"{status}:{count}" for status, count in sorted(window.statuses.items()))
    return (
        f"window {index + 1} ({len(every) / window_seconds:.0f} ops/s): p50 {percentile(every, 50) * 1000:.1f} ms, "
        f"p99 {percentile(every, 99) * 1000:.1f} ms  [{per_kind}]  answers {statuses}"
    )


def run(args: argparse.Namespace) -> int:
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} ops/s, {args.window:g} s windows; "
        f"{machine_summary()}; {source_revision()}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database(prefix="pilotage_soak"))
        platform = stack.enter_context(running_platform(database_url, extra_env=credentials.platform_env))
        gateway = platform.url("gateway")
        with httpx.Client(base_url=gateway, headers=credentials.gateway_headers(), timeout=60) as setup:
            objectives = _set_up(setup)
        at_start = rss_of(platform)
        after_warm_up: dict[str, int] = {}

        def on_window(index: int, window: Window) -> None:
            print(_line(index, window, args.window), flush=True)
            if index == 0:
                after_warm_up.update(rss_of(platform))

        async def drive() -> list[Window]:
            limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
            async with httpx.AsyncClient(
                base_url=gateway, headers=credentials.gateway_headers(), timeout=30, limits=limits
            ) as client:
                return await _drive(
                    Traffic(client, objectives), args.minutes * 60, args.rate, args.concurrency, args.window, on_window
                )

        windows = asyncio.run(drive())
        at_end = rss_of(platform)

    failures: list[str] = []
    print()
    print(f"{'process':<10} {'RSS start':>12} {'after warm-up':>14} {'end':>12} {'growth':>8}")
    for name in at_start:
        warm = after_warm_up.get(name, at_start[name])
        growth = at_end[name] / warm - 1
        print(
            f"{name:<10} {at_start[name] / 2**20:>10.1f} MB {warm / 2**20:>12.1f} MB "
            f"{at_end[name] / 2**20:>10.1f} MB {growth:>+7.1%}"
        )
        if growth >= MEMORY_GROWTH_LIMIT:
            failures.append(f"{name} memory grew {growth:+.1%} after the warm-up")
    complete = [w for w in windows if w.all_latencies()]
    first_p99 = percentile(complete[0].all_latencies(), 99)
    for index, window in enumerate(complete):
        p99 = percentile(window.all_latencies(), 99)
        if p99 > P99_LIMIT * first_p99:
            failures.append(
                f"window {index + 1}: p99 {p99 * 1000:.1f} ms > {P99_LIMIT:g}x the first's {first_p99 * 1000:.1f} ms"
            )
    errors: collections.Counter[str] = collections.Counter()
    for window in windows:
        errors.update({s: n for s, n in window.statuses.items() if not s.isdigit() or int(s) >= 500})
    if errors:
        failures.append(f"server errors or failed requests: {dict(errors)}")
    total = sum(sum(w.statuses.values()) for w in windows)
    print(f"\n{total} answers, {sum(errors.values())} errors")
    if failures:
        for failure in failures:
            print(f"soak: FAILED: {failure}", file=sys.stderr)
        return 1
    print("soak: passed (memory < +10 % after warm-up, p99 within 2x the first window, no 5xx)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="How long the traffic runs (default 10).")
    parser.add_argument("--rate", type=float, default=25.0, help="Operations started per second (default 25).")
    parser.add_argument("--concurrency", type=int, default=16, help="Operations in progress at most (default 16).")
    parser.add_argument("--window", type=float, default=60.0, help="Seconds per reported window (default 60).")
    args = parser.parse_args()
    if args.minutes * 60 < 2 * args.window:
        raise SystemExit("soak: run for at least two windows (the first is the warm-up)")

    return int(run_benchmark("soak", lambda: run(args)))


if __name__ == "__main__":
    sys.exit(main())
