"""The talent service's rules. Every route calls one function here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository
from services.talent_service.config import MAX_BATCH_PEOPLE, TalentSettings
from services.talent_service.models import (
    Assignment,
    IdempotencyRecord,
    OrgUnit,
    OrgUnitKind,
    Person,
    Salary,
    SeparationReason,
)
from services.talent_service.schemas import (
    AssignmentCreate,
    AssignmentPublic,
    Assignments,
    HrIndicators,
    HrIndicatorSeries,
    OrgUnitCreate,
    OrgUnitPublic,
    OrgUnitTree,
    OrgUnitUpdate,
    PersonCreate,
    PersonPublic,
    PersonUpdate,
    Salaries,
    SalaryCreate,
    SalaryEvolution,
    SalaryIn,
    SalaryPublic,
    SeriesBucket,
    UpsertResult,
)
from services.talent_service.suppression import MINIMUM_GROUP, visible_units
from shared.auth import Principal, Scope
from shared.concurrency import etag, require_if_match
from shared.errors import (
    MAX_REPORTED_ERRORS,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnprocessableContent,
    field_errors_from_validation,
)
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.models import utcnow
from shared.pagination import Page, PageRequest

# ---------------------------------------------------------------- org units


async def list_org_units(
    session: AsyncSession,
    page: PageRequest,
    *,
    kind: OrgUnitKind | None = None,
    parent_id: uuid.UUID | None = None,
    archived: bool | None = None,
) -> Page[OrgUnitPublic]:
    """Org units of ``kind`` and/or under ``parent_id``, oldest first."""
    rows = await repository.org_units_page(session, page, kind=kind, parent_id=parent_id, archived=archived)
    return Page[OrgUnitPublic](
        items=[OrgUnitPublic.model_validate(u) for u in rows.items], next_cursor=rows.next_cursor
    )


async def get_org_unit(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> OrgUnit:
    unit = await repository.get_org_unit(session, id_or_key, for_update=for_update)
    if unit is None:
        raise NotFound(f"No org unit {id_or_key!r}.")
    return unit


async def read_org_unit(session: AsyncSession, id_or_key: str) -> tuple[OrgUnitPublic, int]:
    unit = await get_org_unit(session, id_or_key)
    return OrgUnitPublic.model_validate(unit), unit.version


def _kind_error(message: str) -> UnprocessableContent:
    return UnprocessableContent(message, errors=[FieldError(pointer="/kind", message=message, code="kind_rank")])


async def _parent(session: AsyncSession, parent_id: uuid.UUID, kind: OrgUnitKind, *, moving: bool = True) -> OrgUnit:
    """The parent a unit of ``kind`` may be (``moving``: newly) placed under; 422 naming
    ``/parent_id`` or ``/kind`` otherwise. Nothing new goes under an archived unit."""
    parent = await repository.get_org_unit(session, str(parent_id))
    if parent is None or (moving and parent.archived_at is not None):
        reason = "No such org unit." if parent is None else "The unit is archived."
        raise UnprocessableContent(
            f"Cannot place the unit under {parent_id}: {reason}",
            errors=[FieldError(pointer="/parent_id", message=reason, code="unknown" if parent is None else "archived")],
        )
    if kind.rank < parent.kind.rank:
        raise _kind_error(f"A {kind.value} cannot be placed under a {parent.kind.value}.")
    return parent


async def create_org_unit(
    session: AsyncSession, body: OrgUnitCreate, idempotency: IdempotentRequest
) -> Answer[OrgUnitPublic]:
    """Create a unit (201 with ``Location`` and ``ETag``); a retry with the same ``Idempotency-Key``
    gets the first answer again."""

    async def create() -> Answer[OrgUnitPublic]:
        if await repository.org_unit_key_exists(session, body.key):
            raise Conflict(
                f"An org unit with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        if body.parent_id is not None:
            await _parent(session, body.parent_id, body.kind)
        unit = OrgUnit(**body.model_dump())
        session.add(unit)
        await session.flush()
        await session.refresh(unit)
        headers = {"Location": f"/v1/org-units/{unit.key}", "ETag": etag(unit.version)}
        return Answer(OrgUnitPublic.model_validate(unit), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, OrgUnitPublic, idempotency, create)


async def update_org_unit(
    session: AsyncSession, id_or_key: str, body: OrgUnitUpdate, if_match: str | None
) -> tuple[OrgUnitPublic, int]:
    """Rename, re-kind, move or (un)archive a unit. A move never makes a cycle; kinds keep ranking
    at or below the parent's and at or above the children's."""
    changes = body.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await repository.lock_tree(session)  # before the row lock: every move takes them in this order
    unit = await get_org_unit(session, id_or_key, for_update=True)
    require_if_match(if_match, unit.version)
    kind = body.kind if body.kind is not None else unit.kind
    parent_id = changes.get("parent_id", unit.parent_id)
    moving = parent_id != unit.parent_id
    if parent_id is not None and moving and await repository.in_subtree(session, unit.id, parent_id):
        raise UnprocessableContent(
            "A unit cannot be moved under itself or one of its descendants.",
            errors=[FieldError(pointer="/parent_id", message="Would make a cycle.", code="cycle")],
        )
    if parent_id is not None and (moving or "kind" in changes):
        await _parent(session, parent_id, kind, moving=moving)
    if "kind" in changes:
        below = [k for k in await repository.children_kinds(session, unit.id) if k.rank < kind.rank]
        if below:
            raise _kind_error(f"The unit has a child of kind {below[0].value}, which cannot be under a {kind.value}.")
    if body.name is not None:
        unit.name = body.name
    unit.kind = kind
    unit.parent_id = parent_id
    if body.archived is not None:
        unit.archived_at = (unit.archived_at or utcnow()) if body.archived else None
    unit.version += 1
    unit.updated_at = utcnow()
    session.add(unit)
    await session.flush()
    await session.refresh(unit)
    return OrgUnitPublic.model_validate(unit), unit.version


async def delete_org_unit(
    session: AsyncSession, id_or_key: str, if_match: str | None
) -> tuple[OrgUnitPublic, int] | None:
    """Delete a unit nothing refers to; archive one that has children or people (history stays
    true). Returns the archived unit, or None when deleted."""
    unit = await get_org_unit(session, id_or_key, for_update=True)
    require_if_match(if_match, unit.version)
    if not await repository.org_unit_referenced(session, unit.id):
        await repository.delete_org_unit(session, unit.id)
        return None
    if unit.archived_at is None:
        unit.archived_at = utcnow()
        unit.version += 1
        session.add(unit)
        await session.flush()
        await session.refresh(unit)
    return OrgUnitPublic.model_validate(unit), unit.version


async def org_unit_tree(session: AsyncSession, id_or_key: str) -> OrgUnitTree:
    """The unit with every descendant nested, read in one query."""
    unit = await get_org_unit(session, id_or_key)
    rows = await repository.subtree(session, unit.id)
    nodes = {
        row.id: OrgUnitTree.model_validate({**OrgUnitPublic.model_validate(row).model_dump(), "children": []})
        for row in rows
    }
    for row in rows:  # parents come before their children
        if row.id != unit.id and row.parent_id in nodes:
            nodes[row.parent_id].children.append(nodes[row.id])
    return nodes[unit.id]


# ---------------------------------------------------------------- people

SALARY_SCOPE_DETAIL = "Salaries need the talent:sensitive scope."


def refuse_salary_without_scope(principal: Principal) -> None:
    """A write carrying a salary is 403 without ``talent:sensitive`` (the salary is never echoed)."""
    if not principal.allows(Scope.talent_sensitive):
        raise Forbidden(SALARY_SCOPE_DETAIL)


def carries_salary(document: object) -> bool:
    """Whether a person body (or a batch of them) holds a salary (``salary`` other than null)."""
    if not isinstance(document, dict):
        return False
    if document.get("salary") is not None:
        return True
    people = document.get("people")
    return isinstance(people, list) and any(isinstance(p, dict) and p.get("salary") is not None for p in people)


async def guard_salary(body: bytes, principal: Principal) -> None:
    """403 for a write whose body carries a salary when the caller lacks ``talent:sensitive``:
    checked on the raw body, before the body is validated, so that even a malformed salary is
    answered 403 (and never described in a 422)."""
    if principal.allows(Scope.talent_sensitive):
        return
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # the body's own validation says what is wrong
    if carries_salary(document):
        refuse_salary_without_scope(principal)


def person_public(person: Person, unit: uuid.UUID | None, salary: Salary | None, *, sensitive: bool) -> PersonPublic:
    """The person as the caller may see them: ``salary`` is only set (so only sent) for a
    ``talent:sensitive`` caller; routes send people with ``response_model_exclude_unset``."""
    fields = {name: getattr(person, name) for name in _PERSON_FIELDS}
    fields["org_unit_id"] = unit
    if sensitive:
        fields["salary"] = SalaryPublic.model_validate(salary) if salary is not None else None
    return PersonPublic.model_validate(fields)


_PERSON_FIELDS = (
    "id", "employee_number", "name", "email", "job_title", "manager_id", "hire_date", "end_date",
    "separation_reason", "created_at", "updated_at",
)  # fmt: skip


async def _people_public(
    session: AsyncSession, people: Sequence[Person], day: dt.date, *, sensitive: bool
) -> list[PersonPublic]:
    ids = [p.id for p in people]
    units = await repository.units_on(session, ids, day)
    salaries = await repository.salaries_on(session, ids, day) if sensitive else {}
    return [person_public(p, units.get(p.id), salaries.get(p.id), sensitive=sensitive) for p in people]


async def get_person(session: AsyncSession, person_id: uuid.UUID, *, for_update: bool = False) -> Person:
    person = await repository.get_person(session, person_id, for_update=for_update)
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return person


async def resolve_org_unit(session: AsyncSession, id_or_key: str, parameter: str = "org_unit") -> OrgUnit:
    """The unit an ``org_unit`` query parameter names (404 when none)."""
    unit = await repository.get_org_unit(session, id_or_key)
    if unit is None:
        raise NotFound(
            f"No org unit {id_or_key!r}.",
            errors=[FieldError(location="query", parameter=parameter, message="No such org unit.", code="unknown")],
        )
    return unit


async def list_people(
    session: AsyncSession,
    page: PageRequest,
    settings: TalentSettings,
    principal: Principal,
    *,
    org_unit: str | None = None,
    active_on: dt.date | None = None,
    text_query: str | None = None,
) -> Page[PersonPublic]:
    """People matching the filters, oldest record first. With ``org_unit``, those employed and in
    its subtree on ``active_on`` (default today); with ``active_on`` alone, those employed that day."""
    unit = await resolve_org_unit(session, org_unit) if org_unit is not None else None
    day = active_on or settings.today()
    filters = repository.PeopleFilters(unit.id if unit else None, day if unit or active_on else None, text_query)
    rows = await repository.people_page(session, filters, page)
    sensitive = principal.allows(Scope.talent_sensitive)
    items = await _people_public(session, rows.items, day, sensitive=sensitive)
    return Page[PersonPublic](items=items, next_cursor=rows.next_cursor)


async def read_person(
    session: AsyncSession, person_id: uuid.UUID, settings: TalentSettings, principal: Principal
) -> tuple[PersonPublic, int]:
    person = await get_person(session, person_id)
    [public] = await _people_public(
        session, [person], settings.today(), sensitive=principal.allows(Scope.talent_sensitive)
    )
    return public, person.version


def _end_errors(
    hire: dt.date, end: dt.date | None, reason: SeparationReason | None, prefix: str = ""
) -> list[FieldError]:
    errors = []
    if end is not None and end < hire:
        errors.append(FieldError(pointer=f"{prefix}/end_date", message="Before the hire date.", code="before_hire"))
    if (end is None) != (reason is None):
        missing = "separation_reason" if reason is None else "end_date"
        errors.append(
            FieldError(
                pointer=f"{prefix}/{missing}",
                message="`end_date` and `separation_reason` go together.",
                code="required",
            )
        )
    return errors


def _history_errors(
    hire: dt.date, end: dt.date | None, later: Sequence[Assignment], prefix: str = ""
) -> list[FieldError]:
    """A hire or end date that would leave a later assignment outside (hire, end]."""
    errors = []
    if later and min(a.effective_date for a in later) <= hire:
        errors.append(
            FieldError(
                pointer=f"{prefix}/hire_date", message="On or after a later assignment.", code="after_assignment"
            )
        )
    if end is not None and later and max(a.effective_date for a in later) > end:
        errors.append(
            FieldError(pointer=f"{prefix}/end_date", message="Before a later assignment.", code="before_assignment")
        )
    return errors


def _unit_errors(unit: OrgUnit | None, pointer: str) -> list[FieldError]:
    if unit is None:
        return [FieldError(pointer=pointer, message="No such org unit.", code="unknown")]
    if unit.archived_at is not None:
        return [FieldError(pointer=pointer, message="The unit is archived.", code="archived")]
    return []


async def _manager_errors(
    session: AsyncSession, manager_id: uuid.UUID | None, person_id: uuid.UUID | None, pointer: str = "/manager_id"
) -> list[FieldError]:
    if manager_id is None:
        return []
    if manager_id == person_id:
        return [FieldError(pointer=pointer, message="A person cannot be their own manager.", code="self")]
    if not await repository.existing_people(session, [manager_id]):
        return [FieldError(pointer=pointer, message="No such person.", code="unknown")]
    return []


def _invalid(errors: list[FieldError]) -> UnprocessableContent:
    return UnprocessableContent(
        "The person cannot be saved as given.", errors=errors[:MAX_REPORTED_ERRORS], error_count=len(errors)
    )


async def create_person(
    session: AsyncSession, body: PersonCreate, idempotency: IdempotentRequest, principal: Principal
) -> Answer[PersonPublic]:
    """Hire someone: the person, their first assignment (on the hire date) and, for a
    ``talent:sensitive`` caller, their first salary."""
    if body.salary is not None:
        refuse_salary_without_scope(principal)
    sensitive = principal.allows(Scope.talent_sensitive)

    async def create() -> Answer[PersonPublic]:
        await repository.lock_employee_numbers(session, [body.employee_number])
        if await repository.employee_number_taken(session, body.employee_number):
            raise Conflict(
                f"Employee number {body.employee_number!r} is taken.",
                errors=[FieldError(pointer="/employee_number", message="Already taken.", code="duplicate")],
            )
        unit = await repository.get_org_unit(session, str(body.org_unit_id))
        errors = _end_errors(body.hire_date, body.end_date, body.separation_reason)
        errors += _unit_errors(unit, "/org_unit_id")
        errors += await _manager_errors(session, body.manager_id, None)
        if errors:
            raise _invalid(errors)
        person = Person(**body.model_dump(exclude={"org_unit_id", "salary"}))
        session.add(person)
        await session.flush()
        session.add(
            Assignment(
                person_id=person.id,
                org_unit_id=body.org_unit_id,
                effective_date=body.hire_date,
                job_title=body.job_title,
            )
        )
        salary = None
        if body.salary is not None:
            salary = Salary(person_id=person.id, effective_date=body.hire_date, **body.salary.model_dump())
            session.add(salary)
        await session.flush()
        await session.refresh(person)
        public = person_public(person, body.org_unit_id, salary, sensitive=sensitive)
        headers = {"Location": f"/v1/people/{person.id}", "ETag": etag(person.version)}
        return Answer(public, status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, PersonPublic, idempotency, create)


async def update_person(
    session: AsyncSession,
    person_id: uuid.UUID,
    body: PersonUpdate,
    if_match: str | None,
    settings: TalentSettings,
    principal: Principal,
) -> tuple[PersonPublic, int]:
    """Change a person. The first assignment moves with the hire date; a hire or end date that
    would leave a later assignment outside (hire, end] is refused. A salary different from the
    current one starts today."""
    if body.salary is not None:
        refuse_salary_without_scope(principal)
    person = await get_person(session, person_id, for_update=True)
    require_if_match(if_match, person.version)
    changes = body.model_dump(exclude_unset=True, exclude={"salary"})
    if "end_date" in changes and changes["end_date"] is None:
        changes.setdefault("separation_reason", None)  # a rehire clears the reason with the date
    number = changes.get("employee_number", person.employee_number)
    if number != person.employee_number:
        await repository.lock_employee_numbers(session, [str(number)])
    if number != person.employee_number and await repository.employee_number_taken(session, str(number)):
        raise Conflict(
            f"Employee number {number!r} is taken.",
            errors=[FieldError(pointer="/employee_number", message="Already taken.", code="duplicate")],
        )
    today = settings.today()
    hire = changes.get("hire_date", person.hire_date)
    end = changes.get("end_date", person.end_date)
    history = (await repository.assignments(session, [person.id]))[person.id]
    errors = _end_errors(hire, end, changes.get("separation_reason", person.separation_reason))
    errors += _history_errors(hire, end, history[1:])
    if "manager_id" in changes:
        errors += await _manager_errors(session, changes["manager_id"], person.id)
    if errors:
        raise _invalid(errors)  # checked before any change: a query would flush a half-changed row
    changed = _apply(person, changes)
    if history and history[0].effective_date != person.hire_date:
        history[0].effective_date = person.hire_date
        session.add(history[0])
    if body.salary is not None:
        changed |= await _record_salary(session, person.id, body.salary, today)
    if changed:
        person.version += 1
        person.updated_at = utcnow()
        session.add(person)
        await session.flush()
        await session.refresh(person)
    [public] = await _people_public(session, [person], today, sensitive=principal.allows(Scope.talent_sensitive))
    return public, person.version


def _apply(person: Person, changes: dict[str, object]) -> bool:
    changed = False
    for name, value in changes.items():
        if getattr(person, name) != value:
            setattr(person, name, value)
            changed = True
    return changed


async def _record_salary(session: AsyncSession, person_id: uuid.UUID, salary: SalaryIn, today: dt.date) -> bool:
    """A new salary record effective today, unless the latest one says the same already."""
    latest = (await repository.latest_salaries(session, [person_id])).get(person_id)
    if latest is not None and (latest.amount, latest.currency) == (salary.amount, salary.currency):
        return False
    effective = max(today, latest.effective_date) if latest is not None else today
    session.add(Salary(person_id=person_id, effective_date=effective, **salary.model_dump()))
    return True


# ---------------------------------------------------------------- assignments and salaries


async def list_assignments(session: AsyncSession, person_id: uuid.UUID) -> Assignments:
    person = await get_person(session, person_id)
    history = (await repository.assignments(session, [person.id]))[person.id]
    return Assignments(items=[AssignmentPublic.model_validate(a) for a in history])


async def create_assignment(
    session: AsyncSession, person_id: uuid.UUID, body: AssignmentCreate, idempotency: IdempotentRequest
) -> Answer[AssignmentPublic]:
    """Move a person to a unit from ``effective_date`` on (after the hire date, not after the end
    date, one per day)."""

    async def create() -> Answer[AssignmentPublic]:
        person = await get_person(session, person_id, for_update=True)
        errors = _unit_errors(await repository.get_org_unit(session, str(body.org_unit_id)), "/org_unit_id")
        if body.effective_date <= person.hire_date:
            errors.append(
                FieldError(pointer="/effective_date", message="On or before the hire date.", code="before_hire")
            )
        if person.end_date is not None and body.effective_date > person.end_date:
            errors.append(FieldError(pointer="/effective_date", message="After the end date.", code="after_end"))
        if errors:
            raise UnprocessableContent("The assignment cannot be recorded as given.", errors=errors)
        history = (await repository.assignments(session, [person.id]))[person.id]
        if any(a.effective_date == body.effective_date for a in history):
            raise Conflict(
                f"The person already has an assignment effective on {body.effective_date}.",
                errors=[FieldError(pointer="/effective_date", message="One assignment per day.", code="duplicate")],
            )
        assignment = Assignment(person_id=person.id, **body.model_dump())
        session.add(assignment)
        await session.flush()
        await session.refresh(assignment)
        headers = {"Location": f"/v1/people/{person.id}/assignments"}
        return Answer(AssignmentPublic.model_validate(assignment), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, AssignmentPublic, idempotency, create)


async def list_salaries(session: AsyncSession, person_id: uuid.UUID) -> Salaries:
    person = await get_person(session, person_id)
    return Salaries(items=[SalaryPublic.model_validate(s) for s in await repository.salaries(session, person.id)])


async def create_salary(
    session: AsyncSession, person_id: uuid.UUID, body: SalaryCreate, idempotency: IdempotentRequest
) -> Answer[SalaryPublic]:
    async def create() -> Answer[SalaryPublic]:
        person = await get_person(session, person_id, for_update=True)
        if body.effective_date < person.hire_date:
            raise UnprocessableContent(
                "A salary starts on or after the hire date.",
                errors=[FieldError(pointer="/effective_date", message="Before the hire date.", code="before_hire")],
            )
        salary = Salary(person_id=person.id, **body.model_dump())
        session.add(salary)
        await session.flush()
        await session.refresh(salary)
        headers = {"Location": f"/v1/people/{person.id}/salaries"}
        return Answer(SalaryPublic.model_validate(salary), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, SalaryPublic, idempotency, create)


# ---------------------------------------------------------------- HRIS batch


def _batch_items(body: bytes) -> list[Any]:
    """The ``people`` array of a batch body, or a 400/413/422 saying what is wrong with its shape."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict) or set(document) != {"people"} or not isinstance(document["people"], list):
        raise UnprocessableContent(
            "The body must be an object with one member, `people`, an array of people.",
            errors=[FieldError(pointer="/people", message="Expected an array of people.", code="type")],
        )
    people: list[Any] = document["people"]
    if len(people) > MAX_BATCH_PEOPLE:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH_PEOPLE} people; this one has {len(people)}.")
    return people


