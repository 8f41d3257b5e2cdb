"""Every PostgreSQL advisory lock the platform takes, in one place.

The services share one database, and advisory locks are database-wide: two services picking the
same key would wait on each other for no reason (or one's lone job would skip because of the
other's). Each lock is a pair ``(class, key)``; a class below belongs to one purpose only, so a
per-row lock (``(class, hashtext(id))``) cannot meet another purpose's lock, and a test checks that
the classes are distinct.
"""

from __future__ import annotations

IDEMPOTENCY = 8300
"""Shared: ``(IDEMPOTENCY, hashtext(scope:key))`` while an Idempotency-Key's first request runs."""

KPI_STATUS = 8301
"""KPI service: ``(KPI_STATUS, hashtext(kpi id))`` while a KPI's status change is recorded."""
KPI_ROLLUP = 8302
"""KPI service: ``(KPI_ROLLUP, hashtext(kpi id))`` while a KPI's rollups are written."""
KPI_STALE_SWEEP = 8303
"""KPI service: ``(KPI_STALE_SWEEP, 0)`` held by the one stale sweep running at a time."""

STRATEGY_HIERARCHY = 8310
"""Strategy service: ``(STRATEGY_HIERARCHY, 0)`` while an objective's parent changes (no cycles)."""

TALENT_TREE = 8320
"""Talent service: ``(TALENT_TREE, 0)`` while an org unit's parent changes (no cycles)."""
TALENT_EMPLOYEE_NUMBER = 8321
"""Talent service: ``(TALENT_EMPLOYEE_NUMBER, hashtext(number))`` while a person is upserted by number."""
TALENT_HR_PUBLISH = 8322
"""Talent service: ``(TALENT_HR_PUBLISH, 0)`` held by the one HR indicator publish running at a time."""

CLASSES = (
    IDEMPOTENCY,
    KPI_STATUS,
    KPI_ROLLUP,
    KPI_STALE_SWEEP,
    STRATEGY_HIERARCHY,
    TALENT_TREE,
    TALENT_EMPLOYEE_NUMBER,
    TALENT_HR_PUBLISH,
)
