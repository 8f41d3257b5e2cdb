"""``pilotage``: run the platform and administer it.

pilotage up          database, migrations, the three services and the gateway; Ctrl-C stops all
pilotage migrate     apply every schema's migrations (`pilotage migrate kpi`: one schema's)
pilotage db-url      print the database URL in use
pilotage import …    stream measurements or people from a file through the gateway (pilotage.commands)
pilotage demo        build a demo company through the gateway (pilotage.commands)

`up`, `migrate`, `keys` and `db-url` work on the processes and the database; `import` and `demo`
are clients of a running platform, built with Typer (their own `--help`), and handed over whole.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys
import threading
from types import FrameType

import asyncpg
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from pilotage import keys, migrate
from pilotage.supervisor import StartupError, Supervisor, child_environment
from shared.auth import Scope
from shared.db import plain_url
from shared.embedded_postgres import embedded_server_running, resolve_database_url, stop_embedded_server
from shared.settings import Settings


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _database_url(settings: Settings) -> str:
    try:
        return resolve_database_url(settings.database_url, settings.data_dir)
    except Exception as exc:
        raise StartupError(f"Could not start the embedded PostgreSQL in {settings.data_dir}: {exc}") from exc


def _check_database(url: str) -> None:
    async def probe() -> None:
        connection = await asyncpg.connect(plain_url(url), timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        raise StartupError(f"Cannot reach the database at {_redacted(url)}: {exc}. Check DATABASE_URL.") from exc


def cmd_up(args: argparse.Namespace) -> int:
    settings = Settings()
    host = args.host or settings.host
    ports = {
        "strategy": args.strategy_port or settings.strategy_port,
        "kpi": args.kpi_port or settings.kpi_port,
        "talent": args.talent_port or settings.talent_port,
        "gateway": args.gateway_port or settings.gateway_port,
    }
    embedded = settings.database_url is None
    # Stop the embedded server at the end only if this command is what starts it.
    started_here = embedded and not embedded_server_running(settings.data_dir)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    supervisor: Supervisor | None = None
    try:
        probe = Supervisor(host=host, ports=ports, env={})
        probe.check_ports()
        url = _database_url(settings)
        _check_database(url)
        print(f"database  {_redacted(url)}" + ("  (embedded)" if embedded else ""), flush=True)
        migrate.upgrade(url)
        admin_key = _development_key(settings, url)
        supervisor = Supervisor(host=host, ports=ports, env=child_environment(url, host, ports), workers=args.workers)
        supervisor.start()
        supervisor.wait_ready(timeout=args.ready_timeout)
        for name in ("gateway", "strategy", "kpi", "talent"):
            print(f"{name:<9} http://{host}:{ports[name]}", flush=True)
        if admin_key:
            print(f"admin key {admin_key}  (development only; kept in {settings.data_dir})", flush=True)
            print(f"  curl -H 'Authorization: Bearer {admin_key}' http://{host}:{ports['gateway']}/v1/kpis", flush=True)
        print(f"ready — API docs at http://{host}:{ports['gateway']}/docs; Ctrl-C stops everything.", flush=True)
        while not stop.wait(0.5):
            exited = supervisor.first_exited()
            if exited is not None:
                raise StartupError(f"The {exited.name} process exited unexpectedly (code {exited.popen.returncode}).")
        return 0
    except StartupError as exc:
        print(f"pilotage: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if supervisor is not None:
            supervisor.stop()
        if started_here:
            stop_embedded_server(settings.data_dir)
        print("stopped", flush=True)


def _development_key(settings: Settings, url: str) -> str | None:
    """In development without a bootstrap key, an admin key is made on first start and reused after."""
    if settings.env != "development" or settings.bootstrap_admin_key is not None:
        return None
    return asyncio.run(keys.ensure_development_key(url, settings.data_dir))


def _ready_database() -> str:
    settings = Settings()
    url = _database_url(settings)
    _check_database(url)
    return url


def cmd_keys_create(args: argparse.Namespace) -> int:
    url = _ready_database()
    key, full = asyncio.run(keys.create(url, args.name, args.scope, args.expires_at, args.rate_limit))
    print(f"id      {key.id}\nscopes  {' '.join(key.scopes)}\nkey     {full}")
    print("The key is shown once; only its hash is stored.", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    url = _ready_database()
    rows = asyncio.run(keys.list_keys(url, args.revoked))
    print(f"{'id':<16}  {'name':<30}  {'scopes':<40}  {'expires':<20}  revoked")
    for key in rows:
        expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "-"
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
        print(f"{key.id:<16}  {key.name[:30]:<30}  {' '.join(key.scopes)[:40]:<40}  {expires:<20}  {revoked}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    url = _ready_database()
    if not asyncio.run(keys.revoke(url, args.key_id)):
        print(f"pilotage: no API key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def _aware_datetime(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give an offset, e.g. 2027-01-01T00:00:00Z")
    return parsed


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        url = _database_url(settings)
        _check_database(url)
        if args.downgrade:
            migrate.downgrade(url, args.targets)
        else:
            migrate.upgrade(url, args.targets)
    except (StartupError, migrate.MigrationError, CommandError) as exc:
        print(f"pilotage: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_db_url(_args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        url = _database_url(settings)
    except StartupError as exc:
        print(f"pilotage: {exc}", file=sys.stderr)
        return 1
    print(plain_url(url))
    return 0


MIGRATE_DESCRIPTION = """Each schema (gateway, kpi, strategy, talent) has its own migration history: a branch
labelled with its name, recorded in <schema>.alembic_version. Without targets, every branch goes to
its head. Each call runs in one transaction, one call at a time per database."""
MIGRATE_EXAMPLES = """examples:
  pilotage migrate                     every schema to its head
  pilotage migrate kpi                 only the kpi schema (same as `alembic upgrade kpi@head`)
  pilotage migrate kpi@<revision>      the kpi schema to that revision
  pilotage migrate --downgrade kpi@-1  the kpi schema one revision back
  pilotage migrate --downgrade base    every schema removed
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilotage", description="Run and administer Pilotage.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="Start the database, the three services and the gateway.")
    up.add_argument("--host", help="Interface to listen on (PILOTAGE_HOST, default 127.0.0.1).")
    for name in ("gateway", "strategy", "kpi", "talent"):
        up.add_argument(f"--{name}-port", type=int, help=f"Port of the {name} (PILOTAGE_{name.upper()}_PORT).")
    up.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per service.")
    up.add_argument("--ready-timeout", type=float, default=60.0, help="Seconds to wait for readiness.")
    up.set_defaults(handler=cmd_up)

    mig = commands.add_parser(
        "migrate",
        help="Apply the migrations of every schema (or of the ones named).",
        description=MIGRATE_DESCRIPTION,
        epilog=MIGRATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mig.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="A branch (gateway, kpi, strategy, talent), <branch>@<revision>, or head/base for every branch.",
    )
    mig.add_argument("--downgrade", action="store_true", help="Go down to the targets (a branch alone: its base).")
    mig.set_defaults(handler=cmd_migrate)

    key_commands = commands.add_parser("keys", help="Manage API keys.").add_subparsers(dest="keys", required=True)
    create = key_commands.add_parser("create", help="Create a key; prints its secret once.")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=[s.value for s in Scope])
    create.add_argument("--expires-at", type=_aware_datetime, help="RFC 3339 time with offset.")
    create.add_argument("--rate-limit", type=float, help="Requests per second for this key.")
    create.set_defaults(handler=cmd_keys_create)
    listing = key_commands.add_parser("list", help="List keys (never their secrets).")
    listing.add_argument("--revoked", action="store_true", help="Include revoked keys.")
    listing.set_defaults(handler=cmd_keys_list)
    revoke = key_commands.add_parser("revoke", help="Revoke a key by id.")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=cmd_keys_revoke)

    dbu = commands.add_parser("db-url", help="Print the database URL (starts the embedded server if needed).")
    dbu.set_defaults(handler=cmd_db_url)

    # Client commands: listed here, parsed and run by pilotage.commands (see main).
    for name, text in CLIENT_COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


CLIENT_COMMANDS = {
    "import": "Stream measurements or people from a CSV / JSON Lines file through the gateway (see --help).",
    "demo": "Build a demo company through the gateway's public API (see --help).",
}


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] in CLIENT_COMMANDS:
        from pilotage import commands

        return commands.main(arguments)
    args = build_parser().parse_args(arguments)
    try:
        code: int = args.handler(args)
    except StartupError as exc:
        print(f"pilotage: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
