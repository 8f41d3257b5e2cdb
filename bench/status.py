"""Status read throughput against the bare-FastAPI ceiling: ``python -m bench.status`` (``make bench-status``).

One run, one load generator (wrk through the harness), three targets:

1. a bare FastAPI ``GET /ping`` (:mod:`bench.ping_app`) — the ceiling of this machine and stack;
2. ``GET /v1/kpis/{k}/status`` straight on the KPI service, with a signed internal token (for
   reading: what the gateway adds);
3. the same through the gateway, with an API key (rate limit set never to refuse).

The status reads cycle round-robin through ``--kpis`` KPIs (a wrk Lua ``request()``; the ping goes
through the same script with its one path). Each KPI is given a year of hourly points (pushed
through the API, so ingestion builds the rollups), thresholds and a target, so every answer is a real
verdict with a trend. It starts a throw-away database, the platform and the ping app itself, stops
them all at the end, and ends with ``ratio: <gateway status req/s / ping req/s>``. Target: ratio >=
0.25. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from collections.abc import Sequence

import httpx

from bench.common import (
    Credentials,
    Measurement,
    Target,
    Watched,
    add_load_arguments,
    api,
    child_env,
    generator_from_args,
    machine_summary,
    measure,
    postgres_processes,
    report,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
    uvicorn_app,
)
from shared.auth import Scope

ZONE = "Europe/Paris"
AGGREGATIONS = ("avg", "sum", "last", "max", "min")
DIRECTIONS = ("increase", "decrease", "increase", "target_range")
HOURS = 8760


def prepare(client: httpx.Client, count: int) -> list[str]:
    """``count`` daily KPIs, each with a year of hourly points, thresholds and a target; their keys."""
    keys = []
    for index in range(count):
        key = f"bench.status_{index}"
        direction = DIRECTIONS[index % len(DIRECTIONS)]
        body = {
            "key": key,
            "name": f"Status benchmark {index}",
            "unit": "u",
            "domain": "operations",
            "direction": direction,
            "aggregation": AGGREGATIONS[index % len(AGGREGATIONS)],
            "cadence": "daily",
            "thresholds": {"mode": "relative", "amber": 0.02, "red": 0.08},
        }
        api(client, "POST", "/v1/kpis", 201, json=body)
        keys.append(key)

    now = dt.datetime.now(dt.UTC)
    last = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    points = [
        {"kpi": key, "ts": (last - dt.timedelta(hours=hour)).isoformat(), "value": 100.0 + (hour * 7 + i * 13) % 11}
        for hour in range(HOURS)
        for i, key in enumerate(keys)
    ]
    for first in range(0, len(points), 1000):
        api(client, "POST", "/v1/measurements", 200, json={"points": points[first : first + 1000]})

    today = now.date()
    period = {"period_start": str(today - dt.timedelta(days=400)), "period_end": str(today + dt.timedelta(days=1))}
    for index, key in enumerate(keys):
        direction = DIRECTIONS[index % len(DIRECTIONS)]
        if direction == "target_range":
            target = {**period, "min": 100.0, "max": 104.0}
        else:
            target = {**period, "value": (98.0, 106.0, 104.0)[index % 3]}
        api(client, "PUT", f"/v1/kpis/{key}/targets", 200, json={"targets": [target]})
    return keys


def verdicts(client: httpx.Client, keys: Sequence[str]) -> str:
    response = api(client, "GET", "/v1/kpi-statuses", 200, params=[("kpi", key) for key in keys])
    return ", ".join(item["status"] for item in response.json()["items"])


def run(args: argparse.Namespace) -> list[Measurement]:
    generator = generator_from_args(args)
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(f"generator: {generator.description}, {args.warmup}s warm-up + {args.seconds}s per target", flush=True)
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        env = {**credentials.platform_env, "PILOTAGE_ORG_TIMEZONE": ZONE}
        platform = stack.enter_context(running_platform(database_url, extra_env=env, quiet=not args.verbose))
        ping = stack.enter_context(
            uvicorn_app("bench.ping_app:app", ready_path="/ping", env=child_env(quiet=not args.verbose))
        )
        print(f"setup:     {args.kpis} KPIs with a year of hourly points each, through the API ...", flush=True)
        gateway = platform.url("gateway")
        with httpx.Client(base_url=gateway, headers=credentials.gateway_headers(), timeout=60.0) as client:
            keys = prepare(client, args.kpis)
            print(f"status:    {verdicts(client, keys)}", flush=True)
        paths = [f"/v1/kpis/{key}/status" for key in keys]
        targets = [
            Target("ping (bare FastAPI)", f"{ping.url}/ping", paths=["/ping"]),
            Target(
                "kpi direct status",
                platform.url("kpi"),
                credentials.service_headers("kpi", Scope.kpi_read),
                paths=paths,
            ),
            Target("gateway status", gateway, credentials.gateway_headers(), paths=paths),
        ]
        watch: dict[str, Watched] = {"ping": ping.pid, "kpi": platform.pids["kpi"], "gateway": platform.pids["gateway"]}
        postgres = postgres_processes(database_url)
        if postgres is not None:
            watch["postgres"] = postgres
        print("measuring:", flush=True)
        return [measure(generator, target, seconds=args.seconds, warmup=args.warmup, watch=watch) for target in targets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    parser.add_argument("--kpis", type=int, default=8, help="KPIs read round-robin.")
    args = parser.parse_args(argv)
    if args.kpis < 1:
        parser.error("--kpis must be >= 1")
    outcome = run_benchmark("bench.status", lambda: run(args))
    if isinstance(outcome, int):
        return outcome
    ping, direct, gateway = outcome
    report(
        [ping, direct, gateway],
        [("direct/ping", direct, ping), ("gateway/direct", gateway, direct), ("ratio", gateway, ping)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
