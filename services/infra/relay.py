"""Outbox relay: the service's notification log, in order, to Kafka as CloudEvents.

The relay's position is a tracking row in the service's own event store, written only
after the broker acknowledged every event of a batch (acks=all, idempotent producer). A
crash between ack and write re-publishes the batch; consumers drop the duplicates by
CloudEvent id. While the broker is down the relay keeps retrying with capped exponential
backoff and loses nothing: the events simply wait in the event store.

The position is kept per topic identity (services/infra/topic.py): on a topic it has not
seen (a replaced broker, a recreated topic) the relay starts again from the first event of
its store. A relay whose events follow from another service's (``after``) publishes nothing
on a new topic before that service's relay said ``caught-up`` there, and says it itself
once it has published everything it had when it first saw the topic.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from cloudevents.core.bindings.kafka import KafkaMessage
from eventsourcing.persistence import Tracking
from kafka import KafkaProducer

from services.infra.broker import ensure_topic, forget_topics, make_producer
from services.infra.eventstore import ServiceApplication, event_id, to_kafka_message
from services.infra.retry import settings_backoff, until_stopped
from services.infra.settings import Settings
from services.infra.telemetry import messaging_attributes, producer_span
from services.infra.topic import topic_watch

__all__ = ["OutboxRelay", "make_producer", "produce"]

log = logging.getLogger(__name__)


class OutboxRelay(threading.Thread):
    def __init__(self, app: ServiceApplication, settings: Settings, *, after: Sequence[str] = ()) -> None:
        super().__init__(name=f"relay-{settings.service_name}", daemon=True)
        self.app = app
        self.settings = settings
        self.topic = settings.case_events_topic
        # The sources (e.g. "/caseledger/case") whose events ours follow from.
        self.after = tuple(after)
        self.watch = topic_watch(settings)
        self.topic_identity: str | None = None
        self.position_name = f"relay:{self.topic}"  # until the topic's identity is read
        self.stopping = threading.Event()
        self._producer: KafkaProducer | None = None
        self.published = 0
        self.last_error: str | None = None
        self.active = False
        # Sources not yet caught up on a new topic, which this relay waits for.
        self.waiting_for: list[str] = []
        self._caught_up_name = ""
        self._announced = True
        self._upstream_ready = True
        self._target = 0

    # -- observability -------------------------------------------------------------
    @property
    def position(self) -> int:
        return self.app.process_recorder.max_tracking_id(self.position_name) or 0

    def backlog(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.position

    def backlog_age_s(self) -> float:
        """How long the oldest event not yet on the topic has waited (0 with none waiting)."""
        waiting = self.app.recorder.select_notifications(self.position + 1, 1)
        if not waiting:
            return 0.0
        recorded: datetime = cast(Any, self.app.mapper.to_domain_event(waiting[0])).timestamp
        return max(0.0, time.time() - recorded.timestamp())

    def stop(self) -> None:
        self.stopping.set()

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        lock = _LeaderLock(self.settings, self.position_name)
        # Broker down, timeouts, database hiccups: the step is tried again after a backoff.
        retrying = until_stopped(self.stopping, self._retrying, settings_backoff(self.settings))
        while not self.stopping.is_set():
            retrying(self._step, lock)
        _discard(self._producer)
        lock.release()

    def _step(self, lock: _LeaderLock) -> None:
        if not lock.acquire():
            self.active = False
            self.stopping.wait(2.0)  # another replica relays; stand by
            return
        self.active = True
        ensure_topic(self.settings)
        if self.watch.identity() != self.topic_identity:
            # Another topic: a producer's metadata (partitions, producer id) is of the old one.
            _discard(self._producer)
            self._producer = None
        self._producer = self._producer or make_producer(self.settings)
        sent = self._relay_batch(self._producer)
        self.last_error = None
        if not sent:
            self.stopping.wait(self.settings.relay_idle_sleep_s)
        elif sent < self.settings.relay_batch_size and self.settings.relay_linger_s > 0:
            self.stopping.wait(self.settings.relay_linger_s)

    def _retrying(self, exc: BaseException, delay: float, _attempt: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("relay retrying in %.1fs: %s", delay, self.last_error)
        forget_topics()
        self.watch.reset()
        _discard(self._producer)
        self._producer = None

    def _on_topic(self, identity: str) -> None:
        """Take up the position kept for the topic of ``identity`` (none on a new topic)."""
        if identity == self.topic_identity:
            return
        recorder = self.app.process_recorder
        self.topic_identity = identity
        self.position_name = f"relay:{self.topic}@{identity}"
        self._caught_up_name = f"relay-caught-up:{self.topic}@{identity}"
        self._announced = recorder.max_tracking_id(self._caught_up_name) is not None
        self._upstream_ready = self._announced or not self.after
        self._target = recorder.max_notification_id() or 0
        behind = self._target - self.position
        if not self._announced and behind:
            log.warning(
                "topic %s (%s) does not have %d events of the %s event store: publishing them again",
                self.topic,
                identity,
                behind,
                self.settings.service_name,
            )

    def _relay_batch(self, producer: KafkaProducer) -> int:
        identity = self.watch.identity()
        self._on_topic(identity)
        if not self._upstream_ready:
            self.waiting_for = sorted(set(self.after) - self.watch.caught_up_sources(identity))
            if self.waiting_for:
                return 0  # causal order: their events first
            self._upstream_ready = True
        sent = self._publish(producer)
        if not self._announced and self.position >= self._target:
            self.watch.announce_caught_up(identity, self.app.source, self._target, producer)
            self.app.process_recorder.insert_tracking(Tracking(self._caught_up_name, 1))
            self._announced = True
        return sent

    def _publish(self, producer: KafkaProducer) -> int:
        start = self.position + 1
        notifications = self.app.recorder.select_notifications(start, self.settings.relay_batch_size)
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            domain_event = self.app.mapper.to_domain_event(notification)
            message = to_kafka_message(domain_event, self.app.source)
            attributes = messaging_attributes(
                "send",
                self.topic,
                message_id=event_id(domain_event.originator_id, domain_event.originator_version),
                key=str(domain_event.originator_id),
            )
            with producer_span(getattr(domain_event, "traceparent", ""), f"send {self.topic}", attributes):
                futures.append(produce(producer, self.topic, message))
        producer.flush(timeout=20)
        for future in futures:
            future.get(timeout=1)  # raises if the broker did not ack
        self.app.process_recorder.insert_tracking(Tracking(self.position_name, notifications[-1].id))
        self.published += len(notifications)
        return len(notifications)


def produce(producer: KafkaProducer, topic: str, message: KafkaMessage) -> Any:
    """Send one CloudEvent message (keyed by case id, headers as mapped); the future of its ack."""
    return producer.send(
        topic,
        key=message.key.encode() if isinstance(message.key, str) else message.key,
        value=message.value,
        headers=list(message.headers.items()),
    )


def _discard(producer: KafkaProducer | None) -> None:
    """Close a producer whose broker may be gone: its unsent batches are dropped on
    purpose (the events stay in the event store and are sent again from the position)."""
    if producer is None:
        return
    try:
        producer.close(timeout=0)
    except Exception as exc:  # close() flushes, and flushing to a dead broker raises
        log.debug("discarding producer: %s", exc)


class _LeaderLock:
    """One active relay per service: a PostgreSQL session advisory lock. SQLite is a
    single-process embedded default, so there the lock is always held."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.key = zlib.crc32(f"{settings.service_name}:{name}".encode())
        self.conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        if not self.settings.uses_postgres:
            return True
        if self.conn is not None and not self.conn.closed:
            return True
        assert self.settings.database_url
        conn = psycopg.connect(self.settings.database_url, autocommit=True)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
