"""Settings read from environment variables (pydantic-settings).

Every service reads the same base settings; a service's ``config.py`` adds its own. Variable names
are the field names upper-cased with the ``PILOTAGE_`` prefix, except ``DATABASE_URL``.

Routes take the settings the app was built with through :data:`SettingsDep`, typed as their
service's own class (each ``config.py`` names it, e.g. ``KpiSettingsDep = SettingsDep[KpiSettings]``)::

    async def ingest(settings: KpiSettingsDep, ...) -> IngestResult: ...
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from fastapi import Depends, Request
from pydantic import AliasChoices, Field, PositiveFloat, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    """The git-ignored ``.data`` folder of the checkout, or of the working directory when installed."""
    checkout = Path(__file__).resolve().parents[1]
    base = checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()
    return base / ".data"


class Settings(BaseSettings):
    # An empty variable means unset (compose passes `${NAME:-}` as ""): the default applies.
    model_config = SettingsConfigDict(env_prefix="PILOTAGE_", extra="ignore", frozen=True, env_ignore_empty=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PILOTAGE_DATABASE_URL"),
        description="PostgreSQL URL; unset means the embedded PostgreSQL in the data folder.",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    gateway_port: PositiveInt = 8000
    strategy_port: PositiveInt = 8001
    kpi_port: PositiveInt = 8002
    talent_port: PositiveInt = 8003
    strategy_url: str | None = None
    kpi_url: str | None = None
    talent_url: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    telemetry: bool = Field(default=False, description="FastAPI's OpenTelemetry spans, metrics and logs.")
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="`json` lines or readable `console` text; unset: console in development, else json."
    )
    access_log: bool = Field(default=True, description="One structured record per request (`pilotage.access`).")
    metrics: Literal["open", "token", "off"] = Field(
        default="open",
        description="`/metrics`: open to whoever reaches the port, behind `PILOTAGE_METRICS_TOKEN`, or not served.",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="The bearer token `/metrics` asks for in `token` mode."
    )
    max_body_bytes: PositiveInt = 4 * 1024 * 1024
    body_read_timeout_seconds: PositiveFloat = Field(
        default=15.0, description="Time a client has to send a whole request body, from its first read (408 beyond)."
    )

    # The HTTP server of every process (shared/serving.py); a client gets no unbounded share of it.
    header_read_timeout_seconds: PositiveFloat = Field(
        default=5.0, description="Time a client has to send a request's headers (408 and closed beyond)."
    )
    max_header_bytes: PositiveInt = Field(default=32 * 1024, description="Request line and headers (431 above).")
    keep_alive_timeout_seconds: PositiveInt = Field(default=5, description="An idle connection is closed after it.")
    max_connections: PositiveInt = Field(
        default=500, description="Open connections (or requests) per process before new requests get 503."
    )
    listen_backlog: PositiveInt = Field(default=1024, description="Connections the kernel queues before accept.")
    graceful_shutdown_seconds: PositiveInt = Field(default=15, description="In-flight requests get this long to end.")

    # Connections are kept, not churned: a pool at least as large as the concurrency a process sees,
    # and no overflow (overflow connections are closed as soon as they are returned).
    db_pool_size: PositiveInt = 15
    db_max_overflow: int = Field(default=0, ge=0)
    db_read_pool_size: PositiveInt = Field(default=10, description="asyncpg pool of the hot read paths.")
    db_connect_timeout: PositiveFloat = 5.0
    db_statement_timeout_ms: PositiveInt = 30_000
    readiness_cache_seconds: float = Field(
        default=1.0, ge=0, description="`/readyz` runs its checks at most once in this time; callers share it."
    )

    upstream_connect_timeout: PositiveFloat = 2.0
    upstream_read_timeout: PositiveFloat = 30.0
    upstream_pool_timeout: PositiveFloat = 5.0
    upstream_deadline: PositiveFloat = 30.0
    upstream_retries: int = Field(default=2, ge=0)
    upstream_retry_backoff: PositiveFloat = 0.1
    upstream_unavailable_retry_after: PositiveInt = 5
    breaker_failures: PositiveInt = Field(
        default=5, description="Consecutive failures (unreachable, timeout, 5xx) that open a dependency's breaker."
    )
    breaker_reset_seconds: PositiveFloat = Field(
        default=30.0, description="How long an open breaker answers 503 at once before it lets a probe call through."
    )

    # Internal tokens (shared/token_keys.py): Ed25519 PEM files, generated into the data folder in
    # development. A process reads its own private key and the public keys of the issuers it trusts.
    internal_token_private_key_file: Path | None = Field(
        default=None, description="This process's Ed25519 private key (PEM, readable by its owner only)."
    )
    gateway_public_key_file: Path | None = Field(default=None, description="The gateway's public key (PEM).")
    strategy_public_key_file: Path | None = Field(default=None, description="The strategy service's public key.")
    talent_public_key_file: Path | None = Field(default=None, description="The talent service's public key.")
    internal_token_ttl_seconds: PositiveInt = 60
    bootstrap_admin_key: SecretStr | None = None
    rate_limit_per_second: PositiveFloat = 100.0
    rate_limit_burst: PositiveInt = 200
    max_inflight_per_key: PositiveInt = Field(
        default=64, description="Requests of one API key the gateway handles at once (429 beyond)."
    )
    key_cache_seconds: PositiveFloat = 1.0
    audit_flush_seconds: PositiveFloat = 0.5
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator(
        "database_url", "strategy_url", "kpi_url", "talent_url", "bootstrap_admin_key",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """The same for values given in code: an empty URL or secret is no URL or secret."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _metrics_token_given(self) -> Self:
        if self.metrics == "token" and self.metrics_token is None:
            raise ValueError("PILOTAGE_METRICS=token needs PILOTAGE_METRICS_TOKEN")
        return self

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        return self.log_format or ("console" if self.env == "development" else "json")

    @staticmethod
    def public_key_setting(issuer: str) -> str:
        """The field naming ``issuer``'s public key file."""
        return f"{issuer}_public_key_file"

    @cached_property
    def service_urls(self) -> dict[str, str]:
        """Base URL of each backend service, by service name."""
        return {
            "strategy": self.strategy_url or f"http://{self.host}:{self.strategy_port}",
            "kpi": self.kpi_url or f"http://{self.host}:{self.kpi_port}",
            "talent": self.talent_url or f"http://{self.host}:{self.talent_port}",
        }


S = TypeVar("S", bound=Settings)


async def app_settings(request: Request) -> Settings:  # async: a plain def would run in a thread
    """The settings the app was built with (``app.state.settings``, where tests swap them)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[S, Depends(app_settings)]
"""The app's settings, as the service's own settings class: ``SettingsDep[KpiSettings]``."""
