"""Wire models of publishing."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from shared.schemas import StrictModel


class HrPublishRequest(StrictModel):
    """The calendar months to publish: every month meeting `[from, to]`, each valued over the whole
    month (the current one up to today). Default: the last 24 months, the current one included."""

    from_: dt.date | None = Field(
        default=None, alias="from", description="A day of the first month (default: 23 months before `to`'s)."
    )
    to: dt.date | None = Field(default=None, description="A day of the last month (default and at most: today).")


class HrPublishResult(BaseModel):
    """What one publish sent to the KPI service; publishing the same months again counts every
    point `unchanged`."""

    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from", description="The first day of the first month published.")
    to: dt.date = Field(description="The last day counted: the end of the last month, or today.")
    months: int = Field(description="Calendar months published.")
    org_units: int = Field(description="Org units published (every unit that is not archived).")
    kpis: int = Field(description="`hr.*` KPIs that received points.")
    kpis_created: int = Field(description="Of those, the KPI definitions this publish created.")
    archived_kpis: list[str] = Field(description="`hr.*` KPIs left out because they are archived.")
    points: int = Field(description="Points sent: one per KPI and month with a value (null values are skipped).")
    inserted: int
    updated: int
    unchanged: int
