"""Kafka topic set-up, shared by every process that touches the bus."""

from __future__ import annotations

import logging
import threading

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.infra.settings import Settings

log = logging.getLogger(__name__)
_ensured: set[tuple[str, str]] = set()
_lock = threading.Lock()


def ensure_topic(settings: Settings) -> None:
    """Create the case-events topic if missing: partitioned by case id, kept forever
    (retention -1: the events are the public record auditors rely on). Idempotent."""
    key = (settings.kafka_bootstrap_servers, settings.case_events_topic)
    with _lock:
        if key in _ensured:
            return
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
            client_id=f"{settings.service_name}-admin",
            request_timeout_ms=10_000,
        )
        try:
            if settings.case_events_topic not in admin.list_topics():
                try:
                    admin.create_topics(
                        [
                            NewTopic(
                                settings.case_events_topic,
                                settings.case_events_partitions,
                                settings.case_events_replication,
                                topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"},
                            )
                        ]
                    )
                    log.info("created topic %s", settings.case_events_topic)
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
