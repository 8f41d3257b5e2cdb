"""One migration history per schema: each branch creates its schema from empty, removes it on
downgrade, matches its models, and migrates alone; `pilotage migrate` applies them all, once per
database at a time, and adopts a database built by the single history of earlier versions."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.config import main as alembic_main
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, exc
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from migrations import legacy
from migrations.metadata import BRANCHES, MIGRATION_LOCK, SCHEMAS, include_name, include_object, load_models
from pilotage import cli, migrate
from shared.db import async_url
from tests.database import temporary_database

ROOT = Path(__file__).resolve().parents[1]
Catalog = dict[str, list[tuple[object, ...]]]

# What each schema holds, described by PostgreSQL itself (version tables aside).
CATALOG_QUERIES = {
    "columns": """
        SELECT table_schema, table_name, ordinal_position, column_name, data_type, udt_name,
               character_maximum_length, numeric_precision, numeric_scale, is_nullable, column_default,
               is_identity, identity_generation
        FROM information_schema.columns WHERE table_schema = ANY($1) AND table_name <> 'alembic_version'""",
    "constraints": """
        SELECT n.nspname, c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1) AND c.relname <> 'alembic_version'""",
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = ANY($1) AND tablename <> 'alembic_version'""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1)""",
    "triggers": """
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname = ANY($1)""",
    "sequences": """
        SELECT sequence_schema, sequence_name, data_type, start_value, increment
        FROM information_schema.sequences WHERE sequence_schema = ANY($1)""",
    "schemas": "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)",
}


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _our_schemas(url: str) -> set[str]:
    rows = asyncio.run(_fetch(url, "SELECT nspname FROM pg_namespace"))
    return {r["nspname"] for r in rows} & set(SCHEMAS)


def _tables(url: str) -> set[str]:
    query = "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname = ANY($1::text[])"
    rows = asyncio.run(_fetch(url, query, list(SCHEMAS)))
    return {r["t"] for r in rows}


def _version_tables(url: str) -> dict[str, list[str]]:
    """Every ``alembic_version`` table of the database, wherever it is, with the revisions it holds."""

    async def run() -> dict[str, list[str]]:
        connection = await asyncpg.connect(url)
        try:
            schemas = await connection.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'"
            )
            found: dict[str, list[str]] = {}
            for row in schemas:
                schema = row["table_schema"]
                versions = await connection.fetch(f'SELECT version_num FROM "{schema}".alembic_version')
                found[schema] = sorted(str(v["version_num"]) for v in versions)
            return found
        finally:
            await connection.close()

    return asyncio.run(run())


def _catalog(url: str) -> Catalog:
    async def run() -> Catalog:
        connection = await asyncpg.connect(url)
        try:
            return {
                name: sorted(tuple(row) for row in await connection.fetch(query, list(SCHEMAS)))
                for name, query in CATALOG_QUERIES.items()
            }
        finally:
            await connection.close()

    return asyncio.run(run())


def _heads() -> dict[str, list[str]]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    heads: dict[str, list[str]] = {}
    for head in script.get_revisions("heads"):
        assert head is not None
        (branch,) = set(head.branch_labels) & set(BRANCHES)
        heads[branch] = [head.revision]
    return heads


def _drift(url: str, schema: str) -> list[object]:
    """What autogenerate would write for one schema, compared the way ``migrations/env.py`` compares."""
    load_models()

    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": include_name(schema),
                "include_object": include_object(schema),
                "version_table_schema": schema,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, SQLModel.metadata))

    async def run() -> list[object]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _build_with_the_single_history(url: str, revision: str = legacy.HEAD) -> None:
    """The database the single history of earlier versions built, up to ``revision``."""

    def run_legacy(connection: Connection) -> None:
        command.upgrade(migrate.alembic_config(connection, "legacy"), revision)

    async def run() -> None:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run_legacy)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def _alembic(*args: str, database_url: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def fresh_catalog() -> Iterator[Catalog]:
    """What the branches build from empty."""
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url)
        yield _catalog(url)


# --- the branches ---------------------------------------------------------------------------------


