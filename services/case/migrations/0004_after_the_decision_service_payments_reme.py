"""after the decision: service, payments, remedies, enforcement, closure and archive"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("case_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_on", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("archived_on", sa.String(length=10), nullable=True))

    with op.batch_alter_table("case_respondents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_method", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("served_on", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("payment_due", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("surcharge", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("paid_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("fine_paid_off_on", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("recovered_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("remedy_status", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("enforcement_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("correction", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_case_respondents_enforcement_status"), ["enforcement_status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_respondents_remedy_status"), ["remedy_status"], unique=False)
