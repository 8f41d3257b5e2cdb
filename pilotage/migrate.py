"""Apply the migrations: one Alembic history (branch) per schema — gateway, kpi, strategy, talent.

``upgrade(url)`` brings every branch to its head, ``upgrade(url, ["kpi"])`` only the KPI service's
schema; ``downgrade(url, ["kpi@base"])`` takes one back. A target is a branch name (its head, or its
base when going down), ``<branch>@<revision>`` in Alembic's syntax (``kpi@-1``, ``kpi@<id>``), a
revision id, or ``head``/``base`` for every branch.

One call is one transaction under the migration advisory lock: two processes migrating at once run
one after the other, and a failure leaves the database as it was. A database still recording the
single history of earlier versions is adopted first, whatever the targets (``migrations/legacy``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from migrations import legacy
from migrations.metadata import BRANCHES, lock
from shared.db import async_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
log = logging.getLogger(__name__)


class MigrationError(Exception):
    """A target that names no branch or revision, or two targets for one branch."""


def alembic_config(connection: Connection | None = None, section: str = "alembic") -> Config:
    """The configuration of one ``alembic.ini`` section (a branch's name, ``alembic`` for all of
    them, ``legacy``), running on ``connection`` when given."""
    config = Config(str(ALEMBIC_INI), ini_section=section)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def resolve_targets(targets: Sequence[str], *, downgrade: bool) -> list[tuple[str, str]]:
    """``(branch, revision)`` for each target, in the order the branches must run."""
    end = "base" if downgrade else "head"
    resolved: dict[str, str] = {}
    script: ScriptDirectory | None = None

    def add(branch: str, revision: str) -> None:
        if resolved.setdefault(branch, revision) != revision:
            raise MigrationError(f"Two targets for the {branch} branch: {resolved[branch]} and {revision}.")

    for target in targets or [end]:
        label, at, _ = target.partition("@")
        if target in ("head", "heads", "base"):
            for branch in BRANCHES:
                add(branch, f"{branch}@{'base' if target == 'base' else 'head'}")
        elif label in BRANCHES:
            add(label, target if at else f"{label}@{end}")
        else:
            script = script or ScriptDirectory.from_config(alembic_config())
            try:
                found = script.get_revision(label)
            except CommandError:
                found = None
            branches = set(found.branch_labels) & set(BRANCHES) if found is not None else set()
            if len(branches) != 1:
                raise MigrationError(
                    f"{target!r} names no branch or revision; give one of {', '.join(BRANCHES)}, "
                    "<branch>@<revision> (e.g. kpi@head, kpi@-1), head or base."
                )
            add(branches.pop(), target)
    order = reversed(BRANCHES) if downgrade else BRANCHES
    return [(branch, resolved[branch]) for branch in order if branch in resolved]


def adopt_retired_history(connection: Connection) -> bool:
    """Move a database built by the single history of earlier versions to the branches: bring it to
    that history's head, drop its version table, stamp each branch at its equivalent revision."""
    retired = legacy.find(connection)
    if retired is None:
        return False
    if retired.revision != legacy.HEAD:
        command.upgrade(alembic_config(connection, "legacy"), legacy.HEAD)
    connection.exec_driver_sql(f"DROP TABLE {retired.version_table}")
    for branch in BRANCHES:
        command.stamp(alembic_config(connection, branch), legacy.EQUIVALENT_OF_HEAD[branch])
    log.info("Adopted the single history at %s: one history per schema from now on.", retired.revision)
    return True


def _run(database_url: str, work: Callable[[Connection], None]) -> None:
    def locked(connection: Connection) -> None:
        lock(connection)
        adopt_retired_history(connection)
        work(connection)

    async def run() -> None:
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(locked)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def upgrade(database_url: str, targets: Sequence[str] = ()) -> None:
    """Bring the branches named (every branch by default) to their targets (their heads by default)."""
    steps = resolve_targets(targets, downgrade=False)

    def work(connection: Connection) -> None:
        for branch, revision in steps:
            command.upgrade(alembic_config(connection, branch), revision)

    _run(database_url, work)


def downgrade(database_url: str, targets: Sequence[str]) -> None:
    """Take the branches named back to their targets (``base``: every branch, every schema gone)."""
    if not targets:
        raise MigrationError("Name what to downgrade: a branch (its base), <branch>@<revision>, or base for all.")
    steps = resolve_targets(targets, downgrade=True)

    def work(connection: Connection) -> None:
        for branch, revision in steps:
            command.downgrade(alembic_config(connection, branch), revision)

    _run(database_url, work)
