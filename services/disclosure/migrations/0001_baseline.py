"""Baseline: the disclosure service's tables as create_all made them before migrations.

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
        "disclosure_feed",
        sa.Column("publication_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=18), nullable=False),
        sa.Column("decision_number", sa.String(length=60), nullable=False),
        sa.Column("published_on", sa.String(length=10), nullable=False),
        sa.Column("publication_end", sa.String(length=10), nullable=False),
        sa.Column("receipt_id", sa.String(length=100), nullable=False),
        sa.Column("item", sa.JSON(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("publication_id"),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_disclosure_feed_agency_code"), "disclosure_feed", ["agency_code"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_disclosure_feed_case_id"), "disclosure_feed", ["case_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_disclosure_feed_publication_end"),
        "disclosure_feed",
        ["publication_end"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_disclosure_feed_published_on"), "disclosure_feed", ["published_on"], unique=False, if_not_exists=True
    )
    op.create_index(
        op.f("ix_disclosure_feed_recorded_at"), "disclosure_feed", ["recorded_at"], unique=False, if_not_exists=True
    )
