"""Notification service REST API: webhook subscriptions (事件订阅) and the record of
every delivery (推送记录) made to them.

A subscription belongs to the agency whose token created it. An agency manages only its
own subscriptions; reading them follows jurisdiction (a city's auditor sees its counties'
subscriptions). Anything outside that answers 404, as if it did not exist."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query, Request, Response

from services.access.guard import authorize
from services.access.policy import Permission
from services.infra.app import ReadModels
from services.infra.egress import EgressPolicy
from services.infra.endpoints import Cursor, IdempotencyKey, Limit, answered, command_answer
from services.infra.identity import Principal
from services.infra.strict_json import service_router
from services.notification import application, readmodel
from services.notification.domain import DeliveryStatus
from services.notification.schemas import (
    CreatedSubscription,
    Delivery,
    DeliveryPage,
    PingResult,
    Redelivered,
    Replay,
    ReplayRequest,
    RotatedSecret,
    SecretRotationRequest,
    Subscription,
    SubscriptionPage,
    SubscriptionPatch,
    SubscriptionRequest,
)

router = service_router()
# What a redelivery or replay for a deactivated subscription gets.
INACTIVE_ANSWER: dict[int | str, dict[str, Any]] = {409: {"description": "The subscription is inactive"}}
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
    responses=command_answer(201, "Subscribed (or, for a retry, the first subscription)", versioned=False),
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
    responses={410: {"description": "Deactivated: GET /v1/subscriptions?active=false lists it"}},
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


@router.patch(
    "/v1/subscriptions/{subscription_id}",
    response_model=Subscription,
    tags=["subscriptions"],
    summary="Change a subscription: callback URL (checked by the egress guard), event types, description, active",
)
async def change_subscription(
    subscription_id: UUID, body: SubscriptionPatch, caller: Manager, db: ReadModels, egress: Egress
) -> dict[str, Any]:
    return await application.change(db, caller, subscription_id, body, egress)


@router.post(
    "/v1/subscriptions/{subscription_id}/secret-rotations",
    response_model=RotatedSecret,
    tags=["subscriptions"],
    summary="Rotate the signing secret (轮换密钥): both secrets sign during the overlap",
)
async def rotate_secret(
    subscription_id: UUID, body: SecretRotationRequest, caller: Manager, db: ReadModels
) -> dict[str, Any]:
    return await application.rotate_secret(db, caller, subscription_id, body)


@router.post(
    "/v1/subscriptions/{subscription_id}/pings",
    response_model=PingResult,
    tags=["subscriptions"],
    summary="Send a signed test webhook to the callback URL now and show how it was answered",
)
async def ping_subscription(subscription_id: UUID, caller: Manager, db: ReadModels, egress: Egress) -> dict[str, Any]:
    return await application.ping(db, caller, subscription_id, egress)


@router.post(
    "/v1/subscriptions/{subscription_id}/dead-letters/redeliveries",
    responses=INACTIVE_ANSWER,
    response_model=Redelivered,
    tags=["deliveries"],
    summary="Send every dead letter of the subscription again, attempts afresh",
)
async def redeliver_dead_letters(subscription_id: UUID, caller: Manager, db: ReadModels) -> dict[str, int]:
    return await application.redeliver_dead_letters(db, caller, subscription_id)


@router.post(
    "/v1/subscriptions/{subscription_id}/replays",
    responses=INACTIVE_ANSWER,
    status_code=202,
    response_model=Replay,
    tags=["subscriptions"],
    summary="Replay the subscription's events from a time or a topic position (重放); carried out in the background",
)
async def replay_subscription(
    subscription_id: UUID, body: ReplayRequest, response: Response, caller: Manager, db: ReadModels
) -> dict[str, Any]:
    replay = await application.request_replay(db, caller, subscription_id, body)
    response.headers["Location"] = f"/v1/subscriptions/{subscription_id}/replays/{replay['id']}"
    return replay


@router.get(
    "/v1/subscriptions/{subscription_id}/replays/{replay_id}",
    response_model=Replay,
    tags=["subscriptions"],
    summary="A replay: its progress and outcome",
)
async def get_replay(
    subscription_id: UUID, replay_id: UUID, caller: SubscriptionReader, db: ReadModels
) -> dict[str, Any]:
    return await readmodel.replay(db, caller, subscription_id, replay_id)


@router.post(
    "/v1/deliveries/{delivery_id}/redeliveries",
    responses=INACTIVE_ANSWER,
    response_model=Delivery,
    tags=["deliveries"],
    summary="Send a delivery again (a dead letter, or one delivered), attempts afresh",
)
async def redeliver(delivery_id: UUID, caller: Manager, db: ReadModels) -> dict[str, Any]:
    return await application.redeliver(db, caller, delivery_id)


@router.get(
    "/v1/deliveries",
    response_model=DeliveryPage,
    tags=["deliveries"],
    summary="Webhook deliveries, oldest first, filtered (status=dead_letter: the dead letters) and paginated",
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
