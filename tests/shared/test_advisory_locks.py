"""The services share one database, where advisory locks are database-wide: no two purposes share a
lock class."""

from __future__ import annotations

from services.kpi_service import repository as kpi
from services.strategy_service import repository as strategy
from services.talent_service import repository as talent
from services.talent_service.publishing import repository as publishing
from shared import advisory_locks
from shared.idempotency import IDEMPOTENCY_LOCK_CLASS


def test_every_purpose_has_a_class_of_its_own() -> None:
    assert len(set(advisory_locks.CLASSES)) == len(advisory_locks.CLASSES)


def test_every_lock_the_services_take_is_a_listed_class() -> None:
    used = [
        IDEMPOTENCY_LOCK_CLASS,
        kpi.STATUS_LOCK_CLASS,
        kpi.ROLLUP_LOCK_CLASS,
        kpi.STALE_SWEEP_LOCK[0],
        strategy.HIERARCHY_LOCK,
        talent.TREE_LOCK[0],
        talent.EMPLOYEE_NUMBER_LOCK,
        publishing.HR_PUBLISH_LOCK[0],
    ]
    assert sorted(used) == sorted(advisory_locks.CLASSES)
