"""Webhook delivery (推送): POST each due delivery to its subscriber, signed the Standard
Webhooks way, retried with capped exponential backoff until it is accepted or the
attempts run out.

All state is in the ``deliveries`` table, so a restart resumes where it stopped. A
delivery is claimed by moving its ``next_attempt_at`` a lease ahead (a compare-and-set
on the value read), so several replicas never send the same attempt twice; a worker that
dies mid-request leaves the delivery due again once the lease runs out. Receivers see
at-least-once delivery and deduplicate by ``webhook-id`` (the CloudEvent id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx
from pydantic import Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from tenacity import wait_fixed

from services.infra.egress import EgressPolicy, EgressRefused, pinned_async_client
from services.infra.envelope import STRUCTURED_CONTENT_TYPE
from services.infra.retry import UntilStoppedAsync, backoff, delay_after
from services.infra.settings import Settings
from services.infra.storage import make_engine
from services.infra.telemetry import client_span, current_traceparent, span_from
from services.notification.readmodel import deliveries, subscriptions

log = logging.getLogger(__name__)


class NotificationSettings(Settings):
    """The shared settings plus the webhook delivery knobs (environment variables)."""

    webhook_max_attempts: int = 15
    # Backoff starts at the shared retry_initial_s and doubles up to this cap.
    webhook_retry_cap_s: float = 300.0
    # No attempt follows the previous one sooner than this, whatever the backoff says: a
    # subscriber's endpoint is not hammered (nor used to time a port scan).
    webhook_retry_min_s: float = Field(default=10.0, ge=0)
    webhook_timeout_s: float = 10.0
    webhook_poll_interval_s: float = 0.25
    webhook_batch_size: int = 100


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a delivery again, and when to give up."""

    initial_s: float
    cap_s: float
    max_attempts: int
    min_s: float

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> RetryPolicy:
        return cls(
            settings.retry_initial_s,
            settings.webhook_retry_cap_s,
            settings.webhook_max_attempts,
            settings.webhook_retry_min_s,
        )

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based), never less than ``min_s``."""
        return max(self.min_s, delay_after(backoff(self.initial_s, self.cap_s), attempts))

    def gives_up_after(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def encode_body(envelope: dict[str, Any]) -> str:
    """The exact request body; it is also what gets signed."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def signed_headers(secrets: str | Sequence[str], message_id: str, body: str, timestamp: datetime) -> dict[str, str]:
    """Standard Webhooks headers: HMAC-SHA256 over "id.timestamp.body", one signature per
    secret, space-separated (during a rotation's overlap: the new secret's and the old's,
    so a receiver holding either verifies)."""
    timestamp = timestamp.astimezone(UTC)
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(Webhook(key).sign(message_id, timestamp, body) for key in keys),
        # The HTTP binding's structured mode: the body is the whole CloudEvent.
        "content-type": STRUCTURED_CONTENT_TYPE,
    }


