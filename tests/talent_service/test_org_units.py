"""Org units: keys, kinds ranked company > department > team, no cycles, archive when referenced,
the tree in one query, ETag/If-Match and Idempotency-Key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import INTERNAL_TOKEN_HEADER
from tests.auth import token
from tests.talent_service.helpers import hire, pointers, unit


async def test_creates_a_unit_with_location_and_etag(talent_client: httpx.AsyncClient) -> None:
    response = await talent_client.post("/v1/org-units", json={"key": "acme", "name": "Acme", "kind": "company"})
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/org-units/acme"
    assert response.headers["etag"] == '"1"'
    created = response.json()
    assert (created["key"], created["parent_id"], created["archived_at"]) == ("acme", None, None)
    for id_or_key in ("acme", created["id"]):
        read = await talent_client.get(f"/v1/org-units/{id_or_key}")
        assert read.status_code == 200
        assert read.json() == created
    again = await talent_client.get("/v1/org-units/acme", headers={"If-None-Match": '"1"'})
    assert again.status_code == 304


@pytest.mark.parametrize("key", ["Sales", "1team", "sales-east", "a" * 41, "", "_x", "ventes.nord"])
async def test_refuses_a_key_that_is_not_a_slug(talent_client: httpx.AsyncClient, key: str) -> None:
    response = await talent_client.post("/v1/org-units", json={"key": key, "name": "X", "kind": "team"})
    assert response.status_code == 422
    assert pointers(response) == ["/key"]


async def test_a_key_is_unique_and_immutable(talent_client: httpx.AsyncClient) -> None:
    await unit(talent_client, "sales", "department")
    duplicate = await talent_client.post("/v1/org-units", json={"key": "sales", "name": "Other", "kind": "team"})
    assert duplicate.status_code == 409
    assert pointers(duplicate) == ["/key"]
    change = await talent_client.patch("/v1/org-units/sales", json={"key": "ventes"}, headers={"If-Match": '"1"'})
    assert change.status_code == 422
    assert pointers(change) == ["/key"]


async def test_a_childs_kind_ranks_at_or_below_its_parents(talent_client: httpx.AsyncClient) -> None:
    sales = await unit(talent_client, "sales", "department")
    await unit(talent_client, "sales_ops", "department", sales)  # the same rank is allowed
    team = await unit(talent_client, "east", "team", sales)
    above = await talent_client.post(
        "/v1/org-units", json={"key": "acme", "name": "Acme", "kind": "company", "parent_id": sales["id"]}
    )
    assert above.status_code == 422
    assert pointers(above) == ["/kind"]
    under_team = await talent_client.post(
        "/v1/org-units", json={"key": "x", "name": "X", "kind": "department", "parent_id": team["id"]}
    )
    assert under_team.status_code == 422
    # re-kinding checks both ways: not above the parent, not below a child
    rekind = await talent_client.patch("/v1/org-units/east", json={"kind": "company"}, headers={"If-Match": '"1"'})
    assert rekind.status_code == 422
    assert pointers(rekind) == ["/kind"]
    rekind = await talent_client.patch("/v1/org-units/sales", json={"kind": "team"}, headers={"If-Match": '"1"'})
    assert rekind.status_code == 422
    rekind = await talent_client.patch("/v1/org-units/sales", json={"kind": "company"}, headers={"If-Match": '"1"'})
    assert rekind.status_code == 200
    assert rekind.json()["kind"] == "company"


async def test_an_unknown_or_archived_parent_is_refused(talent_client: httpx.AsyncClient) -> None:
    unknown = await talent_client.post(
        "/v1/org-units",
        json={"key": "x", "name": "X", "kind": "team", "parent_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert unknown.status_code == 422
    assert pointers(unknown) == ["/parent_id"]
    old = await unit(talent_client, "old", "department")
    archived = await talent_client.patch("/v1/org-units/old", json={"archived": True}, headers={"If-Match": '"1"'})
    assert archived.json()["archived_at"] is not None
    under = await talent_client.post(
        "/v1/org-units", json={"key": "y", "name": "Y", "kind": "team", "parent_id": old["id"]}
    )
    assert under.status_code == 422
    assert under.json()["errors"][0]["code"] == "archived"


async def test_several_roots_and_moves_without_cycles(talent_client: httpx.AsyncClient) -> None:
    acme = await unit(talent_client, "acme", "company")
    other = await unit(talent_client, "other", "company")
    sales = await unit(talent_client, "sales", "department", acme)
    east = await unit(talent_client, "east", "team", sales)
    for target in (sales, east):
        cycle = await talent_client.patch(
            "/v1/org-units/sales", json={"parent_id": target["id"]}, headers={"If-Match": '"1"'}
        )
        assert cycle.status_code == 422
        assert cycle.json()["errors"][0]["code"] == "cycle"
    moved = await talent_client.patch(
        "/v1/org-units/sales", json={"parent_id": other["id"]}, headers={"If-Match": '"1"'}
    )
    assert moved.status_code == 200
    assert moved.headers["etag"] == '"2"'
    assert moved.json()["parent_id"] == other["id"]
    root = await talent_client.patch("/v1/org-units/sales", json={"parent_id": None}, headers={"If-Match": '"2"'})
    assert root.json()["parent_id"] is None
    roots = await talent_client.get("/v1/org-units", params={"kind": "company"})
    assert {u["key"] for u in roots.json()["items"]} == {"acme", "other"}


async def test_if_match_is_required_and_must_be_current(talent_client: httpx.AsyncClient) -> None:
    await unit(talent_client, "sales", "department")
    missing = await talent_client.patch("/v1/org-units/sales", json={"name": "Ventes"})
    assert missing.status_code == 428
    renamed = await talent_client.patch("/v1/org-units/sales", json={"name": "Ventes"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    stale = await talent_client.patch("/v1/org-units/sales", json={"name": "Sales"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    assert (await talent_client.delete("/v1/org-units/sales", headers={"If-Match": '"1"'})).status_code == 412
    assert (await talent_client.get("/v1/org-units/sales")).json()["name"] == "Ventes"


async def test_delete_removes_an_unreferenced_unit_and_archives_a_referenced_one(
    talent_client: httpx.AsyncClient,
) -> None:
    sales = await unit(talent_client, "sales", "department")
    await unit(talent_client, "east", "team", sales)
    archived = await talent_client.delete("/v1/org-units/sales", headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert archived.headers["etag"] == '"2"'
    assert (await talent_client.get("/v1/org-units", params={"archived": "true"})).json()["items"][0]["key"] == "sales"
    assert [
        u["key"] for u in (await talent_client.get("/v1/org-units", params={"archived": "false"})).json()["items"]
    ] == ["east"]
    deleted = await talent_client.delete("/v1/org-units/east", headers={"If-Match": '"1"'})
    assert deleted.status_code == 204
    assert (await talent_client.get("/v1/org-units/east")).status_code == 404
    restored = await talent_client.patch("/v1/org-units/sales", json={"archived": False}, headers={"If-Match": '"2"'})
    assert restored.json()["archived_at"] is None


async def test_unknown_units_are_404_everywhere(talent_client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/v1/org-units/nowhere"),
        ("GET", "/v1/org-units/00000000-0000-4000-8000-000000000000"),
        ("GET", "/v1/org-units/nowhere/tree"),
        ("PATCH", "/v1/org-units/nowhere"),
        ("DELETE", "/v1/org-units/nowhere"),
    ):
        response = await talent_client.request(
            method, path, headers={"If-Match": "*"}, json={"name": "x"} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_tree_nests_every_descendant_in_one_query(
    talent_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    acme = await unit(talent_client, "acme", "company")
    sales = await unit(talent_client, "sales", "department", acme)
    ops = await unit(talent_client, "ops", "department", acme)
    await unit(talent_client, "west", "team", sales)
    await unit(talent_client, "east", "team", sales)
    await unit(talent_client, "plant", "team", ops)
    await unit(talent_client, "elsewhere", "company")

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(connection.sync_engine, "before_cursor_execute", record)
    try:
        response = await talent_client.get("/v1/org-units/acme/tree")
    finally:
        event.remove(connection.sync_engine, "before_cursor_execute", record)
    assert response.status_code == 200
    tree = response.json()

    def shape(node: dict[str, Any]) -> Any:
        return (node["key"], [shape(c) for c in node["children"]])

    assert shape(tree) == ("acme", [("ops", [("plant", [])]), ("sales", [("east", []), ("west", [])])])
    assert len([s for s in statements if "org_units" in s]) == 1  # the unit and its whole subtree together
    by_id = await talent_client.get(f"/v1/org-units/{sales['id']}/tree")
    assert shape(by_id.json()) == ("sales", [("east", []), ("west", [])])


async def test_an_idempotency_key_replays_the_first_answer(talent_client: httpx.AsyncClient) -> None:
    body = {"key": "sales", "name": "Sales", "kind": "department"}
    headers = {"Idempotency-Key": "create-sales"}
    first = await talent_client.post("/v1/org-units", json=body, headers=headers)
    again = await talent_client.post("/v1/org-units", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    other = await talent_client.post("/v1/org-units", json={**body, "name": "Ventes"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"
    units = await talent_client.get("/v1/org-units")
    assert len(units.json()["items"]) == 1


async def test_reading_needs_talent_read_and_writing_talent_write(talent_client: httpx.AsyncClient) -> None:
    reader = {INTERNAL_TOKEN_HEADER: token("talent", "talent:read")}
    writer = {INTERNAL_TOKEN_HEADER: token("talent", "talent:write")}
    body = {"key": "sales", "name": "Sales", "kind": "department"}
    assert (await talent_client.post("/v1/org-units", json=body, headers=reader)).status_code == 403
    assert (await talent_client.post("/v1/org-units", json=body, headers=writer)).status_code == 201
    assert (await talent_client.get("/v1/org-units/sales", headers=writer)).status_code == 403
    assert (await talent_client.get("/v1/org-units/sales/tree", headers=reader)).status_code == 200
    assert (await talent_client.delete("/v1/org-units/sales", headers=reader)).status_code == 403


async def test_a_unit_people_were_assigned_to_is_archived_not_deleted(talent_client: httpx.AsyncClient) -> None:
    sales = await unit(talent_client, "sales", "department")
    await hire(talent_client, "1", sales)
    archived = await talent_client.delete("/v1/org-units/sales", headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
