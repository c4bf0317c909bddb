"""the agency's view of its publications (issue 14)"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("publication_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("agency_code", sa.String(length=18), nullable=False),
        sa.Column("decision_number", sa.String(length=60), nullable=False),
        sa.Column("respondent", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("party_name", sa.String(length=200), nullable=True),
        sa.Column("party_category", sa.String(length=24), nullable=True),
        sa.Column("decided_on", sa.String(length=10), nullable=False),
        sa.Column("publish_by", sa.String(length=10), nullable=True),
        sa.Column("publish_deadline_missed", sa.Boolean(), nullable=False),
        sa.Column("published_on", sa.String(length=10), nullable=True),
        sa.Column("publication_end", sa.String(length=10), nullable=True),
        sa.Column("repair_from", sa.String(length=10), nullable=True),
        sa.Column("repair_status", sa.String(length=10), nullable=False),
        sa.Column("withdrawal_due_on", sa.String(length=10), nullable=True),
        sa.Column("ended_on", sa.String(length=10), nullable=True),
        sa.Column("replaces", sa.String(length=36), nullable=True),
        sa.Column("republished_as", sa.String(length=36), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("publication_id"),
    )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publications_agency_code"), ["agency_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_publications_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_publications_recorded_at"), ["recorded_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_publications_state"), ["state"], unique=False)
