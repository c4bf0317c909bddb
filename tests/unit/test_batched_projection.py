"""The batched runner (issue 18): a batch's rows are read once, changed in memory and
written once, so how the events are cut into batches must not show in the read model. The
ledger fed a real case's events one at a time, all at once and in uneven batches is the
same table; a duplicate inside a batch or across batches takes effect once."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.case.domain import Case
from services.case.readmodel import (
    CaseLedgerProjection,
    LedgerFilter,
    case_deadlines,
    case_ledger,
    case_respondents,
    case_timeline,
    ledger_page,
)
from services.infra.batch_rows import BatchRows
from services.infra.consumer import ConsumedEvent, PartitionBatch, parse_record
from services.infra.eventstore import to_kafka_message
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from tests.unit.conftest import OFFICER, TEST_CIPHER
from tests.unit.test_case_after_decision import (
    CATALOGUE,
    DOC,
    LATEST,
    NO_KEY,
    close,
    decided,
    file,
    paid_case,
    pay,
    rule_on,
    serve,
)
from tests.unit.test_case_ledger import TOPIC, Record, other_case, two_penalties
from tests.unit.test_case_procedure import decide, fine

# Columns that say when the ledger learnt something, not what: they differ run to run.
_WHEN = {"recorded_at", "updated_at", "position"}


def _cases() -> list[Case]:
    """Cases through decisions, service, payments, a reminder, a revocation, closure and archive."""
    first = decided()
    serve(first, 1)
    serve(first, 2)
    pay(first, 1, date(2026, 10, 5), 4_000, "R-1")
    pay(first, 1, date(2026, 10, 20), 6_000, "R-2")
    first.serve_reminder(
        respondent=2, served_on=date(2026, 10, 12), document=DOC, catalogue=CATALOGUE, latest=LATEST, **NO_KEY
    )
    second = decided((10_000,))
    serve(second, 1)
    file(second, "reconsideration", date(2026, 10, 12))
    rule_on(second, "revoked", date(2026, 11, 2))
    third = paid_case()
    close(third, date(2026, 10, 9))
    third.archive_case(archived_on=date(2026, 10, 10), archive_reference="醴应急档1号", latest=LATEST, **NO_KEY)
    return [first, second, third, two_penalties(), other_case()]


def _events() -> list[ConsumedEvent]:
    """The cases' events as a consumer reads them, interleaved case by case as on a partition."""
    per_case = [case.collect_events() for case in _cases()]
    longest = max(len(events) for events in per_case)
    interleaved: list[Any] = []
    for n in range(longest):
        interleaved.extend(events[n] for events in per_case if n < len(events))
    records = []
    for offset, domain_event in enumerate(interleaved):
        parsed = parse_record(Record(TOPIC, 0, offset, to_kafka_message(domain_event, "/caseledger/case").value))
        assert parsed is not None
        records.append(parsed)
    return records


def _tables(runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    async def read() -> dict[str, list[dict[str, Any]]]:
        found = {}
        async with runner.engine.connect() as conn:
            for table in (case_ledger, case_respondents, case_deadlines, case_timeline):
                rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
                found[table.name] = [{k: v for k, v in r._mapping.items() if k not in _WHEN} for r in rows]
        return found

    return runner.loop.run_until_complete(read())


def _fed(tmp_path: Path, batches: list[list[ConsumedEvent]]) -> dict[str, list[dict[str, Any]]]:
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), CaseLedgerProjection(TEST_CIPHER))
    try:
        for batch in batches:
            runner.apply(TopicPartition(TOPIC, 0), batch, batch[-1].offset, "topic-a")
        return _tables(runner)
    finally:
        runner.close()


def test_how_the_events_are_batched_does_not_show_in_the_ledger(tmp_path: Path) -> None:
    events = _events()
    assert len(events) > 30  # enough to cut unevenly
    one_at_a_time = _fed(tmp_path / "one", [[e] for e in events])
    assert one_at_a_time["case_ledger"] and {r["status"] for r in one_at_a_time["case_ledger"]} >= {"archived"}
    assert _fed(tmp_path / "all", [events]) == one_at_a_time
    cuts = sorted(random.Random(18).sample(range(1, len(events)), 9))
    uneven = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    assert _fed(tmp_path / "uneven", uneven) == one_at_a_time


