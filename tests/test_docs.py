"""The README stays true to the code: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from services.gateway.config import GatewaySettings
from services.kpi_service.config import KpiSettings
from shared.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = []
    for name in {**Settings.model_fields, **KpiSettings.model_fields, **GatewaySettings.model_fields}:
        variable = "DATABASE_URL" if name == "database_url" else f"PILOTAGE_{name.upper()}"
        if f"| `{variable}` |" not in README:
            missing.append(variable)
    assert missing == []


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README
    assert "make test" in README
