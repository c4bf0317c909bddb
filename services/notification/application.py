"""Subscription commands (订阅, 取消订阅): plain rows in the service's database, no event
store. A subscription belongs to the agency whose token created it; only that agency
manages it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.access.policy import is_receiving_organ
from services.infra.egress import EgressPolicy, EgressRefused
from services.infra.errors import NotFound, RuleViolation
from services.infra.idempotency import Idempotency
from services.infra.identity import Principal
from services.infra.telemetry import current_trace_id
from services.notification.domain import generate_secret
from services.notification.readmodel import subscription_entry, subscriptions
from services.notification.schemas import SubscriptionRequest


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
    # Only the owning agency manages a subscription; to any other it does not exist.
    owned = (subscriptions.c.id == str(subscription_id), subscriptions.c.agency_code == caller.agency_code)
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
