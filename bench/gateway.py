"""What the gateway's pass-through costs: ``python -m bench.gateway`` (``make bench-gateway``).

One run, one load generator, three targets:

1. a bare FastAPI ``GET /ping`` (:mod:`bench.ping_app`) — the ceiling of this machine and stack;
2. ``GET /v1/kpi-domains`` straight on the KPI service (static data, no database);
3. the same path through the gateway.

Both KPI calls are authenticated as in production: an API key at the gateway, which forwards a
signed internal token; the direct call presents such a token itself.

It starts a throw-away database, the platform and the ping app itself, stops them all at the end,
and ends with ``ratio: <gateway/direct>``. Target: ratio >= 0.45 (aim 0.8). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from bench.common import (
    Credentials,
    Measurement,
    Target,
    add_load_arguments,
    child_env,
    generator_from_args,
    machine_summary,
    measure,
    report,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
    uvicorn_app,
)
from shared.auth import Scope

PATH = "/v1/kpi-domains"


def run(args: argparse.Namespace) -> list[Measurement]:
    generator = generator_from_args(args)
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(f"generator: {generator.description}, {args.warmup}s warm-up + {args.seconds}s per target", flush=True)
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        platform = stack.enter_context(
            running_platform(database_url, extra_env=credentials.platform_env, quiet=not args.verbose)
        )
        ping = stack.enter_context(
            uvicorn_app("bench.ping_app:app", ready_path="/ping", env=child_env(quiet=not args.verbose))
        )
        targets = [
            Target("ping (bare FastAPI)", f"{ping.url}/ping"),
            # Each path with the credentials it requires: the gateway checks the API key, then forwards
            # a signed internal token, which the service verifies — exactly what the direct call sends.
            Target(
                f"kpi direct {PATH}", platform.url("kpi") + PATH, credentials.service_headers("kpi", Scope.kpi_read)
            ),
            Target(f"gateway {PATH}", platform.url("gateway") + PATH, credentials.gateway_headers()),
        ]
        watch = {"ping": ping.pid, "kpi": platform.pids["kpi"], "gateway": platform.pids["gateway"]}
        print("measuring:", flush=True)
        return [measure(generator, target, seconds=args.seconds, warmup=args.warmup, watch=watch) for target in targets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    args = parser.parse_args(argv)
    outcome = run_benchmark("bench.gateway", lambda: run(args))
    if isinstance(outcome, int):
        return outcome
    ping, direct, gateway = outcome
    report(
        [ping, direct, gateway],
        [("direct/ping", direct, ping), ("gateway/ping", gateway, ping), ("ratio", gateway, direct)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
