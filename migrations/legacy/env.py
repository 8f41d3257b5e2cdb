"""Alembic environment of the single history of earlier versions (revisions 0001-0003).

It only runs inside ``pilotage migrate`` (and its tests), on the connection of the run, to bring a
database that history built to its last revision before the branches adopt it
(``migrations/legacy/__init__.py``). Its version table is the unqualified ``alembic_version``, as it
always was.
"""

from __future__ import annotations

from alembic import context
from alembic.util import CommandError

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise CommandError("The retired single history runs only inside `pilotage migrate`, on its connection.")
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
