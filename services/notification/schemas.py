"""The notification service's request and response models (its REST contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)

from services.infra.formats import IsoInstant
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
    previous_secret_expires_at: datetime | None = Field(
        None, description="After a secret rotation: until then deliveries are signed with the old secret too"
    )


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
    redeliveries: int = Field(description="How often it was asked for again (redelivery, dead-letter retry, replay)")
    topic_partition: int | None = Field(description="Where its event was read: a replay can start from there")
    topic_offset: int | None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class SubscriptionPatch(BaseModel):
    """Change a subscription: where it is sent, which types, its description, or whether it
    is active (false deactivates it, true takes it up again). Fields left out stay."""

    model_config = ConfigDict(extra="forbid")
    callback_url: HttpUrl | None = Field(
        None, description="Checked as at subscription (https, public or allowlisted, no credentials)"
    )
    event_types: Annotated[list[EventTypePattern], Field(min_length=1, max_length=50)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    active: bool | None = None


class SecretRotationRequest(BaseModel):
    """轮换密钥: a new signing secret; the old one keeps signing beside it for the overlap."""

    model_config = ConfigDict(extra="forbid")
    secret: str | None = Field(None, max_length=200, description="The new secret; generated when omitted")
    overlap_seconds: int = Field(
        86_400,
        ge=0,
        le=7 * 86_400,
        description="How long deliveries carry the old secret's signature beside the new one's (Standard "
        "Webhooks: several space-separated signatures), so receivers can switch without losing a webhook",
    )

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str | None) -> str | None:
        return None if value is None else check_secret(value)


class RotatedSecret(BaseModel):
    subscription_id: UUID
    secret: str = Field(description="The new secret, shown only now")
    previous_secret_expires_at: datetime = Field(description="Until then deliveries are signed with both")


class PingResult(BaseModel):
    """The outcome of one signed test webhook sent to the callback URL now (not recorded as a delivery)."""

    event_id: str
    accepted: bool
    status_code: int | None
    error: str | None


class Redelivered(BaseModel):
    redelivered: int = Field(description="Deliveries made due again, their attempts started afresh")


PartitionNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")]


class ReplayRequest(BaseModel):
    """重放: the subscription's events again, from a time or from a position on the topic."""

    model_config = ConfigDict(extra="forbid")
    from_time: IsoInstant | None = Field(
        None, description="Events recorded at or after this instant (RFC 3339 with its offset)"
    )
    from_position: (
        dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")], Annotated[int, Field(ge=0)]] | None
    ) = Field(
        None,
        description='Per partition, the offset to read from, e.g. {"0": 120, "3": 88}, as each delivery shows '
        "topic_partition and topic_offset; partitions not named are not replayed",
    )

    @model_validator(mode="after")
    def _one_start(self) -> ReplayRequest:
        if (self.from_time is None) == (self.from_position is None):
            raise ValueError("give exactly one of from_time and from_position")
        return self


class Replay(BaseModel):
    id: UUID
    subscription_id: UUID
    from_time: datetime | None
    from_position: dict[str, int] | None
    status: Literal["pending", "running", "done", "failed"]
    read_events: int = Field(description="Events read from the topic so far")
    matched: int = Field(description="Of them, made due again (or newly) for the subscription")
    error: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
