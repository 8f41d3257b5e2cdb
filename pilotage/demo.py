"""``pilotage demo``: a realistic company built through the gateway's public API, as any client would.

Acme Industries: four departments (operations & supply chain, sales & marketing, product, HR),
twelve teams, people hired, moved, paid and leaving over three years; a skills catalogue with
assessments, required skills (a few real gaps), trainings with before/after assessments; two
engagement surveys; ~30 KPIs over the eight domains with targets, thresholds and two years of
daily data that tell a story (on-time delivery sliding into red last month, the defect rate gone
stale); the quarter's objectives at three levels with key results on those KPIs and check-ins;
initiatives (one that moved its KPI, one that did not, one overdue); the HR indicators published.

Everything is drawn from one seeded random generator and dated from today, so a run is
deterministic for a seed and a day. It is idempotent: every resource is looked up by its key
(employee number, KPI key, title) before it is created, creations carry an ``Idempotency-Key``,
batches are upserts, append-only histories (check-ins, salaries, assessments) are written only
where none exist yet. A step whose route the platform does not serve yet (404 from the gateway)
is skipped with a warning, so the demo works on any version of the platform.

    report = await build_demo(gateway, size=SIZES["small"], seed=7)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pilotage.client import GatewayClient, problem_detail

T = TypeVar("T")
DEFAULT_SEED = 20_260_101
CURRENCY = "EUR"


class DemoError(Exception):
    """The platform answered something the demo cannot go on from."""


class RouteMissing(Exception):
    """The platform does not serve this route yet (the gateway answered 404 for a collection)."""


@dataclass(frozen=True)
class Size:
    people: int
    kpis: int
    days: int


SIZES = {"small": Size(people=40, kpis=8, days=90), "medium": Size(people=300, kpis=32, days=730),
         "large": Size(people=1200, kpis=32, days=1095)}  # fmt: skip

# -- the company ------------------------------------------------------------------------------------

COMPANY = ("acme", "Acme Industries")
DEPARTMENTS = {
    "supply_chain": ("Operations & supply chain", 0.36),
    "sales_marketing": ("Sales & marketing", 0.26),
    "product": ("Product", 0.26),
    "hr": ("Human resources", 0.12),
}
TEAMS = {  # team key: (department, name, job title, share of the department)
    "warehouse": ("supply_chain", "Warehouse", "Warehouse operator", 0.45),
    "procurement": ("supply_chain", "Procurement", "Buyer", 0.25),
    "logistics": ("supply_chain", "Logistics", "Logistics planner", 0.30),
    "field_sales": ("sales_marketing", "Field sales", "Account executive", 0.45),
    "growth_marketing": ("sales_marketing", "Growth marketing", "Marketing specialist", 0.30),
    "customer_care": ("sales_marketing", "Customer care", "Customer advisor", 0.25),
    "platform": ("product", "Platform engineering", "Software engineer", 0.45),
    "mobile": ("product", "Mobile apps", "Mobile engineer", 0.35),
    "design": ("product", "Product design", "Product designer", 0.20),
    "talent_acquisition": ("hr", "Talent acquisition", "Recruiter", 0.40),
    "people_development": ("hr", "People development", "L&D partner", 0.35),
    "hr_operations": ("hr", "HR operations", "HR administrator", 0.25),
}
FIRST = ("Ada Alan Amira Ana Arjun Bea Boris Carla Chen Chloé Dario Dmitri Elena Emeka Eva Farah Felix Grace Hana "  # noqa: SIM905
         "Hugo Ines Ivan Jana Jonas Kai Karim Lea Liam Lina Luca Maya Mehdi Mia Nadia Nils Noor Omar Paula Pedro "
         "Priya Rafael Rosa Sami Sara Sofia Tariq Theo Uma Victor Yara Yusuf Zoe").split()  # fmt: skip
LAST = ("Martin Bernard Dubois Laurent Moreau Garcia Rossi Müller Schmidt Novak Kowalski Silva Costa Nguyen Kim Sato "  # noqa: SIM905
        "Haddad Okafor Johansson Nielsen Jensen Virtanen Popescu Horvat Petrov Fischer Weber Ricci Romano Lopez "
        "Fernandez Sanchez Diallo Mensah Patel Shah Khan Ali Cohen Levi").split()  # fmt: skip
SALARY_BASE = {"supply_chain": 38_000, "sales_marketing": 46_000, "product": 58_000, "hr": 44_000}

# Skills: key, name, category, the teams that use them.
SKILLS = [
    ("forecasting", "Demand forecasting", "supply chain", ("logistics", "procurement")),
    ("inventory_management", "Inventory management", "supply chain", ("warehouse", "logistics")),
    ("lean", "Lean operations", "operations", ("warehouse",)),
    ("forklift", "Forklift certification", "operations", ("warehouse",)),
    ("negotiation", "Negotiation", "commercial", ("procurement", "field_sales")),
    ("supplier_management", "Supplier management", "supply chain", ("procurement",)),
    ("transport_planning", "Transport planning", "supply chain", ("logistics",)),
    ("customs", "Customs & trade compliance", "supply chain", ("logistics",)),
    ("crm", "CRM (Salesforce)", "commercial", ("field_sales", "customer_care")),
    ("account_management", "Key account management", "commercial", ("field_sales",)),
    ("seo", "SEO", "marketing", ("growth_marketing",)),
    ("marketing_analytics", "Marketing analytics", "marketing", ("growth_marketing",)),
    ("content", "Content writing", "marketing", ("growth_marketing",)),
    ("customer_service", "Customer service", "commercial", ("customer_care",)),
    ("complaint_handling", "Complaint handling", "commercial", ("customer_care",)),
    ("python", "Python", "engineering", ("platform",)),
    ("postgresql", "PostgreSQL", "engineering", ("platform",)),
    ("kubernetes", "Kubernetes", "engineering", ("platform",)),
    ("kotlin", "Kotlin", "engineering", ("mobile",)),
    ("swift", "Swift", "engineering", ("mobile",)),
    ("testing", "Test automation", "engineering", ("platform", "mobile")),
    ("ux_research", "UX research", "design", ("design",)),
    ("ui_design", "UI design", "design", ("design", "mobile")),
    ("interviewing", "Structured interviewing", "people", ("talent_acquisition",)),
    ("employer_branding", "Employer branding", "people", ("talent_acquisition",)),
    ("coaching", "Coaching", "people", ("people_development",)),
    ("learning_design", "Learning design", "people", ("people_development",)),
    ("payroll", "Payroll", "people", ("hr_operations",)),
    ("labour_law", "Labour law", "people", ("hr_operations",)),
    ("data_literacy", "Data literacy", "transversal", tuple(TEAMS)),
]
# Required skills per team: (skill, level, count); the first two are real gaps.
REQUIRED = {
    "logistics": [("forecasting", 4, 3), ("transport_planning", 3, 2)],
    "platform": [("kubernetes", 4, 3), ("python", 3, 3), ("testing", 3, 2)],
    "warehouse": [("inventory_management", 3, 3), ("forklift", 3, 3)],
    "field_sales": [("crm", 3, 3), ("negotiation", 3, 2)],
    "customer_care": [("customer_service", 3, 2)],
    "growth_marketing": [("marketing_analytics", 3, 2)],
}
# Nobody inside reaches these levels, not even after a training: the gaps the alignment views show.
GAP_CEILING = {"forecasting": 3, "kubernetes": 3}
TRAININGS = [  # key, name, skills, hours
    ("forecasting_bootcamp", "Demand forecasting bootcamp", ["forecasting", "data_literacy"], 24),
    ("kubernetes_in_practice", "Kubernetes in practice", ["kubernetes"], 16),
    ("lean_basics", "Lean basics", ["lean"], 8),
    ("negotiation_masterclass", "Negotiation masterclass", ["negotiation"], 12),
    ("test_automation", "Test automation", ["testing"], 16),
    ("coaching_for_leads", "Coaching for team leads", ["coaching"], 10),
]


@dataclass(frozen=True)
class KpiSpec:
    key: str
    name: str
    unit: str
    domain: str
    direction: str
    aggregation: str
    owner: str  # org unit key
    base: float
    noise: float
    target: float | tuple[float, float]
    amber: float = 0.03
    red: float = 0.08
    trend: float = 0.0  # per year, in units
    weekly: float = 0.0  # weekend dip (share of base)
    story: str = ""  # slide | stale | improved | flat
    responsible: str = ""  # "lead:<team>" or "head:<department>"
    description: str = ""


KPIS = [
    # The eight of the small demo come first: every story is among them.
    KpiSpec("supply.on_time_delivery", "On-time delivery", "%", "supply_chain", "increase", "avg", "supply_chain",
            96.0, 0.7, 95.0, 0.03, 0.06, story="slide", responsible="head:supply_chain",
            description="Share of orders delivered on the promised day."),
    KpiSpec("supply.cost_per_order", "Supply-chain cost per order", "EUR", "supply_chain", "decrease", "avg",
            "supply_chain", 12.4, 0.35, 12.5, 0.04, 0.10, trend=-0.2, responsible="head:supply_chain"),
    KpiSpec("quality.defect_rate", "Defect rate", "%", "quality", "decrease", "avg", "product", 1.6, 0.15, 1.8,
            0.10, 0.25, story="stale", responsible="lead:platform"),
    KpiSpec("customer.satisfaction_rate", "Customer satisfaction rate", "%", "customer", "increase", "avg",
            "sales_marketing", 81.0, 1.2, 85.0, 0.03, 0.08, story="improved", responsible="head:sales_marketing",
            description="Share of surveyed customers rating 4 or 5 out of 5."),
    KpiSpec("marketing.lead_conversion", "Lead conversion", "%", "marketing", "increase", "avg", "growth_marketing",
            4.1, 0.25, 4.5, 0.08, 0.2, story="flat", responsible="lead:growth_marketing"),
    KpiSpec("productivity.team_output", "Team productivity", "points/person", "productivity", "increase", "avg",
            "platform", 7.5, 0.8, 7.0, 0.08, 0.15, trend=0.3, responsible="lead:platform",
            description="Delivered story points per engineer per day."),
    KpiSpec("finance.revenue", "Revenue", "kEUR", "finance", "increase", "sum", "acme", 410.0, 35.0, 400.0, 0.05,
            0.12, trend=30.0),
    KpiSpec("ops.capacity_utilisation", "Capacity utilisation", "%", "operations", "target_range", "avg",
            "warehouse", 82.0, 2.5, (75.0, 90.0), 2.0, 5.0),
    # The rest of the catalogue.
    KpiSpec("supply.inventory_turns", "Inventory turns", "turns", "supply_chain", "increase", "last", "logistics",
            8.2, 0.2, 8.0, 0.05, 0.1),
    KpiSpec("supply.forecast_accuracy", "Forecast accuracy", "%", "supply_chain", "increase", "avg", "logistics",
            78.0, 2.0, 80.0, 0.05, 0.1),
    KpiSpec("ops.order_cycle_time", "Order cycle time", "hours", "operations", "decrease", "avg", "warehouse",
            30.0, 2.0, 32.0, 0.05, 0.15),
    KpiSpec("ops.warehouse_throughput", "Warehouse throughput", "orders", "operations", "increase", "sum",
            "warehouse", 1800.0, 120.0, 1700.0, 0.05, 0.1),
    KpiSpec("ops.safety_incidents", "Safety incidents", "incidents", "operations", "decrease", "sum", "warehouse",
            0.3, 0.12, 0.5, 0.5, 1.0),
    KpiSpec("quality.first_pass_yield", "First-pass yield", "%", "quality", "increase", "avg", "warehouse", 97.0,
            0.5, 96.5, 0.01, 0.03),
    KpiSpec("quality.returns_rate", "Returns rate", "%", "quality", "decrease", "avg", "customer_care", 2.4, 0.2,
            2.5, 0.05, 0.15),
    KpiSpec("quality.complaints", "Customer complaints", "complaints", "quality", "decrease", "sum", "customer_care",
            6.0, 2.0, 8.0, 0.2, 0.5),
    KpiSpec("customer.nps", "Net promoter score", "points", "customer", "increase", "avg", "sales_marketing", 32.0,
            3.0, 30.0, 0.1, 0.25),
    KpiSpec("customer.churn_rate", "Customer churn", "%", "customer", "decrease", "last", "field_sales", 1.1, 0.08,
            1.2, 0.08, 0.2),
    KpiSpec("customer.first_response_hours", "First response time", "hours", "customer", "decrease", "avg",
            "customer_care", 3.2, 0.4, 4.0, 0.1, 0.25),
    KpiSpec("marketing.qualified_leads", "Marketing-qualified leads", "leads", "marketing", "increase", "sum",
            "growth_marketing", 55.0, 9.0, 50.0, 0.1, 0.2),
    KpiSpec("marketing.cost_per_lead", "Cost per lead", "EUR", "marketing", "decrease", "avg", "growth_marketing",
            38.0, 3.0, 40.0, 0.05, 0.15),
    KpiSpec("marketing.web_sessions", "Web sessions", "sessions", "marketing", "increase", "sum", "growth_marketing",
            5200.0, 600.0, 5000.0, 0.1, 0.2, trend=400.0),
    KpiSpec("finance.gross_margin", "Gross margin", "%", "finance", "increase", "avg", "acme", 41.0, 0.8, 40.0,
            0.03, 0.08),
    KpiSpec("finance.opex", "Operating expenses", "kEUR", "finance", "decrease", "sum", "acme", 280.0, 8.0, 300.0,
            0.03, 0.08, weekly=0.5),
    KpiSpec("finance.days_sales_outstanding", "Days sales outstanding", "days", "finance", "decrease", "last",
            "acme", 44.0, 1.5, 45.0, 0.05, 0.12),
    KpiSpec("productivity.revenue_per_employee", "Revenue per employee", "kEUR", "productivity", "increase", "last",
            "acme", 140.0, 2.0, 135.0, 0.05, 0.1),
    KpiSpec("productivity.deploy_frequency", "Deployments", "deploys", "productivity", "increase", "sum", "platform",
            6.0, 2.0, 5.0, 0.2, 0.4),
    KpiSpec("productivity.cycle_time_days", "Engineering cycle time", "days", "productivity", "decrease", "avg",
            "product", 3.4, 0.4, 4.0, 0.1, 0.25),
    KpiSpec("people.time_to_hire", "Time to hire", "days", "hr", "decrease", "avg", "talent_acquisition", 38.0,
            4.0, 40.0, 0.1, 0.25),
    KpiSpec("people.offer_acceptance", "Offer acceptance rate", "%", "hr", "increase", "avg", "talent_acquisition",
            78.0, 3.0, 80.0, 0.05, 0.15),
    KpiSpec("people.training_hours", "Training hours", "hours", "hr", "increase", "sum", "people_development",
            20.0, 6.0, 18.0, 0.2, 0.4),
    KpiSpec("people.absenteeism_rate", "Absenteeism", "%", "hr", "decrease", "avg", "hr", 3.1, 0.3, 3.5, 0.1,
            0.25),
]  # fmt: skip


# -- the plan: everything the demo will hold, drawn from the seed -----------------------------------


@dataclass
class PersonPlan:
    number: str
    name: str
    email: str
    team: str  # the first unit (a team, or a department / the company for heads)
    title: str
    hire: dt.date
    end: dt.date | None = None
    reason: str | None = None
    manager: str | None = None  # employee number
    salary: float = 0.0
    moves: list[tuple[dt.date, str, str]] = field(default_factory=list)  # (day, unit, title)
    raises: list[tuple[dt.date, float]] = field(default_factory=list)
    level: int = 3  # 0 ceo, 1 head, 2 lead, 3 member

    def unit_on(self, day: dt.date) -> str:
        unit = self.team
        for effective, moved_to, _title in self.moves:
            if effective <= day:
                unit = moved_to
        return unit

    def employed_on(self, day: dt.date) -> bool:
        return self.hire <= day and (self.end is None or day <= self.end)


class Plan:
    def __init__(self, size: Size, seed: int, today: dt.date) -> None:
        self.size, self.seed, self.today = size, seed, today
        self.rng = random.Random(seed)
        self.people: list[PersonPlan] = []
        self.kpis = KPIS[: size.kpis]
        self.quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        self.quarter_end = _next_quarter(self.quarter_start) - dt.timedelta(days=1)
        self._people()

    def _people(self) -> None:
        rng, today, n = self.rng, self.today, self.size.people
        history_start = today - dt.timedelta(days=3 * 365)
        names: set[str] = set()

        def person(unit: str, title: str, level: int, hire: dt.date) -> PersonPlan:
            while True:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                if f"{first} {last}" not in names:
                    break
            names.add(f"{first} {last}")
            number = f"E{1001 + len(self.people):04d}"
            slug = f"{first}.{last}".lower().translate(str.maketrans("éüö", "euo"))
            department = TEAMS[unit][0] if unit in TEAMS else unit if unit in DEPARTMENTS else "hr"
            base = SALARY_BASE.get(department, 50_000) * (1.0 + 0.45 * (3 - level)) * rng.uniform(0.9, 1.15)
            plan = PersonPlan(number, f"{first} {last}", f"{slug}.{number.lower()}@acme.example", unit, title, hire,
                              salary=round(base, -2), level=level)  # fmt: skip
            self.people.append(plan)
            return plan

        def early() -> dt.date:
            return today - dt.timedelta(days=rng.randint(3 * 365 + 30, 7 * 365))

        ceo = person("acme", "Chief executive officer", 0, early())
        heads = {d: person(d, f"Head of {name.lower()}", 1, early()) for d, (name, _) in DEPARTMENTS.items()}
        for head in heads.values():
            head.manager = ceo.number
        leads = {}
        for team, (department, name, _title, _share) in TEAMS.items():
            leads[team] = person(team, f"{name} lead", 2, early())
            leads[team].manager = heads[department].number
        members = max(n - len(self.people), 0)
        weights = [DEPARTMENTS[d][1] * share for d, _n, _t, share in TEAMS.values()]
        teams = list(TEAMS)
        for _ in range(members):
            team = rng.choices(teams, weights)[0]
            hire = early() if rng.random() < 0.55 else history_start + dt.timedelta(days=rng.randint(0, 3 * 365 - 20))
            member = person(team, TEAMS[team][2], 3, hire)
            member.manager = leads[team].number
            leave = 0.35 if team == "logistics" else 0.16  # logistics loses people: a high-turnover team
            if rng.random() < leave:
                earliest = max(member.hire + dt.timedelta(days=60), history_start)
                if earliest < today - dt.timedelta(days=2):
                    member.end = earliest + dt.timedelta(days=rng.randint(0, (today - earliest).days - 2))
                    member.reason = rng.choices(["voluntary", "involuntary", "retirement", "other"],
                                                [0.65, 0.25, 0.06, 0.04])[0]  # fmt: skip
        for plan in self.people:
            last_day = plan.end or today - dt.timedelta(days=1)
            if plan.level == 3 and rng.random() < 0.12 and (last_day - max(plan.hire, history_start)).days > 200:
                first = max(plan.hire, history_start) + dt.timedelta(days=120)
                day = first + dt.timedelta(days=rng.randint(0, (last_day - first).days))
                target = rng.choice([t for t in TEAMS if t != plan.team and TEAMS[t][0] == TEAMS[plan.team][0]]
                                    if rng.random() < 0.6 else [t for t in TEAMS if t != plan.team])  # fmt: skip
                plan.moves.append((day, target, TEAMS[target][2]))
            salary = plan.salary
            anniversary = plan.hire.replace(year=plan.hire.year + 1) if plan.hire.month != 2 or plan.hire.day != 29 \
                else dt.date(plan.hire.year + 1, 3, 1)  # fmt: skip
            while anniversary <= last_day:
                if anniversary >= history_start and rng.random() < 0.6:
                    salary = round(salary * (1 + rng.uniform(0.02, 0.06)), -1)
                    plan.raises.append((anniversary, salary))
                anniversary = dt.date(anniversary.year + 1, anniversary.month, min(anniversary.day, 28))

    # Who answers for what.
    def responsible(self, spec: KpiSpec) -> PersonPlan | None:
        if not spec.responsible:
            return None
        role, unit = spec.responsible.split(":")
        level = 2 if role == "lead" else 1
        return next((p for p in self.people if p.level == level and p.team == unit), None)

    def lead(self, team: str) -> PersonPlan:
        return next(p for p in self.people if p.level == 2 and p.team == team)

    def active(self, day: dt.date | None = None) -> list[PersonPlan]:
        day = day or self.today
        return [p for p in self.people if p.employed_on(day)]

    # Dated stories, the same for every size (they fit in the 90 days of the small demo).
    @property
    def improved_initiative(self) -> tuple[dt.date, dt.date]:
        return self.today - dt.timedelta(days=60), self.today - dt.timedelta(days=40)

    def series(self, spec: KpiSpec) -> list[tuple[dt.datetime, float]]:
        """Daily values (stamped 06:00 UTC) up to yesterday, following the KPI's story."""
        rng = random.Random(f"{self.seed}:{spec.key}")
        points = []
        first = self.today - dt.timedelta(days=self.size.days)
        last = self.today - dt.timedelta(days=8 if spec.story == "stale" else 1)
        started, improved_done = self.improved_initiative
        window = (improved_done - started).days + 1  # the effect's window (DESIGN §9), 21 days
        # "flat": the days after the initiative repeat the days before it, so its effect is nil
        # whatever the draw (an honest "inconclusive", never a lucky p < 0.05).
        echo = (improved_done + dt.timedelta(days=1) - (started - dt.timedelta(days=window))).days
        values: dict[dt.date, float] = {}
        day = first
        while day <= last:
            years_ago = (self.today - day).days / 365
            value = spec.base - spec.trend * years_ago + rng.gauss(0, spec.noise)
            # A weekend dip only where it is good news: a daily target would judge it red otherwise.
            if spec.weekly and spec.direction == "decrease" and day.weekday() >= 5:
                value *= 1 - spec.weekly
            age = (self.today - day).days
            if spec.story == "slide" and age <= 35:
                value -= (35 - age) / 35 * 10.0  # from ~96 down to ~86: red (below 95 by more than 6 %)
            if spec.story == "improved" and day > improved_done:
                value += 6.0
            if spec.unit == "%":
                value = min(max(value, 0.0), 100.0)
            value = max(value, 0.0)
            if spec.story == "flat" and improved_done < day <= improved_done + dt.timedelta(days=window):
                value = values.get(day - dt.timedelta(days=echo), value)
            values[day] = round(value, 3)
            points.append((dt.datetime.combine(day, dt.time(6), dt.UTC), values[day]))
            day += dt.timedelta(days=1)
        return points


