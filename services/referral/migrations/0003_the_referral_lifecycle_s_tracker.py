"""The referral lifecycle's tracker"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "referrals",
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
        sa.Column("offence", sa.String(length=120), nullable=True),
        sa.Column("suspected_offence", sa.Text(), nullable=False),
        sa.Column("persons_referred", sa.Integer(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("owed_by", sa.String(length=30), nullable=True),
        sa.Column("owed_since", sa.String(length=40), nullable=True),
        sa.Column("opened_on", sa.String(length=10), nullable=False),
        sa.Column("reported_on", sa.String(length=10), nullable=True),
        sa.Column("referred_on", sa.String(length=10), nullable=True),
        sa.Column("filing_decision_due", sa.String(length=10), nullable=True),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("returned_reason", sa.String(length=30), nullable=True),
        sa.Column("paid_fines_yuan", sa.Integer(), nullable=False),
        sa.Column("filed", sa.Integer(), nullable=False),
        sa.Column("not_filed", sa.Integer(), nullable=False),
        sa.Column("reconsidered", sa.Integer(), nullable=False),
        sa.Column("supervised", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_agency_code"), ["agency_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_copy_to_code"), ["copy_to_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_opened_on"), ["opened_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_organ_code"), ["organ_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_owed_by"), ["owed_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_receiving_organ"), ["receiving_organ"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_recorded_at"), ["recorded_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_referred_on"), ["referred_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_status"), ["status"], unique=False)

    with op.batch_alter_table("referral_tracker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_tracker_agency_code"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_case_id"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_copy_to_code"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_organ_code"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_receiving_organ"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_region_code"))
        batch_op.drop_index(batch_op.f("ix_referral_tracker_status"))

    op.drop_table("referral_tracker")
