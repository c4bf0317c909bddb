"""Projection schema versions: the version each projection's tables were built at; a projection
whose version in the code differs is emptied and rebuilt from the topic (services/infra/projection.py)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "projection_versions",
        sa.Column("consumer", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer"),
    )
