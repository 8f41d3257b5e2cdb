"""The client commands of ``pilotage``: they speak to a running platform through its gateway, with an
API key, as any enterprise system would (``pilotage up``, ``migrate``, ``keys`` and ``db-url`` work
on the database and the processes instead; see :mod:`pilotage.cli`, which hands these over here).

pilotage import measurements FILE   stream points (CSV or JSON Lines: kpi,ts,value) to POST /v1/measurements
pilotage import people FILE         stream people (CSV) to POST /v1/people/batch
pilotage demo                       build a demo company through the public API

Exit status: 0 done, 2 done but some rows were rejected (listed in the rejects file), 1 a fatal
error (gateway unreachable, key refused, unreadable input); usage errors are 2 as well, with a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import httpx
import typer

from pilotage.client import DEVELOPMENT_KEY_FILE, FatalError, GatewayClient, gateway_url
from pilotage.demo import DEFAULT_SEED, SIZES, DemoError, Report, build_demo, summary_lines
from pilotage.importer import (
    Format,
    ImportKind,
    ImportOptions,
    ImportSummary,
    InputError,
    Measurements,
    People,
    run_import,
)
from shared.settings import Settings

app = typer.Typer(
    name="pilotage",
    help="Client commands: talk to a running platform through its gateway (PILOTAGE_GATEWAY_URL, PILOTAGE_API_KEY).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(
    help="Stream a file into the platform: batched, concurrent, resumable; bad rows go to a rejects file.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

FileArg = Annotated[Path, typer.Argument(help="The input file (CSV with a header line, or JSON Lines).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and count; write nothing.")]
Resume = Annotated[
    bool, typer.Option("--resume", help="Skip the line ranges the progress file says were acknowledged.")
]
Concurrency = Annotated[int, typer.Option(min=1, max=32, help="Batches in flight at once.")]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Rows per request (at most the route's maximum).")]
Rejects = Annotated[Path | None, typer.Option(help="Rejects file (CSV: line,row,reason); default FILE.rejects.csv.")]
ProgressFile = Annotated[Path | None, typer.Option(help="Progress file; default FILE.progress.")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bar (a summary line still ends the run).")]


def _run(kind: ImportKind, options: ImportOptions) -> None:
    async def go() -> ImportSummary:
        async with GatewayClient.from_environment() as gateway:
            return await run_import(kind, options, gateway)

    try:
        summary = asyncio.run(go())
    except (FatalError, InputError) as exc:
        typer.echo(f"pilotage: {exc}", err=True)
        if isinstance(exc, FatalError) and not options.dry_run:
            typer.echo(f"  what was acknowledged is in {options.progress_file}; --resume goes on from there.", err=True)
        raise typer.Exit(1) from None
    counts = ", ".join(f"{name} {value:,}" for name, value in summary.counts.items() if name != "dry_run")
    rate = summary.rows / summary.seconds if summary.seconds > 0 else 0.0
    line = (
        f"{kind.name}{' (dry run)' if options.dry_run else ''}: {summary.rows:,} rows read, "
        f"{summary.accepted:,} accepted ({counts or 'nothing sent'}), {summary.rejected:,} rejected"
    )
    if summary.skipped:
        line += f", {summary.skipped:,} skipped (acknowledged before)"
    typer.echo(f"{line}; {summary.seconds:.1f} s, {rate:,.0f} rows/s")
    if summary.rejected:
        typer.echo(f"rejected rows (line, row, reason): {options.rejects_file}", err=True)
    raise typer.Exit(summary.exit_code)


@import_app.command("measurements")
def import_measurements(
    file: FileArg,
    kpi_column: Annotated[str, typer.Option(help="Column (or JSON field) holding the KPI key.")] = "kpi",
    ts_column: Annotated[str, typer.Option(help="Column holding the RFC 3339 timestamp (with offset).")] = "ts",
    value_column: Annotated[str, typer.Option(help="Column holding the value.")] = "value",
    kpi: Annotated[
        str | None, typer.Option(help="Every row is this KPI's (the file then needs no KPI column).")
    ] = None,
    input_format: Annotated[
        Format | None, typer.Option("--format", help="csv or jsonl; default from the file's extension.")
    ] = None,
    delimiter: Annotated[str, typer.Option(help="CSV field delimiter.")] = ",",
    dry_run: DryRun = False,
    resume: Resume = False,
    concurrency: Concurrency = 4,
    batch_size: BatchSize = None,
    rejects: Rejects = None,
    progress_file: ProgressFile = None,
    no_progress: NoProgress = False,
) -> None:
    """Points `kpi,ts,value` → POST /v1/measurements (10 000 a batch; --dry-run: ?dry_run=true)."""
    options = ImportOptions(
        path=file,
        format=input_format,
        dry_run=dry_run,
        resume=resume,
        concurrency=concurrency,
        batch_size=batch_size,
        rejects_path=rejects,
        progress_path=progress_file,
        delimiter=delimiter,
        columns={"kpi": kpi_column, "ts": ts_column, "value": value_column},
        show_progress=not no_progress,
    )
    _run(Measurements(fixed_kpi=kpi), options)


@import_app.command("people")
def import_people(
    file: FileArg,
    delimiter: Annotated[str, typer.Option(help="CSV field delimiter.")] = ",",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the rows and look up their org units; send no person.")
    ] = False,
    resume: Resume = False,
    concurrency: Concurrency = 2,
    batch_size: BatchSize = None,
    rejects: Rejects = None,
    progress_file: ProgressFile = None,
    no_progress: NoProgress = False,
) -> None:
    """People (CSV: employee_number, name, email, job_title, manager_id, hire_date, end_date,
    separation_reason, org_unit (id or key), salary_amount, salary_currency) → POST /v1/people/batch
    (1 000 a batch, upserted by employee number)."""
    options = ImportOptions(
        path=file,
        format="csv",
        dry_run=dry_run,
        resume=resume,
        concurrency=concurrency,
        batch_size=batch_size,
        rejects_path=rejects,
        progress_path=progress_file,
        delimiter=delimiter,
        show_progress=not no_progress,
    )
    _run(People(), options)


@app.command("demo")
def demo(
    size: Annotated[
        Literal["small", "medium", "large"],
        typer.Option(help="small: 40 people, 8 KPIs, 90 days; medium: 300, 32, 2 years; large: 1 200, 32, 3 years."),
    ] = "medium",
    seed: Annotated[int, typer.Option(help="Seed of every random draw: the same seed, the same company.")] = (
        DEFAULT_SEED
    ),
    start: Annotated[
        bool,
        typer.Option("--start", help="Start the platform in the background (`pilotage up`) when it is not answering."),
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Build a demo company through the gateway's public API: org chart, 3 years of people history,
    skills, trainings, surveys, ~30 KPIs with 2 years of data, the quarter's objectives, initiatives.
    Running it again changes nothing; steps whose routes the platform does not serve are skipped."""
    if start:
        try:
            _start_platform()
        except FatalError as exc:
            typer.echo(f"pilotage: {exc}", err=True)
            raise typer.Exit(1) from None

    async def go() -> tuple[Report, str]:
        async with GatewayClient.from_environment() as gateway:
            if not await gateway.ready():
                raise FatalError(f"The gateway at {gateway.base_url} is not ready (GET /readyz); start it: make run.")
            return await build_demo(gateway, SIZES[size], seed, show=not no_progress), gateway.base_url

    try:
        report, url = asyncio.run(go())
    except (FatalError, DemoError) as exc:
        typer.echo(f"pilotage: {exc}", err=True)
        raise typer.Exit(1) from None
    key_file = None if os.environ.get("PILOTAGE_API_KEY") else str(Settings().data_dir / DEVELOPMENT_KEY_FILE)
    for line in summary_lines(report, url, dt.datetime.now(dt.UTC).date(), key_file):
        typer.echo(line)


def _start_platform(timeout: float = 180.0) -> None:
    """`pilotage up` in the background (its own session, output in <data dir>/platform.log) unless
    the gateway already answers; then wait until it is ready."""
    if os.environ.get("PILOTAGE_GATEWAY_URL"):
        return  # a platform named explicitly is not ours to start
    url = gateway_url()
    if _answers(url):
        return
    data_dir = Settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "platform.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pilotage.cli", "up"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    typer.echo(f"starting the platform in the background (pid {process.pid}, log {log_path}) …", err=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FatalError(f"`pilotage up` exited with {process.returncode}; see {log_path}.")
        if _answers(url):
            typer.echo(f"platform ready at {url}; stop it with `kill {process.pid}`.", err=True)
            return
        time.sleep(0.5)
    raise FatalError(f"The platform was not ready after {timeout:.0f} s; see {log_path}.")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str]) -> int:
    """Run a client command; returns its exit status."""
    try:
        app(args=argv, prog_name="pilotage", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
