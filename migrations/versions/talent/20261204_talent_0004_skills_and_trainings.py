"""talent schema: skills and assessments, required skills per org unit, trainings and enrolments

Revision ID: talent_0004
Revises: talent_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "talent_0004"
down_revision: str | None = "talent_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "skills",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_.-]{0,63}$'", name=op.f("ck_skills_key_slug")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skills")),
        sa.UniqueConstraint("key", name=op.f("uq_skills_key")),
        schema="talent",
    )
    op.create_table(
        "trainings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hours", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_.-]{0,63}$'", name=op.f("ck_trainings_key_slug")),
        sa.CheckConstraint("hours IS NULL OR hours > 0", name=op.f("ck_trainings_hours_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainings")),
        sa.UniqueConstraint("key", name=op.f("uq_trainings_key")),
        schema="talent",
    )
    op.create_table(
        "enrolments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("training_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(status = 'completed') = (completed_on IS NOT NULL)", name=op.f("ck_enrolments_completed_with_date")
        ),
        sa.CheckConstraint("score IS NULL OR status = 'completed'", name=op.f("ck_enrolments_score_when_completed")),
        sa.CheckConstraint("status IN ('enrolled', 'completed', 'dropped')", name=op.f("ck_enrolments_status_valid")),
        sa.CheckConstraint(
            "completed_on IS NULL OR completed_on >= enrolled_on", name=op.f("ck_enrolments_completed_after_enrolment")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["talent.people.id"], name=op.f("fk_enrolments_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["talent.trainings.id"],
            name=op.f("fk_enrolments_training_id_trainings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
        schema="talent",
    )
    op.create_index(
        "ix_enrolments_person_id_enrolled_on", "enrolments", ["person_id", "enrolled_on"], unique=False, schema="talent"
    )
    op.create_index(
        "ix_enrolments_training_id_created_at",
        "enrolments",
        ["training_id", "created_at"],
        unique=False,
        schema="talent",
    )
    op.create_table(
        "required_skill_lists",
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["talent.org_units.id"],
            name=op.f("fk_required_skill_lists_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_unit_id", name=op.f("pk_required_skill_lists")),
        schema="talent",
    )
    op.create_table(
        "required_skills",
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("count >= 1", name=op.f("ck_required_skills_count_positive")),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=op.f("ck_required_skills_level_range")),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["talent.org_units.id"],
            name=op.f("fk_required_skills_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["skill_id"], ["talent.skills.id"], name=op.f("fk_required_skills_skill_id_skills"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("org_unit_id", "skill_id", name=op.f("pk_required_skills")),
        schema="talent",
    )
    op.create_index("ix_required_skills_skill_id", "required_skills", ["skill_id"], unique=False, schema="talent")
    op.create_table(
        "skill_assessments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "source IN ('self', 'manager', 'certification')", name=op.f("ck_skill_assessments_source_valid")
        ),
        sa.CheckConstraint("level BETWEEN 0 AND 5", name=op.f("ck_skill_assessments_level_range")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["talent.people.id"], name=op.f("fk_skill_assessments_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["skill_id"], ["talent.skills.id"], name=op.f("fk_skill_assessments_skill_id_skills"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_assessments")),
        schema="talent",
    )
    op.create_index(
        "ix_skill_assessments_person_id_skill_id_assessed_on",
        "skill_assessments",
        ["person_id", "skill_id", "assessed_on"],
        unique=False,
        schema="talent",
    )
    op.create_index(
        "ix_skill_assessments_skill_id_assessed_on",
        "skill_assessments",
        ["skill_id", "assessed_on"],
        unique=False,
        schema="talent",
    )
    op.create_table(
        "training_skills",
        sa.Column("training_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["skill_id"], ["talent.skills.id"], name=op.f("fk_training_skills_skill_id_skills"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["talent.trainings.id"],
            name=op.f("fk_training_skills_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("training_id", "skill_id", name=op.f("pk_training_skills")),
        schema="talent",
    )
    op.create_index("ix_training_skills_skill_id", "training_skills", ["skill_id"], unique=False, schema="talent")


def downgrade() -> None:
    op.drop_index("ix_training_skills_skill_id", table_name="training_skills", schema="talent")
    op.drop_table("training_skills", schema="talent")
    op.drop_index("ix_skill_assessments_skill_id_assessed_on", table_name="skill_assessments", schema="talent")
    op.drop_index(
        "ix_skill_assessments_person_id_skill_id_assessed_on", table_name="skill_assessments", schema="talent"
    )
    op.drop_table("skill_assessments", schema="talent")
    op.drop_index("ix_required_skills_skill_id", table_name="required_skills", schema="talent")
    op.drop_table("required_skills", schema="talent")
    op.drop_table("required_skill_lists", schema="talent")
    op.drop_index("ix_enrolments_training_id_created_at", table_name="enrolments", schema="talent")
    op.drop_index("ix_enrolments_person_id_enrolled_on", table_name="enrolments", schema="talent")
    op.drop_table("enrolments", schema="talent")
    op.drop_table("trainings", schema="talent")
    op.drop_table("skills", schema="talent")
