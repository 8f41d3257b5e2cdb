"""Survey results (DESIGN §9): eNPS and satisfaction over a unit's subtree, suppressed below 5
responses and by difference, the same figure for a unit asked alone or in its parent's breakdown,
and never an individual answer."""

from __future__ import annotations

import itertools
import random
from typing import Any

import httpx
import pytest

from tests.talent_service.engagement.helpers import answer, results, survey
from tests.talent_service.helpers import READER, as_scopes, unit

Units = dict[str, dict[str, Any]]
# co ─ ops ─ t1, t2, t3
#    └ sales
TREE: dict[str, tuple[str, str | None]] = {
    "co": ("company", None),
    "ops": ("department", "co"),
    "t1": ("team", "ops"),
    "t2": ("team", "ops"),
    "t3": ("team", "ops"),
    "sales": ("department", "co"),
}


@pytest.fixture
async def units(talent_client: httpx.AsyncClient) -> Units:
    await survey(talent_client)
    made: Units = {}
    for key, (kind, parent) in TREE.items():
        made[key] = await unit(talent_client, key, kind, made[parent] if parent else None)
    return made


def figure(found: dict[str, Any]) -> tuple[Any, ...]:
    return found["responses"], found["enps"], found["satisfaction"], found["suppressed"]


def parts(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {("direct" if p["direct"] else p["org_unit_key"]): p for p in found["parts"]}


async def test_all_promoters_is_100_and_all_detractors_minus_100(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await answer(talent_client, units["t1"], [9, 10, 9, 10, 10], [5, 5, 4, 5, 5])
    await answer(talent_client, units["t2"], [0, 6, 3, 1, 5])
    assert figure(await results(talent_client, units["t1"])) == (5, 100.0, 4.8, False)
    assert figure(await results(talent_client, units["t2"])) == (5, -100.0, None, False)
    await answer(talent_client, units["t3"], [7, 8, 7, 8, 8])  # passives count in the total only
    assert (await results(talent_client, units["t3"]))["enps"] == 0.0


async def test_enps_is_the_share_of_promoters_less_the_share_of_detractors(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    # over ops's subtree: 3 promoters, 2 passives, 3 detractors; 5 more promoters in co itself
    await answer(talent_client, units["t1"], [9, 10, 7], [5, 4, 3])
    await answer(talent_client, units["t2"], [8, 6, 0], [2, None, 1])
    await answer(talent_client, units["ops"], [9, 2], [4, 5])
    await answer(talent_client, units["co"], [10] * 5, [5] * 5)
    ops = await results(talent_client, units["ops"])
    assert ops == {
        "org_unit_id": units["ops"]["id"],
        "org_unit_key": "ops",
        "responses": 8,
        "enps": pytest.approx(100 * (3 - 3) / 8),
        "satisfaction": pytest.approx((5 + 4 + 3 + 2 + 1 + 4 + 5) / 7),
        "suppressed": False,
    }
    co = await results(talent_client, units["co"])
    assert co["responses"] == 13
    assert co["enps"] == pytest.approx(100 * (8 - 3) / 13)
    assert co["satisfaction"] == pytest.approx((24 + 25) / 12)


async def test_four_responses_are_suppressed_and_five_shown(talent_client: httpx.AsyncClient, units: Units) -> None:
    await answer(talent_client, units["sales"], [10, 9, 0, 8], [5, 4, 1, 3])
    assert figure(await results(talent_client, units["sales"])) == (4, None, None, True)
    await answer(talent_client, units["sales"], [10], [5])
    assert figure(await results(talent_client, units["sales"])) == (5, 40.0, 3.6, False)


async def test_satisfaction_is_suppressed_below_five_answers_of_it(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await answer(talent_client, units["sales"], [10, 9, 9, 8, 8, 7], [1, 2, None, None, None, None])
    assert figure(await results(talent_client, units["sales"])) == (6, 50.0, None, False)


async def test_a_team_of_three_beside_one_of_twenty_hides_both(talent_client: httpx.AsyncClient, units: Units) -> None:
    await answer(talent_client, units["t1"], [0, 0, 0])
    await answer(talent_client, units["t2"], [10] * 20)
    found = await results(talent_client, units["ops"], breakdown=True)
    assert figure(found) == (23, pytest.approx(100 * 17 / 23), None, False)
    split = parts(found)
    assert list(split) == ["t1", "t2", "t3", "direct"]  # children by key, then the direct members
    assert {key: figure(p) for key, p in split.items()} == {
        "t1": (3, None, None, True),
        "t2": (20, None, None, True),  # else 23 less t2's 20 would give t1's 3 away
        "t3": (0, None, None, True),
        "direct": (0, None, None, True),
    }
    assert [p["org_unit_id"] for p in found["parts"]] == [units[k]["id"] for k in ("t1", "t2", "t3", "ops")]
    assert figure(await results(talent_client, units["t2"])) == (20, None, None, True)


async def test_two_teams_of_two_are_hidden_and_the_departments_own_members_shown(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await answer(talent_client, units["t1"], [10, 10])
    await answer(talent_client, units["t2"], [0, 0])
    await answer(talent_client, units["t3"], [9] * 6)  # the smallest visible part: hidden to cover the 4
    await answer(talent_client, units["ops"], [9] * 5 + [0] * 5, [3] * 10)
    split = parts(await results(talent_client, units["ops"], breakdown=True))
    assert {key: p["suppressed"] for key, p in split.items()} == {"t1": True, "t2": True, "t3": True, "direct": False}
    assert figure(split["direct"]) == (10, 0.0, 3.0, False)


async def test_a_unit_hidden_in_its_parents_breakdown_stays_hidden_asked_alone(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    squad = await unit(talent_client, "squad", "team", units["t2"])
    await answer(talent_client, units["t1"], [5, 5, 5])
    await answer(talent_client, squad, [10] * 20)
    await answer(talent_client, units["sales"], [8] * 30)
    co_parts = parts(await results(talent_client, units["co"], breakdown=True))
    assert not co_parts["ops"]["suppressed"]
    ops_parts = parts(await results(talent_client, units["ops"], breakdown=True))
    assert ops_parts["t2"]["suppressed"]
    for hidden in (units["t2"], squad):  # so is everything below it, however many answered there
        alone = await results(talent_client, hidden, breakdown=True)
        assert figure(alone)[1:] == (None, None, True)
        assert all(p["suppressed"] for p in alone["parts"])


def _residuals(groups: dict[str, frozenset[str]]) -> list[tuple[str, list[str], frozenset[str]]]:
    """Every set of units whose responses can be isolated by subtracting visible figures: a visible
    group less any disjoint visible groups it contains."""
    found = []
    for name, whole in groups.items():
        inside = [other for other, units in groups.items() if other != name and units < whole]
        for size in range(1, len(inside) + 1):
            for combination in itertools.combinations(inside, size):
                sets = [groups[c] for c in combination]
                if sum(len(s) for s in sets) != len(frozenset().union(*sets)):
                    continue  # overlapping figures
                found.append((name, list(combination), whole - frozenset().union(*sets)))
    return found


def _rating(enps: int) -> int | None:
    return None if enps % 3 == 0 else 1 + enps % 5


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_no_hidden_figure_can_be_recovered_by_difference(
    talent_client: httpx.AsyncClient, units: Units, seed: int
) -> None:
    """Every difference of visible figures (a total less visible parts, at any depth) covers no
    responses or at least 5 (and likewise for satisfaction answers), and every visible figure is exact."""
    draw = random.Random(seed)
    answers: dict[str, list[int]] = {}
    for key in TREE:
        answers[key] = [draw.randint(0, 10) for _ in range(draw.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 14]))]
        await answer(talent_client, units[key], answers[key], [_rating(e) for e in answers[key]])
    below = {key: {key} for key in TREE}
    for key in reversed(list(TREE)):  # children come after their parents
        parent = TREE[key][1]
        if parent is not None:
            below[parent] |= below[key]
    groups: dict[str, frozenset[str]] = {}  # each visible eNPS: the units whose responses it covers
    rated_groups: dict[str, frozenset[str]] = {}  # each visible satisfaction
    for key in TREE:
        found = await results(talent_client, units[key], breakdown=True)
        shown = {f"{key}": (found, frozenset(below[key]))}
        for part in found["parts"]:
            covered = frozenset({key}) if part["direct"] else frozenset(below[part["org_unit_key"]])
            shown[f"{key}:direct" if part["direct"] else part["org_unit_key"]] = (part, covered)
        for name, (item, covered) in shown.items():
            pool = [e for u in covered for e in answers[u]]
            ratings = [r for r in map(_rating, pool) if r is not None]
            assert item["responses"] == len(pool)
            if item["satisfaction"] is not None:
                assert len(ratings) >= 5
                assert item["satisfaction"] == pytest.approx(sum(ratings) / len(ratings))
                rated_groups[name] = covered
            if item["suppressed"]:
                assert (item["enps"], item["satisfaction"]) == (None, None)
                continue
            assert len(pool) >= 5
            promoters, detractors = sum(e >= 9 for e in pool), sum(e <= 6 for e in pool)
            assert item["enps"] == pytest.approx(100 * (promoters - detractors) / len(pool))
            groups[name] = covered
    assert groups  # each draw shows something
    for whole, subtracted, residual in _residuals(groups):
        held = sum(len(answers[u]) for u in residual)
        assert held == 0 or held >= 5, f"{whole} less {subtracted} isolates {held} response(s)"
    for whole, subtracted, residual in _residuals(rated_groups):
        held = sum(_rating(e) is not None for u in residual for e in answers[u])
        assert held == 0 or held >= 5, f"{whole} less {subtracted} isolates {held} satisfaction answer(s)"


async def test_satisfaction_is_suppressed_by_difference_over_its_own_answers(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await answer(talent_client, units["t1"], [9] * 10, [4] * 10)
    await answer(talent_client, units["t2"], [9] * 10, [1] + [None] * 9)
    ops = await results(talent_client, units["ops"], breakdown=True)
    assert figure(ops) == (20, 100.0, pytest.approx(41 / 11), False)
    split = parts(ops)
    # t2's one rating is hidden, so t1's (the smallest visible) is too: ops less t1 would give it away
    assert figure(split["t1"]) == (10, 100.0, None, False)
    assert figure(split["t2"]) == (10, 100.0, None, False)


def _figures(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        own = [document] if "enps" in document else []
        return own + [f for value in document.values() for f in _figures(value)]
    if isinstance(document, list):
        return [f for value in document for f in _figures(value)]
    return []


async def test_no_endpoint_returns_an_individual_answer(talent_client: httpx.AsyncClient, units: Units) -> None:
    await answer(talent_client, units["sales"], [0], [1])  # one lone respondent, and another one below ops
    await answer(talent_client, units["t3"], [10], [5])
    await answer(talent_client, units["t1"], [8] * 9, [3] * 9)
    documents = [
        (await talent_client.get("/v1/engagement-surveys")).json(),
        (await talent_client.get("/v1/engagement-surveys/pulse")).json(),
    ]
    for key in TREE:
        documents.append(await results(talent_client, units[key]))
        documents.append(await results(talent_client, units[key], breakdown=True))
    shown = 0
    for figure_ in (f for document in documents for f in _figures(document)):
        assert set(figure_) <= {
            "org_unit_id",
            "org_unit_key",
            "responses",
            "enps",
            "satisfaction",
            "suppressed",
            "direct",
            "parts",
        }
        if figure_["responses"] < 5:
            assert (figure_["enps"], figure_["satisfaction"], figure_["suppressed"]) == (None, None, True)
        shown += not figure_["suppressed"]
    assert shown > 0
    # the lone answers (0 and 10) can be had by no difference either: co (11) less ops (10) would give sales's
    co_parts = parts(await results(talent_client, units["co"], breakdown=True))
    assert co_parts["ops"]["suppressed"]
    assert co_parts["sales"]["suppressed"]


async def test_results_errors(talent_client: httpx.AsyncClient, units: Units) -> None:
    url = "/v1/engagement-surveys/pulse/results"
    assert (await talent_client.get(url, params={"org_unit": "co"}, headers=READER)).status_code == 200
    unknown = await talent_client.get(url, params={"org_unit": "nowhere"})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["parameter"] == "org_unit"
    assert (
        await talent_client.get("/v1/engagement-surveys/nope/results", params={"org_unit": "co"})
    ).status_code == 404
    assert (await talent_client.get(url)).status_code == 422
    assert (await talent_client.get(url, params={"org_unit": "co", "breakdown": "parents"})).status_code == 422
    assert (
        await talent_client.get(url, params={"org_unit": "co"}, headers=as_scopes("talent:write"))
    ).status_code == 403
    alone = await results(talent_client, units["co"])
    assert "parts" not in alone
    leaf = await results(talent_client, units["t1"], breakdown=True)
    assert [p["direct"] for p in leaf["parts"]] == [True]