# -- talking to the gateway -------------------------------------------------------------------------


async def _limited(jobs: Iterable[Awaitable[T]], limit: int = 8) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with semaphore:
            return await job

    return list(await asyncio.gather(*(run(job) for job in jobs)))


@dataclass
class Report:
    created: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n


class Demo:
    def __init__(self, gateway: GatewayClient, plan: Plan, progress: Progress, seed: int) -> None:
        self.gateway, self.plan, self.progress = gateway, plan, progress
        self.prefix = f"demo-{seed}"
        self.report = Report()
        self.units: dict[str, str] = {}  # key -> id
        self.people: dict[str, str] = {}  # employee number -> id
        self.objective_by_owner: dict[str, dict[str, Any]] = {}
        self.key_results: dict[str, dict[str, Any]] = {}

    # HTTP helpers
    async def call(self, method: str, path: str, *, ok: Sequence[int] = (200, 201), **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:
            kwargs["content"] = orjson.dumps(kwargs.pop("json"))
            kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
        response = await self.gateway.request(method, path, **kwargs)
        if response.status_code in ok:
            return response
        if response.status_code in (404, 405) and _route_missing(response):
            raise RouteMissing(f"{method} {path.split('?')[0]}")
        raise DemoError(f"{method} {path} answered {response.status_code}: {problem_detail(response)}")

    async def create(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": f"{self.prefix}:{key}"}
        response = await self.call("POST", path, json=body, headers=headers)
        result: dict[str, Any] = response.json()
        return result

    async def pages(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {**(params or {}), "limit": 500, **({"cursor": cursor} if cursor else {})}
            body = (await self.call("GET", path, params=query)).json()
            for item in body["items"]:
                yield item
            cursor = body.get("next_cursor")
            if not cursor:
                return

    async def find(self, path: str) -> dict[str, Any] | None:
        response = await self.call("GET", path, ok=(200, 404))
        if response.status_code == 404:
            if _route_missing(response):
                raise RouteMissing(f"GET {path}")
            return None
        found: dict[str, Any] = response.json()
        return found

    @asynccontextmanager
    async def step(self, name: str, total: int) -> AsyncIterator[Callable[[int], None]]:
        task = self.progress.add_task(name, total=max(total, 1))

        def advance(n: int = 1) -> None:
            self.progress.advance(task, n)

        try:
            yield advance
        except RouteMissing as missing:
            self.report.skipped_steps.append(name)
            self.report.warnings.append(f"{name}: skipped, the platform does not serve {missing} yet")
            self.progress.update(task, description=f"[yellow]{name} (skipped)")
        finally:
            self.progress.update(task, completed=max(total, 1))

    # -- steps ------------------------------------------------------------------------------------
    async def org_units(self) -> None:
        units: list[tuple[str, str, str, str | None]] = [(COMPANY[0], COMPANY[1], "company", None)]
        units += [(key, name, "department", COMPANY[0]) for key, (name, _) in DEPARTMENTS.items()]
        units += [(key, name, "team", department) for key, (department, name, _t, _s) in TEAMS.items()]
        async with self.step("org units", len(units)) as advance:
            for key, name, kind, parent in units:
                found = await self.find(f"/v1/org-units/{key}")
                if found is None:
                    body = {"key": key, "name": name, "kind": kind, "parent_id": self.units.get(parent or "")}
                    found = await self.create("/v1/org-units", body, f"org-unit:{key}")
                    self.report.count("org units")
                self.units[key] = found["id"]
                advance(1)

    async def _load_people_ids(self) -> None:
        async for person in self.pages("/v1/people"):
            self.people[person["employee_number"]] = person["id"]

    async def people_batch(self) -> None:
        plan = self.plan
        async with self.step("people", len(plan.people)) as advance:
            await self._load_people_ids()
            known = set(self.people)
            for level in range(4):  # top down: each level's managers exist before it
                wave = [p for p in plan.people if p.level == level]
                for start in range(0, len(wave), 1000):
                    chunk = wave[start : start + 1000]
                    body = {"people": [self._person_body(p, p.number not in known) for p in chunk]}
                    result = (await self.call("POST", "/v1/people/batch", json=body)).json()
                    self.report.count("people", result.get("inserted", 0))
                    if result.get("updated"):
                        self.report.count("people updated", result["updated"])
                    advance(len(chunk))
                await self._load_people_ids()

    def _person_body(self, p: PersonPlan, new: bool) -> dict[str, Any]:
        """The whole record. The hire-date salary goes only with a new person: for a known one the
        batch would record a change from today (raises go through /salaries, dated)."""
        title = p.moves[-1][2] if p.moves else p.title
        body: dict[str, Any] = {"employee_number": p.number, "name": p.name, "email": p.email,
                                "job_title": title, "hire_date": p.hire.isoformat(),
                                "org_unit_id": self.units[p.team]}  # fmt: skip
        if new:
            body["salary"] = {"amount": p.salary, "currency": CURRENCY}
        if p.manager:
            body["manager_id"] = self.people[p.manager]
        if p.end:
            body["end_date"], body["separation_reason"] = p.end.isoformat(), p.reason
        return body

    async def moves_and_salaries(self) -> None:
        movers = [p for p in self.plan.people if p.moves]
        raised = [p for p in self.plan.people if p.raises]
        async with self.step("moves and salary changes", len(movers) + len(raised)) as advance:

            async def move(p: PersonPlan) -> None:
                person = self.people[p.number]
                have = {
                    a["effective_date"]
                    for a in (await self.call("GET", f"/v1/people/{person}/assignments")).json()["items"]
                }
                for day, unit, title in p.moves:
                    if day.isoformat() not in have:
                        body = {"org_unit_id": self.units[unit], "effective_date": day.isoformat(), "job_title": title}
                        await self.create(f"/v1/people/{person}/assignments", body, f"move:{p.number}:{day}")
                        self.report.count("moves")
                advance(1)

            async def raise_salary(p: PersonPlan) -> None:
                person = self.people[p.number]
                have = {
                    s["effective_date"]
                    for s in (await self.call("GET", f"/v1/people/{person}/salaries")).json()["items"]
                }
                for day, amount in p.raises:
                    if day.isoformat() not in have:
                        body = {"effective_date": day.isoformat(), "amount": amount, "currency": CURRENCY}
                        await self.create(f"/v1/people/{person}/salaries", body, f"salary:{p.number}:{day}")
                        self.report.count("salary changes")
                advance(1)

            await _limited([move(p) for p in movers])
            await _limited([raise_salary(p) for p in raised])

    async def kpis(self) -> None:
        plan = self.plan
        async with self.step("KPIs and targets", len(plan.kpis)) as advance:

            async def one(spec: KpiSpec) -> None:
                if await self.find(f"/v1/kpis/{spec.key}") is None:
                    responsible = plan.responsible(spec)
                    mode = "absolute" if spec.direction == "target_range" else "relative"
                    body = {"key": spec.key, "name": spec.name, "description": spec.description, "unit": spec.unit,
                            "domain": spec.domain, "direction": spec.direction, "aggregation": spec.aggregation,
                            "cadence": "daily", "owner_org_unit_id": self.units[spec.owner],
                            "responsible_person_id": self.people[responsible.number] if responsible else None,
                            "tags": ["demo"],
                            "thresholds": {"mode": mode, "amber": spec.amber, "red": spec.red}}  # fmt: skip
                    await self.create("/v1/kpis", body, f"kpi:{spec.key}")
                    self.report.count("KPIs")
                target: dict[str, Any] = {"period_start": f"{plan.today.year - 3}-01-01",
                                          "period_end": f"{plan.today.year + 1}-12-31"}  # fmt: skip
                if isinstance(spec.target, tuple):
                    target["min"], target["max"] = spec.target
                else:
                    target["value"] = spec.target
                await self.call("PUT", f"/v1/kpis/{spec.key}/targets", json={"targets": [target]})
                advance(1)

            await _limited([one(spec) for spec in plan.kpis], 4)

    async def measurements(self) -> None:
        plan = self.plan
        total = len(plan.kpis) * plan.size.days
        async with self.step("measurements", total) as advance:
            points = [
                {"kpi": spec.key, "ts": ts.isoformat().replace("+00:00", "Z"), "value": value}
                for spec in plan.kpis
                for ts, value in plan.series(spec)
            ]

            async def send(batch: list[dict[str, Any]]) -> None:
                result = (await self.call("POST", "/v1/measurements", json={"points": batch})).json()
                self.report.count("measurements", result.get("inserted", 0))
                advance(len(batch))

            await _limited([send(points[i : i + 10_000]) for i in range(0, len(points), 10_000)], 3)

    async def skills(self) -> None:
        plan, rng = self.plan, random.Random(f"{self.plan.seed}:skills")
        active = plan.active()
        async with self.step("skills and assessments", len(SKILLS) + len(active)) as advance:
            have = {s["key"] async for s in self.pages("/v1/skills")}
            for key, name, category, _teams in SKILLS:
                if key not in have:
                    await self.create("/v1/skills", {"key": key, "name": name, "category": category}, f"skill:{key}")
                    self.report.count("skills")
                advance(1)

            async def assess(p: PersonPlan) -> None:
                person = self.people[p.number]
                current = (await self.call("GET", f"/v1/people/{person}/skills")).json()["items"]
                if not current:
                    team = p.unit_on(plan.today)
                    relevant = [k for k, _n, _c, teams in SKILLS if team in teams]
                    day = max(p.hire, plan.today - dt.timedelta(days=400)) + dt.timedelta(days=rng.randint(0, 30))
                    for skill in relevant[:4]:
                        ceiling = GAP_CEILING.get(skill, 5)
                        level = min(rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5]) + (1 if p.level == 2 else 0), ceiling)
                        body = {"skill": skill, "level": level, "assessed_on": min(day, plan.today).isoformat(),
                                "source": rng.choice(["manager", "manager", "self", "certification"])}  # fmt: skip
                        await self.create(f"/v1/people/{person}/skill-assessments", body, f"assess:{p.number}:{skill}")
                        self.report.count("skill assessments")
                advance(1)

            await _limited([assess(p) for p in active])

    async def required_skills(self) -> None:
        async with self.step("required skills", len(REQUIRED)) as advance:
            for team, items in REQUIRED.items():
                body = {"items": [{"skill": s, "level": level, "count": count} for s, level, count in items]}
                await self.call("PUT", f"/v1/org-units/{team}/required-skills", json=body)
                advance(1)

    async def trainings(self) -> None:
        plan, rng = self.plan, random.Random(f"{self.plan.seed}:trainings")
        enrolments: list[tuple[str, PersonPlan, dt.date]] = []
        for key, _name, skills, _hours in TRAININGS:
            users = {t for k, _n, _c, teams in SKILLS if k in skills for t in teams if k != "data_literacy"}
            pool = [p for p in plan.active() if p.unit_on(plan.today) in users]
            for p in rng.sample(pool, min(len(pool), max(2, len(pool) // 3))):
                enrolled = plan.today - dt.timedelta(days=rng.randint(45, 300))
                if enrolled > p.hire:
                    enrolments.append((key, p, enrolled))
        async with self.step("trainings and enrolments", len(TRAININGS) + len(enrolments)) as advance:
            have = {t["key"] async for t in self.pages("/v1/trainings")}
            for key, name, skills, hours in TRAININGS:
                if key not in have:
                    body = {"key": key, "name": name, "skills": skills, "hours": hours}
                    await self.create("/v1/trainings", body, f"training:{key}")
                    self.report.count("trainings")
                advance(1)
            enrolled_already: dict[str, set[str]] = {}
            for key, *_ in TRAININGS:
                enrolled_already[key] = {e["person_id"] async for e in self.pages(f"/v1/trainings/{key}/enrolments")}
            skills_of = {key: skills for key, _n, skills, _h in TRAININGS}

            async def enrol(key: str, p: PersonPlan, day: dt.date) -> None:
                person = self.people[p.number]
                if person not in enrolled_already[key]:
                    created = await self.create(f"/v1/trainings/{key}/enrolments",
                                                {"person_id": person, "enrolled_on": day.isoformat()},
                                                f"enrol:{key}:{p.number}")  # fmt: skip
                    self.report.count("enrolments")
                    outcome = rng.random()
                    if outcome < 0.7:
                        completed = min(day + dt.timedelta(days=rng.randint(5, 30)), plan.today)
                        body = {"status": "completed", "completed_on": completed.isoformat(),
                                "score": round(rng.uniform(60, 98), 1)}  # fmt: skip
                        await self.call("PATCH", f"/v1/enrolments/{created['id']}", json=body)
                        after = min(completed + dt.timedelta(days=rng.randint(14, 60)), plan.today)
                        for skill in skills_of[key]:
                            level = min(GAP_CEILING.get(skill, 5), rng.choice([3, 3, 4, 4, 5]))
                            body = {
                                "skill": skill,
                                "level": level,
                                "assessed_on": after.isoformat(),
                                "source": "manager",
                            }
                            await self.create(f"/v1/people/{person}/skill-assessments", body,
                                              f"assess-after:{key}:{p.number}:{skill}")  # fmt: skip
                    elif outcome < 0.8:
                        await self.call("PATCH", f"/v1/enrolments/{created['id']}", json={"status": "dropped"})
                advance(1)

            await _limited([enrol(*e) for e in enrolments], 6)

    async def surveys(self) -> None:
        plan, rng = self.plan, random.Random(f"{self.plan.seed}:surveys")
        last_start = _quarter_before(plan.quarter_start)
        surveys = []
        for start in (_quarter_before(last_start), last_start):
            end = _next_quarter(start) - dt.timedelta(days=1)
            quarter = (start.month - 1) // 3 + 1
            surveys.append((f"pulse_{start.year}_q{quarter}", f"Engagement pulse Q{quarter} {start.year}", start, end))
        async with self.step("engagement surveys", len(surveys)) as advance:
            for key, name, start, end in surveys:
                if await self.find(f"/v1/engagement-surveys/{key}") is None:
                    body = {"key": key, "name": name, "period_start": start.isoformat(), "period_end": end.isoformat()}
                    await self.create("/v1/engagement-surveys", body, f"survey:{key}")
                    self.report.count("engagement surveys")
                    responses: list[dict[str, Any]] = []
                    for p in plan.active(end):
                        team = p.unit_on(end)
                        share = 0.35 if team == "design" else 0.75  # design: fewer than 5 respondents
                        if rng.random() < share and (team != "design" or len(
                                [r for r in responses if r["org_unit_id"] == self.units[team]]) < 4):  # fmt: skip
                            mood = -2.5 if team == "logistics" else 0.8 if team == "platform" else 0.0
                            enps = min(10, max(0, round(rng.gauss(8.0 + mood, 1.5))))
                            satisfaction = min(5, max(1, round(rng.gauss(3.8 + mood / 3, 0.7))))
                            responses.append(
                                {"org_unit_id": self.units[team], "enps": enps, "satisfaction": satisfaction}
                            )
                    for i in range(0, len(responses), 1000):
                        await self.create(f"/v1/engagement-surveys/{key}/responses",
                                          {"responses": responses[i : i + 1000]}, f"responses:{key}:{i}")  # fmt: skip
                    self.report.count("survey responses", len(responses))
                advance(1)

    async def objectives(self) -> None:
        plan = self.plan
        start, end = plan.quarter_start.isoformat(), plan.quarter_end.isoformat()
        kpis = {spec.key for spec in plan.kpis}
        q = (plan.quarter_start.month - 1) // 3 + 1
        tree: list[tuple[str, str, str, str | None, list[dict[str, Any]]]] = [
            ("company", "acme", f"Grow profitably while delighting customers (Q{q})", None, [
                _kr("Customer satisfaction at 88 %", "increase", 80, 88, "%", "customer.satisfaction_rate"),
                _kr("On-time delivery back to 97 %", "increase", 93, 97, "%", "supply.on_time_delivery"),
                _kr("Revenue over the quarter", "increase", 0, 40_000, "kEUR", "finance.revenue", "period"),
            ]),
            ("department", "supply_chain", "Deliver on time at a lower cost", "company", [
                _kr("On-time delivery at 97 %", "increase", 93, 97, "%", "supply.on_time_delivery"),
                _kr("Cost per order below 11.5 EUR", "decrease", 12.8, 11.5, "EUR", "supply.cost_per_order"),
            ]),
            ("department", "sales_marketing", "Win and keep the right customers", "company", [
                _kr("Lead conversion at 5 %", "increase", 4.0, 5.0, "%", "marketing.lead_conversion"),
                _kr("Customer satisfaction at 88 %", "increase", 80, 88, "%", "customer.satisfaction_rate"),
            ]),
            ("department", "product", "Ship faster with fewer defects", "company", [
                _kr("Defect rate below 1.2 %", "decrease", 1.8, 1.2, "%", "quality.defect_rate"),
                _kr("Release the new mobile checkout", "milestone", 0, 1, "", None),
            ]),
            ("department", "hr", "Build the skills the plan needs", "company", [
                _kr("People trained in demand forecasting", "increase", 0, 12, "people", None),
                _kr("Mentoring programme launched", "milestone", 0, 1, "", None),
            ]),
            ("team", "logistics", "Plan transport with accurate forecasts", "supply_chain", [
                _kr("Carriers on the new planning tool", "increase", 0, 6, "carriers", None),
            ]),
            ("team", "warehouse", "Keep the warehouse in its capacity band", "supply_chain", [
                _kr("Capacity utilisation at or below 90 %", "stay_below", 95, 90, "%", "ops.capacity_utilisation"),
            ]),
            ("team", "platform", "Raise delivery throughput", "product", [
                _kr("Team productivity at 8 points", "increase", 7.0, 8.0, "points", "productivity.team_output"),
            ]),
            ("team", "growth_marketing", "Fill the funnel", "sales_marketing", [
                _kr("Campaigns launched", "increase", 0, 8, "campaigns", None),
            ]),
            ("team", "people_development", "Launch the mentoring programme", "hr", [
                _kr("Mentor pairs formed", "increase", 0, 20, "pairs", None),
            ]),
        ]  # fmt: skip
        async with self.step("objectives, key results, check-ins", len(tree)) as advance:
            existing = {(o["title"], o["period_start"]): o async for o in self.pages("/v1/objectives")}
            parents: dict[str, str] = {}
            for level, owner, title, parent, key_results in tree:
                objective = existing.get((title, start))
                if objective is None:
                    body = {"title": title, "level": level, "owner_org_unit_id": self.units[owner],
                            "parent_id": parents.get(parent or ""), "period_start": start, "period_end": end,
                            "status": "active"}  # fmt: skip
                    objective = await self.create("/v1/objectives", body, f"objective:{start}:{owner}")
                    self.report.count("objectives")
                parents[level if level == "company" else owner] = objective["id"]
                self.objective_by_owner[owner] = objective
                have = {k["title"]: k async for k in self.pages(f"/v1/objectives/{objective['id']}/key-results")}
                for kr in key_results:
                    if kr.get("kpi") and kr["kpi"] not in kpis:
                        continue  # the small demo leaves out this KPI
                    found = have.get(kr["title"])
                    if found is None:
                        found = await self.create(f"/v1/objectives/{objective['id']}/key-results", kr,
                                                  f"kr:{start}:{owner}:{kr['title']}")  # fmt: skip
                        self.report.count("key results")
                    self.key_results[f"{owner}:{kr['title']}"] = found
                    if not kr.get("kpi"):
                        await self._check_ins(found, kr)
                advance(1)

    async def _check_ins(self, key_result: dict[str, Any], kr: dict[str, Any]) -> None:
        plan = self.plan
        path = f"/v1/key-results/{key_result['id']}/check-ins"
        if (await self.call("GET", path)).json()["items"]:
            return
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        opened = dt.datetime.combine(plan.quarter_start, dt.time(9), dt.UTC)
        if now <= opened:
            return
        rng = random.Random(f"{plan.seed}:{kr['title']}")
        for step in (1, 2, 3):
            at = opened + (now - opened) * step / 3
            share = (at - opened) / (dt.datetime.combine(plan.quarter_end, dt.time(23), dt.UTC) - opened)
            if kr["kind"] == "milestone":
                value = 1.0 if step == 3 and kr["title"].startswith("Mentoring") else 0.0
            else:
                pace = 0.5 if "Carriers" in kr["title"] else 1.1
                value = round(kr["start_value"] + (kr["target_value"] - kr["start_value"]) * share * pace)
            confidence = (
                0.8 if "Carriers" in kr["title"] else round(min(0.95, 0.55 + 0.1 * step + rng.random() / 10), 2)
            )
            body = {"value": value, "confidence": confidence, "checked_at": at.isoformat(),
                    "note": ["Kick-off done.", "Halfway review.", "Latest review."][step - 1]}  # fmt: skip
            await self.create(path, body, f"check-in:{key_result['id']}:{step}")
            self.report.count("check-ins")

    async def initiatives(self) -> None:
        plan = self.plan
        started, due = plan.improved_initiative
        today = plan.today
        kpis = {spec.key for spec in plan.kpis}
        items = [
            ("Voice-of-customer callbacks", "sales_marketing", "customer.satisfaction_rate", None,
             started, due, "done", due),
            ("Landing page redesign", "growth_marketing", "marketing.lead_conversion", None,
             started, due, "done", due),
            ("Automated regression suite", "platform", None, "product",
             today - dt.timedelta(days=50), today - dt.timedelta(days=10), "in_progress", None),
        ]  # fmt: skip
        async with self.step("initiatives", len(items)) as advance:
            existing = {i["title"]: i async for i in self.pages("/v1/initiatives")}
            for title, owner, kpi, objective, start, due_on, status, done_on in items:
                if title in existing or (kpi and kpi not in kpis):
                    advance(1)
                    continue
                responsible = self.people[plan.lead(owner).number] if owner in TEAMS else None
                body: dict[str, Any] = {"title": title, "owner_org_unit_id": self.units[owner],
                                        "responsible_person_id": responsible, "start_date": start.isoformat(),
                                        "due_date": due_on.isoformat(), "status": "in_progress"}  # fmt: skip
                if kpi:
                    body["kpi"] = kpi
                if objective and objective in self.objective_by_owner:
                    body["objective_id"] = self.objective_by_owner[objective]["id"]
                created = await self.create("/v1/initiatives", body, f"initiative:{title}")
                self.report.count("initiatives")
                update = {"note": "Work started with the team.", "progress": 0.3}
                await self.create(f"/v1/initiatives/{created['id']}/updates", update, f"update:{title}")
                if status == "done" and done_on:
                    etag = f'"{created.get("version", 1)}"'
                    await self.call("PATCH", f"/v1/initiatives/{created['id']}", headers={"If-Match": etag},
                                    json={"status": "done", "done_on": done_on.isoformat()})  # fmt: skip
                advance(1)

    async def publish(self) -> None:
        """The service's default range (its last 24 months, as its periodic job publishes them)."""
        async with self.step("HR indicators published", 1) as advance:
            result = (await self.call("POST", "/v1/hr-indicators/publish", json={})).json()
            self.report.count("hr.* KPIs created", int(result.get("kpis_created", 0)))
            advance(1)


def _quarter_before(start: dt.date) -> dt.date:
    month = start.month - 3
    return dt.date(start.year - 1, month + 12, 1) if month < 1 else dt.date(start.year, month, 1)


def _next_quarter(start: dt.date) -> dt.date:
    month = start.month + 3
    return dt.date(start.year + 1, month - 12, 1) if month > 12 else dt.date(start.year, month, 1)


def _kr(title: str, kind: str, start: float, target: float, unit: str, kpi: str | None,
        kpi_value: str = "latest") -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"title": title, "kind": kind, "unit": unit, "start_value": start, "target_value": target}
    if kpi:
        body["kpi"], body["kpi_value"] = kpi, kpi_value
    return body


def _route_missing(response: httpx.Response) -> bool:
    """A 404 (or 405) for a path no route serves, as opposed to a resource that does not exist:
    the gateway's and the services' answer for an unknown path says "Not Found" without a resource."""
    if response.status_code == 405:
        return True
    try:
        detail = str(response.json().get("detail") or "")
    except (ValueError, AttributeError):
        return True
    return detail in ("", "Not Found") or "no route" in detail.lower() or "not served" in detail.lower()


STEPS = ("org_units", "people_batch", "moves_and_salaries", "kpis", "measurements", "skills", "required_skills",
         "trainings", "surveys", "objectives", "initiatives", "publish")  # fmt: skip


async def build_demo(
    gateway: GatewayClient, size: Size, seed: int = DEFAULT_SEED, today: dt.date | None = None, *, show: bool = True
) -> Report:
    """Build (or complete) the demo company; returns what was created and what was skipped."""
    plan = Plan(size, seed, today or dt.datetime.now(dt.UTC).date())
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    demo = Demo(gateway, plan, progress, seed)
    with progress:
        for name in STEPS:
            await getattr(demo, name)()
    return demo.report


def summary_lines(report: Report, gateway_url: str, today: dt.date, key_file: str | None = None) -> list[str]:
    """What was done, what was skipped, and where to look (``key_file``: where the key is kept)."""
    created = ", ".join(f"{n:,} {what}" for what, n in report.created.items() if n) or "nothing (it was all there)"
    lines = [f"demo ready: created {created}."]
    lines += [f"warning: {w}" for w in report.warnings]
    auth = 'curl -s -H "Authorization: Bearer $KEY"'
    lines += [f"key: export KEY=$(cat {key_file})"] if key_file else []
    lines += [
        "where to look:",
        f"  API docs           {gateway_url}/docs",
        f"  alignment overview {auth} '{gateway_url}/v1/alignment/overview?active_on={today.isoformat()}'",
        f"  a red KPI          {auth} {gateway_url}/v1/kpis/supply.on_time_delivery/status",
        f"  gaps               {auth} {gateway_url}/v1/alignment/gaps",
        f"  a department       {auth} {gateway_url}/v1/alignment/org-units/supply_chain",
    ]
    return lines


__all__ = ["DEFAULT_SEED", "SIZES", "DemoError", "Plan", "Report", "Size", "build_demo", "summary_lines"]
