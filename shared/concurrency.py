"""Optimistic concurrency: ``ETag`` on versioned resources, ``If-Match`` on their changes and
``If-None-Match`` on their reads. Routes keep their ``response_model``: the ETag goes on the
injected response, the route returns the model::

    @router.get("/kpis/{id_or_key}", response_model=KpiPublic)
    async def get_kpi(..., conditional: ConditionalRead) -> KpiPublic | Response:
        kpi = await service.read_kpi(session, id_or_key)
        return conditional.not_modified(kpi.version) or conditional.tagged(kpi, kpi.version)
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Header, Response

from shared.errors import FieldError, PreconditionFailed, PreconditionRequired

T = TypeVar("T")

IfMatch = Annotated[
    str | None,
    Header(description="The `ETag` of the version you changed; required, 412 when it is not current any more."),
]


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def require_if_match(if_match: str | None, version: int) -> None:
    """428 without ``If-Match``; 412 unless it names the current version (or is ``*``)."""
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag you read, so that a concurrent change is not overwritten.",
            errors=[FieldError(location="header", parameter="If-Match", message="Required.", code="missing")],
        )
    candidates = _tags(if_match)
    if "*" not in candidates and etag(version) not in candidates:
        raise PreconditionFailed(
            f"The resource changed since you read it (now {etag(version)}); read it again and retry.",
            headers={"ETag": etag(version)},
        )


class ETagged:
    """Dependency: sets the ``ETag`` of the answer on the response FastAPI sends with the model."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def tagged(self, body: T, version: int) -> T:
        self.response.headers["ETag"] = etag(version)
        return body


class Conditional(ETagged):
    """Dependency of a conditional read: ``If-None-Match`` naming the current version gives a 304."""

    def __init__(
        self,
        response: Response,
        if_none_match: Annotated[str | None, Header(description="304 when the ETag is still current.")] = None,
    ) -> None:
        super().__init__(response)
        self.if_none_match = if_none_match

    def not_modified(self, version: int) -> Response | None:
        """A bodiless 304 when the client holds ``version`` already, else None."""
        if self.if_none_match is None:
            return None
        candidates = _tags(self.if_none_match)
        if "*" in candidates or etag(version) in candidates:
            return Response(status_code=304, headers={"ETag": etag(version)})
        return None


ResponseETag = Annotated[ETagged, Depends(ETagged)]
ConditionalRead = Annotated[Conditional, Depends(Conditional)]
