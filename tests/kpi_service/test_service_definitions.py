"""Rules of definitions below HTTP: target shapes and overlaps, and the optimistic-concurrency
checks every change goes through."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import Response

from services.kpi_service.schemas import TargetIn
from services.kpi_service.service import check_targets
from shared.concurrency import Conditional, ETagged, etag, require_if_match
from shared.contracts.kpi import Direction
from shared.errors import PreconditionFailed, PreconditionRequired


def target(
    start: str, end: str, value: float | None = 1.0, low: float | None = None, high: float | None = None
) -> TargetIn:
    return TargetIn(period_start=dt.date.fromisoformat(start), period_end=dt.date.fromisoformat(end),
                    value=value, min=low, max=high)  # fmt: skip


def test_adjacent_targets_are_fine_and_each_overlap_names_the_target_it_overlaps() -> None:
    adjacent = [target("2026-01-01", "2026-06-30"), target("2026-07-01", "2026-12-31")]
    assert check_targets(Direction.increase, adjacent) == []
    # Given out of order: the overlap is reported on the later-starting one, against the one reaching furthest.
    overlapping = [
        target("2026-03-01", "2026-03-31"),
        target("2026-01-01", "2026-12-31"),
        target("2026-12-31", "2027-01-31"),
    ]
    errors = check_targets(Direction.increase, overlapping)
    assert [(e.pointer, e.code) for e in errors] == [
        ("/targets/0/period_start", "overlap"),
        ("/targets/2/period_start", "overlap"),
    ]
    assert "target 1" in errors[0].message
    assert "target 1" in errors[1].message


def test_the_shape_of_a_target_follows_the_direction() -> None:
    band = target("2026-01-01", "2026-12-31", value=None, low=1, high=2)
    value = target("2026-01-01", "2026-12-31")
    assert check_targets(Direction.target_range, [band]) == []
    assert [e.code for e in check_targets(Direction.target_range, [value])] == ["band_required"]
    assert [e.code for e in check_targets(Direction.decrease, [band])] == ["value_required"]
    half_band = target("2026-01-01", "2026-12-31", value=None, low=1)
    assert [e.code for e in check_targets(Direction.target_range, [half_band])] == ["band_required"]


@pytest.mark.parametrize("header", ['"3"', 'W/"3"', '"1", "3"', "*"])
def test_if_match_accepts_the_current_version(header: str) -> None:
    require_if_match(header, 3)


def test_if_match_missing_is_a_428_and_stale_a_412_with_the_current_etag() -> None:
    with pytest.raises(PreconditionRequired):
        require_if_match(None, 3)
    with pytest.raises(PreconditionFailed) as stale:
        require_if_match('"2"', 3)
    assert stale.value.headers == {"ETag": '"3"'}


def test_the_etag_goes_on_the_response_and_the_body_is_returned_as_is() -> None:
    response = Response()
    body = object()
    assert ETagged(response).tagged(body, 4) is body
    assert response.headers["etag"] == etag(4) == '"4"'


@pytest.mark.parametrize(("header", "unchanged"), [(None, False), ('"3"', False), ('"4"', True), ('W/"4"', True),
                                                   ('"1", "4"', True), ("*", True)])  # fmt: skip
def test_if_none_match_gives_a_304_only_for_the_current_version(header: str | None, unchanged: bool) -> None:
    answer = Conditional(Response(), header).not_modified(4)
    assert (answer is not None) is unchanged
    if answer is not None:
        assert (answer.status_code, answer.body, answer.headers["etag"]) == (304, b"", '"4"')
