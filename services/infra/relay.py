"""Outbox relay: the service's notification log, in order, to Kafka as CloudEvents.

The relay's position is a tracking row in the service's own event store, written only
after the broker acknowledged every event of a batch (acks=all, idempotent producer). A
crash between ack and write re-publishes the batch; consumers drop the duplicates by
CloudEvent id. While the broker is down the relay keeps retrying with capped exponential
backoff and loses nothing: the events simply wait in the event store.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from kafka import KafkaProducer

from services.infra.broker import ensure_topic, forget_topics
from services.infra.eventstore import ServiceApplication, to_kafka_message
from services.infra.settings import Settings

log = logging.getLogger(__name__)


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    config: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        # A batch sent into a dead broker fails within ~15 s and is retried from the
        # stored position, instead of hanging on kafka-python's 2-minute default.
        request_timeout_ms=5_000,
        delivery_timeout_ms=15_000,
        reconnect_backoff_max_ms=2_000,
        max_block_ms=10_000,
    )
    config.update(overrides)
    return KafkaProducer(**config)


class OutboxRelay(threading.Thread):
    def __init__(self, app: ServiceApplication, settings: Settings) -> None:
        super().__init__(name=f"relay-{settings.service_name}", daemon=True)
        self.app = app
        self.settings = settings
        self.topic = settings.case_events_topic
        self.position_name = f"relay:{self.topic}"
        self.stopping = threading.Event()
        self.published = 0
        self.last_error: str | None = None
        self.active = False

    # -- observability -------------------------------------------------------------
    @property
    def position(self) -> int:
        return self.app.process_recorder.max_tracking_id(self.position_name) or 0

    def backlog(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.position

    def stop(self) -> None:
        self.stopping.set()

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        lock = _LeaderLock(self.settings, self.position_name)
        producer: KafkaProducer | None = None
        delay = self.settings.retry_initial_s
        while not self.stopping.is_set():
            try:
                if not lock.acquire():
                    self.active = False
                    self.stopping.wait(2.0)  # another replica relays; stand by
                    continue
                self.active = True
                ensure_topic(self.settings)
                producer = producer or make_producer(self.settings)
                sent = self._relay_batch(producer)
                self.last_error = None
                delay = self.settings.retry_initial_s
                if not sent:
                    self.stopping.wait(self.settings.relay_idle_sleep_s)
            except Exception as exc:  # broker down, timeouts, database hiccups
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("relay retrying in %.1fs: %s", delay, self.last_error)
                forget_topics()
                _discard(producer)
                producer = None
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
        _discard(producer)
        lock.release()

    def _relay_batch(self, producer: KafkaProducer) -> int:
        start = self.position + 1
        notifications = self.app.recorder.select_notifications(start, self.settings.relay_batch_size)
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            domain_event = self.app.mapper.to_domain_event(notification)
            message = to_kafka_message(domain_event, self.app.source)
            futures.append(
                producer.send(
                    self.topic,
                    key=message.key.encode() if isinstance(message.key, str) else message.key,
                    value=message.value,
                    headers=list(message.headers.items()),
                )
            )
        producer.flush(timeout=20)
        for future in futures:
            future.get(timeout=1)  # raises if the broker did not ack
        self.app.process_recorder.insert_tracking(Tracking(self.position_name, notifications[-1].id))
        self.published += len(notifications)
        return len(notifications)


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

