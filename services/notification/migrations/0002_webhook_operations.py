"""Webhook operations: dead letters, redelivery, replays and secret rotation.

- ``deliveries.redeliveries``: how often a delivery was asked for again;
  ``deliveries.topic_partition`` / ``topic_offset``: where its event was read (rows from
  before stay empty);
- ``replays``: replays of a subscription's events from the topic;
- ``subscriptions.previous_secret`` / ``previous_secret_expires_at``: the secret replaced by
  a rotation, which keeps signing beside the new one until it expires;
- deliveries that ran out of attempts were ``failed``; they are ``dead_letter`` now (listed
  and retried as such). ``failed`` stays for deliveries a deactivated subscription
  stopped."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("redeliveries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("topic_partition", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("topic_offset", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "replays",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("from_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("from_position", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("read_events", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_replays_status"), "replays", ["status"], unique=False)
    op.create_index(op.f("ix_replays_subscription_id"), "replays", ["subscription_id"], unique=False)
    op.execute(
        "UPDATE deliveries SET status = 'dead_letter' "
        "WHERE status = 'failed' AND (last_error IS NULL OR last_error <> 'subscription deactivated')"
    )