def _item_errors(index: int, error: ValidationError) -> list[FieldError]:
    located = [{**e, "loc": ("body", "people", index, *e["loc"])} for e in error.errors(include_input=False)]
    return field_errors_from_validation(located)


async def upsert_people(
    session: AsyncSession, body: bytes, settings: TalentSettings, principal: Principal
) -> UpsertResult:
    """Create or update up to 1 000 people by ``employee_number``: all or nothing, every bad item
    reported by pointer. Each item is the whole record (an omitted optional field is cleared);
    ``org_unit_id`` is the unit on the hire date (the first assignment: moves go through
    ``/assignments``); a salary is the hire-date salary of a new person and, for a known one, a new
    record from today when it differs from the latest. The same body again changes nothing."""
    raw = _batch_items(body)
    if carries_salary({"people": raw}):
        refuse_salary_without_scope(principal)
    errors: list[FieldError] = []
    items: dict[int, PersonCreate] = {}
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        try:
            parsed = PersonCreate.model_validate(item)
        except ValidationError as exc:
            errors += _item_errors(index, exc)
            continue
        if parsed.employee_number in first_index:
            errors.append(
                FieldError(
                    pointer=f"/people/{index}/employee_number",
                    message=f"Also in /people/{first_index[parsed.employee_number]}.",
                    code="duplicate",
                )
            )
            continue
        first_index[parsed.employee_number] = index
        items[index] = parsed
    numbers = [p.employee_number for p in items.values()]
    await repository.lock_employee_numbers(session, numbers)
    known = await repository.people_by_number(session, numbers)
    units = await repository.org_units_by_id(session, [p.org_unit_id for p in items.values()])
    managers = await repository.existing_people(session, [p.manager_id for p in items.values() if p.manager_id])
    histories = await repository.assignments(session, [p.id for p in known.values()])
    for index, item in items.items():
        prefix = f"/people/{index}"
        existing = known.get(item.employee_number)
        errors += _end_errors(item.hire_date, item.end_date, item.separation_reason, prefix)
        history = histories[existing.id] if existing else []
        if not history or history[0].org_unit_id != item.org_unit_id:
            errors += _unit_errors(units.get(item.org_unit_id), f"{prefix}/org_unit_id")
        errors += _history_errors(item.hire_date, item.end_date, history[1:], prefix)
        if item.manager_id is not None:
            if existing is not None and item.manager_id == existing.id:
                errors.append(
                    FieldError(
                        pointer=f"{prefix}/manager_id", message="A person cannot be their own manager.", code="self"
                    )
                )
            elif item.manager_id not in managers:
                errors.append(FieldError(pointer=f"{prefix}/manager_id", message="No such person.", code="unknown"))
    if errors:
        raise UnprocessableContent(
            f"Nothing was written: {len(errors)} problem(s) in the batch.",
            errors=errors[:MAX_REPORTED_ERRORS],
            error_count=len(errors),
        )
    today = settings.today()
    result = UpsertResult(inserted=0, updated=0, unchanged=0)
    for item in items.values():
        existing = known.get(item.employee_number)
        if existing is None:
            person = Person(**item.model_dump(exclude={"org_unit_id", "salary"}))
            session.add(person)
            await session.flush()
            session.add(
                Assignment(
                    person_id=person.id,
                    org_unit_id=item.org_unit_id,
                    effective_date=item.hire_date,
                    job_title=item.job_title,
                )
            )
            if item.salary is not None:
                session.add(Salary(person_id=person.id, effective_date=item.hire_date, **item.salary.model_dump()))
            result.inserted += 1
            continue
        changed = _apply(existing, item.model_dump(exclude={"org_unit_id", "salary"}))
        first = histories[existing.id][0] if histories[existing.id] else None
        if first is None:
            session.add(Assignment(person_id=existing.id, org_unit_id=item.org_unit_id, effective_date=item.hire_date))
            changed = True
        elif (first.effective_date, first.org_unit_id) != (item.hire_date, item.org_unit_id):
            first.effective_date, first.org_unit_id = item.hire_date, item.org_unit_id
            session.add(first)
            changed = True
        if item.salary is not None:
            changed |= await _record_salary(session, existing.id, item.salary, today)
        if changed:
            existing.version += 1
            existing.updated_at = utcnow()
            session.add(existing)
            result.updated += 1
        else:
            result.unchanged += 1
    await session.flush()
    return result


