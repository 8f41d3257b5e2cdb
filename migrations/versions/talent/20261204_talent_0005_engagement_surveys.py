"""talent schema: engagement surveys and their anonymous responses

A response row holds the respondent's unit and answers only: no person id, no timestamp.

Revision ID: talent_0005
Revises: talent_0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "talent_0005"
down_revision: str | None = "talent_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_surveys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,63}$'", name=op.f("ck_engagement_surveys_key_slug")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_engagement_surveys_period_ordered")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_surveys")),
        sa.UniqueConstraint("key", name=op.f("uq_engagement_surveys_key")),
        schema="talent",
    )
    op.create_index(
        "ix_engagement_surveys_period_end", "engagement_surveys", ["period_end"], unique=False, schema="talent"
    )
    op.create_table(
        "engagement_responses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("enps", sa.SmallInteger(), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint("enps BETWEEN 0 AND 10", name=op.f("ck_engagement_responses_enps_range")),
        sa.CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
            name=op.f("ck_engagement_responses_satisfaction_range"),
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["talent.org_units.id"],
            name=op.f("fk_engagement_responses_org_unit_id_org_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["talent.engagement_surveys.id"],
            name=op.f("fk_engagement_responses_survey_id_engagement_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_responses")),
        schema="talent",
    )
    op.create_index(
        "ix_engagement_responses_survey_id_org_unit_id",
        "engagement_responses",
        ["survey_id", "org_unit_id"],
        unique=False,
        schema="talent",
    )
    op.create_index(
        "ix_engagement_responses_org_unit_id", "engagement_responses", ["org_unit_id"], unique=False, schema="talent"
    )


def downgrade() -> None:
    op.drop_index("ix_engagement_responses_org_unit_id", table_name="engagement_responses", schema="talent")
    op.drop_index("ix_engagement_responses_survey_id_org_unit_id", table_name="engagement_responses", schema="talent")
    op.drop_table("engagement_responses", schema="talent")
    op.drop_index("ix_engagement_surveys_period_end", table_name="engagement_surveys", schema="talent")
    op.drop_table("engagement_surveys", schema="talent")
