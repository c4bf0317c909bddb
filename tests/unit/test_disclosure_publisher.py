"""Policy, publisher and feed with real parts: a SQLite event store, the Credit China
simulator over HTTP, the Kafka wire format (without a broker) and the SQL projection."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import TopicPartition
from sqlalchemy import select

from devtools.credit_china import running
from services.case.domain import Case
from services.common.rules import load_catalogue
from services.disclosure.application import DisclosureApplication, DisclosureSettings, publication_actor
from services.disclosure.domain import Publication, publication_id_for
from services.disclosure.publisher import CreditChinaPublisher
from services.disclosure.readmodel import DisclosureFeedProjection, agency_publication, disclosure_feed
from services.infra.consumer import ConsumedEvent, parse_record
from services.infra.eventstore import to_kafka_message
from services.infra.policy import PolicyRunner
from services.infra.projection import ProjectionRunner
from services.infra.storage import event_store_env
from tests.unit.conftest import TEST_CIPHER
from tests.unit.test_case_procedure import LATEST, decide, discuss, notify, review, state

CATALOGUE = load_catalogue()
TOPIC = "caseledger.case-events.v1"
SERIAL = 7
DECISION_NUMBER = "(醴)应急罚〔2026〕7号"

AGENCY_CODE = "11430281MB1234567L"
DISCLOSURE_ACTOR = publication_actor({"code": AGENCY_CODE, "region_code": "430281"}, "test")


@dataclass
class Record:
    """A Kafka record as kafka-python hands it to the consumer loop."""

    topic: str
    partition: int
    offset: int
    value: bytes


def on_the_wire(domain_event: Any, source: str, offset: int) -> ConsumedEvent:
    message = to_kafka_message(domain_event, source)
    event = parse_record(Record(TOPIC, 0, offset, message.value))
    assert event is not None
    return event


def decided_case(party: dict[str, Any]) -> Any:
    """A real case through filing, legal review and decision; returns its decision event."""
    case = Case.file(
        case_id=None,
        agency={"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"},
        respondents=[party],  # type: ignore[list-item]
        violation_summary=f"{party['name']}未按规定储存烟花爆竹",
        violation_date=date(2026, 9, 1),
        harm_caused=False,
        legal_basis="《中华人民共和国安全生产法》第一百零一条",
        officers=[{"name": "张一", "certificate_no": "43000001"}, {"name": "李二", "certificate_no": "43000002"}],
        filed_on=date(2026, 9, 2),
        command_key="",
        command_fingerprint="",
        cipher=TEST_CIPHER,
        catalogue=load_catalogue(),
        latest=LATEST,
    )
    # The procedure's own tests are in test_case_procedure.py: notified, waived, reviewed,
    # discussed (a fine of 20,000 is major for a person), decided.
    notify(case, 1, [{"kind": "fine", "amount_yuan": 20000}], on=date(2026, 9, 10))
    state(case, 1, "waiver", on=date(2026, 9, 10))
    review(case, on=date(2026, 9, 20))
    discuss(case, on=date(2026, 9, 21))
    decide(case, 1, [{"kind": "fine", "amount_yuan": 20000}], on=date(2026, 9, 29), serial=SERIAL)
    return case.collect_events()[-1]


PERSON = {
    "kind": "natural_person",
    "name": "黄小明",
    "code": "430281198001011234",
    "address": "醴陵市陶瓷路8号",
    "phone": "13800138000",
}


@pytest.fixture()
def credit_china() -> Iterator[str]:
    with running() as base_url:
        yield base_url


@pytest.fixture()
def settings(tmp_path: Path, credit_china: str) -> DisclosureSettings:
    return DisclosureSettings(
        service_name="disclosure",
        database_url=None,
        data_dir=tmp_path,
        credit_china_url=credit_china,
        # The simulator is plain http on 127.0.0.1, as `make run` allows it.
        egress_allow_http=True,
        egress_allowlist=["127.0.0.0/8"],
        retry_initial_s=0.05,
        retry_max_s=0.2,
    )


@pytest.fixture()
def app(settings: DisclosureSettings) -> Iterator[DisclosureApplication]:
    application = DisclosureApplication(env=event_store_env(settings), catalogue=CATALOGUE)
    yield application
    application.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def intake(base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base_url}/api/v1/penalties").json()
    return body


def test_policy_prepares_one_publication_even_on_duplicate_delivery(app: DisclosureApplication) -> None:
    decided = decided_case(PERSON)
    runner = PolicyRunner(app, "disclosure-policy", app.prepare_on_decision, app.policy_handles)
    partition = TopicPartition(TOPIC, 0)
    runner.apply(partition, [on_the_wire(decided, "/caseledger/case", 10)], 10, "topic-a")
    runner.apply(partition, [on_the_wire(decided, "/caseledger/case", 11)], 11, "topic-a")  # relay re-publish
    assert app.recorder.max_notification_id() == 1
    publication = app.get_publication(publication_id_for(str(decided.originator_id), DECISION_NUMBER))
    assert publication.item["party_name"] == "黄某某" and publication.publish_by == "2026-10-14"
    assert runner.positions([partition], "topic-a")[partition] == 12
    # The broker was replaced: the decision comes again at offset 0 of a new topic. The
    # position there starts afresh, and the publication is still the only one.
    assert runner.positions([partition], "topic-b")[partition] is None
    runner.apply(partition, [on_the_wire(decided, "/caseledger/case", 0)], 0, "topic-b")
    assert app.recorder.max_notification_id() == 1
    assert runner.positions([partition], "topic-b")[partition] == 1
    assert runner.positions([partition], "topic-a")[partition] == 12


def test_publisher_retries_through_503_and_never_resends(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str
) -> None:
    decided = decided_case(PERSON)
    (publication,) = app.prepare_on_decision(on_the_wire(decided, "/caseledger/case", 0))
    app.save(publication)
    httpx.post(f"{credit_china}/_control/fail-next", json={"count": 2})

    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    try:
        wait_for(lambda: app.get_publication(publication.id).published)
    finally:
        publisher.stop()
        publisher.join(10)
    accepted = intake(credit_china)
    assert accepted["intake_requests"] == 3  # two simulated 503s, then accepted
    (record,) = accepted["items"]
    assert record["publication_id"] == str(publication.id)
    assert "430281198001011234" not in str(record) and "黄小明" not in str(record)
    stored = app.get_publication(publication.id)
    assert stored.receipt_id == record["receipt_id"]
    assert publisher.position == (app.recorder.max_notification_id() or 0) - 1  # the Published event follows

    restarted = CreditChinaPublisher(app, settings)
    restarted.start()
    time.sleep(0.5)
    restarted.stop()
    restarted.join(10)
    assert intake(credit_china)["intake_requests"] == 3
    assert app.get_publication(publication.id).version == 2


def test_publisher_holds_its_position_while_credit_china_is_down(
    app: DisclosureApplication, settings: DisclosureSettings
) -> None:
    down = settings.model_copy(update={"credit_china_url": "http://127.0.0.1:9"})  # nothing listens
    decided = decided_case(PERSON)
    (publication,) = app.prepare_on_decision(on_the_wire(decided, "/caseledger/case", 0))
    app.save(publication)
    publisher = CreditChinaPublisher(app, down)
    publisher.start()
    time.sleep(0.6)
    publisher.stop()
    publisher.join(10)
    assert not app.get_publication(publication.id).published
    assert publisher.position == 0 and publisher.last_error


def test_feed_shows_published_decision_without_personal_data(tmp_path: Path, settings: DisclosureSettings) -> None:
    decided = decided_case(PERSON)
    data = on_the_wire(decided, "/caseledger/case", 0).data
    publication = Publication.prepare(
        case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR
    )
    publication.publish(published_on=date(2026, 10, 8), receipt_id="CC-1", actor=DISCLOSURE_ACTOR)
    published = publication.collect_events()[-1]
    runner = ProjectionRunner(settings, DisclosureFeedProjection())
    try:
        event = on_the_wire(published, "/caseledger/disclosure", 5)
        assert event.type == "cn.caseledger.disclosure.published.v1" and event.subject == data["case_id"]
        runner.apply(TopicPartition(TOPIC, 0), [event, event], 5, "topic-a")
        rows = runner.loop.run_until_complete(_rows(runner))
    finally:
        runner.close()
    (row,) = rows
    assert row["publication_id"] == str(publication.id) and row["published_on"] == "2026-10-08"
    assert row["agency_code"] == "11430281MB1234567L" and row["item"]["party_name"] == "黄某某"
    assert "430281198001011234" not in str(row) and "陶瓷路" not in str(row)


async def _rows(runner: ProjectionRunner) -> list[dict[str, Any]]:
    async with runner.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(disclosure_feed))]


def test_rejected_payload_is_retried_slowly_and_never_skipped(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = on_the_wire(decided_case(PERSON), "/caseledger/case", 0).data
    data["decision_number"] = "醴应急罚2026-1"  # not a decision document number: the schema refuses it
    rejected = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR)
    app.save(rejected)
    slow = settings.model_copy(update={"publisher_rejected_retry_s": 0.3})
    publisher = CreditChinaPublisher(app, slow)
    publisher.start()
    try:
        wait_for(lambda: intake(credit_china)["intake_requests"] >= 3)
    finally:
        publisher.stop()
        publisher.join(10)
    assert not app.get_publication(rejected.id).published and publisher.position == 0
    assert intake(credit_china)["items"] == []
    assert "/item/decision_number" in (publisher.last_error or "")
    assert any(r.levelname == "ERROR" and "REJECTED" in r.getMessage() for r in caplog.records)


def messages(base_url: str) -> list[tuple[str, str]]:
    return [(m["kind"], m["publication_id"]) for m in httpx.get(f"{base_url}/api/v1/messages").json()["items"]]


def correction_of(decision: ConsumedEvent, kind: str, offset: int = 1) -> ConsumedEvent:
    """The case service's ``case.decision_corrected.v1`` on a reconsideration of 2026-11-20."""
    changed = [{"kind": "fine", "amount_yuan": 8000}] if kind == "changed" else []
    return ConsumedEvent(
        id=f"00000000-0000-4000-8000-000000000c{offset:02d}",
        type="cn.caseledger.case.decision_corrected.v1",
        source="/caseledger/case",
        subject=decision.data["case_id"],
        time="2026-11-20T08:00:00Z",
        data={
            "case_id": decision.data["case_id"],
            "respondent": 1,
            "decision_number": DECISION_NUMBER,
            "correction": kind,
            "by": "reconsideration",
            "corrected_on": "2026-11-20",
            "agency": decision.data["agency"],
            "party": decision.data["party"],
            "previous_penalties": decision.data["penalties"],
            "penalties": changed,
            "fine_total_yuan": 8000 if changed else 0,
            "withdraw_publication": kind == "revoked",
        },
        traceparent="",
        topic=TOPIC,
        partition=0,
        offset=offset,
    )


