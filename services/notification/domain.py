"""Webhook subscriptions (事件订阅): which events a subscription receives, and what it
receives of them.

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
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from services.access.policy import sees_agency
from services.common.event_types import REFERRAL_REFERRED
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import masked_copy
from services.infra.identity import Principal

DeliveryStatus = Literal["pending", "delivered", "failed"]
# An exact type, a prefix followed by "*", or "*" alone.
EVENT_TYPE_PATTERN = r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]*\*?)$"
_event_type_re = re.compile(EVENT_TYPE_PATTERN)

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
# Delivery ids are derived from (subscription, event): a replayed event maps to the same row.
DELIVERY_ID_NAMESPACE = uuid.UUID("0b6c7a52-9f1e-5d43-8a2b-4c1d3e5f7a90")


def matches(event_type: str, patterns: Iterable[str]) -> bool:
    """Whether a CloudEvent type is covered by any of a subscription's patterns."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif event_type == pattern:
            return True
    return False


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
        return event_type == REFERRAL_REFERRED and subscriber.agency_code in addressed
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


def delivery_id(subscription_id: str, event_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_ID_NAMESPACE, f"{subscription_id}:{event_id}"))


def cloud_event_envelope(event: ConsumedEvent) -> dict[str, Any]:
    """The structured-mode CloudEvent (JSON) that subscribers receive. Sealed personal
    data ({"masked", "sealed"}) leaves as its masked form only: subscribers hold no key."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        "data": masked_copy(event.data),
    }
    if event.traceparent:
        envelope["traceparent"] = event.traceparent
    return envelope
