"""The notification service's tables and the projection "notification-deliveries"; and the
queries on them.

The subscriptions table is the service's write model (plain rows, no event store); the
deliveries are fed from Kafka: each case event becomes one pending delivery per active
subscription that receives it, in the consumer's transaction. A subscription receives an
event when it named the event's type and its agency may see the case (see
``domain.receives``). Case events other than case.filed do not say which agency the case
belongs to, so the projection remembers it from case.filed; the case id is the Kafka
key, so case.filed is consumed before any later event of the case.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.access.policy import jurisdiction_clause
from services.common import event_types as types
from services.infra.consumer import EVERY_TYPE, ConsumedEvent
from services.infra.identity import Principal
from services.infra.pagination import keyset_page
from services.infra.sql import one_or_not_found, upsert
from services.notification.domain import (
    CaseAgency,
    DeliveryStatus,
    Subscriber,
    cloud_event_envelope,
    delivery_id,
    receives,
)

log = logging.getLogger(__name__)

metadata = MetaData()

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("callback_url", String(2083), nullable=False),
    Column("event_types", JSON, nullable=False),
    # Standard Webhooks secret ("whsec_" + base64): the worker needs it in clear to sign.
    Column("secret", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True, index=True),
    # The owner: the creator's agency decides which events the subscription receives and
    # who may read or deactivate it.
    Column("agency_code", String(18), nullable=False),
    Column("region_code", String(12), nullable=False, index=True),
    # Created by a receiving organ's system: referrals addressed to that organ only.
    Column("organ_scope", Boolean, nullable=False, default=False),
    # A retried POST with the same key gets this subscription; the hash spots a reused key.
    # Keys are per agency, so one agency's key can never replay another's subscription.
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    # Audit: who created and deactivated it, when, and the trace of the creating request.
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_by", String(200)),
    Column("deactivated_at", DateTime(timezone=True)),
    Column("trace_id", String(32)),
    UniqueConstraint("agency_code", "idempotency_key", name="uq_subscriptions_agency_idempotency_key"),
)

# Which agency filed each case, learnt from case.filed: later events of the case carry no
# agency, and the case id is the Kafka key, so case.filed is always consumed first.
case_agencies = Table(
    "case_agencies",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("agency_code", String(18), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("case_id", String(64), nullable=False, index=True),
    # The CloudEvent envelope with personal data masked: exactly what is POSTed, every attempt.
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # NULL once delivered or failed: only pending rows are due.
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)


class DeliveryProjection:
    name = "notification-deliveries"
    metadata = metadata
    handles = EVERY_TYPE  # a subscription may name any type, or "*"

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.type == types.CASE_FILED:
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
                select(case_agencies.c.agency_code, case_agencies.c.region_code).where(
                    case_agencies.c.case_id == case_id
                )
            )
        ).first()
        return None if row is None else CaseAgency(row.agency_code, row.region_code)


# -- queries ------------------------------------------------------------------------------


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def without_credentials(url: str) -> str:
    """A URL as shown: credentials a subscription stored before they were refused are cut
    (its deliveries are refused, see services/infra/egress.py)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def subscription_entry(row: Any, with_secret: bool = False) -> dict[str, Any]:
    entry = {
        "id": row.id,
        "callback_url": without_credentials(row.callback_url),
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


def _delivery_entry(row: Any) -> dict[str, Any]:
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


async def subscription(db: AsyncEngine, caller: Principal, subscription_id: UUID) -> dict[str, Any]:
    row = await one_or_not_found(
        db,
        select(subscriptions).where(subscriptions.c.id == str(subscription_id), _readable_subscriptions(caller)),
        f"subscription {subscription_id}",
    )
    return subscription_entry(row)


async def subscription_page(
    db: AsyncEngine, caller: Principal, *, active: bool | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    query = select(subscriptions).where(_readable_subscriptions(caller))
    if active is not None:
        query = query.where(subscriptions.c.active.is_(active))
    rows, next_cursor = await keyset_page(db, query, subscriptions.c.created_at, subscriptions.c.id, limit, cursor)
    return {"items": [subscription_entry(r) for r in rows], "next_cursor": next_cursor}


async def delivery(db: AsyncEngine, caller: Principal, delivery_id: UUID) -> dict[str, Any]:
    row = await one_or_not_found(
        db, _readable_deliveries(caller).where(deliveries.c.id == str(delivery_id)), f"delivery {delivery_id}"
    )
    return _delivery_entry(row)


async def delivery_page(
    db: AsyncEngine,
    caller: Principal,
    *,
    subscription_id: UUID | None,
    status: DeliveryStatus | None,
    event_id: str | None,
    case_id: str | None,
    limit: int,
    cursor: str | None,
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
    rows, next_cursor = await keyset_page(db, query, deliveries.c.created_at, deliveries.c.id, limit, cursor)
    return {"items": [_delivery_entry(r) for r in rows], "next_cursor": next_cursor}
