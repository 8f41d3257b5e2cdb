"""Every SQL query of the talent service."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.talent_service.models import OrgUnit, OrgUnitKind


def org_units_query(*, kind: OrgUnitKind | None, parent_id: uuid.UUID | None) -> SelectOfScalar[OrgUnit]:
    statement = select(OrgUnit)
    if kind is not None:
        statement = statement.where(col(OrgUnit.kind) == kind.value)
    if parent_id is not None:
        statement = statement.where(col(OrgUnit.parent_id) == parent_id)
    return statement
