"""The single history of earlier versions, and how a database it built joins the branches.

Until the branches, one history (revisions 0001-0003 in ``migrations/legacy/versions``) created all
four schemas and recorded its state in an unqualified ``alembic_version`` table (``public`` as a rule).
Its last revision, 0003, holds exactly what the first revision of each branch creates, so such a
database is adopted by bringing it to 0003 with its own history, dropping its version table and
stamping each branch at its first revision — in the one transaction of ``pilotage migrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from migrations.metadata import SCHEMAS, VERSION_TABLE

REVISIONS = ("0001", "0002", "0003")
HEAD = "0003"
# The revision of each branch that holds what the retired history's head holds for its schema.
EQUIVALENT_OF_HEAD = {
    "gateway": "gateway_0001",
    "kpi": "kpi_0001",
    "strategy": "strategy_0001",
    "talent": "talent_0001",
}


@dataclass(frozen=True)
class RetiredHistory:
    schema: str
    revision: str

    @property
    def version_table(self) -> str:
        return f'"{self.schema}".{VERSION_TABLE}'


def find(connection: Connection) -> RetiredHistory | None:
    """The retired history's version table, where its unqualified name resolves, if it holds one of
    that history's revisions (another application's ``alembic_version`` is left alone)."""
    schema = connection.exec_driver_sql(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.oid = to_regclass('{VERSION_TABLE}')"
    ).scalar()
    if schema is None or schema in SCHEMAS:
        return None
    rows = connection.exec_driver_sql(f'SELECT version_num FROM "{schema}".{VERSION_TABLE}').scalars().all()
    if len(rows) != 1 or rows[0] not in REVISIONS:
        return None
    return RetiredHistory(schema=str(schema), revision=str(rows[0]))
