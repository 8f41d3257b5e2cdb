"""docker-compose.yml and the Dockerfile agree with the code: settings, apps, ports, packages.

Nothing here needs Docker: the files are parsed and checked against ``shared.settings.Settings``, the
service modules, the supervisor behind ``pilotage up`` and pyproject.toml, so the deployment cannot
drift silently from the code it runs.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from pydantic import AliasChoices, AliasPath
from sqlalchemy.engine import make_url

from pilotage.cli import build_parser, cmd_migrate
from pilotage.serve import config_for
from pilotage.supervisor import APPS, serve_command
from shared.auth import ISSUERS, trusted_issuers
from shared.serving import BoundedHttpToolsProtocol, ServerConfig
from shared.settings import Settings
from shared.token_keys import load_private_key, load_public_keys
from tests.auth import KEYS_DIR, TEST_KEYS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

DATABASE = "postgres"
MIGRATE = "migrate"
GATEWAY = "gateway"
APP_SERVICES = sorted(APPS)  # the processes `pilotage up` runs: each is one compose service
BACKENDS = sorted(set(APPS) - {GATEWAY})


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _service(name: str) -> dict[str, Any]:
    service = _services()[name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of ``NAME=value``."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = [item.split("=", 1) for item in raw]
        return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}
    assert isinstance(raw, dict)
    return {str(name): "" if value is None else str(value) for name, value in raw.items()}


def _command(service: dict[str, Any]) -> list[str]:
    raw = service.get("command")
    assert raw, "no command"
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def _option(command: list[str], option: str) -> str:
    assert command.count(option) == 1, f"{option} must appear once in {command}"
    return command[command.index(option) + 1]


def _healthcheck_test(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(str(part) for part in test) if isinstance(test, list) else str(test)


def _default_port(app: str) -> int:
    default = Settings.model_fields[f"{app}_port"].default
    assert isinstance(default, int)
    return default


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (the short list form means ``service_started``)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def _app_module(app: str) -> ModuleType:
    command = _command(_service(app))
    module_name, _, _attribute = APPS[command[command.index("pilotage.serve") + 1]].partition(":")
    return importlib.import_module(module_name)


def _settings_classes(service: str) -> list[type[Settings]]:
    """The settings classes a compose service reads: the base, plus its own from ``config.py``."""
    if service not in APPS:
        return [Settings]
    package = _app_module(service).__name__.rsplit(".", 1)[0]
    config = importlib.import_module(f"{package}.config")
    own = [obj for obj in vars(config).values() if isinstance(obj, type) and issubclass(obj, Settings)]
    return [Settings, *own]


def _env_names_of(settings_class: type[Settings], field_name: str) -> set[str]:
    """The variable names one field of the settings class reads, derived from its name and aliases."""
    prefix = settings_class.model_config.get("env_prefix", "")
    alias = settings_class.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        names = {choice for choice in alias.choices if isinstance(choice, str)}
    elif isinstance(alias, str):
        names = {alias}
    elif isinstance(alias, AliasPath):
        names = {str(alias.path[0])}
    else:
        names = {f"{prefix}{field_name}"}
    return {name.upper() for name in names}


def _env_names(settings_class: type[Settings]) -> set[str]:
    """Every variable name the settings class reads."""
    return set().union(*(_env_names_of(settings_class, name) for name in settings_class.model_fields))


def _read_by_settings(name: str) -> bool:
    return name == "DATABASE_URL" or name.upper().startswith(str(Settings.model_config.get("env_prefix", "")).upper())


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No settings variable of the test run leaks into a settings object built from compose's."""
    for name in list(os.environ):
        if _read_by_settings(name):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_services_are_the_platform() -> None:
    port_fields = {name.removesuffix("_port") for name in Settings.model_fields if name.endswith("_port")}
    assert set(APPS) == port_fields, "every process `pilotage up` runs has a port setting"
    assert set(_services()) == {*APPS, DATABASE, MIGRATE}


