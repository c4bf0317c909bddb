"""The ledger's pages by index: record time then case id, per status and per agency"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("case_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_ledger_agency_code"))
        batch_op.drop_index(batch_op.f("ix_case_ledger_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_case_ledger_status"))
        batch_op.create_index(
            "ix_case_ledger_agency_code_recorded_at", ["agency_code", "recorded_at", "case_id"], unique=False
        )
        batch_op.create_index("ix_case_ledger_recorded_at_case_id", ["recorded_at", "case_id"], unique=False)
        batch_op.create_index("ix_case_ledger_status_recorded_at", ["status", "recorded_at", "case_id"], unique=False)