def test_each_schema_has_one_independent_branch_labelled_with_its_name() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    bases = [script.get_revision(base) for base in script.get_bases()]
    assert sorted(label for base in bases if base for label in base.branch_labels) == sorted(BRANCHES)
    assert set(_heads()) == set(BRANCHES)
    for revision in script.walk_revisions():
        (branch,) = set(revision.branch_labels) & set(BRANCHES)
        assert Path(revision.path).parent == ROOT / "migrations" / "versions" / branch, revision.revision
    for branch in BRANCHES:
        section = ScriptDirectory.from_config(migrate.alembic_config(section=branch))
        assert {r.revision for r in section.walk_revisions()} == {
            r.revision for r in script.walk_revisions() if branch in r.branch_labels
        }


def test_every_branch_upgrades_from_empty_downgrades_to_base_and_upgrades_again() -> None:
    with temporary_database("pilotage_migrations") as url:
        assert _our_schemas(url) == set()
        migrate.upgrade(url)
        assert _our_schemas(url) == set(SCHEMAS)
        assert {"kpi.kpis", "strategy.objectives", "talent.org_units", "gateway.api_keys"} <= _tables(url)
        assert _version_tables(url) == _heads()

        migrate.downgrade(url, ["base"])
        assert _our_schemas(url) == set()
        assert _tables(url) == set()
        assert _version_tables(url) == {}

        migrate.upgrade(url)
        assert _our_schemas(url) == set(SCHEMAS)
        assert _version_tables(url) == _heads()


@pytest.mark.parametrize("branch", BRANCHES)
def test_one_branch_upgrades_and_downgrades_alone(branch: str) -> None:
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, [branch])
        assert _our_schemas(url) == {branch}
        assert _tables(url)
        assert all(t.startswith(f"{branch}.") for t in _tables(url))
        assert _version_tables(url) == {branch: _heads()[branch]}
        assert _drift(url, branch) == []

        migrate.downgrade(url, [branch])
        assert _our_schemas(url) == set()
        assert _version_tables(url) == {}


@pytest.mark.parametrize("branch", BRANCHES)
def test_one_branch_goes_down_without_touching_the_others(branch: str) -> None:
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url)
        migrate.downgrade(url, [f"{branch}@base"])
        assert _our_schemas(url) == set(SCHEMAS) - {branch}
        assert _version_tables(url) == {b: heads for b, heads in _heads().items() if b != branch}


def test_a_schema_holding_objects_of_its_own_is_left_in_place_at_base() -> None:
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, ["talent"])
        asyncio.run(_execute(url, "CREATE TABLE talent.notes (id int)"))
        migrate.downgrade(url, ["talent"])
        assert _tables(url) == {"talent.notes"}
        assert _version_tables(url) == {}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_models_and_migrations_do_not_drift(database_url: str, schema: str) -> None:
    assert _drift(database_url, schema) == []


def test_drift_is_compared_in_its_own_schema_only() -> None:
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, ["kpi"])
        # The other schemas' models are not missing tables of this one.
        assert _drift(url, "kpi") == []
        asyncio.run(_execute(url, "DROP INDEX kpi.ix_kpis_owner_org_unit_id"))
        drift = _drift(url, "kpi")
        assert len(drift) == 1
        assert "ix_kpis_owner_org_unit_id" in str(drift[0])


def test_the_branches_create_what_the_single_history_created() -> None:
    """Each branch's first revision is the single history's part for that schema (later revisions
    of a branch move on from there)."""
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, [f"{branch}_0001" for branch in BRANCHES])
        split = _catalog(url)
    with temporary_database("pilotage_migrations") as url:
        _build_with_the_single_history(url)
        old = _catalog(url)
    for part, rows in split.items():
        assert rows == old[part], part
    assert len(split["triggers"]) == 1
    assert len(split["functions"]) == 1


def test_migrating_twice_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def ran() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running upgrade")]

    with temporary_database("pilotage_migrations") as url, caplog.at_level(logging.INFO, "alembic.runtime.migration"):
        migrate.upgrade(url)
        assert len(ran()) == len(list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()))
        catalog, versions = _catalog(url), _version_tables(url)
        caplog.clear()
        migrate.upgrade(url)
        assert ran() == []
        assert _catalog(url) == catalog
        assert _version_tables(url) == versions


def test_a_failed_run_leaves_the_database_as_it_was() -> None:
    with temporary_database("pilotage_migrations") as url:
        # The last branch to run cannot start: everything the run did before is rolled back.
        asyncio.run(_execute(url, "CREATE SCHEMA talent", "CREATE TABLE talent.org_units (id int)"))
        with pytest.raises(exc.DBAPIError, match="org_units"):
            migrate.upgrade(url)
        assert _our_schemas(url) == {"talent"}
        assert _tables(url) == {"talent.org_units"}
        assert _version_tables(url) == {}


