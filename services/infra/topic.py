"""Which topic a position belongs to: the identity of the case-events topic, and the
control records the relays leave on it.

The event stores are the system of record and the topic is transport that can be rebuilt
from them. A position (a relay's last published notification id, a consumer's next offset)
means something only on the topic it was taken on: after the broker is replaced, the topic
recreated or restored from an older backup, offset 12 of partition 0 is another record or
none at all. So every position is stored under the topic's identity, and a position taken on
another identity is no position (see README, "Durability: the topic is rebuilt from the event
stores").

The identity is the first record of partition 0. Whoever first finds partition 0 empty (a
relay before its first send, a consumer at start-up) writes a *genesis* control record with
a random id there; when two write at once, the one at the lower offset is the identity and
everybody reads the same one. A topic whose first record is an ordinary event (created
before this scheme, or filled by another producer) is identified by that record's offset,
timestamp and bytes; a re-published copy of it has another timestamp. Neither the cluster id
(Tansu always says "tansu_cluster") nor Kafka's topic id (not exposed by kafka-python) would
do on every broker we run on.

Control records carry the header ``caseledger-control`` and are not CloudEvents; every
consumer skips them before parsing (AsyncAPI documents them). Kinds:

- ``genesis``: ``{"kind": "genesis", "topic_id": "<uuid4>"}``, the identity.
- ``caught-up``: ``{"kind": "caught-up", "topic_id": ..., "source": "/caseledger/case",
  "up_to": <notification id>}``: the relay of ``source`` has published on this topic every
  event it had stored when it first saw it. A relay whose events follow from another
  service's (a referral from a case, a publication from a decision) publishes nothing on a
  new topic before that service's ``caught-up`` is there, so each case's events reach every
  consumer again in causal order across services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.infra.broker import ensure_topic, make_producer
from services.infra.settings import Settings

log = logging.getLogger(__name__)

CONTROL_HEADER = "caseledger-control"
GENESIS = "genesis"
CAUGHT_UP = "caught-up"


class TopicUnavailable(Exception):
    """The topic's first record could not be read (broker down or slow): try again."""


