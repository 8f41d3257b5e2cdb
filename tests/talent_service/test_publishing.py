"""Publishing HR indicators as ``hr.*`` KPIs: the talent app calling the real KPI app over HTTP,
signed as the talent service with its own key (what the KPI service accepts from it is real)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.kpi_service.config import KpiSettings
from services.talent_service.config import TalentSettings
from services.talent_service.main import app
from services.talent_service.publishing import service as publishing
from services.talent_service.publishing.repository import HR_PUBLISH_LOCK
from shared.auth import ServiceIdentity
from shared.clients import KpiClient
from shared.contracts.kpi import Aggregation, Cadence, Direction, Domain, KpiCreate, MeasurementPointIn
from shared.db import Database
from shared.errors import DependencyRejected
from tests.auth import TEST_KEYS
from tests.kpi_service.helpers import create_kpi
from tests.servers import free_port
from tests.shared.conftest import client_settings
from tests.talent_service.helpers import READER, WRITER, hire, move, unit

PUBLISH = "/v1/hr-indicators/publish"
H1_2025 = {"from": "2025-01-01", "to": "2025-06-30"}
JANUARY = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
LOCK = {"a": HR_PUBLISH_LOCK[0], "b": HR_PUBLISH_LOCK[1]}


def talent_identity() -> ServiceIdentity:
    return ServiceIdentity("talent", TEST_KEYS["talent"], ttl_seconds=60)


def kpi_client_for(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> KpiClient:
    """The talent service's KpiClient as its lifespan builds it: signed as talent, with its own key."""
    return KpiClient.create(client_settings(), talent_identity(), base_url=base_url, transport=transport)


@pytest.fixture
def settings() -> Iterator[Any]:
    """``settings(**overrides)`` runs the talent app (and the KPI app: one organisation, one calendar)
    with those settings."""
    from services.kpi_service.main import app as kpi_app

    originals = app.state.settings, kpi_app.state.settings

    def use(**overrides: Any) -> TalentSettings:
        app.state.settings = TalentSettings(**{"hr_publish_concurrency": 1, **overrides})
        if "org_timezone" in overrides:
            kpi_app.state.settings = KpiSettings(org_timezone=overrides["org_timezone"])
        return app.state.settings  # type: ignore[no-any-return]

    yield use
    app.state.settings, kpi_app.state.settings = originals


@pytest.fixture(autouse=True)
async def kpi_service(kpi_client: httpx.AsyncClient) -> AsyncIterator[KpiClient]:
    """The talent app's KpiClient, calling the real KPI app (on the test's transaction: one
    connection, so one call at a time; test_publishing_servers.py creates definitions concurrently)."""
    from services.kpi_service.main import app as kpi_app

    del kpi_client  # requested for its binding of the KPI app
    client = kpi_client_for("http://kpi", httpx.ASGITransport(app=kpi_app))
    app.state.kpi_client = client
    original = app.state.settings
    app.state.settings = TalentSettings(hr_publish_concurrency=1)
    yield client
    app.state.settings = original
    del app.state.kpi_client
    await client.aclose()


