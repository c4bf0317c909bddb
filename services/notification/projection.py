"""Projection "notification-deliveries": each case event from Kafka becomes one pending
delivery per active subscription that receives it, in the consumer's transaction.

A subscription receives an event when it named the event's type and its agency may see
the case (see ``subscriptions.receives``). Case events other than case.filed do not say
which agency the case belongs to, so the projection remembers it from case.filed; the
case id is the Kafka key, so case.filed is consumed before any later event of the case.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.infra.consumer import ConsumedEvent, upsert
from services.infra.crypto import masked_copy
from services.notification.subscriptions import (
    CaseAgency,
    Subscriber,
    case_agencies,
    deliveries,
    metadata,
    receives,
    subscriptions,
)

log = logging.getLogger(__name__)

# Delivery ids are derived from (subscription, event): a replayed event maps to the same row.
DELIVERY_ID_NAMESPACE = uuid.UUID("0b6c7a52-9f1e-5d43-8a2b-4c1d3e5f7a90")


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


class DeliveryProjection:
    name = "notification-deliveries"
    metadata = metadata

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.is_type(".case.filed.v1"):
            await self._remember_agency(conn, event)
        rows = await conn.execute(
            select(
                subscriptions.c.id,
                subscriptions.c.event_types,
                subscriptions.c.agency_code,
                subscriptions.c.region_code,
                subscriptions.c.organ_scope,
                subscriptions.c.created_by,
            ).where(subscriptions.c.active.is_(True))
        )
        subscribers = [Subscriber(**row._mapping) for row in rows]
        if not subscribers:
            return
        case = await self._agency_of(conn, event.subject)
        if case is None:
            # Without the filing agency nobody can be shown to be entitled to the event.
            log.warning("event %s (%s) of unknown case %s delivered to nobody", event.id, event.type, event.subject)
            return
        targets = [s.id for s in subscribers if receives(s, event.type, event.data, case)]
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

    async def _remember_agency(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        agency = event.data["agency"]
        await conn.execute(
            upsert(
                case_agencies,
                {
                    "case_id": event.subject,
                    "agency_code": agency["code"],
                    "region_code": agency["region_code"],
                    "recorded_at": datetime.now(UTC),
                },
                ("case_id",),
                conn.dialect.name,
            )
        )

    async def _agency_of(self, conn: AsyncConnection, case_id: str) -> CaseAgency | None:
        row = (
            await conn.execute(
                select(case_agencies.c.agency_code, case_agencies.c.region_code).where(case_agencies.c.case_id == case_id)
            )
        ).first()
        return None if row is None else CaseAgency(row.agency_code, row.region_code)