def control_kind(headers: Any) -> str | None:
    """The control kind of a record with these (kafka-python) headers, None for an event."""
    for key, value in headers or ():
        if key == CONTROL_HEADER:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def control_record(kind: str, **body: Any) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of a control record of ``kind``."""
    value = json.dumps({"kind": kind, **body}, ensure_ascii=False).encode()
    return value, [(CONTROL_HEADER, kind.encode()), ("content-type", b"application/json")]


def identity_of(record: Any) -> str:
    """The topic identity a first record gives."""
    if control_kind(record.headers) == GENESIS:
        try:
            return str(json.loads(record.value)["topic_id"])
        except (ValueError, KeyError, TypeError):
            pass
    digest = hashlib.sha256(f"{record.offset}:{record.timestamp}:".encode())
    digest.update(record.key or b"")
    digest.update(b"\0")
    digest.update(record.value or b"")
    return "first-record-" + digest.hexdigest()[:32]


@dataclass
class _Scan:
    """How far partition 0 has been read for control records of one identity."""

    next_offset: int = 0
    caught_up: set[str] = field(default_factory=set)


class TopicWatch:
    """Reads the topic's identity (cached for ``max_age_s``) and its ``caught-up`` records,
    with a group-less consumer of its own; shared by the relay and consumers of a process."""

    def __init__(self, settings: Settings, max_age_s: float = 2.0) -> None:
        self.settings = settings
        self.topic = settings.case_events_topic
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._consumer: KafkaConsumer | None = None
        self._identity: str | None = None
        self._read_at = 0.0
        self._scans: dict[str, _Scan] = {}

    # -- identity ------------------------------------------------------------------------
    def identity(self, *, fresh: bool = False) -> str:
        with self._lock:
            if fresh or self._identity is None or time.monotonic() - self._read_at > self.max_age_s:
                try:
                    self._identity = self._read_identity()
                except Exception:
                    self._close()
                    raise
                self._read_at = time.monotonic()
            return self._identity

    def _read_identity(self) -> str:
        first = self._first_record()
        if first is None:
            self._write_genesis()
            first = self._first_record(wait_s=10)
            if first is None:
                raise TopicUnavailable(f"the genesis record of {self.topic} could not be read back")
        return identity_of(first)

    def _first_record(self, wait_s: float = 0.0) -> Any:
        consumer = self._partition_zero()
        tp = TopicPartition(self.topic, 0)
        deadline = time.monotonic() + wait_s
        while True:
            begin = consumer.beginning_offsets([tp])[tp]
            end = consumer.end_offsets([tp])[tp]
            if end > begin:
                break
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)
        consumer.seek(tp, begin)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=1).values():
                if records:
                    return records[0]
        raise TopicUnavailable(f"partition 0 of {self.topic} reports records but served none")

    def _write_genesis(self) -> None:
        value, headers = control_record(GENESIS, topic_id=str(uuid.uuid4()))
        self._produce(value, headers)
        log.warning("partition 0 of %s is empty: wrote a genesis record (a new topic)", self.topic)

    def _produce(self, value: bytes, headers: list[tuple[str, bytes]], producer: KafkaProducer | None = None) -> None:
        own = producer is None
        producer = producer or make_producer(self.settings)
        try:
            producer.send(self.topic, key=b"caseledger-control", value=value, headers=headers, partition=0).get(
                timeout=15
            )
        finally:
            if own:
                producer.close(timeout=5)

    # -- caught-up records ---------------------------------------------------------------
    def caught_up_sources(self, identity: str) -> set[str]:
        """The sources whose relay said ``caught-up`` on the topic of ``identity``."""
        with self._lock:
            scan = self._scans.setdefault(identity, _Scan())
            consumer = self._partition_zero()
            tp = TopicPartition(self.topic, 0)
            consumer.seek(tp, scan.next_offset)
            quiet = 0
            while quiet < 2:  # the reported end can be short on Tansu: read until nothing comes
                batch = consumer.poll(timeout_ms=200, max_records=5000).get(tp, [])
                quiet = 0 if batch else quiet + 1
                for record in batch:
                    scan.next_offset = record.offset + 1
                    if control_kind(record.headers) != CAUGHT_UP:
                        continue
                    body = json.loads(record.value)
                    if body.get("topic_id") == identity:
                        scan.caught_up.add(str(body["source"]))
            return set(scan.caught_up)

    def announce_caught_up(self, identity: str, source: str, up_to: int, producer: KafkaProducer) -> None:
        value, headers = control_record(CAUGHT_UP, topic_id=identity, source=source, up_to=up_to)
        self._produce(value, headers, producer)
        log.info("relay of %s caught up on topic %s (up to notification %d)", source, identity, up_to)

    # -- a position beyond what the topic holds ---------------------------------------------
    def holds_offset(self, partition: int, offset: int) -> bool:
        """Whether the topic holds the record at ``offset`` of ``partition``: the one just
        before a stored next offset must be there, or the topic lost what was read."""
        with self._lock:
            consumer = self._partition_zero()
            tp = TopicPartition(self.topic, partition)
            consumer.assign([tp])
            try:
                if consumer.end_offsets([tp])[tp] > offset:
                    return True
                # The reported end can be below records Tansu serves: look for the record.
                consumer.seek(tp, offset)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    for record in consumer.poll(timeout_ms=500).get(tp, []):
                        if record.offset >= offset:
                            return True
                return False
            finally:
                consumer.assign([TopicPartition(self.topic, 0)])

    # -- plumbing --------------------------------------------------------------------------
    def _partition_zero(self) -> KafkaConsumer:
        if self._consumer is None:
            ensure_topic(self.settings)
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
                client_id=f"{self.settings.service_name}-topic-watch",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=30_000,
                fetch_max_wait_ms=100,
            )
            self._consumer.assign([TopicPartition(self.topic, 0)])
        return self._consumer

    def _close(self) -> None:
        self._identity = None
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception as exc:  # a dead broker
                log.debug("closing the topic watch: %s", exc)
            self._consumer = None

    def reset(self) -> None:
        """Forget what was read (after a bus failure the broker may be another one)."""
        with self._lock:
            self._close()

    def close(self) -> None:
        self.reset()


_watches: dict[tuple[str, str], TopicWatch] = {}
_watches_lock = threading.Lock()


def topic_watch(settings: Settings) -> TopicWatch:
    """The process's watch of the settings' topic (one per broker and topic)."""
    key = (settings.kafka_bootstrap_servers, settings.case_events_topic)
    with _watches_lock:
        if key not in _watches:
            _watches[key] = TopicWatch(settings)
        return _watches[key]
