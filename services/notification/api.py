"""Notification service REST API: webhook subscriptions (事件订阅) and the record of
every delivery (推送记录) made to them.

A subscription belongs to the agency whose token created it. An agency manages only its
own subscriptions; reading them follows jurisdiction (a city's auditor sees its counties'
subscriptions). Anything outside that answers 404, as if it did not exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Query, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
)
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from services.access.guard import authorize
from services.access.policy import Permission, is_receiving_organ, jurisdiction_clause
from services.infra.auth import Principal
from services.infra.consumer import ProjectionRunner
from services.infra.http import (
    IdempotencyKey,
    Problem,
    create_service_app,
    request_fingerprint,
)
from services.infra.pagination import keyset_page
from services.infra.runtime import ServiceRuntime
from services.infra.telemetry import current_trace_id
from services.notification.delivery import DeliveryWorker, NotificationSettings
from services.notification.projection import DeliveryProjection
from services.notification.subscriptions import (
    EVENT_TYPE_PATTERN,
    check_secret,
    deliveries,
    generate_secret,
    metadata,
    subscriptions,
    utc,
)

EventTypePattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=EVENT_TYPE_PATTERN),
]
DeliveryStatus = Literal["pending", "delivered", "failed"]
Manager = Annotated[Principal, Depends(authorize(Permission.MANAGE_SUBSCRIPTIONS))]
SubscriptionReader = Annotated[Principal, Depends(authorize(Permission.READ_SUBSCRIPTIONS))]
DeliveryReader = Annotated[Principal, Depends(authorize(Permission.READ_DELIVERIES))]


class SubscriptionRequest(BaseModel):
    """订阅: where to POST, which CloudEvent types, and optionally the signing secret."""

    model_config = ConfigDict(extra="forbid")
    callback_url: HttpUrl = Field(description="http or https URL that receives the webhooks")
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
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


settings = NotificationSettings(service_name="notification")
runtime = ServiceRuntime(
    settings,
    metadata,
    application=None,  # no event store in this version: subscriptions are plain rows
    handlers=lambda rt: [ProjectionRunner(rt.settings, DeliveryProjection())],
    workers=lambda _rt: [DeliveryWorker(settings)],
)


app = create_service_app(
    "caseledger notification service",
    "1.0.0",
    "Webhook subscriptions to case events (事件订阅) and signed, retried delivery of each "
    "matching CloudEvent (Standard Webhooks); the record of every delivery.",
    runtime.readiness,
    settings=settings,
    lifespan=runtime.lifespan(),
)


def _subscription(row: Any, with_secret: bool = False) -> dict[str, Any]:
    entry = {
        "id": row.id,
        "callback_url": row.callback_url,
        "event_types": row.event_types,
        "description": row.description,
        "active": row.active,
        "agency_code": row.agency_code,
        "region_code": row.region_code,
        "organ_scope": row.organ_scope,
        "created_by": row.created_by,
        "created_at": utc(row.created_at),
        "updated_at": utc(row.updated_at),
        "deactivated_by": row.deactivated_by,
        "deactivated_at": utc(row.deactivated_at),
        "trace_id": row.trace_id,
    }
    if with_secret:
        entry["secret"] = row.secret
    return entry


def _delivery(row: Any) -> dict[str, Any]:
    entry = dict(row._mapping)
    for name in ("next_attempt_at", "created_at", "delivered_at"):
        entry[name] = utc(entry[name])
    return entry


def _readable_subscriptions(caller: Principal) -> Any:
    """Subscriptions owned by an agency in the caller's jurisdiction."""
    return jurisdiction_clause(caller, subscriptions.c.agency_code, subscriptions.c.region_code)


def _readable_deliveries(caller: Principal) -> Select[Any]:
    """Deliveries are seen through the subscriptions they were made to."""
    return (
        select(deliveries)
        .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
        .where(_readable_subscriptions(caller))
    )


async def _replay(
    caller: Principal, idempotency_key: str, request_hash: str, response: Response
) -> dict[str, Any] | None:
    async with runtime.db.connect() as conn:
        row = (
            await conn.execute(
                select(subscriptions).where(
                    subscriptions.c.agency_code == caller.agency_code,
                    subscriptions.c.idempotency_key == idempotency_key,
                )
            )
        ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            f"Idempotency-Key {idempotency_key!r} was used for a different subscription request",
        )
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/subscriptions/{row.id}"
    return _subscription(row, with_secret=True)


