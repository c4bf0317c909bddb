"""The decision deadline as events (issue 10): `deadline approaching` and `deadline missed`
recorded once per due date, across restarts and by two schedulers at once, none for a
deadline met in time; an approved extension moves the due date without editing history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.case.application import CaseApplication
from services.case.domain import DeadlineNotOpen
from services.case.schemas import (
    DeadlineExtensionRequest,
    FileCaseRequest,
    PenaltyDecisionRequest,
    PriorNoticeRequest,
    StatementRequest,
)
from services.common.rules import load_catalogue
from services.infra.errors import RuleViolation
from services.infra.scheduler import DeadlineScheduler
from services.infra.settings import Settings
from tests.unit.conftest import OFFICER

CATALOGUE = load_catalogue()
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
# Filed Monday 2026-03-02: day 1 is 03-03; 29 days to 03-31 (day 29), 30 to 04-30 (day 59),
# 31 to 05-31 (day 90), a Sunday: due Monday 2026-06-01 (a working day, not provisional).
FILED_ON, DUE_ON = date(2026, 3, 2), "2026-06-01"
# Three working days before Monday 06-01: Fri 05-29 (1), Thu 05-28 (2), Wed 05-27 (3).
APPROACHING_FROM = date(2026, 5, 27)
APPROACHING, MISSED = "cn.caseledger.case.deadline_approaching.v1", "cn.caseledger.case.deadline_missed.v1"


def _app(path: Path) -> CaseApplication:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path / "events.sqlite")}
    return CaseApplication(env=env, cipher=load_test_cipher(), catalogue=CATALOGUE)


def load_test_cipher() -> Any:
    from tests.unit.conftest import TEST_CIPHER

    return TEST_CIPHER


@pytest.fixture
def cases(tmp_path: Path) -> Iterator[CaseApplication]:
    app = _app(tmp_path)
    yield app
    app.close()


def _file(app: CaseApplication, summary: str = "未按规定开展安全生产教育培训") -> UUID:
    request = FileCaseRequest.model_validate(
        {
            "agency": AGENCY,
            "party": {"kind": "enterprise", "name": "某花炮厂", "code": "91430281MA4L12345R"},
            "violation_summary": summary,
            "violation_date": "2026-02-20",
            "legal_basis": "《安全生产法》第九十七条",
            "officers": [
                {"name": "李四", "certificate_no": "43010001"},
                {"name": "王五", "certificate_no": "43010002"},
            ],
            "filed_on": FILED_ON,
        }
    )
    case, _ = app.file_case(OFFICER, request, None)
    return case.id


def _types(app: CaseApplication, case_id: UUID) -> list[str]:
    return [e["type"] for e in app.history(OFFICER, case_id)][1:]


def test_filing_records_the_decision_deadline_with_its_rule(cases: CaseApplication) -> None:
    case = cases.get_case(_file(cases))
    assert case.decision_due == DUE_ON
    filed = cases.history(OFFICER, case.id)[0]["data"]
    assert filed["decision_deadline"] == {
        "name": "decision",
        "rule_id": "case.decision_due",
        "rule_version": 1,
        "due_on": DUE_ON,
        "provisional": False,
        "region_override": None,
    }


def test_approaching_and_missed_are_recorded_once_each_also_after_a_restart(
    cases: CaseApplication, tmp_path: Path
) -> None:
    case_id = _file(cases)
    assert cases.record_deadline_events(case_id, date(2026, 5, 26)) == APPROACHING_FROM
    assert _types(cases, case_id) == []
    assert cases.record_deadline_events(case_id, APPROACHING_FROM) == date(2026, 6, 2)
    assert cases.record_deadline_events(case_id, date(2026, 6, 1)) == date(2026, 6, 2)  # the due day: in time
    assert _types(cases, case_id) == [APPROACHING]
    assert cases.record_deadline_events(case_id, date(2026, 6, 2)) is None
    assert cases.record_deadline_events(case_id, date(2026, 6, 9)) is None
    restarted = _app(tmp_path)  # the same event store, a new process
    try:
        assert restarted.record_deadline_events(case_id, date(2026, 6, 10)) is None
        assert _types(restarted, case_id) == [APPROACHING, MISSED]
    finally:
        restarted.close()
    missed = cases.history(OFFICER, case_id)[2]
    assert missed["data"]["deadline"]["rule_id"] == "case.decision_due"
    assert missed["data"]["actor"]["subject"] == "service:case"


def test_two_schedulers_at_once_record_one_event(
    cases: CaseApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = _file(cases)
    replica = _app(tmp_path)
    try:
        stale = replica.get_case(case_id)  # read before the first replica records
        cases.record_deadline_events(case_id, APPROACHING_FROM)
        monkeypatch.setattr(replica, "find", lambda _id: stale)
        replica.record_deadline_events(case_id, APPROACHING_FROM)  # collides on the version: dropped
    finally:
        replica.close()
    assert _types(cases, case_id) == [APPROACHING]


def test_a_deadline_met_in_time_records_nothing(cases: CaseApplication) -> None:
    case_id = _file(cases)
    notice = {
        "facts": "未开展培训",
        "legal_basis": "《安全生产法》第九十七条",
        "intended_penalties": [{"kind": "warning"}],
    }
    cases.command(
        OFFICER,
        case_id,
        "serve_prior_notice",
        PriorNoticeRequest.model_validate({**notice, "notified_on": "2026-05-11"}),
        None,
        None,
        respondent=1,
    )
    waiver = StatementRequest.model_validate({"kind": "waiver", "summary": "放弃", "received_on": "2026-05-11"})
    cases.command(OFFICER, case_id, "record_statement", waiver, None, None, respondent=1)
    cases.decide_penalty(
        OFFICER,
        case_id,
        1,
        PenaltyDecisionRequest.model_validate(
            {
                "penalties": [{"kind": "warning"}],
                "discretion": {"level": "general", "benchmark": "裁量基准 第12项"},
                "performance_how": "收到即履行",
                "reconsideration_organ": "醴陵市人民政府",
                "court": "醴陵市人民法院",
                "agency_short_name": "醴",
                "decided_on": "2026-05-20",
            }
        ),
        None,
        None,
    )
    for day in (APPROACHING_FROM, date(2026, 6, 2), date(2026, 12, 31)):
        assert cases.record_deadline_events(case_id, day) is None
    assert cases.get_case(case_id).open_deadlines() == []
    assert _types(cases, case_id) == [
        "cn.caseledger.case.prior_notice_served.v1",
        "cn.caseledger.case.statement_recorded.v1",
        "cn.caseledger.case.penalty_decided.v1",
    ]


def test_an_extension_moves_the_due_date_and_keeps_the_history(cases: CaseApplication) -> None:
    case_id = _file(cases)
    cases.record_deadline_events(case_id, date(2026, 6, 2))  # missed
    extension = DeadlineExtensionRequest.model_validate(
        {
            "change": "extension",
            "due_on": "2026-07-01",
            "reason": "案情复杂，经集体讨论延长",
            "approver": {"name": "陈局长"},
        }
    )
    case, _ = cases.command(OFFICER, case_id, "extend_deadline", extension, "ext-1", None, name="decision")
    assert case.decision_due == "2026-07-01" and case.open_deadlines()[0]["due_on"] == "2026-07-01"
    history = cases.history(OFFICER, case_id)
    assert history[-1]["data"]["previous_due_on"] == DUE_ON and history[-1]["data"]["approver"] == {"name": "陈局长"}
    # The new due date gets its own reminders: 3 working days before Wed 07-01 is Fri 06-26.
    assert cases.record_deadline_events(case_id, date(2026, 6, 26)) == date(2026, 7, 2)
    assert _types(cases, case_id)[-1] == APPROACHING
    with pytest.raises(RuleViolation, match="must move the due date past 2026-07-01"):
        cases.command(OFFICER, case_id, "extend_deadline", extension, "ext-2", None, name="decision")
    with pytest.raises(DeadlineNotOpen):
        cases.command(OFFICER, case_id, "extend_deadline", extension, "ext-3", None, name="hearing")


def test_the_scheduler_learns_cases_from_the_log_and_checks_each_when_due(
    cases: CaseApplication, tmp_path: Path
) -> None:
    first, second = _file(cases, "事实一"), _file(cases, "事实二")
    scheduler = DeadlineScheduler(cases, Settings(data_dir=tmp_path), cases.record_deadline_events)
    scheduler.tick(date(2026, 5, 1))
    assert scheduler.next_check == {first: APPROACHING_FROM, second: APPROACHING_FROM}
    scheduler.tick(APPROACHING_FROM)  # records approaching for both; its own events are read next tick
    scheduler.tick(APPROACHING_FROM)
    assert _types(cases, first) == _types(cases, second) == [APPROACHING]
    assert scheduler.next_check == {first: date(2026, 6, 2), second: date(2026, 6, 2)}
