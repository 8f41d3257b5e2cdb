"""StrategyClient.initiatives against the real strategy app: one lookup call for many targets, one
per 500 of a kind beyond, none for nothing; contract models out."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.strategy_service.models import Initiative, Objective
from shared.clients import StrategyClient
from shared.contracts.strategy import InitiativeBrief, InitiativeStatus
from tests.database import insert_rows
from tests.shared.conftest import Recorder, client_settings, tokens

TODAY = dt.datetime.now(dt.UTC).date()
DAY = dt.timedelta(days=1)


async def test_initiatives_of_many_targets_in_one_call(
    strategy_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    from services.strategy_service.main import app

    del strategy_client  # requested for its binding of the strategy app
    goals = [uuid.uuid4() for _ in range(3)]
    await connection.execute(
        insert(Objective),
        [{"id": g, "title": "Goal", "level": "company", "period_start": TODAY, "period_end": TODAY} for g in goals],
    )
    late, on_kpi, done, elsewhere = (uuid.uuid4() for _ in range(4))
    start, due = TODAY - 9 * DAY, TODAY + DAY
    first, second = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    scrap, running, finished = "ops.scrap_rate", InitiativeStatus.in_progress, InitiativeStatus.done
    await insert_rows(
        connection,
        Initiative(title="Late", start_date=start, due_date=TODAY - DAY, id=late, objective_id=goals[0],
                   created_at=first),
        Initiative(title="On", start_date=start, due_date=due, id=on_kpi, kpi=scrap, status=running,
                   created_at=second),
        Initiative(title="Done", start_date=start, due_date=due, id=done, objective_id=goals[1], kpi=scrap,
                   status=finished, done_on=TODAY),
        Initiative(title="Other", start_date=start, due_date=due, id=elsewhere, objective_id=goals[2]),
    )  # fmt: skip
    recorder = Recorder(app)
    client = StrategyClient.create(
        client_settings(), tokens("strategy:read", key_id="gateway"), base_url="http://strategy",
        transport=httpx.ASGITransport(app=recorder),
    )  # fmt: skip
    async with client:
        found = await client.initiatives(objective_ids=[goals[0], goals[1], goals[0]], kpis=["ops.scrap_rate"])
        assert [type(b) for b in found] == [InitiativeBrief] * 2
        assert [(b.id, b.overdue, b.status) for b in found] == [
            (late, True, InitiativeStatus.planned), (on_kpi, False, InitiativeStatus.in_progress),
        ]  # fmt: skip
        assert [r.url.path for r in recorder.requests] == ["/v1/initiative-lookups"]
        every = await client.initiatives(objective_ids=[goals[1]], kpis=["ops.scrap_rate"], open_only=False)
        assert {b.id for b in every} == {on_kpi, done}
        recorder.requests.clear()
        many = await client.initiatives(
            objective_ids=[*(uuid.uuid4() for _ in range(600)), goals[2]], kpis=["ops.scrap_rate"]
        )
        assert len(recorder.requests) == 2  # 601 objectives: two calls, the KPI asked once
        assert {b.id for b in many} == {elsewhere, on_kpi}
        recorder.requests.clear()
        assert await client.initiatives() == []
        assert recorder.requests == []