# ---------------------------------------------------------------- HR indicators (DESIGN §9)

MAX_SERIES_PERIODS = 600


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def whole_quarters(a: dt.date, b: dt.date) -> bool:
    """Whether ``[a, b]`` is made of whole calendar quarters."""
    after = b + dt.timedelta(days=1)
    return a <= b and a.day == 1 and a.month % 3 == 1 and after.day == 1 and after.month % 3 == 1


def _salary_shown(a: dt.date, b: dt.date, row: repository.WorkforceRow) -> bool:
    """Whether salary evolution may show before suppression by difference is considered."""
    return row.salary_people >= MINIMUM_GROUP and whole_quarters(a, b)


def _visible_by_difference(
    unit: uuid.UUID, parents: dict[uuid.UUID, uuid.UUID | None], population: dict[uuid.UUID, int]
) -> bool:
    """§9's suppression by difference: each unit's direct part is its population less its
    children's (someone who moved between two children counts in the parent only)."""
    names = {u: str(u) for u in parents}
    children_total: dict[uuid.UUID, int] = {}
    for child, parent in parents.items():
        if parent is not None:
            children_total[parent] = children_total.get(parent, 0) + population.get(child, 0)
    direct = {names[u]: population.get(u, 0) - children_total.get(u, 0) for u in parents}
    tree = {names[u]: (names[p] if p is not None else None) for u, p in parents.items()}
    return names[unit] in visible_units(tree, direct)


