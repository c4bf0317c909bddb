"""Webhook subscriptions (事件订阅) and their deliveries (推送记录).

Agencies that cannot run a Kafka consumer subscribe a callback URL to CloudEvent types
and receive each matching event as a signed webhook (Standard Webhooks). A subscription
names exact types ("cn.caseledger.case.filed.v1"), prefixes ending in "*"
("cn.caseledger.case.*") or everything ("*").

A subscription belongs to the agency that created it and receives only what that agency
may see: its own cases and, for a city or province, its subordinate regions' cases. A
receiving organ's subscription (公安机关, 人民检察院) receives only the referrals (移送)
addressed to it.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

from services.access.policy import sees_agency
from services.infra.auth import Principal

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
    # The owner: the creator's agency decides which events the subscription receives and
    # who may read or deactivate it.
    Column("agency_code", String(18), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    # Created by a receiving organ's system: referrals addressed to that organ only.
    Column("organ_scope", Boolean, nullable=False, default=False),
    # A retried POST with the same key gets this subscription; the hash spots a reused key.
    # Keys are per agency, so one agency's key can never replay another's subscription.
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    # Audit: who created and deactivated it, when, and the trace of the creating request.
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_by", String(200)),
    Column("deactivated_at", DateTime(timezone=True)),
    Column("trace_id", String(32)),
    UniqueConstraint("agency_code", "idempotency_key", name="uq_subscriptions_agency_idempotency_key"),
)

# Which agency filed each case, learnt from case.filed: later events of the case carry no
# agency, and the case id is the Kafka key, so case.filed is always consumed first.
case_agencies = Table(
    "case_agencies",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("agency_code", String(18), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
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
    # The CloudEvent envelope with personal data masked: exactly what is POSTed, every attempt.
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


REFERRED = "cn.caseledger.referral.referred.v1"


@dataclass(frozen=True)
class CaseAgency:
    """The agency that filed a case (立案机关)."""

    code: str
    region_code: str


@dataclass(frozen=True)
class Subscriber:
    """What the matching needs of an active subscription."""

    id: str
    event_types: list[str]
    agency_code: str
    region_code: str
    organ_scope: bool
    created_by: str

    @property
    def owner(self) -> Principal:
        # The owning agency as a caller: what it may see is what the subscription receives.
        return Principal(self.created_by, "system", self.agency_code, self.region_code, roles=frozenset())


def receives(subscriber: Subscriber, event_type: str, data: dict[str, Any], case: CaseAgency) -> bool:
    """Whether a subscription receives an event of a known case: a type it named, and
    only what its agency may see. A receiving organ gets the referrals addressed to it
    (as organ or as copy), nothing else: it has no jurisdiction over the case itself."""
    if not matches(event_type, subscriber.event_types):
        return False
    if subscriber.organ_scope:
        addressed = {data.get("organ_code"), data.get("copy_to_code")} - {None}
        return event_type == REFERRED and subscriber.agency_code in addressed
    return sees_agency(subscriber.owner, case.code, case.region_code)


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
