"""The notification service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator

from services.notification.domain import EVENT_TYPE_PATTERN, DeliveryStatus, check_secret

EventTypePattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=EVENT_TYPE_PATTERN),
]


class SubscriptionRequest(BaseModel):
    """订阅: where to POST, which CloudEvent types, and optionally the signing secret."""

    model_config = ConfigDict(extra="forbid")
    callback_url: HttpUrl = Field(
        description="https URL that receives the webhooks (http only where the operator allows it); "
        "refused (422, rule address-not-public, https-required, no-credentials-in-url, host-unresolvable) "
        "when it carries credentials or its host resolves to a loopback, private, link-local, "
        "unique-local, multicast, unspecified or cloud-metadata address the operator has not "
        "allowlisted; checked again at every delivery, which follows no redirect"
    )
    event_types: Annotated[list[EventTypePattern], Field(min_length=1, max_length=50)] = Field(
        description='Exact types ("cn.caseledger.case.filed.v1"), prefixes ending in "*" '
        '("cn.caseledger.case.*"), or "*" for every event'
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description='Standard Webhooks secret, "whsec_" + base64 of 24–64 bytes; generated when omitted',
    )
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str | None) -> str | None:
        return None if value is None else check_secret(value)


class Subscription(BaseModel):
    id: UUID
    callback_url: str
    event_types: list[str]
    description: str
    active: bool
    agency_code: str = Field(description="The owning agency: the events it may see are the events delivered")
    region_code: str
    organ_scope: bool = Field(
        description="Created by a receiving organ (公安机关, 人民检察院): only referrals addressed to it are delivered"
    )
    created_by: str = Field(description="The token subject that created it")
    created_at: datetime
    updated_at: datetime
    deactivated_by: str | None
    deactivated_at: datetime | None
    trace_id: str | None


class CreatedSubscription(Subscription):
    secret: str = Field(
        description="Returned only when the subscription is created (and on an idempotent retry by its agency)"
    )


class SubscriptionPage(BaseModel):
    items: list[Subscription]
    next_cursor: str | None


class Delivery(BaseModel):
    id: UUID
    subscription_id: UUID
    event_id: str
    event_type: str
    case_id: str
    payload: dict[str, Any] = Field(
        description="The CloudEvent envelope POSTed to the callback URL, personal data masked"
    )
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None = Field(
        description='Why the last attempt failed, in a short status line ("HTTP 500 Internal Server Error", '
        '"ConnectError", "refused: address-not-public"); the receiver\'s response body is never stored'
    )
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None
