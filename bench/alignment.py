"""Alignment views as history grows: ``python -m bench.alignment`` (``make bench-alignment``).

An organisation of the size DESIGN §6 names — 50 objectives (2 company, 8 department, 40 team) with
200 key results (150 measured by KPIs, 50 by check-ins), 500 KPIs, 300 people in 17 org units (some
gone this year, some skills required) — built through the API, then a KPI history grown from 10
thousand to (by default) 10 million stored points with SQL, as ``bench.reads`` does. At each size,
through the gateway with an API key, one client, sequential on one keep-alive connection:
``GET /v1/alignment/objectives/{id}`` round-robin over the 50 objectives, and
``GET /v1/alignment/overview``. Prints p50/p99 of both and ends with
``ratio: <overview p50 at the largest size / at the smallest>``. Targets: objective p99 < 50 ms,
overview p99 < 100 ms, ratio <= 1.5. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import orjson

from bench.common import (
    BenchError,
    Credentials,
    Watched,
    api,
    env_int,
    fetchval,
    increasing_sizes,
    machine_summary,
    postgres_processes,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)
from bench.reads import (
    DAY,
    Client,
    Kpi,
    Latency,
    Range,
    check_disk,
    create_kpis,
    growth,
    load,
    set_targets,
)
from bench.reads import timed as timed_reads

ZONE = "Europe/Paris"
DEFAULT_SIZES = (10_000, 10_000_000)
QUICK_SIZES = (10_000, 1_000_000)
KPIS = 500
PROBES = 150  # the KPIs key results are measured by: the same recent daily data at every size
RECENT_DAYS = 60  # of each probe, at noon UTC: what the objectives' period (45 days so far) reads
PEOPLE = 300


@dataclass(frozen=True)
class Step:
    points: int
    load_seconds: float
    objective: Latency
    overview: Latency


def build_organisation(client: httpx.Client, today: dt.date) -> tuple[list[str], list[str]]:
    """17 org units, 300 people (a tenth gone this year), a few required skills; the units' ids and keys."""
    units: list[dict[str, str]] = []
    company = api(client, "POST", "/v1/org-units", 201, json={"key": "acme", "name": "Acme", "kind": "company"}).json()
    units.append(company)
    departments = []
    for d in range(4):
        body = {"key": f"dept_{d}", "name": f"Department {d}", "kind": "department", "parent_id": company["id"]}
        departments.append(api(client, "POST", "/v1/org-units", 201, json=body).json())
    units += departments
    teams = []
    for t in range(12):
        parent = departments[t % 4]["id"]
        body = {"key": f"team_{t}", "name": f"Team {t}", "kind": "team", "parent_id": parent}
        teams.append(api(client, "POST", "/v1/org-units", 201, json=body).json())
    units += teams
    people = []
    for p in range(PEOPLE):
        person: dict[str, object] = {
            "employee_number": f"B{p:05d}",
            "name": f"Person {p}",
            "email": f"person{p}@bench.example",
            "hire_date": str(today - 900 * DAY + (p % 200) * DAY),
            "org_unit_id": teams[p % len(teams)]["id"],
        }
        if p % 10 == 0:
            person |= {"end_date": str(today - (p % 300) * DAY), "separation_reason": "voluntary"}
        people.append(person)
    api(client, "POST", "/v1/people/batch", 200, json={"people": people})
    with contextlib.suppress(BenchError):  # required skills, where the talent service has them
        api(client, "POST", "/v1/skills", 201, json={"key": "forecasting", "name": "Forecasting"})
        for team in teams[:6]:
            body = {"items": [{"skill": "forecasting", "level": 3, "count": 2}]}
            api(client, "PUT", f"/v1/org-units/{team['id']}/required-skills", 200, json=body)
    return [u["id"] for u in units], [t["id"] for t in teams]


def build_objectives(client: httpx.Client, kpis: Sequence[str], units: Sequence[str], today: dt.date) -> list[str]:
    """50 objectives in a cascade, each with 4 key results (3 KPI-linked, 1 check-in); their ids."""
    period = {"period_start": str(today - 45 * DAY), "period_end": str(today + 45 * DAY), "status": "active"}
    ids: list[str] = []
    linked = iter(kpis)

    def objective(level: str, owner: str, parent: str | None) -> str:
        body = {"title": f"{level} objective {len(ids)}", "level": level, "owner_org_unit_id": owner, **period}
        if parent:
            body["parent_id"] = parent
        made = api(client, "POST", "/v1/objectives", 201, json=body).json()
        ids.append(made["id"])
        for n in range(3):
            kr = {"title": f"KR {n}", "kind": "increase", "start_value": 90, "target_value": 110, "kpi": next(linked)}
            api(client, "POST", f"/v1/objectives/{made['id']}/key-results", 201, json=kr)
        kr = {"title": "Check-in KR", "kind": "increase", "start_value": 0, "target_value": 10}
        checked = api(client, "POST", f"/v1/objectives/{made['id']}/key-results", 201, json=kr).json()
        api(client, "POST", f"/v1/key-results/{checked['id']}/check-ins", 201, json={"value": 4, "confidence": 0.8})
        return str(made["id"])

    companies = [objective("company", units[0], None) for _ in range(2)]
    departments = [objective("department", units[1 + d % 4], companies[d % 2]) for d in range(8)]
    for t in range(40):
        objective("team", units[5 + t % 12], departments[t % 8])
    return ids


def recent(probes: Sequence[Kpi], now: dt.datetime) -> list[Range]:
    """The last ``RECENT_DAYS`` days of each probe, one point a day at noon UTC."""
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    last_noon = noon if noon <= now else noon - DAY
    ranges = []
    for probe in probes:
        ranges.append(Range(probe.id, last_noon - (RECENT_DAYS - 1) * DAY, RECENT_DAYS, DAY))
        probe.earliest = ranges[-1].first
    return ranges