@app.post(
    "/v1/subscriptions",
    status_code=201,
    response_model=CreatedSubscription,
    tags=["subscriptions"],
    summary="Subscribe a callback URL to case events (订阅)",
)
async def create_subscription(
    body: SubscriptionRequest, response: Response, caller: Manager, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    request_hash = request_fingerprint(body.model_dump(mode="json"))
    if idempotency_key and (replayed := await _replay(caller, idempotency_key, request_hash, response)):
        return replayed
    now = datetime.now(UTC)
    subscription_id = str(uuid.uuid4())
    try:
        async with runtime.db.begin() as conn:
            await conn.execute(
                subscriptions.insert().values(
                    id=subscription_id,
                    callback_url=str(body.callback_url),
                    event_types=list(dict.fromkeys(body.event_types)),
                    secret=body.secret or generate_secret(),
                    description=body.description,
                    active=True,
                    agency_code=caller.agency_code,
                    region_code=caller.region_code,
                    organ_scope=is_receiving_organ(caller),
                    idempotency_key=idempotency_key,
                    request_hash=request_hash if idempotency_key else None,
                    created_by=caller.subject,
                    created_at=now,
                    updated_at=now,
                    trace_id=current_trace_id() or None,
                )
            )
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the insert.
        if idempotency_key and (replayed := await _replay(caller, idempotency_key, request_hash, response)):
            return replayed
        raise
    async with runtime.db.connect() as conn:
        row = (await conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).one()
    response.headers["Location"] = f"/v1/subscriptions/{subscription_id}"
    return _subscription(row, with_secret=True)


@app.get(
    "/v1/subscriptions",
    response_model=SubscriptionPage,
    tags=["subscriptions"],
    summary="Subscriptions, oldest first, paginated",
)
async def list_subscriptions(
    caller: SubscriptionReader,
    active: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    query = select(subscriptions).where(_readable_subscriptions(caller))
    if active is not None:
        query = query.where(subscriptions.c.active.is_(active))
    rows, next_cursor = await keyset_page(
        runtime.db, query, subscriptions.c.created_at, subscriptions.c.id, limit, cursor
    )
    return {"items": [_subscription(r) for r in rows], "next_cursor": next_cursor}


@app.get(
    "/v1/subscriptions/{subscription_id}",
    response_model=Subscription,
    tags=["subscriptions"],
    summary="A subscription (its secret is never shown again)",
)
async def get_subscription(subscription_id: UUID, caller: SubscriptionReader) -> dict[str, Any]:
    row = await runtime.one_or_404(
        select(subscriptions).where(subscriptions.c.id == str(subscription_id), _readable_subscriptions(caller)),
        f"subscription {subscription_id}",
    )
    return _subscription(row)


@app.delete(
    "/v1/subscriptions/{subscription_id}",
    status_code=204,
    tags=["subscriptions"],
    summary="Deactivate a subscription; its pending deliveries are not sent",
)
async def deactivate_subscription(subscription_id: UUID, caller: Manager) -> Response:
    now = datetime.now(UTC)
    # Only the owning agency manages a subscription; to any other it does not exist.
    owned = (subscriptions.c.id == str(subscription_id), subscriptions.c.agency_code == caller.agency_code)
    async with runtime.db.begin() as conn:
        row = (await conn.execute(select(subscriptions.c.active).where(*owned))).first()
        if row is None:
            raise Problem(404, "not-found", "Not found", f"no subscription {subscription_id}")
        if row.active:  # deactivating twice keeps the first deactivation time and actor
            await conn.execute(
                update(subscriptions)
                .where(*owned)
                .values(active=False, deactivated_by=caller.subject, deactivated_at=now, updated_at=now)
            )
    return Response(status_code=204)


@app.get(
    "/v1/deliveries",
    response_model=DeliveryPage,
    tags=["deliveries"],
    summary="Webhook deliveries, oldest first, filtered and paginated",
)
async def list_deliveries(
    caller: DeliveryReader,
    subscription_id: Annotated[UUID | None, Query()] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    query = _readable_deliveries(caller)
    if subscription_id:
        query = query.where(deliveries.c.subscription_id == str(subscription_id))
    if status:
        query = query.where(deliveries.c.status == status)
    if event_id:
        query = query.where(deliveries.c.event_id == event_id)
    if case_id:
        query = query.where(deliveries.c.case_id == case_id)
    rows, next_cursor = await keyset_page(runtime.db, query, deliveries.c.created_at, deliveries.c.id, limit, cursor)
    return {"items": [_delivery(r) for r in rows], "next_cursor": next_cursor}


@app.get("/v1/deliveries/{delivery_id}", response_model=Delivery, tags=["deliveries"], summary="A delivery")
async def get_delivery(delivery_id: UUID, caller: DeliveryReader) -> dict[str, Any]:
    row = await runtime.one_or_404(
        _readable_deliveries(caller).where(deliveries.c.id == str(delivery_id)), f"delivery {delivery_id}"
    )
    return _delivery(row)

