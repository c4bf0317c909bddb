"""The referral's deadlines from the rules catalogue (issue 10): the police's filing
decision, 3 calendar days from the day after the police received the referral, a last
day on a rest day moved to the next working day, recorded in the received event with
its rule; the tracker shows the open deadlines and filters on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kafka import TopicPartition

from services.common.rules import load_catalogue
from services.infra.consumer import parse_record
from services.infra.eventstore import event_data, to_kafka_message
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from services.referral.application import ReferralApplication
from services.referral.domain import KnownCase, Person, ReceivingOrgan, Referral
from services.referral.readmodel import ReferralViewsProjection, referral_page
from services.referral.schemas import ReferRequest
from tests.unit.conftest import OFFICER, TEST_CIPHER

CATALOGUE = load_catalogue()
CASE_ID = "5b0e8f1e-8d1a-4c55-9d0e-3a1f6f7d2c11"
CASE = KnownCase(
    case_id=CASE_ID,
    agency_code="11430281MB1234567L",
    agency_name="醴陵市应急管理局",
    region_code="430281",
    party={"kind": "enterprise", "name": "某花炮厂", "code": "91430281MA4L12345R"},
)
OFFICERS: list[Any] = [
    {"name": "李四", "certificate_no": "43010001"},
    {"name": "王五", "certificate_no": "43010002"},
]


FILE: list[Any] = [
    {"kind": "referral_letter", "title": "移送书", "sha256": "a" * 64},
    {"kind": "investigation_report", "title": "调查报告", "sha256": "b" * 64},
]


def _refer(received_on: date, receiving_organ: ReceivingOrgan = "public_security") -> Referral:
    """A referral reported, approved and dispatched on ``received_on``, and received by the
    police that day."""
    referral = Referral.report(
        case=CASE,
        receiving_organ=receiving_organ,
        organ_name="醴陵市公安局",
        addressee={"organ_code": "11430281006234567E", "copy_to_code": "11430281MB0012345P"},
        offence="offence.criminal_law_134_1",
        suspected_offence="涉嫌重大责任事故",
        persons_referred=1,
        reason="涉嫌重大责任事故",
        officers=OFFICERS,
        materials=["移送书"],
        reported_on=received_on,
        catalogue=CATALOGUE,
        command_key="",
        command_fingerprint="f",
    )
    at = datetime.combine(received_on, time(9), tzinfo=ZoneInfo("Asia/Shanghai"))
    head = Person(name="陈局长", title=None)
    referral.decide(
        outcome="approved",
        reason=None,
        head=head,
        decided_at=at,
        catalogue=CATALOGUE,
        command_key="",
        command_fingerprint="h",
    )
    referral.dispatch(dispatched_at=at, file=FILE, command_key="", command_fingerprint="d")
    referral.receive(
        received_on=received_on, received_by=head, catalogue=CATALOGUE, command_key="", command_fingerprint="r"
    )
    return referral


@pytest.mark.parametrize(
    ("referred_on", "due_on", "provisional"),
    [
        # Mon 03-02: 03-03 (1), 03-04 (2), Thu 03-05 (3), a working day.
        (date(2026, 3, 2), "2026-03-05", False),
        # Wed 03-04: 03-05 (1), 03-06 (2), Sat 03-07 (3), a rest day: Monday 03-09
        # (the constant gave 03-07: the catalogue's roll-forward moves it).
        (date(2026, 3, 4), "2026-03-09", False),
        # Thu 04-30: 05-01 (1), 05-02 (2), 05-03 (3), in the Labour Day holiday 05-01..05:
        # the next working day, Wednesday 05-06.
        (date(2026, 4, 30), "2026-05-06", False),
        # Wed 09-30: 10-01 (1), 10-02 (2), 10-03 (3), National Day holiday to 10-07:
        # Thursday 10-08.
        (date(2026, 9, 30), "2026-10-08", False),
        # Wed 12-30: 12-31 (1), 2027-01-01 (2), Sat 2027-01-02 (3): 2027 has no official
        # list here, so Monday to Friday: Monday 2027-01-04, provisional.
        (date(2026, 12, 30), "2027-01-04", True),
    ],
)
def test_filing_decision_deadline_from_the_catalogue(referred_on: date, due_on: str, provisional: bool) -> None:
    referral = _refer(referred_on)
    assert referral.open_deadlines() == [
        {
            "name": "police_filing_decision",
            "rule_id": "referral.police_filing_decision",
            "rule_version": 1,
            "due_on": due_on,
            "provisional": provisional,
            "region_override": None,
        }
    ]
    received = referral.collect_events()[-1]
    assert event_data(received)["deadlines"] == referral.open_deadlines()


def test_referred_v1_event_is_upcast_with_its_date() -> None:
    # A referral recorded before the catalogue kept only the date (3 days, unrolled).
    state: dict[str, Any] = {"filing_decision_due": "2026-03-07"}
    Referral.Referred.upcast_v1_v2(state)
    assert state["deadlines"] == [
        {
            "name": "police_filing_decision",
            "rule_id": "referral.police_filing_decision",
            "rule_version": 1,
            "due_on": "2026-03-07",
            "provisional": False,
            "region_override": None,
        }
    ]


@pytest.fixture
def referrals(tmp_path: Path) -> Iterator[ReferralApplication]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    app = ReferralApplication(env=env, catalogue=CATALOGUE)
    yield app
    app.close()


def test_the_application_refers_with_the_catalogue_and_replays_the_deadline(referrals: ReferralApplication) -> None:
    request = ReferRequest.model_validate(
        {
            "case_id": CASE_ID,
            "receiving_organ": "public_security",
            "organ_name": "醴陵市公安局",
            "organ_code": "11430281006234567E",
            "offence": "offence.criminal_law_134_1",
            "suspected_offence": "刑法第一百三十四条 重大责任事故罪",
            "reason": "涉嫌重大责任事故",
            "officers": OFFICERS,
            "materials": ["移送书"],
            "reported_on": "2026-03-04",
        }
    )
    referral, replayed = referrals.refer(OFFICER, request, CASE, None)
    # The head decides within 3 days of Wed 03-04: 03-05 (1), 03-06 (2), Sat 03-07 (3): Monday.
    assert not replayed and [d["due_on"] for d in referral.open_deadlines()] == ["2026-03-09"]
    again: Referral = referrals.load(referral.id, "referral")
    assert again.deadlines == referral.deadlines


@dataclass
class Record:
    """A Kafka record as kafka-python hands it to the consumer loop."""

    topic: str
    partition: int
    offset: int
    value: bytes


TOPIC = "caseledger.case-events.v1"


def test_the_tracker_shows_open_deadlines_and_filters_on_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Referred Mon 03-02: due Thu 03-05; referred Thu 04-30: due Wed 05-06 (see above).
    # (A second referral of the case: to the procuratorate, one referral per case and organ.)
    early, late = _refer(date(2026, 3, 2)), _refer(date(2026, 4, 30), "procuratorate")
    events = []
    domain_events = [*early.collect_events(), *late.collect_events()]
    for offset, domain_event in enumerate(domain_events):
        message = to_kafka_message(domain_event, "/caseledger/referral")
        event = parse_record(Record(TOPIC, 0, offset, message.value))
        assert event is not None
        events.append(event)
    settings = Settings(service_name="referral", database_url=None, data_dir=tmp_path)
    runner = ProjectionRunner(settings, ReferralViewsProjection())
    monkeypatch.setenv("CLOCK_TODAY", "2026-03-10")  # the first is overdue, the second not
    try:
        runner.apply(TopicPartition(TOPIC, 0), [*events, events[3]], 1, "topic-a")  # a redelivery too

        def page(**filters: Any) -> list[dict[str, Any]]:
            found = runner.loop.run_until_complete(
                referral_page(
                    runner.engine,
                    TEST_CIPHER,
                    OFFICER,
                    status=None,
                    receiving_organ=None,
                    case_id=None,
                    limit=50,
                    cursor=None,
                    **filters,
                )
            )
            items: list[dict[str, Any]] = found["items"]
            return items

        everything = page()
        assert len(everything) == 2
        deadlines = {row["referral_id"]: row["deadlines"] for row in everything}
        assert deadlines[str(early.id)] == [
            {
                "name": "police_filing_decision",
                "due_on": "2026-03-05",
                "rule_id": "referral.police_filing_decision",
                "rule_version": 1,
                "provisional": False,
                "overdue": True,
            }
        ]
        assert deadlines[str(late.id)][0]["due_on"] == "2026-05-06"
        assert deadlines[str(late.id)][0]["overdue"] is False
        assert [r["referral_id"] for r in page(overdue=True)] == [str(early.id)]
        assert [r["referral_id"] for r in page(overdue=False)] == [str(late.id)]
        assert [r["referral_id"] for r in page(due_before=date(2026, 5, 1))] == [str(early.id)]
        assert {r["referral_id"] for r in page(due_before=date(2026, 5, 7))} == {str(early.id), str(late.id)}
    finally:
        runner.close()
