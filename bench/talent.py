"""Do HR indicators stay fast as the company grows? ``python -m bench.talent`` (``make bench-talent``).

Two generated companies in one database, each with five years of history — hires (half of the people
joined before the five years, half during them), departures (about a third, each with a reason),
moves between teams and yearly salary records: ``--people`` (default 5 000) people in teams of about
25 under departments of about 10 teams, and a tenth of that (500) in the same shape. They are written
straight into the talent tables with COPY (seconds, where the batch route would take minutes), then
VACUUM ANALYZE: the small company first, measured alone, then the large one (the company grows).

For each company, through the gateway, authenticated, sequential on one keep-alive connection
(``--requests`` each after a warm-up):

- ``GET /v1/hr-indicators`` of the company over the last 365 days;
- the same for one team;
- ``GET /v1/hr-indicators/series`` of the company, 60 monthly buckets (five years to today);

and with ``--publish``, after the reads, ``POST /v1/hr-indicators/publish`` twice (both companies, the
default 24 months): the first creates every ``hr.*`` KPI, the second finds every point unchanged.

It prints a table (people, p50/p99 of each read) and ends with ``ratio: <company indicators p50 at
the large company / at the small one>``. Target: ratio <= 2. See docs/benchmarks.md.
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
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import httpx
import orjson

from bench.common import (
    BenchError,
    Credentials,
    Platform,
    Watched,
    env_int,
    machine_summary,
    postgres_processes,
    run_benchmark,
    running_platform,
    source_revision,
    throwaway_database,
)
from bench.reads import Client, Latency, timed
from services.talent_service import repository
from services.talent_service.schemas import SeriesBucket
from services.talent_service.service import series_periods
from shared.auth import INTERNAL_TOKEN_HEADER, Principal, Scope
from shared.settings import Settings
from shared.token_keys import gateway_identity

YEARS = 5
TEAM_SIZE = 25
TEAMS_PER_DEPARTMENT = 10
REASONS = ("voluntary", "voluntary", "voluntary", "involuntary", "retirement", "other")


@dataclass
class Company:
    """Rows of the talent tables for one generated company."""

    key: str
    people: int
    units: list[tuple[object, ...]] = field(default_factory=list)
    persons: list[tuple[object, ...]] = field(default_factory=list)
    assignments: list[tuple[object, ...]] = field(default_factory=list)
    salaries: list[tuple[object, ...]] = field(default_factory=list)
    root: uuid.UUID = field(default_factory=uuid.uuid4)
    teams: list[uuid.UUID] = field(default_factory=list)
    employed_today: int = 0


def _days(rng: random.Random, low: int, high: int) -> dt.timedelta:
    return dt.timedelta(days=rng.randint(low, max(low, high)))


def generate(key: str, people: int, today: dt.date, seed: int) -> Company:
    """A company of ``people`` with :data:`YEARS` years of history to ``today``."""
    rng = random.Random(seed)
    company = Company(key, people)
    company.units.append((company.root, key, f"{key.title()} Inc.", "company", None))
    teams = max(2, round(people / TEAM_SIZE))
    departments = max(2, round(teams / TEAMS_PER_DEPARTMENT))
    department_ids = [uuid.uuid4() for _ in range(departments)]
    for index, unit_id in enumerate(department_ids):
        company.units.append((unit_id, f"{key}_d{index}", f"Department {index}", "department", company.root))
    team_department: dict[uuid.UUID, int] = {}
    for index in range(teams):
        unit_id = uuid.uuid4()
        company.teams.append(unit_id)
        team_department[unit_id] = index % departments
        company.units.append((unit_id, f"{key}_t{index}", f"Team {index}", "team", department_ids[index % departments]))
    by_department = [[t for t in company.teams if team_department[t] == d] for d in range(departments)]
    window = YEARS * 365
    start = today - dt.timedelta(days=window)
    for index in range(people):
        person = uuid.uuid4()
        hire = start - _days(rng, 1, window) if rng.random() < 0.5 else start + _days(rng, 0, window)
        end = reason = None
        if rng.random() < 0.35 and (today - hire).days > 30:
            end = hire + _days(rng, 30, (today - hire).days)
            reason = rng.choice(REASONS)
        company.persons.append(
            (person, f"{key}-{index:06d}", f"Person {key} {index}", f"p{index}@{key}.example.com", hire, end, reason)
        )
        if end is None or end > today:
            company.employed_today += 1
        team = rng.choice(company.teams)
        company.assignments.append((uuid.uuid4(), person, team, hire))
        last_day = end or today
        moves = sorted({hire + _days(rng, 1, (last_day - hire).days) for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))})
        for day in moves:
            if day <= hire or day > last_day:
                continue
            department = team_department[team]
            team = rng.choice(by_department[department] if rng.random() < 0.7 else company.teams)
            company.assignments.append((uuid.uuid4(), person, team, day))
        amount = float(rng.randint(30, 120) * 1000)
        day = hire
        while day <= last_day:
            company.salaries.append((person, day, round(amount, 2), "EUR"))
            amount *= 1 + rng.uniform(0, 0.06)
            day += dt.timedelta(days=365)
    return company


async def load(url: str, companies: Sequence[Company]) -> None:
    connection = await asyncpg.connect(url, command_timeout=None)
    try:
        await connection.execute("SET statement_timeout = 0; SET synchronous_commit = off")
        async with connection.transaction():
            for company in companies:
                await connection.copy_records_to_table(
                    "org_units", schema_name="talent", records=company.units,
                    columns=["id", "key", "name", "kind", "parent_id"],
                )  # fmt: skip
                await connection.copy_records_to_table(
                    "people", schema_name="talent", records=company.persons,
                    columns=["id", "employee_number", "name", "email", "hire_date", "end_date", "separation_reason"],
                )  # fmt: skip
                await connection.copy_records_to_table(
                    "assignments", schema_name="talent", records=company.assignments,
                    columns=["id", "person_id", "org_unit_id", "effective_date"],
                )  # fmt: skip
                await connection.copy_records_to_table(
                    "salaries", schema_name="talent", records=company.salaries,
                    columns=["person_id", "effective_date", "amount", "currency"],
                )  # fmt: skip
        for table in ("org_units", "people", "assignments", "salaries"):
            await connection.execute(f"VACUUM (ANALYZE) talent.{table}")
    finally:
        await connection.close()


async def _explain(url: str, company: Company, first: dt.date, today: dt.date) -> str:
    periods = series_periods(first, today, SeriesBucket.month)
    connection = await asyncpg.connect(url)
    try:
        plans = []
        for title, spans in (("last 365 days", [(today - dt.timedelta(days=364), today)]), ("60 months", periods)):
            rows = await connection.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) {repository._WORKFORCE}",
                company.root, [a for a, _ in spans], [b for _, b in spans],
            )  # fmt: skip
            plans.append(f"--- {company.key}, {title}\n" + "\n".join(row[0] for row in rows))
        return "\n".join(plans)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Level:
    company: Company
    indicators: Latency
    team: Latency
    series: Latency


def run(args: argparse.Namespace) -> list[Level]:
    today = dt.datetime.now(dt.UTC).date()
    first = (today - dt.timedelta(days=YEARS * 365)).replace(day=1)
    first = series_periods(first, today, SeriesBucket.month)[-60][0]  # exactly 60 months, this one included
    small, large = max(50, args.people // 10), args.people
    print(f"machine:   {machine_summary()}", flush=True)
    print(f"code:      {source_revision()}", flush=True)
    print(
        f"reads:     {args.requests} sequential requests per read after {args.warmup_requests} warm-up, one "
        f"connection, through the gateway; companies of {small:,} and {large:,} people, {YEARS} years",
        flush=True,
    )
    levels: list[Level] = []
    with contextlib.ExitStack() as stack:
        credentials = Credentials.generate()
        database_url = stack.enter_context(throwaway_database())
        platform = stack.enter_context(
            # No periodic publishing while measuring: only --publish publishes, after the reads.
            running_platform(
                database_url,
                extra_env={**credentials.platform_env, "PILOTAGE_HR_PUBLISH_INTERVAL_SECONDS": "0"},
                quiet=not args.verbose,
            )
        )
        companies = [generate("small", small, today, 1), generate("large", large, today, 2)]
        watch: dict[str, Watched] = {"gateway": platform.pids["gateway"], "talent": platform.pids["talent"]}
        postgres = postgres_processes(database_url)
        if postgres is not None:
            watch["postgres"] = postgres
        client = Client(platform.url("gateway"), credentials.gateway_headers())
        stack.callback(client.close)
        year = f"from={today - dt.timedelta(days=364)}&to={today}"
        for company in companies:
            # The company grows: the small one is measured alone, the large one with it.
            began = time.monotonic()
            asyncio.run(load(database_url, [company]))
            rows = len(company.units) + len(company.persons) + len(company.assignments) + len(company.salaries)
            print(f"load:      {company.key}: {rows:,} rows by COPY in {time.monotonic() - began:.1f}s", flush=True)
            client.close()  # a new connection: the server may have dropped the idle one while loading
            indicators = f"/v1/hr-indicators?org_unit={company.key}&{year}"
            team = f"/v1/hr-indicators?org_unit={company.key}_t0&{year}"
            series = f"/v1/hr-indicators/series?org_unit={company.key}&bucket=month&from={first}&to={today}"
            figures = orjson.loads(client.get(indicators))
            buckets = len(orjson.loads(client.get(series))["items"])
            if buckets != 60 or figures["headcount_end"] != company.employed_today:
                raise BenchError(
                    f"{company.key}: {buckets} buckets, headcount {figures['headcount_end']} "
                    f"(expected 60 and {company.employed_today})"
                )
            print(
                f"{company.key + ':':<10} {company.people:,} people ({company.employed_today:,} employed today, "
                f"{len(company.teams)} teams, {len(company.assignments):,} assignments); last 365 days: "
                f"{figures['hires']} hires, {figures['separations']} separations, turnover "
                f"{figures['turnover_rate']:.3f}",
                flush=True,
            )
            levels.append(
                Level(
                    company,
                    timed(client, "indicators", [indicators], args.requests, args.warmup_requests, watch),
                    timed(client, "team", [team], args.requests, args.warmup_requests, watch),
                    timed(client, "series", [series], args.requests, args.warmup_requests, watch),
                )
            )
            if args.explain:
                print(asyncio.run(_explain(database_url, company, first, today)), flush=True)
        if args.publish:
            publish(platform, credentials)
    return levels


def publish(platform: Platform, credentials: Credentials) -> None:
    """``POST /v1/hr-indicators/publish`` twice (both companies, the default 24 months). The first
    creates every ``hr.*`` KPI: it is sent to the talent service itself, as the gateway would forward
    it, since on this machine it can outlast the gateway's 30 s upstream timeout; the second, through
    the gateway, finds every point unchanged."""
    principal = Principal(key_id="benchpublish", scopes=frozenset({Scope.talent_write.value}))
    settings = Settings(env="development", data_dir=credentials.data_dir, internal_token_ttl_seconds=3600)
    direct = {INTERNAL_TOKEN_HEADER: gateway_identity(settings).token_for(principal, "talent")}
    for run, url, headers in (
        ("first", platform.url("talent"), direct),
        ("again", platform.url("gateway"), credentials.gateway_headers()),
    ):
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            began = time.monotonic()
            response = client.post("/v1/hr-indicators/publish", json={})
            if response.status_code != 200:
                raise BenchError(f"publish answered {response.status_code}: {response.text[:300]}")
            body = response.json()
            print(
                f"publish:   {run}: {time.monotonic() - began:.1f}s, {body['org_units']} units, {body['kpis']} KPIs "
                f"({body['kpis_created']} created), {body['points']:,} points: {body['inserted']:,} inserted, "
                f"{body['updated']:,} updated, {body['unchanged']:,} unchanged",
                flush=True,
            )


def format_levels(levels: Sequence[Level]) -> str:
    lines = [
        f"{'people':>8} {'company p50':>11} {'p99 ms':>7} {'team p50':>9} {'p99 ms':>7} "
        f"{'60 months p50':>13} {'p99 ms':>7}  CPU µs/req company | team | series"
    ]

    def cpu(latency: Latency) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in latency.cpu_us().items() if us >= 1)

    for level in levels:
        lines.append(
            f"{level.company.people:>8,} {level.indicators.ms(50):>11.2f} {level.indicators.ms(99):>7.2f} "
            f"{level.team.ms(50):>9.2f} {level.team.ms(99):>7.2f} {level.series.ms(50):>13.2f} "
            f"{level.series.ms(99):>7.2f}  {cpu(level.indicators)} | {cpu(level.team)} | {cpu(level.series)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.talent", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5_000, help="People of the large company (the small: a tenth).")
    parser.add_argument(
        "--requests", type=int, default=env_int("BENCH_TALENT_REQUESTS", 50),
        help="Measured requests per read and company (BENCH_TALENT_REQUESTS).",
    )  # fmt: skip
    parser.add_argument("--warmup-requests", type=int, default=10, help="Warm-up requests per read and company.")
    parser.add_argument("--explain", action="store_true", help="Print EXPLAIN ANALYZE of the indicator statement.")
    parser.add_argument(
        "--publish", action="store_true", help="Then publish both companies' indicators twice and time it."
    )
    parser.add_argument("--verbose", action="store_true", help="Let the servers log at their normal level.")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup_requests < 0 or args.people < 500:
        parser.error("--requests >= 1, --warmup-requests >= 0, --people >= 500")
    outcome = run_benchmark("bench.talent", lambda: run(args))
    if isinstance(outcome, int):
        return outcome
    small, large = outcome
    print()
    print(format_levels(outcome))
    print()
    print(f"team ratio: {large.team.ms(50) / small.team.ms(50):.2f}")
    print(f"series ratio: {large.series.ms(50) / small.series.ms(50):.2f}")
    print(f"ratio: {large.indicators.ms(50) / small.indicators.ms(50):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
