"""``pilotage keys`` manages keys straight in the database, printing a secret only at creation."""

from __future__ import annotations

import os
import subprocess
import sys

from pilotage import migrate
from tests.database import temporary_database


def _pilotage(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "pilotage.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_keys_create_list_revoke() -> None:
    with temporary_database("pilotage_cli") as url:
        migrate.upgrade(url)
        created = _pilotage("keys", "create", "--name", "ERP push", "--scope", "measurements:write", database_url=url)
        assert created.returncode == 0, created.stderr
        fields = dict(line.split(None, 1) for line in created.stdout.strip().splitlines())
        key_id, full = fields["id"], fields["key"]
        assert full.startswith(f"pk_{key_id}_")
        assert fields["scopes"] == "measurements:write"

        listed = _pilotage("keys", "list", database_url=url)
        assert key_id in listed.stdout
        assert "ERP push" in listed.stdout
        assert full.split("_")[2] not in listed.stdout

        revoked = _pilotage("keys", "revoke", key_id, database_url=url)
        assert revoked.returncode == 0
        assert key_id not in _pilotage("keys", "list", database_url=url).stdout
        assert key_id in _pilotage("keys", "list", "--revoked", database_url=url).stdout

        missing = _pilotage("keys", "revoke", "nosuchkey1", database_url=url)
        assert missing.returncode == 1
        assert "no API key" in missing.stderr


def test_keys_create_refuses_unknown_scopes_and_naive_expiry() -> None:
    with temporary_database("pilotage_cli") as url:
        bad_scope = _pilotage("keys", "create", "--name", "x", "--scope", "everything", database_url=url)
        assert bad_scope.returncode == 2
        assert "invalid choice" in bad_scope.stderr
        naive = _pilotage(
            "keys", "create", "--name", "x", "--scope", "kpi:read", "--expires-at", "2030-01-01T00:00", database_url=url
        )
        assert naive.returncode == 2
        assert "offset" in naive.stderr