def test_a_duplicate_in_the_batch_or_after_it_takes_effect_once(tmp_path: Path) -> None:
    events = _events()
    once = _fed(tmp_path / "once", [events])
    half = len(events) // 2
    # Each event twice in its batch, then the first half again as a re-publish would.
    twice = [[e for e in events[:half] for _ in (1, 2)], events[half:] + events[:3], events[:half]]
    assert _fed(tmp_path / "twice", twice) == once


@pytest.mark.parametrize("failing_at", [1, 17])
def test_a_poll_that_fails_midway_leaves_nothing_of_it(tmp_path: Path, failing_at: int) -> None:
    """A poll of two partitions whose apply fails at an event: no row, id or offset of the
    poll is stored; applied again, it takes effect once."""
    events = _events()
    projection = _FailingOnce(failing_at)
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), projection)
    poll = [
        PartitionBatch(TopicPartition(TOPIC, 0), events[:20], 19),
        PartitionBatch(TopicPartition(TOPIC, 1), events[20:], len(events) - 1),
    ]
    try:
        with pytest.raises(RuntimeError):
            runner.apply_poll(poll, "topic-a")
        assert all(not rows for rows in _tables(runner).values())
        assert runner.positions([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)], "topic-a") == {
            TopicPartition(TOPIC, 0): None,
            TopicPartition(TOPIC, 1): None,
        }
        runner.apply_poll(poll, "topic-a")
        again = _tables(runner)
    finally:
        runner.close()
    assert again == _fed(tmp_path / "reference", [events])


class _FailingOnce(CaseLedgerProjection):
    """The ledger, failing once at its n-th event (a bug, a constraint, a lost connection)."""

    def __init__(self, failing_at: int) -> None:
        super().__init__(TEST_CIPHER)
        self.countdown = failing_at

    def apply(self, rows: Any, event: ConsumedEvent) -> None:
        self.countdown -= 1
        if self.countdown == 0:
            raise RuntimeError("failing mid-batch")
        super().apply(rows, event)


def test_a_date_range_is_met_by_one_respondent_within_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """decided_from..decided_to: a respondent decided within the range, not one decided
    after its start and another before its end (the unit on 11-25, the principal on 12-21)."""
    case = two_penalties()
    decide(case, 2, fine(20000), on=date(2026, 12, 21), serial=2, hearing_record="b" * 64)
    events = [
        parse_record(Record(TOPIC, 0, n, to_kafka_message(e, "/caseledger/case").value))
        for n, e in enumerate(case.collect_events())
    ]
    monkeypatch.setenv("CLOCK_TODAY", "2026-12-22")
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), CaseLedgerProjection(TEST_CIPHER))
    try:
        runner.apply(TopicPartition(TOPIC, 0), [e for e in events if e is not None], len(events) - 1, "topic-a")

        def found(**filters: Any) -> int:
            page = runner.loop.run_until_complete(
                ledger_page(runner.engine, TEST_CIPHER, OFFICER, LedgerFilter(**filters), limit=50, cursor=None)
            )
            return len(page["items"])

        assert found(decided_from=date(2026, 11, 25), decided_to=date(2026, 11, 25)) == 1
        assert found(decided_from=date(2026, 12, 21), decided_to=date(2026, 12, 31)) == 1
        assert found(decided_from=date(2026, 11, 26), decided_to=date(2026, 12, 20)) == 0
    finally:
        runner.close()


async def test_a_row_removed_in_a_batch_is_deleted_once_and_one_put_again_after_stays(tmp_path: Path) -> None:
    # The public feed loses a publication withdrawn in the same batch that published it,
    # and keeps one published again after its removal (what the flush writes is the
    # batch's last word on each key).
    metadata = MetaData()
    feed = Table("feed", metadata, Column("id", String(8), primary_key=True), Column("text", String(20)))
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.sqlite'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(feed.insert(), [{"id": "old", "text": "kept until removed"}, {"id": "stay", "text": "s"}])
    async with engine.begin() as conn:
        rows = BatchRows(conn)
        await rows.load_keys(feed, "id", ["old", "stay"])
        rows.remove(feed, "old")  # read, then removed
        rows.put(feed, {"id": "brief", "text": "published"})
        rows.remove(feed, "brief")  # put and removed in one batch: never written
        rows.remove(feed, "again")
        rows.put(feed, {"id": "again", "text": "published again"})  # removed, then put: written
        assert rows.get(feed, "old") is None and rows.get(feed, "again") is not None
        await rows.flush()
    async with engine.connect() as conn:
        left = {r.id: r.text for r in await conn.execute(select(feed))}
    await engine.dispose()
    assert left == {"stay": "s", "again": "published again"}
