"""Async engine and the session dependency.

The session dependency owns the transaction: it commits when the request handler returns and rolls
back when it raises. Services never commit. ``SessionDep`` is what routes ask for::

    async def get_kpi(session: SessionDep, ...) -> KpiPublic: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.errors import DatabaseUnreachable, ServiceUnavailable
from shared.settings import Settings

_DRIVER_ALIASES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}


def async_url(url: str | URL) -> URL:
    """The same database, addressed through asyncpg."""
    parsed = make_url(url)
    if parsed.drivername not in _DRIVER_ALIASES:
        raise ValueError(f"not a PostgreSQL URL: {parsed.drivername}")
    return parsed.set(drivername="postgresql+asyncpg")


def plain_url(url: str | URL) -> str:
    """The URL as libpq and asyncpg spell it (``postgresql://``), password included."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# What failing to make a new connection looks like: the server away (a Unix socket that does not
# exist is a FileNotFoundError), starting or stopping, or full.
_CANNOT_CONNECT = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


class Database:
    """One engine and session factory for a service process."""

    def __init__(self, url: str | URL, settings: Settings, *, application_name: str = "pilotage") -> None:
        self._dsn = plain_url(url)
        self._connect_timeout = settings.db_connect_timeout
        self._server_settings = {
            "application_name": application_name,
            "statement_timeout": str(settings.db_statement_timeout_ms),
        }
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            async_creator=self._connect,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            # No pre-ping (a round trip per checkout): a connection found dead fails its request with a
            # 503, and SQLAlchemy then discards the pool, so the next requests reconnect.
            pool_recycle=1800,
            pool_timeout=settings.db_connect_timeout,
            # An error's text must not carry the statement's values (a key's hash, a salary) into a log.
            hide_parameters=True,
        )
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_pool_size = settings.db_read_pool_size
        self._driver_pool_lock = asyncio.Lock()
        self._bound: AsyncConnection | None = None
        self._health_connection: asyncpg.Connection | None = None
        self._health_lock = asyncio.Lock()
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def _connect(self) -> asyncpg.Connection:
        """A new connection; failing to reach the server is reported as such, not as an OS error that
        would be indistinguishable from a bug."""
        try:
            return await asyncpg.connect(
                self._dsn, timeout=self._connect_timeout, server_settings=self._server_settings
            )
        except _CANNOT_CONNECT as exc:
            raise DatabaseUnreachable(f"cannot connect to the database: {exc!r}") from exc

    def bind_to(self, connection: AsyncConnection) -> None:
        """Make every session join ``connection`` (tests wrap each test in an outer transaction)."""
        self._bound = connection
        self.sessionmaker = async_sessionmaker(
            bind=connection,
            class_=AsyncSession,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends and rolls back when it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of a small asyncpg pool, outside any transaction, for the hot read paths that
        run one query and need no session (open ``connection.transaction()`` to write). Created on
        first use, so a process that never asks has no second pool."""
        if self._bound is not None:
            raw = await self._bound.get_raw_connection()
            yield cast(asyncpg.Connection, raw.driver_connection)
            return
        if self._driver_pool is None:
            async with self._driver_pool_lock:
                if self._driver_pool is None:
                    self._driver_pool = asyncpg.create_pool(
                        self._dsn,
                        min_size=0,  # connect on demand, so that a pool can be made while the server is away
                        max_size=self._driver_pool_size,
                        timeout=self._connect_timeout,
                        server_settings=self._server_settings,
                    )
                    await self._driver_pool
        pool = self._driver_pool
        try:
            connection = await pool.acquire(timeout=self._connect_timeout)
        except (TimeoutError, *_CANNOT_CONNECT) as exc:
            # Acquiring may mean connecting: a failure here is the database being away or busy,
            # never a bug in a query.
            raise ServiceUnavailable(
                "The database is unavailable; retry shortly.", headers={"Retry-After": "2"}
            ) from exc
        try:
            yield cast(asyncpg.Connection, connection)  # a pool proxy, with the connection's methods
        finally:
            await pool.release(connection)

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query within the connect timeout. The check has
        a connection of its own: it never waits for, nor takes, one that serves requests (readiness is
        unauthenticated). A kept connection found broken (the server restarted) is replaced once."""
        async with self._health_lock, asyncio.timeout(self._connect_timeout):
            if self._health_connection is not None and not self._health_connection.is_closed():
                try:
                    await self._health_connection.fetchval("SELECT 1")
                    return
                except Exception:  # whatever the driver says of a dead connection: replace it
                    self._health_connection.terminate()
            self._health_connection = None
            connection = await self._connect()
            try:
                await connection.fetchval("SELECT 1")
            except BaseException:
                connection.terminate()
                raise
            self._health_connection = connection

    def pool_use(self) -> list[tuple[str, str, int]]:
        """``(pool, state, connections)`` of the ORM pool and the asyncpg pool of the hot paths."""
        use: list[tuple[str, str, int]] = []
        pool = self.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        if callable(checked_out) and callable(checked_in):
            use += [("orm", "in_use", checked_out()), ("orm", "idle", checked_in())]
        if self._driver_pool is not None:
            idle = self._driver_pool.get_idle_size()
            use += [("driver", "in_use", self._driver_pool.get_size() - idle), ("driver", "idle", idle)]
        return use

    async def dispose(self) -> None:
        if self._health_connection is not None:
            self._health_connection.terminate()
            self._health_connection = None
        if self._driver_pool is not None:
            await self._driver_pool.close()
            self._driver_pool = None
        await self.engine.dispose()


def database_from(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # A context manager, not a nested generator: an exception raised by the route must reach the
    # rollback now, not when the garbage collector finalizes an abandoned generator.
    async with database_from(request).session() as session:
        yield session


# scope="function": the transaction ends before the response is sent, so a client never holds a
# success for a write whose commit then failed (FastAPI's default closes it after the response).
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