def status_line(status_code: int) -> str:
    try:
        return f"HTTP {status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        return f"HTTP {status_code}"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker(threading.Thread):
    """Sends due deliveries; its own event loop and engine, like the consumer threads."""

    def __init__(self, settings: NotificationSettings, egress: EgressPolicy | None = None) -> None:
        super().__init__(name="notification-delivery", daemon=True)
        self.settings = settings
        # Where callbacks may go, checked on the resolved address of every attempt.
        self.egress = egress or EgressPolicy.from_settings(settings)
        self.policy = RetryPolicy.from_settings(settings)
        # Long enough for the request to finish before another replica may take it over.
        self.lease = timedelta(seconds=settings.webhook_timeout_s + 30)
        self.stopping = threading.Event()
        self.delivered = 0
        self.last_error: str | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    async def _run(self) -> None:
        engine = make_engine(self.settings)
        # A database hiccup: the round is tried again at the poll interval, the thread lives on.
        poll = wait_fixed(self.settings.webhook_poll_interval_s)
        retrying = UntilStoppedAsync(self.stopping, self._round_failed, poll)
        try:
            async with self.http_client() as client:
                while not self.stopping.is_set():
                    if not await retrying(self._round, engine, client):
                        await asyncio.sleep(self.settings.webhook_poll_interval_s)
        finally:
            await engine.dispose()

    def http_client(self) -> httpx.AsyncClient:
        """The only client deliveries go through: it connects to the resolved, checked
        address (Host and SNI the callback's host) and follows no redirect."""
        return pinned_async_client(self.egress, timeout=httpx.Timeout(self.settings.webhook_timeout_s))

    async def _round(self, engine: AsyncEngine, client: httpx.AsyncClient) -> int:
        sent = await self.deliver_due(engine, client)
        self.last_error = None
        return sent

    def _round_failed(self, exc: BaseException, delay: float, _attempt: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.error("delivery round failed; again in %.2fs", delay, exc_info=exc)

    async def deliver_due(self, engine: AsyncEngine, client: httpx.AsyncClient) -> int:
        """One round: claim the due deliveries, send them, record the outcomes."""
        claimed = await self._claim(engine)
        if not claimed:
            return 0
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        deliveries,
                        subscriptions.c.callback_url,
                        subscriptions.c.secret,
                        subscriptions.c.previous_secret,
                        subscriptions.c.previous_secret_expires_at,
                        subscriptions.c.active,
                    )
                    .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                    .where(deliveries.c.id.in_(claimed))
                    .order_by(deliveries.c.created_at, deliveries.c.id)
                )
            ).all()
        by_subscription: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_subscription[row.subscription_id].append(row)
        # One slow subscriber must not hold up the others; each one's events go in order.
        await asyncio.gather(*(self._send_in_order(engine, client, batch) for batch in by_subscription.values()))
        return len(rows)

    async def _claim(self, engine: AsyncEngine) -> list[str]:
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            due = (
                await conn.execute(
                    select(deliveries.c.id, deliveries.c.next_attempt_at)
                    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                    .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at, deliveries.c.id)
                    .limit(self.settings.webhook_batch_size)
                )
            ).all()
            claimed = []
            for delivery_id, seen_due in due:
                result = await conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id == delivery_id,
                        deliveries.c.status == "pending",
                        deliveries.c.next_attempt_at == seen_due,
                    )
                    .values(next_attempt_at=now + self.lease)
                )
                if result.rowcount == 1:
                    claimed.append(delivery_id)
        return claimed

    async def _send_in_order(self, engine: AsyncEngine, client: httpx.AsyncClient, rows: Sequence[Any]) -> None:
        for row in rows:
            if not row.active:
                await self._finish(engine, row.id, "failed", row.attempts, Outcome(None, "subscription deactivated"))
                continue
            # The projection stored the payload already masked: sent exactly as recorded.
            outcome = await self.send(client, row.callback_url, signing_secrets(row, datetime.now(UTC)), row.payload)
            attempts = row.attempts + 1
            if outcome.accepted:
                await self._finish(engine, row.id, "delivered", attempts, outcome)
                self.delivered += 1
            elif self.policy.gives_up_after(attempts):
                log.warning("delivery %s dead-lettered after %d attempts: %s", row.id, attempts, outcome.error)
                await self._finish(engine, row.id, "dead_letter", attempts, outcome)
            else:
                retry_at = datetime.now(UTC) + timedelta(seconds=self.policy.delay_after(attempts))
                await self._finish(engine, row.id, "pending", attempts, outcome, retry_at)

    async def send(
        self, client: httpx.AsyncClient, url: str, secrets: str | Sequence[str], envelope: dict[str, Any]
    ) -> Outcome:
        return await post_webhook(client, url, secrets, envelope)

    async def _finish(
        self,
        engine: AsyncEngine,
        delivery_id: str,
        status: str,
        attempts: int,
        outcome: Outcome,
        next_attempt_at: datetime | None = None,
    ) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=next_attempt_at,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error,
                    delivered_at=datetime.now(UTC) if status == "delivered" else None,
                )
            )


def signing_secrets(row: Any, now: datetime) -> list[str]:
    """The secrets a delivery is signed with: the subscription's, and during a rotation's
    overlap the one it replaced."""
    secrets = [row.secret]
    expires = row.previous_secret_expires_at
    if row.previous_secret and expires is not None and _utc(expires) > now:
        secrets.append(row.previous_secret)
    return secrets


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def post_webhook(
    client: httpx.AsyncClient, url: str, secrets: str | Sequence[str], envelope: dict[str, Any]
) -> Outcome:
    """One signed POST of a CloudEvent (structured mode); never raises for the subscriber's
    failures. ``client`` is the egress-guarded one (``pinned_async_client``)."""
    body = encode_body(envelope)
    traceparent = envelope.get("traceparent", "")
    with (
        span_from(traceparent, "webhook deliver", **{"cloudevents.event_type": envelope["type"]}),
        client_span("POST", url) as span,
    ):
        # webhook-id is the CloudEvent id: stable across retries, for receivers to dedupe.
        headers = signed_headers(secrets, envelope["id"], body, datetime.now(UTC))
        propagated = current_traceparent() or traceparent
        if propagated:
            headers["traceparent"] = propagated
        try:
            response = await client.post(url, content=body.encode(), headers=headers)
        except EgressRefused as refused:
            return Outcome(None, f"refused: {refused}"[:200])
        except httpx.HTTPError as exc:
            # The kind of failure only: no address, errno or text of the receiver's.
            return Outcome(None, type(exc).__name__)
        span.set_attribute("http.response.status_code", response.status_code)
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    # A short status line, never the receiver's body (nor its reason phrase).
    return Outcome(response.status_code, status_line(response.status_code))
