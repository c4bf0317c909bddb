"""Subscription commands (订阅, 取消订阅): plain rows in the service's database, no event
store. A subscription belongs to the agency whose token created it; only that agency
manages it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.access.policy import is_receiving_organ
from services.infra.egress import EgressPolicy, EgressRefused, pinned_async_client
from services.infra.errors import IllegalInCurrentState, NotFound, RuleViolation
from services.infra.idempotency import Idempotency
from services.infra.identity import Principal
from services.infra.telemetry import current_trace_id, current_traceparent
from services.notification.delivery import post_webhook, signing_secrets
from services.notification.domain import generate_secret, ping_envelope, refuse_personal_data
from services.notification.readmodel import (
    deliveries,
    delivery,
    replay,
    replays,
    subscription_entry,
    subscriptions,
)
from services.notification.schemas import ReplayRequest, SecretRotationRequest, SubscriptionPatch, SubscriptionRequest


async def _replay(db: AsyncEngine, caller: Principal, idempotency: Idempotency) -> dict[str, Any] | None:
    """The subscription the agency created under this Idempotency-Key, if this request is
    its retry (the key is per agency: one agency's key never replays another's)."""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(subscriptions).where(
                    subscriptions.c.agency_code == caller.agency_code,
                    subscriptions.c.idempotency_key == idempotency.key,
                )
            )
        ).first()
    if row is None or not idempotency.replays(row.request_hash):
        return None
    return subscription_entry(row, with_secret=True)


async def check_callback_url(egress: EgressPolicy, url: str) -> None:
    """The callback URL resolves to addresses outgoing requests may reach (https, public or
    allowlisted, no credentials); checked again at every delivery, on the address connected to."""
    try:
        await egress.resolve(url)
    except EgressRefused as refused:
        raise RuleViolation("/callback_url", refused.rule, refused.detail) from None


async def subscribe(
    db: AsyncEngine,
    caller: Principal,
    request: SubscriptionRequest,
    idempotency_key: str | None,
    egress: EgressPolicy,
) -> tuple[dict[str, Any], bool]:
    """Subscribe for the caller's agency. Returns (subscription with its secret, replayed)."""
    idempotency = Idempotency.of(idempotency_key, request.model_dump(mode="json"))
    if idempotency.key and (replayed := await _replay(db, caller, idempotency)):
        return replayed, True
    refuse_personal_data(str(request.callback_url), request.description)
    await check_callback_url(egress, str(request.callback_url))
    now = datetime.now(UTC)
    subscription_id = str(uuid.uuid4())
    try:
        async with db.begin() as conn:
            await conn.execute(
                subscriptions.insert().values(
                    id=subscription_id,
                    callback_url=str(request.callback_url),
                    event_types=list(dict.fromkeys(request.event_types)),
                    secret=request.secret or generate_secret(),
                    description=request.description,
                    active=True,
                    agency_code=caller.agency_code,
                    region_code=caller.region_code,
                    organ_scope=is_receiving_organ(caller),
                    idempotency_key=idempotency.key,
                    request_hash=idempotency.fingerprint if idempotency.key else None,
                    created_by=caller.subject,
                    created_at=now,
                    updated_at=now,
                    trace_id=current_trace_id() or None,
                )
            )
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the insert.
        if idempotency.key and (replayed := await _replay(db, caller, idempotency)):
            return replayed, True
        raise
    async with db.connect() as conn:
        row = (await conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).one()
    return subscription_entry(row, with_secret=True), False


async def deactivate(db: AsyncEngine, caller: Principal, subscription_id: UUID) -> None:
    """Deactivate a subscription of the caller's agency; its pending deliveries are not
    sent. Deactivating twice keeps the first deactivation's time and actor."""
    now = datetime.now(UTC)
    owned = _owned(subscription_id, caller)
    async with db.begin() as conn:
        row = (await conn.execute(select(subscriptions.c.active).where(*owned))).first()
        if row is None:
            raise NotFound(f"no subscription {subscription_id}")
        if row.active:
            await conn.execute(
                update(subscriptions)
                .where(*owned)
                .values(active=False, deactivated_by=caller.subject, deactivated_at=now, updated_at=now)
            )


def _owned(subscription_id: UUID, caller: Principal) -> tuple[Any, ...]:
    """Only the owning agency manages a subscription; to any other it does not exist."""
    return (subscriptions.c.id == str(subscription_id), subscriptions.c.agency_code == caller.agency_code)


async def _owned_row(conn: AsyncConnection, subscription_id: UUID, caller: Principal) -> Any:
    row = (await conn.execute(select(subscriptions).where(*_owned(subscription_id, caller)))).first()
    if row is None:
        raise NotFound(f"no subscription {subscription_id}")
    return row


