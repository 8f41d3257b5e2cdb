"""Do KPI links slow strategy reads down? ``python -m bench.strategy`` (``make bench-strategy``).

Two company trees of the same shape, built through the gateway's API: 50 objectives (a company, 7
departments, 42 teams) and 200 key results (4 per objective). In the *linked* tree half of the key
results are measured by a KPI (100 KPIs, one each, alternately their `latest` and their `period`
value, each KPI with ``--kpi-days`` of hourly points pushed through the API); the other half, and
every key result of the *unlinked* tree, are measured by check-ins (3 each). The read is
``GET /v1/objectives/{id}/tree`` through the gateway, authenticated, sequential on one keep-alive
connection: ``--requests`` per tree after a warm-up, the two trees in alternating rounds so that
both see the same machine. A linked read is one ``POST /v1/kpi-aggregates`` call (with status and
daily values) for its 100 KPI-linked key results, on top of what an unlinked read does.

It starts a throw-away database and the platform, stops them at the end, prints p50/p99 of both
and ends with ``ratio: <linked p50 / unlinked p50>``. Target: ratio <= 1.5. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    machine_summary,
    percentile,
    postgres_processes,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)
from bench.reads import Client

ZONE = "Europe/Paris"
DEPARTMENTS = 7
TEAMS_PER_DEPARTMENT = 6  # 1 + 7 + 42 = 50 objectives
KEY_RESULTS_PER_OBJECTIVE = 4  # 200 key results
POINTS_PER_CALL = 10_000
ROUNDS = 5  # the trees alternate this many times; each round reads each tree requests / ROUNDS times


@dataclass
class Latency:
    name: str
    seconds: list[float]
    cpu: list[CpuReading]

    def ms(self, percent: float) -> float:
        return percentile(sorted(self.seconds), percent) * 1000

    def cpu_us(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for reading in self.cpu:
            for name, seconds in reading.used.items():
                used[name] = used.get(name, 0.0) + seconds
        return {name: seconds * 1e6 / len(self.seconds) for name, seconds in used.items() if seconds > 0}

    def other_cpus(self) -> float | None:
        known = [r.other_cpus for r in self.cpu if r.other_cpus is not None]
        return max(known) if known else None


# --------------------------------------------------------------------------- set-up


def create_kpis(client: httpx.Client, count: int, days: int, now: dt.datetime) -> list[str]:
    """``count`` daily KPIs (avg), each with ``days`` of hourly points and a target; their keys."""
    keys = []
    for index in range(count):
        key = f"bench.strategy_{index:03d}"
        body = {
            "key": key, "name": f"Strategy benchmark {index}", "unit": "u", "domain": "operations",
            "direction": "increase", "aggregation": "avg", "cadence": "daily",
            "thresholds": {"mode": "relative", "amber": 0.02, "red": 0.08},
        }  # fmt: skip
        api(client, "POST", "/v1/kpis", 201, json=body)
        target = {"period_start": str((now - dt.timedelta(days=days)).date()), "period_end": str(now.date()),
                  "value": 105.0}  # fmt: skip
        api(client, "PUT", f"/v1/kpis/{key}/targets", 200, json={"targets": [target]})
        keys.append(key)
    last = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    points = [
        {"kpi": key, "ts": (last - dt.timedelta(hours=hour)).isoformat(), "value": 100.0 + (hour * 7 + i * 13) % 11}
        for hour in range(days * 24)
        for i, key in enumerate(keys)
    ]
    json = {"content-type": "application/json"}
    for first in range(0, len(points), POINTS_PER_CALL):
        batch = orjson.dumps({"points": points[first : first + POINTS_PER_CALL]})
        api(client, "POST", "/v1/measurements", 200, content=batch, headers=json)
    return keys


def build_tree(client: httpx.Client, label: str, kpis: Sequence[str], today: dt.date) -> str:
    """A company tree of 50 objectives and 200 key results; with ``kpis``, every other key result
    is measured by the next of them. Its root's id."""
    period = {"period_start": str(today - dt.timedelta(days=60)), "period_end": str(today + dt.timedelta(days=30))}
    check_in_days = (50, 30, 10)
    linked = iter(kpis)
    made = 0

    def objective(title: str, level: str, parent: str | None) -> str:
        nonlocal made
        body: dict[str, Any] = {"title": f"{label} {title}", "level": level, "status": "active", **period}
        if parent is not None:
            body["parent_id"] = parent
        objective_id: str = api(client, "POST", "/v1/objectives", 201, json=body).json()["id"]
        for index in range(KEY_RESULTS_PER_OBJECTIVE):
            kr: dict[str, Any] = {"title": f"KR {index}", "kind": "increase", "start_value": 90, "target_value": 110}
            if kpis and (made + index) % 2 == 0:
                kr |= {"kpi": next(linked), "kpi_value": "latest" if (made + index) % 4 == 0 else "period"}
            created = api(client, "POST", f"/v1/objectives/{objective_id}/key-results", 201, json=kr).json()
            for step, days in enumerate(check_in_days):
                check_in: dict[str, Any] = {"confidence": 0.6,
                                            "checked_at": f"{today - dt.timedelta(days=days)}T12:00:00Z"}  # fmt: skip
                if created["kpi"] is None:
                    check_in["value"] = 92 + 4 * step
                api(client, "POST", f"/v1/key-results/{created['id']}/check-ins", 201, json=check_in)
        made += KEY_RESULTS_PER_OBJECTIVE
        return objective_id

    root = objective("company", "company", None)
    for d in range(DEPARTMENTS):
        department = objective(f"department {d}", "department", root)
        for t in range(TEAMS_PER_DEPARTMENT):
            objective(f"team {d}.{t}", "team", department)
    return root


