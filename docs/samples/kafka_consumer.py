"""A sample Kafka consumer of caseledger's case events (caseledger.case-events.v1).

What every consumer of the topic has to do, and nothing else:

- read each message as a CloudEvent through the CloudEvents SDK, structured or binary
  mode as its content type says;
- skip the topic's control records (header ``caseledger-control``): they are not events;
- drop an event whose id it has already handled: delivery is at least once, and a relay
  re-publishes events after a crash or onto a new topic, always under the same id;
- keep a case's events in order by ``sequence`` (the aggregate's version, zero-padded, so
  it compares as a string): per case id (the message key) the topic is in order already,
  and an event with a sequence at or below the last one handled for its aggregate is old.

Store the ids and sequences with your own effects, in the same transaction, to make the
effects exactly-once; this sample keeps them in memory.

    python docs/samples/kafka_consumer.py 127.0.0.1:9092 my-agency-consumer
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from kafka import KafkaConsumer

TOPIC = "caseledger.case-events.v1"
CONTROL_HEADER = "caseledger-control"


class CaseEventsConsumer:
    def __init__(self, bootstrap: str, group: str, topic: str = TOPIC) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap.split(","),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen_ids: set[str] = set()
        self.last_sequence: dict[str, str] = {}  # aggregate id -> sequence handled last

    def read(self, record: Any) -> Any | None:
        """The record's CloudEvent, or None for a control record."""
        headers = dict(record.headers or ())
        if CONTROL_HEADER in headers:
            return None
        message = ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
        content_type = headers.get("content-type", b"").decode()
        if content_type.startswith("application/cloudevents"):
            return ce_kafka.from_structured_event(message)
        return ce_kafka.from_kafka_event(message)  # binary mode: attributes in ce_ headers

    def handle_new(self, event: Any, handle: Callable[[Any], None]) -> bool:
        """Hand ``event`` on unless it is a duplicate or older than what was handled."""
        attributes = event.get_attributes()
        aggregate, sequence = attributes.get("aggregateid", attributes["subject"]), attributes["sequence"]
        if event.get_id() in self.seen_ids:
            return False
        last = self.last_sequence.get(aggregate)
        if last is not None and sequence.zfill(20) <= last.zfill(20):  # zfill: messages from before the padding
            return False
        handle(event)
        self.seen_ids.add(event.get_id())
        self.last_sequence[aggregate] = sequence
        return True

    def run(self, handle: Callable[[Any], None], until: Callable[[], bool] = lambda: False) -> None:
        while not until():
            for records in self.consumer.poll(timeout_ms=500).values():
                for record in records:
                    event = self.read(record)
                    if event is not None:
                        self.handle_new(event, handle)
            self.consumer.commit()  # after the effects: at least once

    def close(self) -> None:
        self.consumer.close()


if __name__ == "__main__":
    sample = CaseEventsConsumer(sys.argv[1], sys.argv[2])
    try:
        sample.run(lambda e: print(e.get_attributes()["type"], e.get_attributes()["subject"], e.get_data()))
    finally:
        sample.close()