async def _salary_visibility(
    session: AsyncSession,
    unit: OrgUnit,
    periods: Sequence[tuple[dt.date, dt.date]],
    rows: Sequence[repository.WorkforceRow],
) -> list[bool]:
    """Per period, whether the unit's salary evolution is shown: two more statements, only when
    some period passes the first tests."""
    shown = [_salary_shown(a, b, row) for (a, b), row in zip(periods, rows, strict=True)]
    if not any(shown):
        return shown
    parents = await repository.unit_parents(session)
    populations = await repository.salary_populations(session, periods)
    return [ok and _visible_by_difference(unit.id, parents, pop) for ok, pop in zip(shown, populations, strict=True)]


def _indicators(
    unit: OrgUnit, a: dt.date, b: dt.date, row: repository.WorkforceRow, *, salary_shown: bool
) -> HrIndicators:
    average = (row.headcount_start + row.headcount_end) / 2
    hidden = not salary_shown
    return HrIndicators(
        org_unit_id=unit.id,
        org_unit_key=unit.key,
        from_=a,
        to=b,
        headcount_start=row.headcount_start,
        headcount_end=row.headcount_end,
        average_headcount=average,
        hires=row.hires,
        separations=row.separations,
        voluntary_separations=row.voluntary_separations,
        transfers_in=row.transfers_in,
        transfers_out=row.transfers_out,
        internal_moves=row.internal_moves,
        turnover_rate=_rate(row.separations, average),
        voluntary_turnover_rate=_rate(row.voluntary_separations, average),
        retention_rate=_rate(row.stayed, row.headcount_start),
        internal_mobility_rate=_rate(row.internal_moves, average),
        training_completion_rate=_rate(row.completed, row.enrolments),
        training_effectiveness=row.mean_gain if row.effectiveness_pairs else None,
        training_effectiveness_pairs=row.effectiveness_pairs,
        skill_coverage=_rate(row.coverage_met, row.coverage_required),
        engagement=None,
        salary_evolution=SalaryEvolution(
            people=row.salary_people,
            mean_change=None if hidden else row.mean_change,
            median_change=None if hidden else row.median_change,
            suppressed=hidden,
        ),
    )


