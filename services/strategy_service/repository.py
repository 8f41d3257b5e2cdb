"""Every SQL query of the strategy service."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.strategy_service.models import Level, Objective


def objectives_query(*, level: Level | None, parent_id: uuid.UUID | None) -> SelectOfScalar[Objective]:
    statement = select(Objective)
    if level is not None:
        statement = statement.where(col(Objective.level) == level.value)
    if parent_id is not None:
        statement = statement.where(col(Objective.parent_id) == parent_id)
    return statement
