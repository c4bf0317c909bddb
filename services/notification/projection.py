"""Projection "notification-deliveries": each case event from Kafka becomes one pending
delivery per active subscription that matches its type, in the consumer's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.infra.consumer import ConsumedEvent
from services.notification.subscriptions import (
    deliveries,
    matches,
    metadata,
    subscriptions,
)

# Delivery ids are derived from (subscription, event): a replayed event maps to the same row.
DELIVERY_ID_NAMESPACE = uuid.UUID("0b6c7a52-9f1e-5d43-8a2b-4c1d3e5f7a90")


def delivery_id(subscription_id: str, event_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_ID_NAMESPACE, f"{subscription_id}:{event_id}"))


def cloud_event_envelope(event: ConsumedEvent) -> dict[str, Any]:
    """The structured-mode CloudEvent (JSON) that subscribers receive."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        "data": event.data,
    }
    if event.traceparent:
        envelope["traceparent"] = event.traceparent
    return envelope


class DeliveryProjection:
    name = "notification-deliveries"
    metadata = metadata

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        rows = await conn.execute(
            select(subscriptions.c.id, subscriptions.c.event_types).where(subscriptions.c.active.is_(True))
        )
        targets = [sub_id for sub_id, patterns in rows if matches(event.type, patterns or [])]
        if not targets:
            return
        now = datetime.now(UTC)
        envelope = cloud_event_envelope(event)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for subscription_id in targets:
            # The unique (subscription_id, event_id) makes a duplicate event a no-op.
            await conn.execute(
                dialect.insert(deliveries)
                .values(
                    id=delivery_id(subscription_id, event.id),
                    subscription_id=subscription_id,
                    event_id=event.id,
                    event_type=event.type,
                    case_id=event.subject,
                    payload=envelope,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
            )
