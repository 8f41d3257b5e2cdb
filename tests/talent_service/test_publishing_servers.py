"""Publishing between real servers: the talent and KPI apps each in uvicorn with their lifespans (the
talent service's periodic job included), each with its own connections to a database of their own."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from pilotage import migrate
from services.talent_service.config import TalentSettings
from services.talent_service.publishing.repository import HR_PUBLISH_LOCK
from shared.auth import INTERNAL_TOKEN_HEADER, ServiceIdentity, internal_token_authenticator
from shared.db import Database
from shared.settings import Settings
from tests.auth import TEST_KEYS, token, verifier_for
from tests.database import temporary_database
from tests.servers import serve

PUBLISH = "/v1/hr-indicators/publish"


@pytest.fixture(scope="module")
def platform_database() -> Iterator[str]:
    with temporary_database("pilotage_publish") as url:
        migrate.upgrade(url)
        yield url


@contextlib.asynccontextmanager
async def running(app: FastAPI, url: str, settings: Settings | None = None) -> AsyncIterator[str]:
    """``app`` in uvicorn with its lifespan, on a database of its own and the suite's keys; the
    module-level app is left as it was found."""
    service: str = app.state.service
    saved = {name: getattr(app.state, name, None) for name in ("settings", "database", "authenticator", "identity")}
    checks = dict(app.state.readiness_checks)
    database = Database(url, Settings())
    app.state.database = database
    app.state.authenticator = internal_token_authenticator(verifier_for(service))
    app.state.identity = ServiceIdentity(service, TEST_KEYS[service], ttl_seconds=60)
    if settings is not None:
        app.state.settings = settings
    try:
        async with serve(app, lifespan="on", settings=app.state.settings) as base_url:
            yield base_url
    finally:
        await database.dispose()
        for name, value in saved.items():
            if value is None:
                with contextlib.suppress(AttributeError):
                    delattr(app.state, name)
            else:
                setattr(app.state, name, value)
        app.state.readiness_checks = checks


async def eventually(probe: Any, timeout: float = 20.0) -> Any:
    """The first truthy answer of ``probe()`` within ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await probe()
        if answer:
            return answer
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_the_periodic_job_and_the_route_publish_between_real_servers(platform_database: str) -> None:
    from services.kpi_service.main import app as kpi_app
    from services.talent_service.main import app as talent_app

    today = dt.datetime.now(dt.UTC).date()
    kpi_server = running(kpi_app, platform_database)
    kpi_url = await kpi_server.__aenter__()
    kpi_running = True
    try:
        talent_settings = TalentSettings(
            kpi_url=kpi_url, hr_publish_interval_seconds=0.3, upstream_retries=0, upstream_connect_timeout=0.5
        )
        async with (
            running(talent_app, platform_database, talent_settings) as talent_url,
            httpx.AsyncClient(base_url=talent_url, headers={INTERNAL_TOKEN_HEADER: token("talent", "admin")}) as talent,
            httpx.AsyncClient(base_url=kpi_url, headers={INTERNAL_TOKEN_HEADER: token("kpi", "admin")}) as kpi,
        ):
            company = await talent.post("/v1/org-units", json={"key": "globex", "name": "Globex", "kind": "company"})
            assert company.status_code == 201, company.text
            hired = await talent.post(
                "/v1/people",
                json={"employee_number": "g1", "name": "Hank", "email": "hank@example.com",
                      "hire_date": "2024-01-15", "org_unit_id": company.json()["id"]},
            )  # fmt: skip
            assert hired.status_code == 201, hired.text

            # No one asks: the periodic job publishes on its own, signed as the talent service.
            async def headcount() -> dict[str, Any] | None:
                status = await kpi.get("/v1/kpis/hr.headcount.globex/status")
                return status.json() if status.status_code == 200 and status.json()["value"] == 1.0 else None

            status = await eventually(headcount)
            assert (status["status"], status["period_start"]) == ("no_target", today.replace(day=1).isoformat())
            measured = (await kpi.get("/v1/kpis/hr.headcount.globex/measurements", params={"limit": 100})).json()
            assert len(measured["items"]) == 24
            audited = (await kpi.get("/v1/kpis/hr.headcount.globex")).json()
            assert (audited["domain"], audited["owner_org_unit_id"]) == ("hr", company.json()["id"])

            # The route: what the job already wrote is unchanged.
            again = await talent.post(PUBLISH, json={})
            assert again.status_code == 200, again.text
            assert again.json()["unchanged"] == again.json()["points"] > 0
            assert again.json()["kpis_created"] == 0

            # A corrected hire date reaches the KPI on the job's next run.
            fixed = await talent.patch(
                f"/v1/people/{hired.json()['id']}", json={"hire_date": today.replace(day=1).isoformat()},
                headers={"If-Match": "*"},
            )  # fmt: skip
            assert fixed.status_code == 200, fixed.text

            async def corrected() -> bool:
                series = (await kpi.get("/v1/kpis/hr.headcount.globex/measurements", params={"limit": 100})).json()
                return [p["value"] for p in series["items"]] == [0.0] * 23 + [1.0]

            await eventually(corrected)

            # Another process holding the lock: the route answers 409 and writes nothing.
            holder = await asyncpg.connect(platform_database)
            try:
                assert await holder.fetchval("SELECT pg_try_advisory_lock($1, $2)", *HR_PUBLISH_LOCK)
                busy = await talent.post(PUBLISH, json={})
                assert busy.status_code == 409, busy.text
            finally:
                await holder.close()

            # The KPI service stops: publishing answers 503 naming it; the talent service carries on,
            # its job failing (and logging) without ending.
            await kpi_server.__aexit__(None, None, None)
            kpi_running = False
            down = await talent.post(PUBLISH, json={})
            assert down.status_code == 503, down.text
            assert down.json()["source"] == "kpi"
            assert "retry-after" in down.headers
            await asyncio.sleep(1.0)  # a few failed runs of the job
            jobs = [t for t in asyncio.all_tasks() if t.get_name() == "hr-publish"]
            assert len(jobs) == 1
            assert not jobs[0].done()
            assert (await talent.get("/v1/org-units")).status_code == 200
            assert (await talent.get("/readyz")).status_code == 200
    finally:
        if kpi_running:
            await kpi_server.__aexit__(None, None, None)
    assert [t for t in asyncio.all_tasks() if t.get_name() == "hr-publish"] == []  # stopped with the app
