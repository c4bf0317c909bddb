"""Webhook subscriptions (事件订阅) and their deliveries (推送记录).

Agencies that cannot run a Kafka consumer subscribe a callback URL to CloudEvent types
and receive each matching event as a signed webhook (Standard Webhooks). A subscription
names exact types ("cn.caseledger.case.filed.v1"), prefixes ending in "*"
("cn.caseledger.case.*") or everything ("*").
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("callback_url", String(2083), nullable=False),
    Column("event_types", JSON, nullable=False),
    # Standard Webhooks secret ("whsec_" + base64): the worker needs it in clear to sign.
    Column("secret", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True, index=True),
    # A retried POST with the same key gets this subscription; the hash spots a reused key.
    Column("idempotency_key", String(200), unique=True),
    Column("request_hash", String(64)),
    # Audit: record time of each change and the trace of the request that created it.
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_at", DateTime(timezone=True)),
    Column("trace_id", String(32)),
)

DELIVERY_STATUSES = ("pending", "delivered", "failed")

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("case_id", String(64), nullable=False, index=True),
    # The full CloudEvent envelope: exactly what is POSTed, on every attempt.
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # NULL once delivered or failed: only pending rows are due.
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# An exact type, a prefix followed by "*", or "*" alone.
EVENT_TYPE_PATTERN = r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]*\*?)$"
_event_type_re = re.compile(EVENT_TYPE_PATTERN)

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64


def matches(event_type: str, patterns: Iterable[str]) -> bool:
    """Whether a CloudEvent type is covered by any of a subscription's patterns."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif event_type == pattern:
            return True
    return False


def is_event_type_pattern(value: str) -> bool:
    return bool(_event_type_re.match(value))


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> str:
    """Raise ValueError unless the secret is "whsec_" + base64 of 24–64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError(f"must be {SECRET_PREFIX!r} followed by standard base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(f"must encode {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes, not {len(key)}")
    return secret


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