def _period(start: dt.date, end: dt.date, today: dt.date) -> dt.date:
    """The last day counted (``end`` cut at today); 422 for a period that is reversed or ahead."""
    if end < start:
        raise UnprocessableContent(
            "`to` is before `from`.",
            errors=[FieldError(location="query", parameter="to", message="Before `from`.", code="reversed")],
        )
    if start > today:
        raise UnprocessableContent(
            f"The period starts after today ({today}).",
            errors=[FieldError(location="query", parameter="from", message="After today.", code="future")],
        )
    return min(end, today)


async def hr_indicators(
    session: AsyncSession, org_unit: str, start: dt.date, end: dt.date, settings: TalentSettings
) -> HrIndicators:
    """§9's workforce indicators of the unit's subtree over ``[start, end]``, cut at today: one
    statement."""
    unit = await resolve_org_unit(session, org_unit)
    last = _period(start, end, settings.today())
    periods = [(start, last)]
    [row] = await repository.workforce(session, unit.id, periods)
    [shown] = await _salary_visibility(session, unit, periods, [row])
    return _indicators(unit, start, last, row, salary_shown=shown)


def bucket_start(day: dt.date, bucket: SeriesBucket) -> dt.date:
    if bucket is SeriesBucket.year:
        return day.replace(month=1, day=1)
    if bucket is SeriesBucket.quarter:
        return day.replace(month=day.month - (day.month - 1) % 3, day=1)
    return day.replace(day=1)


