"""StrategyClient and TalentClient against the real strategy and talent apps: one page, or every
page followed by cursor, filters passed through, contract models out."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.strategy_service.models import Objective
from services.talent_service.models import OrgUnit
from shared.clients import StrategyClient, TalentClient
from shared.contracts.strategy import Level, ObjectivePublic, ObjectiveStatus
from shared.contracts.talent import OrgUnitKind, OrgUnitPublic
from shared.errors import DependencyRejected
from shared.pagination import MAX_LIMIT
from tests.conftest import bind_app
from tests.servers import serve
from tests.shared.conftest import Recorder, client_settings, tokens


@pytest.fixture
async def strategy_app(database_url: str, connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    from services.strategy_service.main import app

    bind_app(app, database_url, connection)
    yield app
    del app.state.database
    del app.state.authenticator


@pytest.fixture
async def talent_app(database_url: str, connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    from services.talent_service.main import app

    bind_app(app, database_url, connection)
    yield app
    del app.state.database
    del app.state.authenticator


async def test_objectives_one_page_and_every_page(strategy_app: FastAPI, connection: AsyncConnection) -> None:
    company = uuid.uuid4()
    rows = [{"id": company, "title": "Grow", "level": "company", "period_start": dt.date(2026, 1, 1),
             "period_end": dt.date(2026, 12, 31), "status": "active"}]  # fmt: skip
    await connection.execute(insert(Objective), rows)
    rows = [
        {"title": f"Team {i}", "level": "team", "parent_id": company, "period_start": dt.date(2026, 1, 1),
         "period_end": dt.date(2026, 3, 31)}
        for i in range(3)
    ]  # fmt: skip
    await connection.execute(insert(Objective), rows)
    recorder = Recorder(strategy_app)
    client = StrategyClient.create(
        client_settings(), tokens("strategy:read", key_id="gateway"), base_url="http://strategy",
        transport=httpx.ASGITransport(app=recorder),
    )  # fmt: skip
    async with client:
        page = await client.objectives_page(level=Level.team, limit=2)
        assert [type(o) for o in page.items] == [ObjectivePublic] * 2
        assert page.next_cursor is not None
        rest = await client.objectives_page(level=Level.team, limit=2, cursor=page.next_cursor)
        assert rest.next_cursor is None
        paged = page.items + rest.items
        [top] = await client.objectives(level=Level.company)
        assert (top.id, top.status) == (company, ObjectiveStatus.active)
        children = await client.objectives(parent_id=company)
        assert children == paged  # the same order, page by page or all at once
        assert sorted(o.title for o in children) == ["Team 0", "Team 1", "Team 2"]
        assert recorder.requests[-1].url.params["limit"] == str(MAX_LIMIT)
        assert recorder.requests[-1].url.params["parent_id"] == str(company)

        reader = StrategyClient.create(client_settings(), tokens("kpi:read"), base_url="http://strategy",
                                       transport=httpx.ASGITransport(app=strategy_app))  # fmt: skip
        async with reader:
            with pytest.raises(DependencyRejected) as refused:
                await reader.objectives()
        assert (refused.value.source, refused.value.dependency_status) == ("strategy", 403)


async def test_org_units_follow_every_page(talent_app: FastAPI, connection: AsyncConnection) -> None:
    root = uuid.uuid4()
    await connection.execute(insert(OrgUnit), [{"id": root, "key": "acme", "name": "Acme", "kind": "company"}])
    teams = [
        {"key": f"team_{i:03}", "name": f"Team {i:03}", "kind": "team", "parent_id": root}
        for i in range(MAX_LIMIT + 20)
    ]
    await connection.execute(insert(OrgUnit), teams)
    recorder = Recorder(talent_app)
    async with serve(recorder) as url:
        client = TalentClient.create(client_settings(), tokens("talent:read", key_id="gateway"), base_url=url)
        async with client:
            units = await client.org_units(kind=OrgUnitKind.team)
            assert len(units) == MAX_LIMIT + 20
            assert {type(u) for u in units} == {OrgUnitPublic}
            assert len({u.id for u in units}) == MAX_LIMIT + 20
            assert len(recorder.requests) == 2  # two pages of at most 500, not one call per unit
            page = await client.org_units_page(parent_id=root, limit=5)
            assert len(page.items) == 5
            assert page.next_cursor is not None
            [company] = await client.org_units(kind=OrgUnitKind.company)
            assert company.id == root
