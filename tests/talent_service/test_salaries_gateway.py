"""Through the real gateway, with API keys: a salary reaches only a key holding `talent:sensitive`,
on every route that returns a person."""

from __future__ import annotations

import httpx

from services.gateway.keys import generate_key
from services.talent_service.main import app as talent_app
from tests.gateway.conftest import running_gateway
from tests.servers import serve
from tests.talent_service.helpers import SENSITIVE, person_body, unit

SALARY = {"amount": 8765.25, "currency": "EUR"}
ADMIN_KEY = generate_key().full


async def test_only_a_sensitive_key_sees_salaries_through_the_gateway(
    talent_client: httpx.AsyncClient, database_url: str
) -> None:
    team = await unit(talent_client, "north", "team")
    made = await talent_client.post("/v1/people", json=person_body("S1", team, salary=SALARY), headers=SENSITIVE)
    assert made.status_code == 201, made.text
    person = made.json()
    async with serve(talent_app) as talent_url, running_gateway(database_url, ADMIN_KEY, talent_url=talent_url) as gw:

        async def key(*scopes: str) -> httpx.AsyncClient:
            created = await gw.client.post("/v1/api-keys", json={"name": "salaries", "scopes": list(scopes)})
            assert created.status_code == 201, created.text
            return gw.as_key(created.json()["key"])

        reader = await key("talent:read", "talent:write")
        sensitive = await key("talent:read", "talent:sensitive")
        async with reader, sensitive:
            reads = [
                ("GET", f"/v1/people/{person['id']}", None),
                ("GET", "/v1/people", None),
                ("GET", "/v1/people?org_unit=north", None),
            ]
            for method, path, body in reads:
                plain = await reader.request(method, path, json=body)
                assert plain.status_code == 200, plain.text
                assert "salary" not in plain.text
                assert "8765" not in plain.text
                seen = await sensitive.request(method, path, json=body)
                assert seen.status_code == 200, seen.text
                assert "8765.25" in seen.text
            # The writes that return a person, made without the scope, carry no salary either.
            renamed = await reader.patch(
                f"/v1/people/{person['id']}", json={"name": "Renamed"}, headers={"If-Match": "*"}
            )
            assert renamed.status_code == 200, renamed.text
            assert "salary" not in renamed.text
            hired = await reader.post("/v1/people", json=person_body("S2", team))
            assert hired.status_code == 201, hired.text
            assert "salary" not in hired.text
            # A write carrying one is refused, and the refusal does not repeat it.
            refused = await reader.post("/v1/people", json=person_body("S3", team, salary=SALARY))
            assert refused.status_code == 403, refused.text
            assert "8765" not in refused.text
            listed = await reader.get(f"/v1/people/{person['id']}/salaries")
            assert listed.status_code == 403
            assert "8765" not in listed.text