@pytest.mark.parametrize("service", [MIGRATE, *APP_SERVICES])
def test_every_variable_is_a_setting(service: str) -> None:
    environment = _environment(_service(service))
    assert "DATABASE_URL" in environment
    valid = set().union(*(_env_names(cls) for cls in _settings_classes(service)))
    assert "DATABASE_URL" in valid, "the derivation of the variable names is wrong"
    assert sorted(set(environment) - valid) == []


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_]+)(?::(?P<op>[?-])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, host: dict[str, str]) -> str:
    """What compose substitutes for ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``."""

    def substitute(match: re.Match[str]) -> str:
        given = host.get(match["name"], "")
        if match["op"] == "?" and not given:
            raise LookupError(match["arg"])
        return given or (match["arg"] if match["op"] == "-" else "")

    return _INTERPOLATION.sub(substitute, value)


SECRETS_DIR = "/run/secrets/"


def _mounted_secrets(service: dict[str, Any]) -> set[str]:
    """The secrets a service mounts (short syntax: each at /run/secrets/<name>)."""
    return {str(name) for name in service.get("secrets") or []}


def _key_files(service: dict[str, Any]) -> dict[str, str]:
    """The key-file settings of a service: variable -> the secret it names."""
    return {
        name: value.removeprefix(SECRETS_DIR)
        for name, value in _environment(service).items()
        if name.endswith("_KEY_FILE")
    }


@pytest.mark.parametrize("app", APP_SERVICES)
def test_each_app_gets_its_own_private_key_and_the_public_keys_it_trusts(app: str) -> None:
    service = _service(app)
    files = _key_files(service)
    assert app in ISSUERS, "every process signs as itself"
    expected = {"PILOTAGE_INTERNAL_TOKEN_PRIVATE_KEY_FILE": f"{app}.pem"}
    if app != GATEWAY:  # the gateway authenticates API keys; it verifies no token
        for issuer in trusted_issuers(app):
            expected[f"PILOTAGE_{Settings.public_key_setting(issuer).upper()}"] = f"{issuer}.pub.pem"
    assert files == expected
    assert all(_environment(service)[name].startswith(SECRETS_DIR) for name in files)
    assert _mounted_secrets(service) == set(files.values()), "mounts exactly the keys it is configured with"
    declared = _compose()["secrets"]
    for secret in files.values():
        assert str(declared[secret]["file"]).endswith(f"}}/{secret}"), secret


def test_a_private_key_is_mounted_only_into_its_own_service() -> None:
    for app in APP_SERVICES:
        private = {s for s in _mounted_secrets(_service(app)) if not s.endswith(".pub.pem")}
        assert private == {f"{app}.pem"}
    for name in (DATABASE, MIGRATE):
        assert not _mounted_secrets(_service(name))
        assert not _key_files(_service(name))


