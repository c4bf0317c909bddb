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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
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
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.access.policy import jurisdiction_clause
from services.common import event_types as types
from services.infra.batch_rows import BatchRows
from services.infra.consumer import EVERY_TYPE, ConsumedEvent
from services.infra.errors import Gone
from services.infra.formats import utc
from services.infra.identity import Principal
from services.infra.metrics import Reading
from services.infra.migrations import Schema
from services.infra.pagination import keyset_page
from services.infra.projection import consumer_metadata
from services.infra.sql import one_or_not_found
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
# Its tables are made and changed only by the revisions in services/notification/migrations/.
SCHEMA = Schema("notification", (consumer_metadata, metadata), Path(__file__).with_name("migrations"))

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("callback_url", String(2083), nullable=False),
    Column("event_types", JSON, nullable=False),
    # Standard Webhooks secret ("whsec_" + base64): the worker needs it in clear to sign.
    Column("secret", String(200), nullable=False),
    # Secret rotation: the secret replaced, still signing beside the new one until then.
    Column("previous_secret", String(200)),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
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
    # How often an operator or integrator asked for it again (redeliver, replay); each
    # request starts its attempts afresh.
    Column("redeliveries", Integer, nullable=False, default=0, server_default="0"),
    # Where on the topic the event was read: a replay can start from there.
    Column("topic_partition", Integer),
    Column("topic_offset", BigInteger),
    UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# Replays of a subscription's events from the topic (POST /v1/subscriptions/{id}/replays),
# carried out by the replay worker (services/notification/replay.py).
replays = Table(
    "replays",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False, index=True),
    # From a time (the first records at or after it) or from a position per partition.
    Column("from_time", DateTime(timezone=True)),
    Column("from_position", JSON),
    # pending, running, done, failed
    Column("status", String(20), nullable=False, index=True),
    Column("read_events", Integer, nullable=False, default=0),
    Column("matched", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("requested_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)


class DeliveryProjection:
    name = "notification-deliveries"
    metadata = metadata
    handles = EVERY_TYPE  # a subscription may name any type, or "*"

    async def load(self, rows: BatchRows, events: Sequence[ConsumedEvent]) -> None:
        """The active subscriptions, and the filing agency of the batch's cases."""
        await rows.load(subscriptions, subscriptions.c.active.is_(True))
        await rows.load_keys(case_agencies, "case_id", {e.subject for e in events})

    def apply(self, rows: BatchRows, event: ConsumedEvent) -> None:
        if event.type == types.CASE_FILED:
            agency = event.data["agency"]
            rows.put(
                case_agencies,
                {
                    "case_id": event.subject,
                    "agency_code": agency["code"],
                    "region_code": agency["region_code"],
                    "recorded_at": datetime.now(UTC),
                },
            )
        if event.type in types.NOT_OF_A_CASE:
            return  # no case to tell who is entitled to it (event_types.NOT_OF_A_CASE)
        subscribers = [
            Subscriber(**{name: row[name] for name in _SUBSCRIBER}) for row in rows.all(subscriptions) if row["active"]
        ]
        if not subscribers:
            return
        filed = rows.get(case_agencies, event.subject)
        if filed is None:
            # Without the filing agency nobody can be shown to be entitled to the event.
            log.warning("event %s (%s) of unknown case %s delivered to nobody", event.id, event.type, event.subject)
            return
        case = CaseAgency(filed["agency_code"], filed["region_code"])
        for subscriber in subscribers:
            if receives(subscriber, event.type, event.data, case):
                # The unique (subscription_id, event_id) makes a duplicate event a no-op.
                rows.add_if_absent(deliveries, _delivery_row(subscriber.id, event), unique=_ONE_DELIVERY)


_SUBSCRIBER = ("id", "event_types", "agency_code", "region_code", "organ_scope", "created_by")
_ONE_DELIVERY = ("subscription_id", "event_id")


async def agency_of(conn: AsyncConnection, case_id: str) -> CaseAgency | None:
    """The agency that filed the case, as learnt from its case.filed."""
    query = select(case_agencies.c.agency_code, case_agencies.c.region_code).where(case_agencies.c.case_id == case_id)
    row = (await conn.execute(query)).first()
    return None if row is None else CaseAgency(row.agency_code, row.region_code)


def _delivery_row(subscription_id: str, event: ConsumedEvent) -> dict[str, Any]:
    """The pending delivery of ``event`` to a subscription: its envelope as it will be
    POSTed, and where on the topic the event was read (for a replay from there)."""
    now = datetime.now(UTC)
    return {
        "id": delivery_id(subscription_id, event.id),
        "subscription_id": subscription_id,
        "event_id": event.id,
        "event_type": event.type,
        "case_id": event.subject,
        "payload": cloud_event_envelope(event),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "topic_partition": event.partition,
        "topic_offset": event.offset,
    }


def _new_delivery(conn: AsyncConnection, subscription_id: str, event: ConsumedEvent) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(deliveries).values(**_delivery_row(subscription_id, event))


async def replay_to(conn: AsyncConnection, subscriber: Subscriber, event: ConsumedEvent) -> bool:
    """A replayed event for one subscription: due again if it receives the event (a new
    delivery, or the one it had, its attempts afresh). Whether it does."""
    case = await agency_of(conn, event.subject)
    if case is None or not receives(subscriber, event.type, event.data, case):
        return False
    stmt = _new_delivery(conn, subscriber.id, event)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["subscription_id", "event_id"],
            set_={
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": stmt.excluded.next_attempt_at,
                "delivered_at": None,
                "redeliveries": deliveries.c.redeliveries + 1,
            },
        )
    )
    return True


# -- queries ------------------------------------------------------------------------------


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
        "previous_secret_expires_at": utc(row.previous_secret_expires_at),
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
    if not row.active:
        deactivated_at = utc(row.deactivated_at)
        raise Gone(
            f"subscription {subscription_id} was deactivated; GET /v1/subscriptions?active=false lists it",
            deactivated_at=deactivated_at.isoformat() if deactivated_at else None,
            deactivated_by=row.deactivated_by,
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


async def delivery_readings(db: AsyncEngine) -> list[Reading]:
    """/metrics: deliveries by state (pending, delivered, dead_letter, failed)."""
    async with db.connect() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        counts: dict[str, int] = {status: count for status, count in rows}
    return [
        Reading("caseledger_deliveries", "Webhook deliveries by state", float(counts.get(state, 0)), {"state": state})
        for state in get_args(DeliveryStatus)
    ]


async def replay(db: AsyncEngine, caller: Principal, subscription_id: UUID, replay_id: UUID) -> dict[str, Any]:
    """A replay of a subscription the caller may read."""
    row = await one_or_not_found(
        db,
        select(replays)
        .join(subscriptions, subscriptions.c.id == replays.c.subscription_id)
        .where(
            replays.c.id == str(replay_id),
            replays.c.subscription_id == str(subscription_id),
            _readable_subscriptions(caller),
        ),
        f"replay {replay_id}",
    )
    entry = dict(row._mapping)
    for name in ("from_time", "created_at", "finished_at"):
        entry[name] = utc(entry[name])
    return entry
