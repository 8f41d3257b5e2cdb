"""talent schema: people, their assignment history and salary history

Revision ID: talent_0003
Revises: talent_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "talent_0003"
down_revision: str | None = "talent_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("employee_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("manager_id", sa.Uuid(), nullable=True),
        sa.Column("hire_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("separation_reason", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "separation_reason IN ('voluntary', 'involuntary', 'retirement', 'other')",
            name=op.f("ck_people_separation_reason_valid"),
        ),
        sa.CheckConstraint("(end_date IS NULL) = (separation_reason IS NULL)", name=op.f("ck_people_end_with_reason")),
        sa.CheckConstraint("end_date IS NULL OR end_date >= hire_date", name=op.f("ck_people_employed_after_hire")),
        sa.CheckConstraint("manager_id IS NULL OR manager_id <> id", name=op.f("ck_people_not_own_manager")),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["talent.people.id"], name=op.f("fk_people_manager_id_people"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("employee_number", name=op.f("uq_people_employee_number")),
        schema="talent",
    )
    op.create_index(op.f("ix_people_manager_id"), "people", ["manager_id"], unique=False, schema="talent")
    op.create_table(
        "assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["talent.org_units.id"],
            name=op.f("fk_assignments_org_unit_id_org_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["talent.people.id"], name=op.f("fk_assignments_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("person_id", "effective_date", name=op.f("uq_assignments_person_id_effective_date")),
        schema="talent",
    )
    op.create_index(
        "ix_assignments_org_unit_id_effective_date",
        "assignments",
        ["org_unit_id", "effective_date"],
        unique=False,
        schema="talent",
    )
    op.create_table(
        "salaries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_salaries_currency_code")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_salaries_amount_positive")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["talent.people.id"], name=op.f("fk_salaries_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_salaries")),
        schema="talent",
    )
    op.create_index(
        "ix_salaries_person_id_effective_date",
        "salaries",
        ["person_id", "effective_date"],
        unique=False,
        schema="talent",
    )


def downgrade() -> None:
    op.drop_index("ix_salaries_person_id_effective_date", table_name="salaries", schema="talent")
    op.drop_table("salaries", schema="talent")
    op.drop_index("ix_assignments_org_unit_id_effective_date", table_name="assignments", schema="talent")
    op.drop_table("assignments", schema="talent")
    op.drop_index(op.f("ix_people_manager_id"), table_name="people", schema="talent")
    op.drop_table("people", schema="talent")
