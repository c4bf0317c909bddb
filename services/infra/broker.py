"""Kafka topic set-up, shared by every process that touches the bus."""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.infra.settings import Settings

log = logging.getLogger(__name__)
_ensured: set[tuple[str, str]] = set()
_lock = threading.Lock()


def ensure_topic(settings: Settings, topic: str | None = None, partitions: int | None = None) -> None:
    """Create the case-events topic (or ``topic``) if missing: partitioned by case id, kept
    forever (retention -1: the events are the public record auditors rely on). Idempotent."""
    topic = topic or settings.case_events_topic
    partitions = partitions or settings.case_events_partitions
    key = (settings.kafka_bootstrap_servers, topic)
    with _lock:
        if key in _ensured:
            return
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
            client_id=f"{settings.service_name}-admin",
            request_timeout_ms=10_000,
        )
        try:
            if topic not in admin.list_topics():
                try:
                    admin.create_topics(
                        [
                            NewTopic(
                                topic,
                                partitions,
                                settings.case_events_replication,
                                topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"},
                            )
                        ]
                    )
                    log.info("created topic %s", topic)
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()
        _ensured.add(key)


def forget_topics() -> None:
    """After a bus failure, check the topic again on the next connect (a replaced
    broker may not have it)."""
    with _lock:
        _ensured.clear()


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer as the relays use it: idempotent, acks=all, and quick to give up on a
    dead broker (the events wait in the event store and are sent again)."""
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
        # Only ensure_topic creates the topic, with its partitions and retention; a broker's
        # auto-creation on a metadata request would give it the broker's defaults.
        allow_auto_create_topics=False,
    )
    config.update(overrides)
    return KafkaProducer(**config)