@pytest.mark.parametrize("service", [MIGRATE, *APP_SERVICES])
def test_the_settings_accept_the_environment(
    service: str, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What each container would read, with /run/secrets/<name> being the test keys' file <name>."""
    secrets_dir = tmp_path / "secrets"
    shutil.copytree(KEYS_DIR, secrets_dir)
    environment = {name: _interpolate(value, {}) for name, value in _environment(_service(service)).items()}
    for name, value in environment.items():
        clean_environment.setenv(name, value.replace(SECRETS_DIR, f"{secrets_dir}/"))
    for settings_class in _settings_classes(service):
        settings = settings_class()
        assert settings.database_url == environment["DATABASE_URL"]
        assert settings.env == "production"
        if service == MIGRATE:
            continue
        private = load_private_key(settings, service)  # start-up accepts it
        assert private.public_key() == TEST_KEYS[service].public_key(), "its own key"
        if service != GATEWAY:
            assert set(load_public_keys(settings, service)) == set(trusted_issuers(service))


@pytest.mark.parametrize("service", [MIGRATE, *APP_SERVICES])
def test_a_variable_compose_passes_empty_is_unset(service: str, clean_environment: pytest.MonkeyPatch) -> None:
    host: dict[str, str] = {}  # every optional variable left out on the host
    environment = {name: _interpolate(value, host) for name, value in _environment(_service(service)).items()}
    for name, value in environment.items():
        clean_environment.setenv(name, value)
    for settings_class in _settings_classes(service):
        settings = settings_class()
        defaults = settings_class.model_construct()
        for field in settings_class.model_fields:
            if any(environment.get(name) == "" for name in _env_names_of(settings_class, field)):
                assert getattr(settings, field) == getattr(defaults, field), field
    if service == GATEWAY:
        assert environment["PILOTAGE_BOOTSTRAP_ADMIN_KEY"] == ""
        assert _settings_classes(GATEWAY)[-1]().bootstrap_admin_key is None
    given_in_code = Settings(bootstrap_admin_key=" ", kpi_url="", database_url="")
    assert (given_in_code.bootstrap_admin_key, given_in_code.kpi_url, given_in_code.database_url) == (None, None, None)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_refuses_to_start_without_the_keys_folder(service: str) -> None:
    for secret in _mounted_secrets(_service(service)):
        with pytest.raises(LookupError, match="PILOTAGE_KEYS_DIR"):
            _interpolate(str(_compose()["secrets"][secret]["file"]), {})
        assert _interpolate(str(_compose()["secrets"][secret]["file"]), {"PILOTAGE_KEYS_DIR": "./keys"}) == (
            f"./keys/{secret}"
        )


@pytest.mark.parametrize("service", [MIGRATE, *APP_SERVICES])
def test_every_service_uses_the_compose_database(service: str) -> None:
    postgres = _environment(_service(DATABASE))
    url = make_url(_environment(_service(service))["DATABASE_URL"])
    assert url.get_backend_name() == "postgresql"
    assert (url.host, url.port) == (DATABASE, 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]


@pytest.mark.parametrize("app", APP_SERVICES)
def test_each_app_runs_its_module_on_its_port(app: str) -> None:
    service = _service(app)
    command = _command(service)
    port = _default_port(app)
    # What `pilotage up` runs, on compose's interface: the same server configuration.
    assert command == ["python", *serve_command(app, "0.0.0.0", port)]
    module_name, _, attribute = APPS[app].partition(":")
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, attribute, None), FastAPI)
    assert _option(command, "--host") == "0.0.0.0"
    assert _option(command, "--port") == str(port)
    test = _healthcheck_test(service)
    assert re.findall(r"https?://[^'\"\s]+", test) == [f"http://127.0.0.1:{port}/readyz"]


@pytest.mark.parametrize("app", APP_SERVICES)
def test_each_app_runs_with_the_bounded_server(app: str, clean_environment: pytest.MonkeyPatch) -> None:
    host: dict[str, str] = {}
    for name, value in _environment(_service(app)).items():
        clean_environment.setenv(name, _interpolate(value, host))
    command = _command(_service(app))
    settings = Settings()
    config = config_for(command[command.index("pilotage.serve") + 1 :], settings)
    assert config.http is BoundedHttpToolsProtocol
    assert isinstance(config, ServerConfig)
    assert config.header_read_timeout == settings.header_read_timeout_seconds
    assert config.max_header_bytes == settings.max_header_bytes
    assert config.limit_concurrency == settings.max_connections
    assert config.timeout_keep_alive == settings.keep_alive_timeout_seconds
    assert (config.host, config.port, config.app) == ("0.0.0.0", _default_port(app), APPS[app])
    grace = str(_service(app)["stop_grace_period"])
    assert config.timeout_graceful_shutdown is not None
    assert config.timeout_graceful_shutdown < int(grace.removesuffix("s")), "compose must not kill it sooner"


def test_the_gateway_is_published_on_its_port() -> None:
    port = _default_port(GATEWAY)
    published = [str(mapping) for mapping in _service(GATEWAY).get("ports", [])]
    assert published == [f"{port}:{port}"]
    assert [name for name in APP_SERVICES if name != GATEWAY and _service(name).get("ports")] == []


