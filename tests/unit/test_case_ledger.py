"""The case ledger per case and per respondent (issue 11): state, allowed actions, open
deadlines, the amounts intended and decided, and the filters, fed the events of a real
一案双罚 case as the consumer reads them from Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from services.case.domain import Case
from services.case.readmodel import CaseLedgerProjection, LedgerFilter, ledger_page
from services.infra.consumer import parse_record
from services.infra.eventstore import to_kafka_message
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from tests.unit.conftest import OFFICER, TEST_CIPHER
from tests.unit.test_case_procedure import PRINCIPAL, UNIT, decide, discuss, filed, fine, hear, notify, review

TOPIC = "caseledger.case-events.v1"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


def two_penalties() -> Case:
    """The unit decided, its principal heard and not decided yet."""
    case = filed()
    notify(case, 1, fine(30000))
    notify(case, 2, fine(20000))
    hear(case)
    review(case, on=date(2026, 11, 24))
    discuss(case, on=date(2026, 11, 24))
    decide(case, 1, fine(30000), serial=1)
    return case


def other_case() -> Case:
    case = filed([{**UNIT, "code": "91430281MA4L12346W", "name": "另一厂"}], filed_on=date(2026, 11, 20))
    notify(case, 1, fine(1000), on=date(2026, 11, 23))
    return case


def test_the_ledger_shows_each_respondents_track(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two_penalties(), other_case()
    events = [e for case in (first, second) for e in case.collect_events()]
    records = []
    for offset, domain_event in enumerate(events):
        parsed = parse_record(Record(TOPIC, 0, offset, to_kafka_message(domain_event, "/caseledger/case").value))
        assert parsed is not None
        records.append(parsed)
    monkeypatch.setenv("CLOCK_TODAY", "2026-11-26")
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), CaseLedgerProjection(TEST_CIPHER))
    try:
        runner.apply(TopicPartition(TOPIC, 0), records, len(records) - 1, "topic-a")

        def page(**filters: Any) -> list[dict[str, Any]]:
            found = runner.loop.run_until_complete(
                ledger_page(runner.engine, TEST_CIPHER, OFFICER, LedgerFilter(**filters), limit=50, cursor=None)
            )
            items: list[dict[str, Any]] = found["items"]
            return items

        (entry,) = [e for e in page() if e["case_id"] == str(first.id)]
        assert entry["status"] == "notified" and "record_legal_review" in entry["allowed_actions"]
        unit, principal = entry["respondents"]
        assert (unit["state"], unit["decision_number"], unit["fine_total_yuan"]) == (
            "decided",
            "(醴)应急罚〔2026〕1号",
            30000,
        )
        assert unit["intended_fine_yuan"] == 30000
        assert unit["allowed_actions"] == ["record_service_consent", "serve_decision"]  # its track goes on (issue 12)
        assert (principal["state"], principal["intended_fine_yuan"], principal["hearing_on"]) == (
            "heard",
            20000,
            "2026-11-23",
        )
        assert principal["allowed_actions"] == ["record_statement", "decide_penalty", "not_penalise"]
        assert principal["party"]["code"] == PRINCIPAL["code"]  # an officer reads personal data
        assert [d["name"] for d in entry["deadlines"]] == ["decision"], "open until the last respondent is decided"

        ids = lambda **filters: {e["case_id"] for e in page(**filters)}  # noqa: E731
        assert ids(decision_number="(醴)应急罚〔2026〕1号") == {str(first.id)}
        assert ids(party_code=PRINCIPAL["code"]) == {str(first.id)}
        assert ids(respondent_state="heard") == {str(first.id)}
        assert ids(filed_from=date(2026, 11, 10)) == {str(second.id)}
        assert ids(filed_to=date(2026, 11, 10)) == {str(first.id)}
        assert ids(decided_from=date(2026, 11, 25), decided_to=date(2026, 11, 25)) == {str(first.id)}
        assert ids(decided_to=date(2026, 11, 24)) == set()
        assert ids(region_code="430200") == {str(first.id), str(second.id)}  # the city's counties
        assert ids(region_code="430202") == set()
        assert ids(status="notified") == {str(first.id), str(second.id)}
        # Filed 11-02: decision due 2027-02-01; filed 11-20: due 2027-02-18 (provisional year).
        assert ids(due_from=date(2027, 2, 10)) == {str(second.id)}
        assert ids(due_to=date(2027, 2, 10)) == {str(first.id)}
        assert ids(overdue=True) == set()
    finally:
        runner.close()
