"""Respondents' tracks, the case's timeline across services, the ledger's procedure and ended_as"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "case_respondents",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("party_kind", sa.String(length=20), nullable=False),
        sa.Column("party_name", sa.String(length=200), nullable=False),
        sa.Column("party_code", sa.String(length=60), nullable=False),
        sa.Column("party", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("intended_penalties", sa.JSON(), nullable=True),
        sa.Column("intended_fine_yuan", sa.Integer(), nullable=True),
        sa.Column("notified_on", sa.String(length=10), nullable=True),
        sa.Column("statement_until", sa.String(length=10), nullable=True),
        sa.Column("hearing_request_until", sa.String(length=10), nullable=True),
        sa.Column("hearing_on", sa.String(length=10), nullable=True),
        sa.Column("decision_number", sa.String(length=60), nullable=True),
        sa.Column("decided_on", sa.String(length=10), nullable=True),
        sa.Column("penalties", sa.JSON(), nullable=True),
        sa.Column("fine_total_yuan", sa.Integer(), nullable=True),
        sa.Column("no_penalty_ground", sa.String(length=30), nullable=True),
        sa.Column("publication_status", sa.String(length=30), nullable=False),
        sa.Column("published_on", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "number"),
    )
    with op.batch_alter_table("case_respondents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_respondents_decided_on"), ["decided_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_respondents_decision_number"), ["decision_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_respondents_party_code"), ["party_code"], unique=False)

    op.create_table(
        "case_timeline",
        sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("aggregate_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("case_timeline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_timeline_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("case_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("procedure", sa.String(length=20), nullable=False, server_default="ordinary"))
        batch_op.add_column(sa.Column("ended_as", sa.String(length=20), nullable=True))