@pytest.fixture
async def org(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """acme > sales > emea, and ops: people hired across the first half of 2025, one leaving, one moving."""
    acme = await unit(talent_client, "acme", "company")
    sales = await unit(talent_client, "sales", "department", acme)
    emea = await unit(talent_client, "emea", "team", sales)
    ops = await unit(talent_client, "ops", "department", acme)
    ada = await hire(talent_client, "1", emea, hire="2024-06-01")
    await hire(talent_client, "2", sales, hire="2025-02-10")
    grace = await hire(talent_client, "3", ops, hire="2025-03-05")
    await move(talent_client, grace, sales, "2025-05-01")
    left = await talent_client.patch(
        f"/v1/people/{ada['id']}",
        json={"end_date": "2025-04-15", "separation_reason": "voluntary"},
        headers={"If-Match": "*"},
    )
    assert left.status_code == 200, left.text
    return {"acme": acme, "sales": sales, "emea": emea, "ops": ops, "ada": ada, "grace": grace}


async def published(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post(PUBLISH, json=body) if body is not None else await client.post(PUBLISH)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def monthly(kpi_client: httpx.AsyncClient, key: str, start: str, end: str) -> dict[str, float]:
    """The KPI's monthly series as the KPI service computes it: month start (local date) → value."""
    response = await kpi_client.get(f"/v1/kpis/{key}/series", params={"bucket": "month", "from": start, "to": end})
    assert response.status_code == 200, response.text
    tz = response.json()["tz"]
    from zoneinfo import ZoneInfo

    return {
        dt.datetime.fromisoformat(b["start"]).astimezone(ZoneInfo(tz)).date().isoformat(): b["value"]
        for b in response.json()["buckets"]
    }


async def talent_monthly(client: httpx.AsyncClient, unit_key: str, field: str) -> dict[str, Any]:
    response = await client.get("/v1/hr-indicators/series", params={"org_unit": unit_key, "bucket": "month", **H1_2025})
    assert response.status_code == 200, response.text
    return {item["from"]: item[field] for item in response.json()["items"]}


async def test_every_unit_gets_its_hr_kpis_with_a_point_per_month(
    talent_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    result = await published(talent_client, H1_2025)
    assert (result["from"], result["to"], result["months"], result["org_units"]) == ("2025-01-01", "2025-06-30", 6, 4)
    # headcount for every unit and month; the rates where their denominator is not 0; no trainings,
    # skills or surveys yet, so those KPIs are not created.
    assert result["kpis"] == result["kpis_created"] > 4
    assert result["archived_kpis"] == []
    assert result["inserted"] == result["points"]
    assert result["updated"] == result["unchanged"] == 0

    definition = (await kpi_client.get("/v1/kpis/hr.headcount.sales")).json()
    assert (definition["domain"], definition["cadence"], definition["aggregation"]) == ("hr", "monthly", "last")
    assert (definition["owner_org_unit_id"], definition["direction"]) == (org["sales"]["id"], "target_range")
    turnover = (await kpi_client.get("/v1/kpis/hr.turnover_rate.acme")).json()
    assert (turnover["direction"], turnover["unit"]) == ("decrease", "ratio")
    for absent in ("hr.enps.acme", "hr.skill_coverage.acme", "hr.training_completion_rate.acme"):
        assert (await kpi_client.get(f"/v1/kpis/{absent}")).status_code == 404

    # Each month's point is §9 over that month: the same figures as the talent series.
    for key, field in (("sales", "headcount_end"), ("acme", "headcount_end"), ("emea", "headcount_end")):
        expected = {m: float(v) for m, v in (await talent_monthly(talent_client, key, field)).items()}
        assert await monthly(kpi_client, f"hr.headcount.{key}", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z") == (
            expected
        )
    assert await talent_monthly(talent_client, "sales", "headcount_end") == {
        "2025-01-01": 1, "2025-02-01": 2, "2025-03-01": 2, "2025-04-01": 1, "2025-05-01": 2, "2025-06-01": 2,
    }  # fmt: skip
    turnover_points = await monthly(kpi_client, "hr.turnover_rate.acme", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z")
    assert turnover_points["2025-04-01"] == pytest.approx(1 / 2.5)  # 1 separation, (3 + 2) / 2 members
    points = (await kpi_client.get("/v1/kpis/hr.headcount.acme/measurements")).json()["items"]
    assert [p["ts"] for p in points][:2] == ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"]
    status = (await kpi_client.get("/v1/kpis/hr.headcount.acme/status")).json()
    assert status["last_measurement_at"] == "2025-06-01T00:00:00Z"


@pytest.mark.usefixtures("org")
async def test_points_are_stamped_at_the_local_first_instant_of_each_month(
    talent_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, settings: Any
) -> None:
    settings(org_timezone="Europe/Paris")
    await published(talent_client, {"from": "2025-01-20", "to": "2025-02-03"})  # whole months
    points = (await kpi_client.get("/v1/kpis/hr.headcount.sales/measurements")).json()["items"]
    assert [(p["ts"], p["value"]) for p in points] == [("2024-12-31T23:00:00Z", 1.0), ("2025-01-31T23:00:00Z", 2.0)]
    series = await monthly(kpi_client, "hr.headcount.sales", "2025-01-01T00:00:00+01:00", "2025-03-01T00:00:00+01:00")
    assert series == {"2025-01-01": 1.0, "2025-02-01": 2.0}


@pytest.mark.usefixtures("org")
async def test_publishing_twice_changes_nothing(talent_client: httpx.AsyncClient) -> None:
    first = await published(talent_client, H1_2025)
    again = await published(talent_client, H1_2025)
    assert again["kpis_created"] == 0
    assert (again["points"], again["kpis"]) == (first["points"], first["kpis"])
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, first["points"])


async def test_a_corrected_hire_date_corrects_the_affected_months(
    talent_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    await published(talent_client, H1_2025)
    before = await monthly(kpi_client, "hr.headcount.ops", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z")
    assert before == {"2025-01-01": 0, "2025-02-01": 0, "2025-03-01": 1, "2025-04-01": 1, "2025-05-01": 0,
                      "2025-06-01": 0}  # fmt: skip
    # Grace was in fact hired in January (the HRIS had the wrong date).
    fixed = await talent_client.patch(
        f"/v1/people/{org['grace']['id']}", json={"hire_date": "2025-01-10"}, headers={"If-Match": "*"}
    )
    assert fixed.status_code == 200, fixed.text
    again = await published(talent_client, H1_2025)
    after = await monthly(kpi_client, "hr.headcount.ops", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z")
    assert after == before | {"2025-01-01": 1, "2025-02-01": 1}
    # ops and acme gain January and February members: their headcounts and rates change, and the
    # rates of ops, undefined without members, get their first points.
    assert again["updated"] > 0
    assert again["inserted"] > 0
    assert again["inserted"] + again["updated"] + again["unchanged"] == again["points"]


@pytest.mark.usefixtures("org")
async def test_the_default_range_is_the_last_24_months_up_to_today(
    talent_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    today = app.state.settings.today()
    result = await published(talent_client)
    assert (result["months"], result["to"]) == (24, today.isoformat())
    assert result["from"] == publishing.months_before(today.replace(day=1), 23).isoformat()
    status = (await kpi_client.get("/v1/kpis/hr.headcount.sales/status")).json()
    assert (status["status"], status["value"], status["period_start"]) == (
        "no_target", 2.0, today.replace(day=1).isoformat(),
    )  # fmt: skip
    assert (await published(talent_client, {}))["unchanged"] == result["points"]


async def test_archived_units_and_archived_kpis_are_left_out(
    talent_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    await published(talent_client, H1_2025)
    archived = await kpi_client.delete("/v1/kpis/hr.headcount.sales", headers={"If-Match": "*"})
    assert archived.status_code == 200, archived.text  # it has measurements: archived, not deleted
    gone = await talent_client.delete(f"/v1/org-units/{org['ops']['key']}", headers={"If-Match": "*"})
    assert gone.status_code == 200
    assert gone.json()["archived_at"] is not None
    result = await published(talent_client, H1_2025)
    assert result["org_units"] == 3
    assert result["archived_kpis"] == ["hr.headcount.sales"]
    assert (result["kpis_created"], result["inserted"]) == (0, 0)


async def test_the_talent_identity_writes_hr_kpis_only(kpi_service: KpiClient, kpi_client: httpx.AsyncClient) -> None:
    kpi_service = kpi_service.acting_for(publishing.JOB)
    other = await create_kpi(kpi_client, aggregation="last")
    with pytest.raises(DependencyRejected) as refused:
        await kpi_service.ingest([MeasurementPointIn(kpi=other["key"], ts=JANUARY, value=1)])
    assert refused.value.dependency_status == 403
    assert refused.value.problem is not None
    assert refused.value.problem.errors
    assert refused.value.problem.errors[0].code == "kpi_key_not_allowed"
    definition = KpiCreate(
        key="finance.payroll", name="Payroll", unit="EUR", domain=Domain.finance, direction=Direction.decrease,
        aggregation=Aggregation.sum, cadence=Cadence.monthly,
    )  # fmt: skip
    with pytest.raises(DependencyRejected) as refused:
        await kpi_service.create_kpis([definition])
    assert refused.value.dependency_status == 403
    assert (await kpi_client.get("/v1/kpis/finance.payroll")).status_code == 404
    # Reading is not among its scopes either: it learns what exists from a dry run.
    with pytest.raises(DependencyRejected) as refused:
        await kpi_service.get_kpi(other["key"])
    assert refused.value.dependency_status == 403
    state = await kpi_service.writable(["hr.ghost.acme"], at=JANUARY)
    assert (state.unknown, state.archived) == (frozenset({"hr.ghost.acme"}), frozenset[str]())


@pytest.mark.usefixtures("org")
async def test_the_kpi_service_down_is_a_503_naming_it(talent_client: httpx.AsyncClient) -> None:
    down = kpi_client_for(f"http://127.0.0.1:{free_port()}")
    app.state.kpi_client = down
    try:
        response = await talent_client.post(PUBLISH, json=H1_2025)
    finally:
        await down.aclose()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["source"] == "kpi"
    assert "kpi service" in response.json()["detail"]
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("org")
async def test_one_publish_at_a_time(
    talent_client: httpx.AsyncClient,
    kpi_client: httpx.AsyncClient,
    engine: AsyncEngine,
    database_url: str,
    connection: AsyncConnection,
) -> None:
    async with engine.connect() as other:  # another process, publishing
        assert (await other.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), LOCK)).scalar()
        try:
            busy = await talent_client.post(PUBLISH, json=H1_2025)
            assert busy.status_code == 409, busy.text
            assert "another run" in busy.json()["detail"]
            database = Database(database_url, client_settings())
            database.bind_to(connection)
            skipped = await publishing.publish_once(database, app.state.kpi_client, app.state.settings)
            assert skipped is None
            assert (await kpi_client.get("/v1/kpis/hr.headcount.acme")).status_code == 404  # nothing written
        finally:
            await other.execute(text("SELECT pg_advisory_unlock(:a, :b)"), LOCK)
    assert (await talent_client.post(PUBLISH, json=H1_2025)).status_code == 200


@pytest.mark.usefixtures("org")
async def test_the_periodic_run_publishes_the_default_months(
    kpi_client: httpx.AsyncClient, database_url: str, connection: AsyncConnection
) -> None:
    database = Database(database_url, client_settings())
    database.bind_to(connection)
    client: KpiClient = app.state.kpi_client
    result = await publishing.publish_once(database, client.acting_for(publishing.JOB), app.state.settings)
    assert result is not None
    assert (result.months, result.inserted) == (24, result.points)
    measured = (await kpi_client.get("/v1/kpis/hr.headcount.acme/measurements")).json()["items"]
    assert len(measured) == 24


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"from": "2999-01-01"}, "/from", "future"),
        ({"from": "2025-03-01", "to": "2025-02-01"}, "/to", "reversed"),
        ({"from": "1950-01-01"}, "/from", "too_long"),
        ({"from": "0001-01-01"}, "/from", "too_early"),
        ({"to": "0001-01-01"}, "/to", "too_early"),
        ({"to": "1899-12-31"}, "/to", "too_early"),
        ({"from": "2025-01-01", "org_unit": "acme"}, "/org_unit", None),
        ({"from": "January"}, "/from", None),
    ],
)
async def test_a_bad_range_is_a_422_on_its_field(
    talent_client: httpx.AsyncClient, body: dict[str, Any], pointer: str, code: str | None
) -> None:
    response = await talent_client.post(PUBLISH, json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["pointer"] for e in errors] == [pointer]
    if code is not None:
        assert errors[0]["code"] == code


async def test_a_range_ending_in_the_past_keeps_its_default_length(talent_client: httpx.AsyncClient) -> None:
    result = await published(talent_client, {"to": "1901-06-15"})
    assert (result["from"], result["to"], result["months"]) == ("1900-01-01", "1901-06-30", 18)  # cut at 1900
    result = await published(talent_client, {"to": "2025-06-15"})
    assert (result["from"], result["to"], result["months"]) == ("2023-07-01", "2025-06-30", 24)


async def test_publishing_needs_talent_write(talent_client: httpx.AsyncClient) -> None:
    response = await talent_client.post(PUBLISH, json=H1_2025, headers=READER)
    assert response.status_code == 403
    assert "talent:write" in response.json()["detail"]
    assert (await talent_client.post(PUBLISH, json=H1_2025, headers=WRITER)).status_code == 200


async def test_a_definition_created_meanwhile_is_not_an_error(kpi_service: KpiClient) -> None:
    writer = kpi_service.acting_for(publishing.JOB)
    definition = KpiCreate(
        key="hr.headcount.raced", name="Headcount: Raced", unit="people", domain=Domain.hr,
        direction=Direction.target_range, aggregation=Aggregation.last, cadence=Cadence.monthly,
    )  # fmt: skip
    [first] = await writer.create_kpis([definition])
    assert first is not None
    assert first.key == "hr.headcount.raced"
    assert await writer.create_kpis([definition]) == [None]  # taken: another run made it
    state = await writer.writable(["hr.headcount.raced", "hr.headcount.ghost"], at=JANUARY)
    assert state.unknown == frozenset({"hr.headcount.ghost"})