def next_bucket(start: dt.date, bucket: SeriesBucket) -> dt.date:
    months = {SeriesBucket.month: 1, SeriesBucket.quarter: 3, SeriesBucket.year: 12}[bucket]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def series_periods(start: dt.date, last: dt.date, bucket: SeriesBucket) -> list[tuple[dt.date, dt.date]]:
    """Each calendar bucket meeting ``[start, last]``, cut to it."""
    periods = []
    cursor = bucket_start(start, bucket)
    while cursor <= last:
        following = next_bucket(cursor, bucket)
        periods.append((max(cursor, start), min(following - dt.timedelta(days=1), last)))
        cursor = following
    return periods


async def hr_indicator_series(
    session: AsyncSession,
    org_unit: str,
    bucket: SeriesBucket,
    start: dt.date,
    end: dt.date,
    settings: TalentSettings,
) -> HrIndicatorSeries:
    """The indicators per calendar month, quarter or year: every bucket in the one statement."""
    unit = await resolve_org_unit(session, org_unit)
    last = _period(start, end, settings.today())
    periods = series_periods(start, last, bucket)
    if len(periods) > MAX_SERIES_PERIODS:
        raise UnprocessableContent(
            f"A series holds at most {MAX_SERIES_PERIODS} buckets; this one would hold {len(periods)}.",
            errors=[
                FieldError(location="query", parameter="from", message="Too far back for the bucket.", code="too_long")
            ],
        )
    rows = await repository.workforce(session, unit.id, periods)
    shown = await _salary_visibility(session, unit, periods, rows)
    return HrIndicatorSeries(
        items=[
            _indicators(unit, a, b, row, salary_shown=ok) for (a, b), row, ok in zip(periods, rows, shown, strict=True)
        ]
    )
