"""A database error met while handling a secret is logged by its SQLSTATE: no parameter, no value."""

from __future__ import annotations

import logging
import re
import uuid

import asyncpg

from shared.db import plain_url
from tests.gateway.conftest import running_gateway


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the traceback included, as it would be written


async def test_a_failed_key_creation_logs_no_secret_hash(database_url: str, admin_key: str) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    constraint = f"refuse_{canary.replace('-', '_')}"
    # A constraint the insert breaks: PostgreSQL's error then carries the whole row, secret hash included.
    database = await asyncpg.connect(plain_url(database_url))
    await database.execute(f"ALTER TABLE gateway.api_keys ADD CONSTRAINT {constraint} CHECK (name <> '{canary}')")
    collect = _Collect()
    try:
        async with running_gateway(database_url, admin_key) as gateway:
            logging.getLogger().addHandler(collect)
            response = await gateway.client.post("/v1/api-keys", json={"name": canary, "scopes": ["kpi:read"]})
    finally:
        logging.getLogger().removeHandler(collect)
        await database.execute(f"ALTER TABLE gateway.api_keys DROP CONSTRAINT {constraint}")
        await database.close()
    assert response.status_code == 500, response.text  # a constraint of ours broken: our bug, logged
    text = "\n".join(collect.lines)
    assert "23514" in text, text  # check_violation
    assert "INSERT INTO gateway.api_keys" in text
    assert canary not in text
    assert "[parameters:" not in text
    assert "Failing row" not in text
    assert re.search(r"[0-9a-f]{64}", text) is None, "a SHA-256 hex digest (the key's hash) was logged"