def test_concurrent_migrations_wait_for_each_other() -> None:
    async def scenario(url: str) -> list[tuple[int | None, str]]:
        holder = await asyncpg.connect(url)
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            env = {**os.environ, "DATABASE_URL": url}
            processes = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "pilotage.cli", "migrate", env=env, stderr=asyncio.subprocess.PIPE
                )
                for _ in range(2)
            ]
            waiting_query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            deadline = time.monotonic() + 30
            while await holder.fetchval(waiting_query) < 2:
                assert time.monotonic() < deadline, "both runs should be waiting for the migration lock"
                await asyncio.sleep(0.1)
            assert all(p.returncode is None for p in processes)
            assert await holder.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)", SCHEMAS) == 0
            await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
            results = []
            for process in processes:
                _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
                results.append((process.returncode, stderr.decode()))
            return results
        finally:
            await holder.close()

    with temporary_database("pilotage_migrations") as url:
        assert asyncio.run(scenario(url)) == [(0, ""), (0, "")]
        assert _version_tables(url) == _heads()
        assert all(_drift(url, schema) == [] for schema in SCHEMAS)


def test_every_model_table_lives_in_a_service_schema() -> None:
    load_models()
    for table in SQLModel.metadata.tables.values():
        assert table.schema in SCHEMAS, f"{table.name} has no service schema"


# --- targets --------------------------------------------------------------------------------------


def test_targets_name_branches_revisions_or_all() -> None:
    every_head = [(b, f"{b}@head") for b in BRANCHES]
    assert migrate.resolve_targets([], downgrade=False) == every_head
    assert migrate.resolve_targets(["head"], downgrade=False) == every_head
    assert migrate.resolve_targets(["base"], downgrade=True) == [(b, f"{b}@base") for b in reversed(BRANCHES)]
    assert migrate.resolve_targets(["talent", "kpi"], downgrade=False) == [
        ("kpi", "kpi@head"),
        ("talent", "talent@head"),
    ]
    assert migrate.resolve_targets(["kpi"], downgrade=True) == [("kpi", "kpi@base")]
    assert migrate.resolve_targets(["kpi@-1"], downgrade=True) == [("kpi", "kpi@-1")]
    assert migrate.resolve_targets(["kpi_0001"], downgrade=False) == [("kpi", "kpi_0001")]
    with pytest.raises(migrate.MigrationError, match="names no branch"):
        migrate.resolve_targets(["finance"], downgrade=False)
    with pytest.raises(migrate.MigrationError, match="Two targets for the kpi branch"):
        migrate.resolve_targets(["kpi@head", "kpi@base"], downgrade=False)
    with pytest.raises(migrate.MigrationError, match="Name what to downgrade"):
        migrate.downgrade("postgresql://unused/unused", [])


# --- the command line -----------------------------------------------------------------------------