def test_the_gateway_reaches_the_services_by_their_compose_names(clean_environment: pytest.MonkeyPatch) -> None:
    environment = _environment(_service(GATEWAY))
    for name, value in environment.items():
        clean_environment.setenv(name, value)
    expected = {backend: f"http://{backend}:{_default_port(backend)}" for backend in BACKENDS}
    assert {backend: environment.get(f"PILOTAGE_{backend.upper()}_URL") for backend in BACKENDS} == expected
    for settings_class in _settings_classes(GATEWAY):
        assert settings_class().service_urls == expected


@pytest.mark.parametrize("caller", ["strategy", "talent"])
def test_a_service_that_calls_the_kpi_service_reaches_it_by_its_compose_name(caller: str) -> None:
    assert _environment(_service(caller)).get("PILOTAGE_KPI_URL") == f"http://kpi:{_default_port('kpi')}"


@pytest.mark.parametrize("app", APP_SERVICES)
def test_each_app_waits_for_the_database_and_the_migrations(app: str) -> None:
    depends_on = _depends_on(_service(app))
    assert depends_on[DATABASE] == "service_healthy"
    assert depends_on[MIGRATE] == "service_completed_successfully"


def test_the_gateway_waits_for_the_healthy_services() -> None:
    depends_on = _depends_on(_service(GATEWAY))
    assert {backend: depends_on.get(backend) for backend in BACKENDS} == dict.fromkeys(BACKENDS, "service_healthy")


def test_the_migrations_run_once_with_the_cli_after_the_database() -> None:
    migrate = _service(MIGRATE)
    command = _command(migrate)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[command[0]] == "pilotage.cli:main"
    assert build_parser().parse_args(command[1:]).handler is cmd_migrate
    assert _depends_on(migrate) == {DATABASE: "service_healthy"}
    assert str(migrate.get("restart", "no")) == "no", "a one-shot job must not be restarted"
    assert "healthcheck" not in migrate


@pytest.mark.parametrize("service", [DATABASE, *APP_SERVICES])
def test_every_long_running_service_has_a_healthcheck(service: str) -> None:
    healthcheck = _service(service).get("healthcheck")
    assert healthcheck, f"{service} has no healthcheck"
    assert not healthcheck.get("disable", False)
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")


def test_the_database_healthcheck_asks_postgres() -> None:
    postgres = _service(DATABASE)
    assert "pg_isready" in _healthcheck_test(postgres)
    volumes = [str(volume) for volume in postgres.get("volumes", [])]
    named = [volume.split(":", 1)[0] for volume in volumes if ":" in volume]
    assert named, "the database needs a volume"
    assert set(named) <= set(_compose().get("volumes") or {}), "the database volume is a named volume"


def test_every_pilotage_container_runs_the_same_image() -> None:
    builds = {str(_service(name).get("build")) for name in [MIGRATE, *APP_SERVICES]}
    images = {str(_service(name).get("image")) for name in [MIGRATE, *APP_SERVICES]}
    assert len(builds) == 1
    assert builds != {"None"}
    assert len(images) == 1
    assert images != {"None"}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in instructions]


def _copied_sources() -> set[str]:
    sources: set[str] = set()
    for instruction, arguments in _dockerfile_instructions():
        if instruction in ("COPY", "ADD"):
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            sources.update(word.removeprefix("./").rstrip("/") for word in words[:-1])
    return sources


def test_the_dockerfile_copies_what_the_image_runs() -> None:
    assert DOCKERFILE.is_file()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    top_level = {pattern.rstrip("*").rstrip(".") for pattern in packages["include"]}
    assert top_level, "pyproject.toml lists the packages"
    copied = _copied_sources()
    assert {"pyproject.toml", "alembic.ini", "migrations", *top_level} <= copied
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert copied & ignored == set(), ".dockerignore must not hide what the Dockerfile copies"


def test_the_image_runs_as_a_non_root_user_and_defaults_to_the_gateway() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0][0] == "FROM"
    assert instructions[0][1].startswith("python:3.11-slim")
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    cmd = [arguments for instruction, arguments in instructions if instruction == "CMD"]
    assert len(cmd) == 1
    default = yaml.safe_load(cmd[0])  # the exec form is a JSON list, which YAML reads too
    assert default == _command(_service(GATEWAY))[: len(default)]
