"""The gateway's own routes: API keys and the audit trail (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.gateway import service
from services.gateway.runtime import GatewayRuntime
from services.gateway.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, AuditEventPublic
from shared.auth import Principal, RequireScope, Scope
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.pagination import Page, PageParams
from shared.schemas import Rfc3339

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 429))
Admin = Annotated[Principal, RequireScope(Scope.admin)]
KeyId = Annotated[str, Path(pattern=r"^[a-z0-9]{8,16}$", description="The key's id (`pk_<id>_...`).")]


def _runtime(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime


@router.post(
    "/api-keys",
    tags=["api-keys"],
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={201: {"description": "The key, with its secret (shown once).", "headers": response_headers("Location")}},
    summary="Create an API key; its secret is returned once.",
)
async def create_api_key(body: ApiKeyCreate, session: SessionDep, admin: Admin, response: Response) -> ApiKeyCreated:
    key, full = await service.create_key(session, body, created_by=admin.key_id)
    response.headers["Location"] = f"/v1/api-keys/{key.id}"
    return ApiKeyCreated(**ApiKeyPublic.model_validate(key).model_dump(), key=full)


@router.get("/api-keys", tags=["api-keys"], response_model=Page[ApiKeyPublic], summary="List API keys.")
async def list_api_keys(
    session: SessionDep,
    page: PageParams,
    _: Admin,
    revoked: Annotated[bool, Query(description="Include revoked keys.")] = False,
) -> Page[ApiKeyPublic]:
    return await service.list_keys(session, page, include_revoked=revoked)


@router.get(
    "/api-keys/{key_id}",
    tags=["api-keys"],
    response_model=ApiKeyPublic,
    responses=problem_responses(404),
    summary="One API key (never its secret).",
)
async def get_api_key(key_id: KeyId, session: SessionDep, _: Admin) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(await service.read_key(session, key_id))


@router.delete(
    "/api-keys/{key_id}",
    tags=["api-keys"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404),
    summary="Revoke an API key (effective within a second everywhere; revoking twice is harmless).",
)
async def revoke_api_key(key_id: KeyId, session: SessionDep, request: Request, _: Admin) -> Response:
    await service.revoke_key(session, key_id, _runtime(request).keys)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/audit-events",
    tags=["audit"],
    response_model=Page[AuditEventPublic],
    summary="Writes made through the gateway: who, what, when, with what outcome.",
)
async def list_audit_events(
    session: SessionDep,
    page: PageParams,
    _: Admin,
    key_id: Annotated[str | None, Query(pattern=r"^[a-z0-9]{8,16}$")] = None,
    method: Annotated[str | None, Query(pattern=r"^(?i:POST|PUT|PATCH|DELETE)$")] = None,
    path_prefix: Annotated[str | None, Query(max_length=500, description="e.g. `/v1/kpis`")] = None,
    status_code: Annotated[int | None, Query(alias="status", ge=100, le=599)] = None,
    since: Annotated[Rfc3339 | None, Query(description="Inclusive, RFC 3339.")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Exclusive, RFC 3339.")] = None,
) -> Page[AuditEventPublic]:
    return await service.list_audit_events(
        session,
        page,
        key_id=key_id,
        method=method,
        path_prefix=path_prefix,
        status=status_code,
        since=since,
        until=until,
    )
