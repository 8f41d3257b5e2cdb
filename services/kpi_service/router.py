"""HTTP routes of the KPI service. Thin: validation and wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col

from services.kpi_service import repository
from services.kpi_service.models import Domain, Kpi
from services.kpi_service.schemas import DomainInfo, KpiPublic
from shared.auth import RequireScope, Scope
from shared.db import SessionDep
from shared.pagination import Page, PageParams, paginate

router = APIRouter(prefix="/v1")


@router.get(
    "/kpi-domains",
    dependencies=[RequireScope(Scope.kpi_read)],
    tags=["kpis"],
    response_model=list[DomainInfo],
    summary="The KPI domains.",
)
async def list_kpi_domains() -> list[DomainInfo]:
    return [DomainInfo(key=d, label=d.value.replace("_", " ").capitalize()) for d in Domain]


@router.get(
    "/kpis",
    dependencies=[RequireScope(Scope.kpi_read)],
    tags=["kpis"],
    response_model=Page[KpiPublic],
    summary="List KPI definitions.",
)
async def list_kpis(
    session: SessionDep,
    page: PageParams,
    domain: Annotated[Domain | None, Query(description="Only KPIs of this domain.")] = None,
    archived: Annotated[bool, Query(description="Include archived KPIs.")] = False,
) -> Page[KpiPublic]:
    statement = repository.kpis_query(domain=domain, include_archived=archived)
    return await paginate(session, statement, (col(Kpi.created_at), col(Kpi.id)), page, KpiPublic.model_validate)