def check_tree(body: bytes, *, linked: int) -> str:
    """What the tree read answers: 50 objectives, 200 key results, ``linked`` of them read from the KPI service."""
    tree = orjson.loads(body)
    nodes, key_results = [], []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        key_results.extend(node["key_results"])
        pending.extend(node["children"])
    from_kpi = sum(k["current_source"] == "kpi" for k in key_results)
    if (len(nodes), len(key_results), from_kpi) != (50, 200, linked) or tree["degraded"]:
        raise BenchError(
            f"the tree has {len(nodes)} objectives, {len(key_results)} key results ({from_kpi} from a KPI), "
            f"degraded {tree['degraded']}: expected 50, 200 ({linked})"
        )
    return f"progress {tree['progress']:.3f}, pace {tree['pace_status']}"


# --------------------------------------------------------------------------- the run


def timed(client: Client, path: str, count: int, into: Latency, watch: Mapping[str, Watched]) -> None:
    meter = CpuMeter(watch)
    for _ in range(count):
        started = time.perf_counter()
        client.get(path)
        into.seconds.append(time.perf_counter() - started)
    into.cpu.append(meter.stop())


def run(args: argparse.Namespace) -> tuple[Latency, Latency]:
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(
        f"reads:     {args.requests} sequential GET /v1/objectives/{{id}}/tree per tree after "
        f"{args.warmup_requests} warm-up, one connection, through the gateway, {ROUNDS} alternating rounds",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        env = {**credentials.platform_env, "PILOTAGE_ORG_TIMEZONE": ZONE}
        platform = stack.enter_context(running_platform(database_url, extra_env=env, quiet=not args.verbose))
        headers = credentials.gateway_headers()
        now = dt.datetime.now(dt.UTC)
        today = now.date()
        linked_count = DEPARTMENTS * (TEAMS_PER_DEPARTMENT + 1) + 1
        linked_count = linked_count * KEY_RESULTS_PER_OBJECTIVE // 2
        began = time.monotonic()
        with httpx.Client(base_url=platform.url("gateway"), headers=headers, timeout=60.0) as setup:
            print(f"setup:     {linked_count} KPIs with {args.kpi_days} days of hourly points ...", flush=True)
            kpis = create_kpis(setup, linked_count, args.kpi_days, now)
            print("setup:     two trees of 50 objectives and 200 key results ...", flush=True)
            linked_root = build_tree(setup, "linked", kpis, today)
            unlinked_root = build_tree(setup, "unlinked", [], today)
        print(f"           built in {time.monotonic() - began:.0f}s", flush=True)
        paths = {
            "linked": f"/v1/objectives/{linked_root}/tree",
            "unlinked": f"/v1/objectives/{unlinked_root}/tree",
        }
        watch: dict[str, Watched] = {name: platform.pids[name] for name in ("gateway", "strategy", "kpi")}
        postgres = postgres_processes(database_url)
        if postgres is not None:
            watch["postgres"] = postgres
        client = Client(platform.url("gateway"), headers)
        stack.callback(client.close)
        print(f"           linked:   {check_tree(client.get(paths['linked']), linked=linked_count)}", flush=True)
        print(f"           unlinked: {check_tree(client.get(paths['unlinked']), linked=0)}", flush=True)
        for _ in range(args.warmup_requests):
            client.get(paths["linked"])
            client.get(paths["unlinked"])
        results = {name: Latency(name, [], []) for name in paths}
        per_round = max(1, args.requests // ROUNDS)
        for _ in range(ROUNDS):
            for name, path in paths.items():
                timed(client, path, per_round, results[name], watch)
        return results["linked"], results["unlinked"]


def format_results(results: Sequence[Latency]) -> str:
    def cpu(latency: Latency) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in latency.cpu_us().items() if us >= 1)

    def other(latency: Latency) -> str:
        value = latency.other_cpus()
        return "-" if value is None else f"{value:.2f}"

    lines = [f"{'tree':<10} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'other CPUs':>10}  CPU µs/req"]
    lines += [
        f"{r.name:<10} {r.ms(50):>8.2f} {r.ms(99):>8.2f} {len(r.seconds):>9} {other(r):>10}  {cpu(r)}" for r in results
    ]
    disturbed = [r.name for r in results if (r.other_cpus() or 0) > OTHER_LOAD_WARNING]
    lines += disturbance_warning(disturbed)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.strategy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=env_int("BENCH_STRATEGY_REQUESTS", 300),
        help="Measured requests per tree (BENCH_STRATEGY_REQUESTS).",
    )  # fmt: skip
    parser.add_argument("--warmup-requests", type=int, default=30, help="Warm-up requests per tree.")
    parser.add_argument("--kpi-days", type=int, default=60, help="Days of hourly points per KPI.")
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")
    args = parser.parse_args(argv)
    if args.requests < ROUNDS or args.warmup_requests < 0 or args.kpi_days < 1:
        parser.error(f"--requests >= {ROUNDS}, --warmup-requests >= 0, --kpi-days >= 1")
    outcome = run_benchmark("bench.strategy", lambda: run(args))
    if isinstance(outcome, int):
        return outcome
    linked, unlinked = outcome
    print()
    print(format_results([linked, unlinked]))
    print()
    print(f"p99 ratio: {linked.ms(99) / unlinked.ms(99):.2f}")
    print(f"ratio: {linked.ms(50) / unlinked.ms(50):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