def check_views(client: Client, objective_paths: Sequence[str]) -> str:
    overview = orjson.loads(client.get("/v1/alignment/overview"))
    if overview["partial"]:
        raise BenchError(f"the overview is partial: {overview['missing']}")
    single = orjson.loads(client.get(objective_paths[0]))
    if single["partial"] or len(single["key_results"]) != 4:
        raise BenchError(f"an objective view is not whole: {single['missing']}")
    return ", ".join(f"{verdict} {count}" for verdict, count in overview["summary"].items())


def run(args: argparse.Namespace, sizes: Sequence[int]) -> list[Step]:
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(
        f"views:     {args.requests} sequential requests per view after {args.warmup_requests} warm-up, one "
        f"connection, through the gateway; sizes {', '.join(f'{s:,}' for s in sizes)} points",
        flush=True,
    )
    steps: list[Step] = []
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        print(f"disk:      {check_disk(database_url, sizes[-1])}", flush=True)
        env = {**credentials.platform_env, "PILOTAGE_ORG_TIMEZONE": ZONE}
        platform = stack.enter_context(running_platform(database_url, extra_env=env, quiet=not args.verbose))
        now = dt.datetime.now(dt.UTC)
        today = now.date()
        headers = credentials.gateway_headers()
        print(
            f"setup:     {KPIS} KPIs, {PEOPLE} people, 50 objectives, 200 key results through the API ...", flush=True
        )
        with httpx.Client(base_url=platform.url("gateway"), headers=headers, timeout=60.0) as setup:
            probes, others = create_kpis(setup, KPIS, PROBES, now)
            units, _teams = build_organisation(setup, today)
            first = recent(probes, now)
            base = sum(r.n for r in first)
            if sizes[0] < base:
                raise BenchError(f"the smallest size must hold the probes' recent days: {base} points")
            ranges: list[Range] = first + growth(probes, others, sizes[0] - base)
            asyncio.run(load(database_url, ranges, zone=ZONE))
            set_targets(setup, probes, today)
            objectives = build_objectives(setup, [p.key for p in probes], units, today)
        objective_paths = [f"/v1/alignment/objectives/{o}" for o in objectives]
        watch: dict[str, Watched] = {name: platform.pids[name] for name in ("gateway", "strategy", "kpi", "talent")}
        postgres = postgres_processes(database_url)
        if postgres is not None:
            watch["postgres"] = postgres
        client = Client(platform.url("gateway"), headers)
        stack.callback(client.close)
        total = sizes[0]
        for index, size in enumerate(sizes):
            loaded = 0.0
            if index:
                print(f"load:      {size:,} points (+{size - total:,}) ...", flush=True)
                began = time.monotonic()
                asyncio.run(load(database_url, growth(probes, others, size - total), zone=ZONE))
                loaded = time.monotonic() - began
                total = size
            stored = fetchval(database_url, "SELECT count(*) FROM kpi.measurements")
            if stored != size:
                raise BenchError(f"{size} points were to be stored, {stored} are")
            client.close()  # a new connection: the server dropped the idle one while loading
            summary = check_views(client, objective_paths)
            print(f"           {size:,} points (loaded in {loaded:.1f}s); verdicts {summary}", flush=True)
            single = timed_reads(client, "objective", objective_paths, args.requests, args.warmup_requests, watch)
            overview = timed_reads(
                client, "overview", ["/v1/alignment/overview"], args.requests, args.warmup_requests, watch
            )
            print(f"           objective p50 {single.ms(50):.2f} ms, overview p50 {overview.ms(50):.2f} ms", flush=True)
            steps.append(Step(size, loaded, single, overview))
    return steps


def format_steps(steps: Sequence[Step]) -> str:
    def cpu(latency: Latency) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in latency.cpu_us().items() if us >= 1)

    lines = [f"{'points':>12} {'objective p50':>13} {'p99 ms':>7} {'overview p50':>12} {'p99 ms':>7} {'load s':>7}"]
    for step in steps:
        lines.append(
            f"{step.points:>12,} {step.objective.ms(50):>13.2f} {step.objective.ms(99):>7.2f} "
            f"{step.overview.ms(50):>12.2f} {step.overview.ms(99):>7.2f} {step.load_seconds:>7.1f}"
        )
        lines.append(f"{'':>12} CPU µs/req objective: {cpu(step.objective)}; overview: {cpu(step.overview)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alignment", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=increasing_sizes, default=None,
        help=f"Stored points at each step (default {','.join(map(str, DEFAULT_SIZES))}).",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"Sizes {','.join(map(str, QUICK_SIZES))}.")
    parser.add_argument(
        "--requests", type=int, default=env_int("BENCH_ALIGNMENT_REQUESTS", 300),
        help="Measured requests per view and size (BENCH_ALIGNMENT_REQUESTS).",
    )  # fmt: skip
    parser.add_argument("--warmup-requests", type=int, default=50, help="Warm-up requests per view and size.")
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")
    args = parser.parse_args(argv)
    sizes: Sequence[int] = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.requests < 1 or args.warmup_requests < 0:
        parser.error("--requests >= 1, --warmup-requests >= 0")
    outcome = run_benchmark("bench.alignment", lambda: run(args, sizes))
    if isinstance(outcome, int):
        return outcome
    steps = outcome
    print()
    print(format_steps(steps))
    print()
    print(f"objective ratio: {steps[-1].objective.ms(50) / steps[0].objective.ms(50):.2f}")
    print(f"ratio: {steps[-1].overview.ms(50) / steps[0].overview.ms(50):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
