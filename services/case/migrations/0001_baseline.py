"""Baseline: the case service's tables as create_all made them before migrations.

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
        "case_deadlines",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=120), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("approaching_recorded", sa.Boolean(), nullable=False),
        sa.Column("missed_recorded", sa.Boolean(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "name"),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_case_deadlines_due_on"), "case_deadlines", ["due_on"], unique=False, if_not_exists=True)
    op.create_index(op.f("ix_case_deadlines_open"), "case_deadlines", ["open"], unique=False, if_not_exists=True)
    op.create_table(
        "case_ledger",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=18), nullable=False),
        sa.Column("agency_name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("party_kind", sa.String(length=20), nullable=False),
        sa.Column("party_name", sa.String(length=200), nullable=False),
        sa.Column("party_code", sa.String(length=60), nullable=False),
        sa.Column("party", sa.JSON(), nullable=False),
        sa.Column("violation_summary", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filed_on", sa.String(length=10), nullable=False),
        sa.Column("decision_due", sa.String(length=10), nullable=False),
        sa.Column("review_outcome", sa.String(length=20), nullable=True),
        sa.Column("decision_number", sa.String(length=60), nullable=True),
        sa.Column("decided_on", sa.String(length=10), nullable=True),
        sa.Column("penalties", sa.JSON(), nullable=True),
        sa.Column("fine_total_yuan", sa.Integer(), nullable=True),
        sa.Column("referral_status", sa.String(length=30), nullable=False),
        sa.Column("referral_organ", sa.String(length=30), nullable=True),
        sa.Column("publication_status", sa.String(length=30), nullable=False),
        sa.Column("published_on", sa.String(length=10), nullable=True),
        sa.Column("last_event_type", sa.String(length=120), nullable=False),
        sa.Column("last_event_id", sa.String(length=36), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_case_ledger_agency_code"), "case_ledger", ["agency_code"], unique=False, if_not_exists=True
    )
    op.create_index(op.f("ix_case_ledger_party_code"), "case_ledger", ["party_code"], unique=False, if_not_exists=True)
    op.create_index(
        op.f("ix_case_ledger_recorded_at"), "case_ledger", ["recorded_at"], unique=False, if_not_exists=True
    )
    op.create_index(op.f("ix_case_ledger_status"), "case_ledger", ["status"], unique=False, if_not_exists=True)
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
