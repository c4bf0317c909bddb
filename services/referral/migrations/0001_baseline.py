"""Baseline: the referral service's tables as create_all made them before migrations.

Each table and index is created only if missing, so a database of that time is taken over in
place with its rows (the next revisions change it from there)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "applied_events",
        sa.Column("consumer", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
        if_not_exists=True,
    )
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(length=120), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("topic_identity", sa.String(length=80), nullable=False),
        sa.Column("next_offset", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "topic", "partition"),
        if_not_exists=True,
    )
    op.create_table(
        "known_cases",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=18), nullable=False),
        sa.Column("agency_name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("party", sa.JSON(), nullable=False),
        sa.Column("case_status", sa.String(length=30), nullable=False),
        sa.Column("decision_number", sa.String(length=60), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        if_not_exists=True,
    )
    op.create_table(
        "referral_deadlines",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=120), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", "name"),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_referral_deadlines_due_on"), "referral_deadlines", ["due_on"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_deadlines_open"), "referral_deadlines", ["open"], unique=False, if_not_exists=True
    )
    op.create_table(
        "referral_tracker",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=18), nullable=False),
        sa.Column("agency_name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("receiving_organ", sa.String(length=30), nullable=False),
        sa.Column("organ_name", sa.String(length=200), nullable=False),
        sa.Column("organ_code", sa.String(length=18), nullable=False),
        sa.Column("copy_to_code", sa.String(length=18), nullable=True),
        sa.Column("party", sa.JSON(), nullable=False),
        sa.Column("suspected_offence", sa.Text(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("referred_on", sa.String(length=10), nullable=False),
        sa.Column("filing_decision_due", sa.String(length=10), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_referral_tracker_agency_code"), "referral_tracker", ["agency_code"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_case_id"), "referral_tracker", ["case_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_copy_to_code"), "referral_tracker", ["copy_to_code"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_organ_code"), "referral_tracker", ["organ_code"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_receiving_organ"),
        "referral_tracker",
        ["receiving_organ"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_referral_tracker_recorded_at"), "referral_tracker", ["recorded_at"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_region_code"), "referral_tracker", ["region_code"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_referral_tracker_status"), "referral_tracker", ["status"], unique=False, if_not_exists=True
    )
