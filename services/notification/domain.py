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
from datetime import datetime
from typing import Any, Literal

from services.access.policy import sees_agency
from services.common.event_types import PREFIX
from services.common.identifiers import refuse_personal_identifiers
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import masked_copy
from services.infra.envelope import DATASCHEMA_PREFIX, sequence_of, time_text
from services.infra.identity import Principal

# pending: due or waiting for its next attempt; delivered: accepted (2xx); dead_letter:
# every attempt failed, kept to be listed and redelivered; failed: not sent, since its
# subscription was deactivated.
DeliveryStatus = Literal["pending", "delivered", "dead_letter", "failed"]
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


REFERRAL_TYPES = PREFIX + "referral."


def receives(subscriber: Subscriber, event_type: str, data: dict[str, Any], case: CaseAgency) -> bool:
    """Whether a subscription receives an event of a known case: a type it named, and
    only what its agency may see. A receiving organ gets the referral events addressed to
    it (as organ or as copy: every referral step names both), nothing else: it has no
    jurisdiction over the case itself."""
    if not matches(event_type, subscriber.event_types):
        return False
    if subscriber.organ_scope:
        addressed = {data.get("organ_code"), data.get("copy_to_code")} - {None}
        return event_type.startswith(REFERRAL_TYPES) and subscriber.agency_code in addressed
    return sees_agency(subscriber.owner, case.code, case.region_code)


def is_event_type_pattern(value: str) -> bool:
    return bool(_event_type_re.match(value))


def refuse_personal_data(callback_url: str, description: str) -> None:
    """A subscription's URL and description are stored and shown in clear: no personal
    identifier in them (422 no-personal-data-in-text), at creation and at every update."""
    refuse_personal_identifiers([("/callback_url", callback_url), ("/description", description)])


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
    """The structured-mode CloudEvent (JSON, contracts/envelope.schema.json) that
    subscribers receive, with the topic's attributes: dataschema, the partition key and
    the aggregate's id and zero-padded sequence (so a receiver orders a case's events by
    comparing strings). Sealed personal data ({"masked", "sealed"}) leaves as its masked
    form only: subscribers hold no key."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        # Messages relayed before dataschema was written name it the same way.
        "dataschema": event.dataschema or f"{DATASCHEMA_PREFIX}{event.type}",
        "partitionkey": event.partitionkey or event.subject,
        "aggregateid": event.aggregate_id or event.subject,
        "sequence": sequence_of(event.sequence),
        "data": masked_copy(event.data),
    }
    if event.traceparent:
        envelope["traceparent"] = event.traceparent
    return envelope


# A test webhook (POST /v1/subscriptions/{id}/pings): a CloudEvent of the notification
# service itself, not a case event, so not in the case events' envelope contract.
PING_TYPE = "cn.caseledger.notification.ping.v1"


def ping_envelope(subscription_id: str, now: datetime, traceparent: str) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/caseledger/notification",
        "type": PING_TYPE,
        "subject": subscription_id,
        "time": time_text(now),
        "datacontenttype": "application/json",
        "data": {"subscription_id": subscription_id, "message": "测试推送：签名与回调地址可用"},
    }
    if traceparent:
        envelope["traceparent"] = traceparent
    return envelope