def test_a_decision_revoked_while_its_push_is_retried_is_withdrawn_from_credit_china(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOCK_TODAY", "2026-11-23")  # a Monday
    decision = on_the_wire(decided_case(PERSON), "/caseledger/case", 0)
    runner = PolicyRunner(app, "disclosure-policy", app.on_case_event, app.policy_handles)
    partition = TopicPartition(TOPIC, 0)
    runner.apply(partition, [decision], 0, "topic-a")
    publication_id = publication_id_for(decision.data["case_id"], DECISION_NUMBER)
    httpx.post(f"{credit_china}/_control/fail-next", json={"count": 10_000})  # Credit China is down
    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    try:
        wait_for(lambda: intake(credit_china)["intake_requests"] >= 2)  # the push is being retried
        runner.apply(partition, [correction_of(decision, "revoked")], 1, "topic-a")
        withdrawn = app.get_publication(publication_id)
        assert withdrawn.state == "withdrawn" and withdrawn.pending_notice() is None  # not out, so far as we know
        httpx.post(f"{credit_china}/_control/fail-next", json={"count": 0})  # back: the stale push goes through
        wait_for(lambda: app.get_publication(publication_id).notified.get("withdrawal") is not None)
    finally:
        publisher.stop()
        publisher.join(10)
    assert messages(credit_china) == [("publication", str(publication_id)), ("withdrawal", str(publication_id))]
    assert httpx.get(f"{credit_china}/api/v1/penalties/{publication_id}").json()["status"] == "withdrawn"
    stored = app.get_publication(publication_id)
    assert stored.state == "withdrawn" and stored.published_on == "2026-11-23" and stored.receipt_id
    # The withdrawal was due from the acceptance, Mon 11-23: Tue 24 (1), Wed 25 (2), Thu 26 (3);
    # it is met (pushed).
    assert stored.deadlines["withdrawal"]["deadline"]["due_on"] == "2026-11-26" and stored.open_deadlines() == []
    assert set(stored.notified) == {"publication", "withdrawal"}


def test_a_decision_past_its_period_is_never_pushed(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decided 2026-09-29, general: published to 2027-09-29 at the latest.
    decision = on_the_wire(decided_case(PERSON), "/caseledger/case", 0)
    monkeypatch.setenv("CLOCK_TODAY", "2026-10-01")
    (waiting,) = app.prepare_on_decision(decision)  # prepared in time, then Credit China is down a year
    app.save(waiting)
    late = decided_case({**PERSON, "name": "黄小红", "code": "430281198001011250"})
    monkeypatch.setenv("CLOCK_TODAY", "2027-10-01")
    (recorded_late,) = app.prepare_on_decision(on_the_wire(late, "/caseledger/case", 1))  # recorded after it
    app.save(recorded_late)
    assert recorded_late.state == "ended" and recorded_late.ended_on == "2027-09-30"
    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    try:
        wait_for(lambda: publisher.position == app.recorder.max_notification_id())
    finally:
        publisher.stop()
        publisher.join(10)
    assert intake(credit_china)["intake_requests"] == 0 and messages(credit_china) == []
    # The scheduler ends the one that waited, with nothing to push either.
    app.record_deadline_events(waiting.id, date(2027, 10, 1))
    ended = app.get_publication(waiting.id)
    assert ended.state == "ended" and ended.ended_on == "2027-09-30" and ended.pending_notice() is None


def test_a_changed_decision_is_withdrawn_pushed_and_published_again_once(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str
) -> None:
    decided = decided_case(PERSON)
    decision = on_the_wire(decided, "/caseledger/case", 0)
    runner = PolicyRunner(app, "disclosure-policy", app.on_case_event, app.policy_handles)
    partition = TopicPartition(TOPIC, 0)
    runner.apply(partition, [decision], 0, "topic-a")
    first = publication_id_for(decision.data["case_id"], DECISION_NUMBER)
    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    try:
        wait_for(lambda: app.get_publication(first).published)
        corrected = correction_of(decision, "changed", offset=7)
        runner.apply(partition, [corrected], 1, "topic-a")
        runner.apply(partition, [corrected], 2, "topic-a")  # delivered twice: nothing more
        changed = app.get_publication(first).republished_as
        assert changed is not None
        wait_for(lambda: app.get_publication(first).notified.get("withdrawal") is not None)
        wait_for(lambda: app.get_publication(uuid.UUID(changed)).published)
    finally:
        publisher.stop()
        publisher.join(10)
    assert messages(credit_china) == [("publication", str(first)), ("withdrawal", str(first)), ("publication", changed)]
    record = httpx.get(f"{credit_china}/api/v1/penalties/{changed}").json()
    assert record["item"]["fine_amount_wan_yuan"] == "0.800000" and "变更" in record["item"]["remarks"]
    assert "黄小明" not in str(record) and "430281198001011234" not in str(record)
    withdrawn = app.get_publication(first)
    assert withdrawn.state == "withdrawn" and withdrawn.open_deadlines() == []  # pushed: the deadline is met


def test_the_agency_view_shows_a_late_push_a_late_acceptance_and_the_legal_end(
    settings: DisclosureSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = on_the_wire(decided_case(PERSON), "/caseledger/case", 0).data
    # Decided Tue 2026-09-29, publish by: Wed 09-30 (1), 国庆 10-01 to 10-07, Thu 10-08 (2),
    # Fri 10-09 (3), Sat 10-10 (4, a make-up working day), Mon 12 (5), Tue 13 (6), Wed 14 (7).
    # Pushed two days late, Fri 10-16.
    late = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR)
    late.publish(published_on=date(2026, 10, 16), receipt_id="CC-1", actor=DISCLOSURE_ACTOR)
    late.record_deadline_events(date(2027, 11, 1), CATALOGUE.calendar, 3)  # ended, noticed a month late
    other = {**data, "case_id": str(uuid.uuid4())}
    withdrawn = Publication.prepare(
        case_id=other["case_id"], decision=other, catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR
    )
    withdrawn.withdraw(
        {"correction": "revoked", "by": "reconsideration", "corrected_on": "2026-10-09"},
        today=date(2026, 10, 9),
        catalogue=CATALOGUE,
        actor=DISCLOSURE_ACTOR,
    )
    withdrawn.record_acceptance(
        accepted_on=date(2026, 10, 16), receipt_id="CC-2", catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR
    )
    events = [
        on_the_wire(e, "/caseledger/disclosure", n)
        for n, e in enumerate([*late.collect_events(), *withdrawn.collect_events()])
    ]
    runner = ProjectionRunner(settings, DisclosureFeedProjection())
    try:
        published = [e for e in events if e.type.endswith(".published.v1")]
        runner.apply(TopicPartition(TOPIC, 0), events[:2], 1, "topic-a")  # prepared, published
        assert [r["publication_id"] for r in runner.loop.run_until_complete(_rows(runner))] == [str(late.id)]
        runner.apply(TopicPartition(TOPIC, 0), events[2:], len(events) - 1, "topic-a")
        feed = runner.loop.run_until_complete(_rows(runner))
        monkeypatch.setenv("CLOCK_TODAY", "2026-10-16")
        rows = {
            str(p.id): runner.loop.run_until_complete(agency_publication(runner.engine, AGENCY_CODE, p.id))
            for p in (late, withdrawn)
        }
    finally:
        runner.close()
    assert len(published) == 1 and feed == []  # the Ended event takes it off the feed
    ended = rows[str(late.id)]
    assert ended["state"] == "ended" and ended["publish_by"] == "2026-10-14"
    assert ended["published_on"] == "2026-10-16" and ended["published_late"] is True
    assert ended["ended_on"] == "2027-09-30"  # published to 2027-09-29
    accepted = rows[str(withdrawn.id)]
    assert accepted["state"] == "withdrawn" and accepted["published_on"] == "2026-10-16"
    # From the acceptance Fri 10-16: Mon 19 (1), Tue 20 (2), Wed 21 (3).
    assert accepted["withdrawal_due_on"] == "2026-10-21" and accepted["notified"] == {"publication": "CC-2"}
    assert accepted["published_late"] is True
