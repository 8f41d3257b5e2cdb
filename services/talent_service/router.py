"""HTTP routes of the talent service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.talent_service import service
from services.talent_service.schemas import OrgUnitCreate, OrgUnitKind, OrgUnitPublic, OrgUnitTree, OrgUnitUpdate
from shared.auth import Principal, RequireScope, Scope
from shared.concurrency import ConditionalRead, IfMatch, ResponseETag
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, RequireScope(Scope.talent_read)]
Writer = Annotated[Principal, RequireScope(Scope.talent_write)]
UnitIdOrKey = Annotated[str, Path(max_length=40, description="The org unit's id (hyphenated UUID) or key.")]
NOT_MODIFIED = {"description": "The `If-None-Match` ETag is still current.", "headers": response_headers("ETag")}


@router.get(
    "/org-units",
    tags=["org-units"],
    response_model=Page[OrgUnitPublic],
    summary="List org units.",
)
async def list_org_units(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    kind: Annotated[OrgUnitKind | None, Query(description="Only units of this kind.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only the children of this unit.")] = None,
    archived: Annotated[bool | None, Query(description="true: only archived units; false: only active ones.")] = None,
) -> Page[OrgUnitPublic]:
    return await service.list_org_units(session, page, kind=kind, parent_id=parent_id, archived=archived)


@router.post(
    "/org-units",
    tags=["org-units"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrgUnitPublic,
    responses={201: {"headers": response_headers("ETag", "Location")}, **problem_responses(409)},
    summary="Create an org unit (retry safely with Idempotency-Key).",
)
async def create_org_unit(
    body: OrgUnitCreate, session: SessionDep, idempotency: Idempotency, response: Response, _: Writer
) -> OrgUnitPublic:
    return (await service.create_org_unit(session, body, idempotency)).send(response)


@router.get(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    response_model=OrgUnitPublic,
    responses={200: {"headers": response_headers("ETag")}, 304: NOT_MODIFIED, **problem_responses(404)},
    summary="One org unit.",
)
async def get_org_unit(
    id_or_key: UnitIdOrKey, session: SessionDep, conditional: ConditionalRead, _: Reader
) -> OrgUnitPublic | Response:
    unit, version = await service.read_org_unit(session, id_or_key)
    return conditional.not_modified(version) or conditional.tagged(unit, version)


@router.patch(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    response_model=OrgUnitPublic,
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 412, 428)},
    summary="Rename, re-kind, move or archive an org unit (If-Match required; the key never changes).",
)
async def update_org_unit(
    id_or_key: UnitIdOrKey,
    body: OrgUnitUpdate,
    session: SessionDep,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> OrgUnitPublic:
    unit, version = await service.update_org_unit(session, id_or_key, body, if_match)
    return tag.tagged(unit, version)


@router.delete(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        200: {
            "model": OrgUnitPublic,
            "description": "Something refers to the unit: it is archived, not deleted.",
            "headers": response_headers("ETag"),
        },
        **problem_responses(404, 412, 428),
    },
    summary="Delete an org unit, or archive it when anything refers to it.",
)
async def delete_org_unit(
    id_or_key: UnitIdOrKey, session: SessionDep, tag: ResponseETag, _: Writer, if_match: IfMatch = None
) -> OrgUnitPublic | None:
    archived = await service.delete_org_unit(session, id_or_key, if_match)
    if archived is None:
        return None
    tag.response.status_code = status.HTTP_200_OK
    return tag.tagged(*archived)


@router.get(
    "/org-units/{id_or_key}/tree",
    tags=["org-units"],
    response_model=OrgUnitTree,
    responses=problem_responses(404),
    summary="The unit with every descendant nested in `children` (archived ones included, marked).",
)
async def get_org_unit_tree(id_or_key: UnitIdOrKey, session: SessionDep, _: Reader) -> OrgUnitTree:
    return await service.org_unit_tree(session, id_or_key)