async def change(
    db: AsyncEngine, caller: Principal, subscription_id: UUID, patch: SubscriptionPatch, egress: EgressPolicy
) -> dict[str, Any]:
    """Change a subscription of the caller's agency: its URL (checked by the egress guard as
    at subscription), types, description, or whether it is active."""
    changes: dict[str, Any] = {}
    refuse_personal_data(str(patch.callback_url or ""), patch.description or "")  # as at subscription
    if patch.callback_url is not None:
        await check_callback_url(egress, str(patch.callback_url))
        changes["callback_url"] = str(patch.callback_url)
    if patch.event_types is not None:
        changes["event_types"] = list(dict.fromkeys(patch.event_types))
    if patch.description is not None:
        changes["description"] = patch.description
    now = datetime.now(UTC)
    async with db.begin() as conn:
        row = await _owned_row(conn, subscription_id, caller)
        if patch.active is False and row.active:
            changes.update(active=False, deactivated_by=caller.subject, deactivated_at=now)
        elif patch.active is True and not row.active:
            changes.update(active=True, deactivated_by=None, deactivated_at=None)
        if changes:
            await conn.execute(
                update(subscriptions).where(*_owned(subscription_id, caller)).values(**changes, updated_at=now)
            )
        row = await _owned_row(conn, subscription_id, caller)
    return subscription_entry(row)


async def rotate_secret(
    db: AsyncEngine, caller: Principal, subscription_id: UUID, request: SecretRotationRequest
) -> dict[str, Any]:
    """轮换密钥: the new secret signs from now on; the one it replaces signs beside it until
    the overlap ends (a rotation during an overlap drops the older one)."""
    now = datetime.now(UTC)
    secret = request.secret or generate_secret()
    expires = now + timedelta(seconds=request.overlap_seconds)
    async with db.begin() as conn:
        row = await _owned_row(conn, subscription_id, caller)
        await conn.execute(
            update(subscriptions)
            .where(*_owned(subscription_id, caller))
            .values(secret=secret, previous_secret=row.secret, previous_secret_expires_at=expires, updated_at=now)
        )
    return {"subscription_id": subscription_id, "secret": secret, "previous_secret_expires_at": expires}


async def ping(db: AsyncEngine, caller: Principal, subscription_id: UUID, egress: EgressPolicy) -> dict[str, Any]:
    """Send one signed test CloudEvent to the callback URL now, through the egress guard,
    and say how it was answered (not recorded as a delivery)."""
    async with db.connect() as conn:
        row = await _owned_row(conn, subscription_id, caller)
    now = datetime.now(UTC)
    envelope = ping_envelope(str(subscription_id), now, current_traceparent())
    async with pinned_async_client(egress, timeout=httpx.Timeout(10.0)) as client:
        outcome = await post_webhook(client, row.callback_url, signing_secrets(row, now), envelope)
    return {
        "event_id": envelope["id"],
        "accepted": outcome.accepted,
        "status_code": outcome.status_code,
        "error": outcome.error,
    }


def _inactive(action: str, state: str = "inactive") -> IllegalInCurrentState:
    return IllegalInCurrentState(
        f"the subscription is inactive: make it active again (PATCH active=true) to {action}",
        current_state=state,
        allowed_actions=["activate_subscription"],
    )


def _due_again(now: datetime) -> dict[str, Any]:
    return {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "delivered_at": None,
        "redeliveries": deliveries.c.redeliveries + 1,
    }


async def redeliver(db: AsyncEngine, caller: Principal, delivery_id: UUID) -> dict[str, Any]:
    """Send a delivery again (a dead letter, a failed or a delivered one), its attempts
    afresh; one already pending stays as it is. 409 while its subscription is inactive."""
    now = datetime.now(UTC)
    async with db.begin() as conn:
        row = (
            await conn.execute(
                select(deliveries.c.status, subscriptions.c.active)
                .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                .where(deliveries.c.id == str(delivery_id), subscriptions.c.agency_code == caller.agency_code)
            )
        ).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        if not row.active:
            raise _inactive("redeliver", "subscription inactive")
        if row.status != "pending":
            await conn.execute(update(deliveries).where(deliveries.c.id == str(delivery_id)).values(**_due_again(now)))
    return await delivery(db, caller, delivery_id)


async def redeliver_dead_letters(db: AsyncEngine, caller: Principal, subscription_id: UUID) -> dict[str, int]:
    """Every dead letter of a subscription of the caller's agency made due again."""
    now = datetime.now(UTC)
    async with db.begin() as conn:
        row = await _owned_row(conn, subscription_id, caller)
        if not row.active:
            raise _inactive("redeliver")
        result = await conn.execute(
            update(deliveries)
            .where(deliveries.c.subscription_id == str(subscription_id), deliveries.c.status == "dead_letter")
            .values(**_due_again(now))
        )
    return {"redelivered": result.rowcount}


async def request_replay(
    db: AsyncEngine, caller: Principal, subscription_id: UUID, request: ReplayRequest
) -> dict[str, Any]:
    """重放: record a replay of the subscription's events for the replay worker; answered
    at once, its progress read from the replay."""
    now = datetime.now(UTC)
    replay_id = str(uuid.uuid4())
    async with db.begin() as conn:
        row = await _owned_row(conn, subscription_id, caller)
        if not row.active:
            raise _inactive("replay")
        await conn.execute(
            replays.insert().values(
                id=replay_id,
                subscription_id=str(subscription_id),
                from_time=request.from_time,
                from_position=request.from_position,
                status="pending",
                read_events=0,
                matched=0,
                requested_by=caller.subject,
                created_at=now,
            )
        )
    return await replay(db, caller, subscription_id, UUID(replay_id))
