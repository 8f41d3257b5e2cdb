"""Every SQL query of the KPI service."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.kpi_service.models import Domain, Kpi


def kpis_query(*, domain: Domain | None, include_archived: bool) -> SelectOfScalar[Kpi]:
    statement = select(Kpi)
    if domain is not None:
        statement = statement.where(col(Kpi.domain) == domain.value)
    if not include_archived:
        statement = statement.where(col(Kpi.archived_at).is_(None))
    return statement
