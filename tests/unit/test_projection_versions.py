"""A read model carries its schema version: when the code's version is not the one its
tables were built at, the runner empties them (and the projection's applied ids and
positions) so the consumer reads the topic again; at the same version nothing changes, and
a projection that declares none (the deliveries, which are records) is never emptied."""

from __future__ import annotations

from pathlib import Path

from kafka import TopicPartition
from sqlalchemy import func, select

from services.common import event_types as types
from services.disclosure.readmodel import DisclosureFeedProjection, disclosure_feed
from services.infra.consumer import ConsumedEvent
from services.infra.projection import ProjectionRunner, applied_events, consumer_positions
from services.infra.settings import Settings

TOPIC = "caseledger.case-events.v1"


def published(n: int) -> ConsumedEvent:
    return ConsumedEvent(
        id=f"00000000-0000-4000-8000-{n:012d}",
        type=types.DISCLOSURE_PUBLISHED,
        source="/caseledger/disclosure",
        subject=f"10000000-0000-4000-8000-{n:012d}",
        time="2026-11-20T08:00:00Z",
        data={
            "publication_id": f"20000000-0000-4000-8000-{n:012d}",
            "case_id": f"10000000-0000-4000-8000-{n:012d}",
            "published_on": "2026-11-20",
            "receipt_id": f"CC-{n}",
            "item": {
                "deciding_agency_code": "11430281MB1234567L",
                "decision_number": f"(醴)应急罚〔2026〕{n}号",
                "publication_end_date": "2027-11-20",
            },
        },
        traceparent="",
        topic=TOPIC,
        partition=0,
        offset=n,
    )


def counts(runner: ProjectionRunner) -> tuple[int, int, int]:
    async def read() -> tuple[int, int, int]:
        found = []
        async with runner.engine.connect() as conn:
            for table in (disclosure_feed, applied_events, consumer_positions):
                found.append(int((await conn.execute(select(func.count()).select_from(table))).scalar_one()))
        return found[0], found[1], found[2]

    return runner.loop.run_until_complete(read())


class FeedAtVersion2(DisclosureFeedProjection):
    schema_version = DisclosureFeedProjection.schema_version + 1


def test_a_new_schema_version_empties_the_projection_to_be_read_again(tmp_path: Path) -> None:
    settings = Settings(service_name="disclosure", data_dir=tmp_path)
    first = ProjectionRunner(settings, DisclosureFeedProjection())
    try:
        assert not first.rebuilt
        first.apply(TopicPartition(TOPIC, 0), [published(1), published(2)], 2, "topic-a")
        assert counts(first) == (2, 2, 1)
    finally:
        first.close()

    same = ProjectionRunner(settings, DisclosureFeedProjection())
    try:
        assert not same.rebuilt and counts(same) == (2, 2, 1)
    finally:
        same.close()

    changed = ProjectionRunner(settings, FeedAtVersion2())
    try:
        assert changed.rebuilt
        assert counts(changed) == (0, 0, 0)  # no position: the consumer reads from the beginning
        assert changed.positions([TopicPartition(TOPIC, 0)], "topic-a") == {TopicPartition(TOPIC, 0): None}
        changed.apply(TopicPartition(TOPIC, 0), [published(1), published(2)], 2, "topic-a")
        assert counts(changed) == (2, 2, 1)
    finally:
        changed.close()
