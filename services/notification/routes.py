"""Notification service REST API: webhook subscriptions (事件订阅) and the record of
every delivery (推送记录) made to them.

A subscription belongs to the agency whose token created it. An agency manages only its
own subscriptions; reading them follows jurisdiction (a city's auditor sees its counties'
subscriptions). Anything outside that answers 404, as if it did not exist."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from services.access.guard import authorize
from services.access.policy import Permission
from services.infra.app import ReadModels
from services.infra.egress import EgressPolicy
from services.infra.endpoints import Cursor, IdempotencyKey, Limit, answered
from services.infra.identity import Principal
from services.notification import application, readmodel
from services.notification.domain import DeliveryStatus
from services.notification.schemas import (
    CreatedSubscription,
    Delivery,
    DeliveryPage,
    Subscription,
    SubscriptionPage,
    SubscriptionRequest,
)

router = APIRouter()
Manager = Annotated[Principal, Depends(authorize(Permission.MANAGE_SUBSCRIPTIONS))]
SubscriptionReader = Annotated[Principal, Depends(authorize(Permission.READ_SUBSCRIPTIONS))]
DeliveryReader = Annotated[Principal, Depends(authorize(Permission.READ_DELIVERIES))]


async def egress_policy(request: Request) -> EgressPolicy:
    policy: EgressPolicy = request.app.state.egress
    return policy


Egress = Annotated[EgressPolicy, Depends(egress_policy)]


@router.post(
    "/v1/subscriptions",
    status_code=201,
    response_model=CreatedSubscription,
    tags=["subscriptions"],
    summary="Subscribe a callback URL to case events (订阅)",
)
async def create_subscription(
    body: SubscriptionRequest,
    response: Response,
    caller: Manager,
    db: ReadModels,
    egress: Egress,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    subscription, replayed = await application.subscribe(db, caller, body, idempotency_key, egress)
    answered(response, f"/v1/subscriptions/{subscription['id']}", replayed)
    return subscription


@router.get(
    "/v1/subscriptions",
    response_model=SubscriptionPage,
    tags=["subscriptions"],
    summary="Subscriptions, oldest first, paginated",
)
async def list_subscriptions(
    caller: SubscriptionReader,
    db: ReadModels,
    active: Annotated[bool | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.subscription_page(db, caller, active=active, limit=limit, cursor=cursor)


@router.get(
    "/v1/subscriptions/{subscription_id}",
    response_model=Subscription,
    tags=["subscriptions"],
    summary="A subscription (its secret is never shown again)",
)
async def get_subscription(subscription_id: UUID, caller: SubscriptionReader, db: ReadModels) -> dict[str, Any]:
    return await readmodel.subscription(db, caller, subscription_id)


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    status_code=204,
    tags=["subscriptions"],
    summary="Deactivate a subscription; its pending deliveries are not sent",
)
async def deactivate_subscription(subscription_id: UUID, caller: Manager, db: ReadModels) -> Response:
    await application.deactivate(db, caller, subscription_id)
    return Response(status_code=204)


@router.get(
    "/v1/deliveries",
    response_model=DeliveryPage,
    tags=["deliveries"],
    summary="Webhook deliveries, oldest first, filtered and paginated",
)
async def list_deliveries(
    caller: DeliveryReader,
    db: ReadModels,
    subscription_id: Annotated[UUID | None, Query()] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    return await readmodel.delivery_page(
        db,
        caller,
        subscription_id=subscription_id,
        status=status,
        event_id=event_id,
        case_id=case_id,
        limit=limit,
        cursor=cursor,
    )


@router.get("/v1/deliveries/{delivery_id}", response_model=Delivery, tags=["deliveries"], summary="A delivery")
async def get_delivery(delivery_id: UUID, caller: DeliveryReader, db: ReadModels) -> dict[str, Any]:
    return await readmodel.delivery(db, caller, delivery_id)