def _run_pilotage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, database_url: str
) -> tuple[int, str]:
    """``pilotage`` in this process: its exit code and what it wrote to stderr."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def test_pilotage_migrate_help_says_how_to_migrate_one_schema(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["migrate", "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert all(branch in shown for branch in BRANCHES)
    assert "pilotage migrate kpi " in shown
    assert "alembic upgrade kpi@head" in shown


def test_pilotage_migrate_one_schema_then_all_and_refuse_unknown_targets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with temporary_database("pilotage_migrations") as url:
        assert _run_pilotage(monkeypatch, capsys, "migrate", "kpi", database_url=url) == (0, "")
        assert _our_schemas(url) == {"kpi"}

        code, err = _run_pilotage(monkeypatch, capsys, "migrate", "finance", database_url=url)
        assert code == 1
        assert "'finance' names no branch or revision" in err
        code, err = _run_pilotage(monkeypatch, capsys, "migrate", "kpi@0123abcd", database_url=url)
        assert code == 1
        assert "0123abcd" in err
        code, err = _run_pilotage(monkeypatch, capsys, "migrate", "--downgrade", database_url=url)
        assert code == 1
        assert "Name what to downgrade" in err
        assert _our_schemas(url) == {"kpi"}

        assert _run_pilotage(monkeypatch, capsys, "migrate", database_url=url) == (0, "")
        assert _version_tables(url) == _heads()
        assert _run_pilotage(monkeypatch, capsys, "migrate", "--downgrade", "base", database_url=url) == (0, "")
        assert _our_schemas(url) == set()


def test_alembic_upgrades_one_branch_alone_from_the_project_root() -> None:
    with temporary_database("pilotage_migrations") as url:
        upgraded = _alembic("upgrade", "kpi@head", database_url=url)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "Running upgrade  -> kpi_0001" in upgraded.stderr
        assert _our_schemas(url) == {"kpi"}
        assert _version_tables(url) == {"kpi": _heads()["kpi"]}

        unnamed = _alembic("current", database_url=url)
        assert unnamed.returncode != 0
        assert "Name one branch" in unnamed.stderr
        assert _our_schemas(url) == {"kpi"}

        downgraded = _alembic("downgrade", "kpi@base", database_url=url)
        assert downgraded.returncode == 0, downgraded.stderr
        assert _our_schemas(url) == set()
        assert _version_tables(url) == {}


def _section(section: str, database_url: str, stdout: io.StringIO | None = None) -> Config:
    """A section of ``alembic.ini`` run on its own connection to ``database_url``, as ``alembic`` would."""
    config = Config(str(migrate.ALEMBIC_INI), ini_section=section, stdout=stdout or io.StringIO())
    config.attributes["database_url"] = database_url
    return config


def test_reading_the_state_of_a_branch_leaves_no_trace() -> None:
    with temporary_database("pilotage_migrations") as url:
        command.current(_section("strategy", url))
        assert _our_schemas(url) == set()
        assert _version_tables(url) == {}
        migrate.upgrade(url, ["strategy"])
        shown = io.StringIO()
        command.current(_section("strategy", url, shown))
        assert f"{_heads()['strategy'][0]} (head)" in shown.getvalue()


def _kpi_only_ini(tmp_path: Path) -> Path:
    """An ``alembic.ini`` whose kpi branch lives in ``tmp_path/kpi``, so revisions are written there."""
    versions = tmp_path / "kpi"
    versions.mkdir()
    for revision in (ROOT / "migrations" / "versions" / "kpi").glob("*.py"):
        (versions / revision.name).write_text(revision.read_text())
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        f"[kpi]\nscript_location = {ROOT}/migrations\nprepend_sys_path = {ROOT}\n"
        f"path_separator = newline\nversion_locations = {versions}\n"
    )
    return ini


def _autogenerate(monkeypatch: pytest.MonkeyPatch, ini: Path, database_url: str) -> list[Path]:
    """``alembic -n kpi revision --autogenerate`` (in this process); the revisions it wrote."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = set(ini.parent.glob("kpi/*.py"))
    alembic_main(["-c", str(ini), "-n", "kpi", "revision", "--autogenerate", "-m", "change"])
    return sorted(set(ini.parent.glob("kpi/*.py")) - before)


def test_autogenerate_writes_nothing_without_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ini = _kpi_only_ini(tmp_path)
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, ["kpi"])
        assert _autogenerate(monkeypatch, ini, url) == []


def test_autogenerate_writes_the_changes_of_its_schema_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ini = _kpi_only_ini(tmp_path)
    with temporary_database("pilotage_migrations") as url:
        migrate.upgrade(url, ["kpi"])
        asyncio.run(_execute(url, "DROP INDEX kpi.ix_kpis_owner_org_unit_id"))
        (written,) = _autogenerate(monkeypatch, ini, url)
        text = written.read_text()
        assert "down_revision: str | None = 'kpi_" in text  # on the kpi branch's head
        assert "op.create_index(op.f('ix_kpis_owner_org_unit_id')" in text
        assert text.count("op.create_") == 1
        assert "alembic_version" not in text


def test_autogenerate_runs_from_the_branch_section_only() -> None:
    with temporary_database("pilotage_migrations") as url:
        result = _alembic("revision", "--autogenerate", "--head", "kpi@head", "-m", "x", database_url=url)
        assert result.returncode != 0
        assert "alembic -n kpi revision --autogenerate" in result.stderr


# --- a database of the single history of earlier versions -------------------------------------------

KPI_ID = uuid.uuid4()
ROWS = (
    f"INSERT INTO kpi.kpis (id, key, name, description, unit, domain, direction, aggregation, cadence) "
    f"VALUES ('{KPI_ID}', 'supply.otd', 'On-time delivery', '', '%', 'supply_chain', 'increase', 'avg', 'daily')",
    f"INSERT INTO strategy.objectives (id, title, description, level, period_start, period_end, status, weight) "
    f"VALUES ('{uuid.uuid4()}', 'Deliver on time', '', 'company', '2027-01-01', '2027-12-31', 'active', 1)",
    f"INSERT INTO talent.org_units (id, name, kind) VALUES ('{uuid.uuid4()}', 'Operations', 'department')",
)


def test_a_database_of_the_single_history_is_adopted_with_its_data(fresh_catalog: Catalog) -> None:
    with temporary_database("pilotage_migrations") as url:
        _build_with_the_single_history(url)
        asyncio.run(
            _execute(
                url,
                *ROWS,
                "INSERT INTO gateway.api_keys (id, name, secret_hash, scopes) VALUES ('key1', 'ERP', 'h', '{a}')",
                f"INSERT INTO kpi.measurements (kpi_id, ts, value, recorded_at) VALUES ('{KPI_ID}', now(), 1, now())",
            )
        )
        assert _version_tables(url) == {"public": [legacy.HEAD]}

        migrate.upgrade(url)

        assert _version_tables(url) == _heads()
        assert _catalog(url) == fresh_catalog
        assert all(_drift(url, schema) == [] for schema in SCHEMAS)
        kept = asyncio.run(_fetch(url, "SELECT key, version FROM kpi.kpis"))
        assert [(r["key"], r["version"]) for r in kept] == [("supply.otd", 1)]
        for table in ("strategy.objectives", "talent.org_units", "gateway.api_keys", "kpi.measurements"):
            assert len(asyncio.run(_fetch(url, f"SELECT 1 FROM {table}"))) == 1, table
        asyncio.run(_execute(url, "UPDATE kpi.measurements SET value = 2"))
        assert len(asyncio.run(_fetch(url, "SELECT 1 FROM kpi.measurement_revisions"))) == 1

        migrate.upgrade(url)
        assert _version_tables(url) == _heads()


def test_an_older_database_of_the_single_history_is_brought_to_its_head_first(fresh_catalog: Catalog) -> None:
    with temporary_database("pilotage_migrations") as url:
        _build_with_the_single_history(url, "0001")
        asyncio.run(_execute(url, *ROWS))
        migrate.upgrade(url, ["kpi"])  # whatever the targets, the whole database is adopted
        adopted = {branch: [legacy.EQUIVALENT_OF_HEAD[branch]] for branch in BRANCHES}
        assert _version_tables(url) == {**adopted, "kpi": _heads()["kpi"]}  # the others wait at adoption
        migrate.upgrade(url)
        assert _version_tables(url) == _heads()
        assert _catalog(url) == fresh_catalog
        kept = asyncio.run(_fetch(url, "SELECT key, version FROM kpi.kpis"))
        assert [(r["key"], r["version"]) for r in kept] == [("supply.otd", 1)]


def test_adoption_is_all_or_nothing() -> None:
    with temporary_database("pilotage_migrations") as url:
        _build_with_the_single_history(url)
        # The last branch cannot be stamped: the stamps of the others and the drop are rolled back.
        asyncio.run(_execute(url, "CREATE TABLE talent.alembic_version (version_num int)"))
        with pytest.raises(exc.DBAPIError, match="integer"):
            migrate.upgrade(url)
        assert _version_tables(url) == {"public": [legacy.HEAD], "talent": []}


def test_alembic_refuses_a_database_of_the_single_history() -> None:
    with temporary_database("pilotage_migrations") as url:
        _build_with_the_single_history(url)
        with pytest.raises(CommandError, match="run `pilotage migrate` once") as refused:
            command.upgrade(_section("alembic", url), "kpi@head")
        assert "public.alembic_version at 0003" in str(refused.value).replace('"', "")
        assert _version_tables(url) == {"public": [legacy.HEAD]}


def test_another_applications_version_table_is_left_alone() -> None:
    with temporary_database("pilotage_migrations") as url:
        asyncio.run(
            _execute(
                url,
                "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)",
                "INSERT INTO public.alembic_version VALUES ('9f3c2a1b7d4e')",
            )
        )
        migrate.upgrade(url)
        assert _version_tables(url) == {**_heads(), "public": ["9f3c2a1b7d4e"]}
