"""The criminal referral lifecycle (行刑衔接, issue 13), through the referral application
as each organ calls it: every step with its period from the catalogue, and every refusal
(a late approval recorded as late, the police deciding a referral not addressed to them,
a second decision, reconsideration before a refusal, hand-over before filing, ...).

Dates are worked out by hand; a day period starts the day after its trigger and a last
day on a rest day moves to the next working day (2026 official calendar)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from services.common.rules import load_catalogue
from services.infra.errors import Forbidden, NotFound, RuleViolation
from services.infra.eventstore import cloud_type, event_data
from services.infra.identity import Principal
from services.referral import schemas
from services.referral.application import STEPS, ReferralApplication
from services.referral.domain import KnownCase, Referral, StepNotAllowed
from tests.unit.test_referral_deadlines import CASE, OFFICERS

CATALOGUE = load_catalogue()
CHINA = ZoneInfo("Asia/Shanghai")
POLICE_CODE, PROCURATORATE_CODE = "11430281MB7654321H", "11430281MB0012345P"


def _principal(role: str, agency_code: str, region_code: str = "430281") -> Principal:
    return Principal(f"{role}@{agency_code}", "person", agency_code, region_code, roles=frozenset({role}))


OFFICER = _principal("officer", CASE["agency_code"])
HEAD = _principal("agency_head", CASE["agency_code"])
POLICE = _principal("public_security", POLICE_CODE)
PROCURATORATE = _principal("procuratorate", PROCURATORATE_CODE)
OTHER_POLICE = _principal("public_security", "11430202MB4444444M", "430202")  # another region's
CITY_OFFICER = _principal("officer", "11430200MB11111114", "430200")  # sees the county's, acts on none


@pytest.fixture
def referrals(tmp_path: Path) -> Iterator[ReferralApplication]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "referrals.sqlite")}
    app = ReferralApplication(env=env, catalogue=CATALOGUE)
    yield app
    app.close()


def _report(app: ReferralApplication, case: KnownCase = CASE, **overrides: Any) -> UUID:
    body = {
        "case_id": case["case_id"],
        "receiving_organ": "public_security",
        "organ_name": "醴陵市公安局",
        "organ_code": POLICE_CODE,
        "copy_to_code": PROCURATORATE_CODE,
        "offence": "offence.criminal_law_134a",
        "suspected_offence": "拒不执行重大事故隐患整改指令",
        "persons_referred": 2,
        "reason": "涉嫌危险作业罪",
        "officers": OFFICERS,
        "materials": ["涉嫌犯罪案件移送书", "涉嫌犯罪案件调查报告"],
        "reported_on": "2026-03-02",
        **overrides,
    }
    referral, _ = app.refer(OFFICER, schemas.ReferRequest.model_validate(body), case, None)
    return referral.id


def _at(day: str, hour: int) -> str:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=CHINA).isoformat()


FILE = [
    {"kind": "referral_letter", "title": "涉嫌犯罪案件移送书", "sha256": "a" * 64},
    {"kind": "investigation_report", "title": "涉嫌犯罪案件调查报告", "sha256": "b" * 64},
    {"kind": "seized_items_inventory", "title": "涉案物品清单", "sha256": "c" * 64},
]


# The application's step names (the routes' last segments) by the referral's commands.
STEP_OF = {command: name for name, (_, command) in STEPS.items()}
MODELS: dict[str, type[BaseModel]] = {
    "decide": schemas.HeadDecisionRequest,
    "dispatch": schemas.DispatchRequest,
    "receive": schemas.ReceiptRequest,
    "decide_filing": schemas.FilingDecisionRequest,
    "request_reconsideration": schemas.ReconsiderationRequest,
    "answer_reconsideration": schemas.ReconsiderationAnswerRequest,
    "supervise": schemas.SupervisionRequest,
    "hand_over": schemas.HandOverRequest,
    "record_outcome": schemas.OutcomeRequest,
    "take_back": schemas.TakeBackRequest,
    "record_paid_fine": schemas.PaidFineRequest,
}


def _do(app: ReferralApplication, step: str, caller: Principal, referral_id: UUID, body: dict[str, Any]) -> Any:
    request = MODELS[step].model_validate(body)
    referral, _ = app.step(STEP_OF[step], caller, referral_id, request, None, None)  # type: ignore[arg-type]
    return referral


def _approved_and_received(app: ReferralApplication, case: KnownCase = CASE) -> UUID:
    referral_id = _report(app, case)
    _do(
        app,
        "decide",
        HEAD,
        referral_id,
        {"outcome": "approved", "head": {"name": "陈局长"}, "decided_at": _at("2026-03-04", 10)},
    )
    _do(app, "dispatch", OFFICER, referral_id, {"dispatched_at": _at("2026-03-04", 16), "file": FILE})
    _do(app, "receive", POLICE, referral_id, {"received_on": "2026-03-09", "received_by": {"name": "刘警官"}})
    return referral_id


def _events(app: ReferralApplication, referral_id: UUID) -> list[dict[str, Any]]:
    return [{"type": cloud_type(type(e)), **event_data(e)} for e in app.events.get(referral_id)]


def _due(app: ReferralApplication, referral_id: UUID) -> dict[str, str]:
    return {d["name"]: d["due_on"] for d in app.get_referral(referral_id).open_deadlines()}


def test_the_whole_lifecycle_with_each_period_from_the_catalogue(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals)
    # Reported Mon 03-02: 03-03 (1), 03-04 (2), Thu 03-05 (3).
    assert _due(referrals, referral_id) == {"head_decision": "2026-03-05"}
    referral = _do(
        referrals,
        "decide",
        HEAD,
        referral_id,
        {"outcome": "approved", "head": {"name": "陈局长"}, "decided_at": _at("2026-03-06", 10)},
    )
    # Decided Fri 03-06 10:00, the day after the period: recorded, marked late. The dispatch
    # is due 24 hours later, Sat 03-07 10:00 (hours count across rest days).
    head_decided = _events(referrals, referral_id)[-1]
    assert head_decided["late"] is True and head_decided["dispatch_due_at"] == "2026-03-07T10:00:00+08:00"
    assert referral.status == "approved" and referral.owed_by == "agency"
    _do(referrals, "dispatch", OFFICER, referral_id, {"dispatched_at": _at("2026-03-06", 16), "file": FILE})
    dispatched = _events(referrals, referral_id)[-1]
    assert dispatched["late"] is False and dispatched["copy_to_code"] == PROCURATORATE_CODE
    assert [f["kind"] for f in dispatched["file"]] == [f["kind"] for f in FILE]
    referral = _do(
        referrals, "receive", POLICE, referral_id, {"received_on": "2026-03-09", "received_by": {"name": "刘警官"}}
    )
    # Received Mon 03-09: 03-10 (1), 03-11 (2), Thu 03-12 (3).
    assert referral.owed_by == "public_security" and _due(referrals, referral_id) == {
        "police_filing_decision": "2026-03-12"
    }
    _do(
        referrals,
        "decide_filing",
        POLICE,
        referral_id,
        {"outcome": "not_filed", "reason": "情节显著轻微", "decided_on": "2026-03-11"},
    )
    # Declined Wed 03-11: 03-12 (1), 03-13 (2), Sat 03-14 (3), a rest day: Monday 03-16.
    assert _due(referrals, referral_id) == {"reconsideration_request": "2026-03-16"}
    _do(
        referrals, "request_reconsideration", OFFICER, referral_id, {"requested_on": "2026-03-13", "reason": "证据充分"}
    )
    # Requested Fri 03-13: 03-14 (1), 03-15 (2), Mon 03-16 (3).
    assert _due(referrals, referral_id) == {"reconsideration_answer": "2026-03-16"}
    referral = _do(
        referrals,
        "answer_reconsideration",
        POLICE,
        referral_id,
        {"outcome": "upheld", "reason": "维持", "answered_on": "2026-03-16"},
    )
    assert referral.status == "not_filed" and referral.open_deadlines() == []
    _do(
        referrals,
        "supervise",
        PROCURATORATE,
        referral_id,
        {"outcome": "notice_to_file", "reason": "应当立案", "supervised_on": "2026-03-20"},
    )
    # Notice Fri 03-20: 15 days end Sat 04-04, in the Qingming holiday (04-04..06): Tuesday 04-07.
    assert _due(referrals, referral_id) == {"filing_after_notice": "2026-04-07"}
    with pytest.raises(RuleViolation, match="must file"):
        _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "not_filed", "reason": "x"})
    _do(
        referrals,
        "decide_filing",
        POLICE,
        referral_id,
        {"outcome": "filed", "decided_on": "2026-03-25", "police_case_number": "醴公刑立〔2026〕9号"},
    )
    filed = _events(referrals, referral_id)[-1]
    assert filed["after_notice_to_file"] is True and filed["late"] is False
    # Filed Wed 03-25: 03-26 (1), 03-27 (2), Sat 03-28 (3): Monday 03-30.
    assert _due(referrals, referral_id) == {"handover": "2026-03-30"}
    items = [{"description": "烟花爆竹半成品", "quantity": "200千克", "sha256": "d" * 64}]
    _do(
        referrals,
        "hand_over",
        OFFICER,
        referral_id,
        {"handed_over_on": "2026-03-31", "items": items, "received_by": {"name": "刘警官"}},
    )
    assert _events(referrals, referral_id)[-1]["late"] is True  # one day after Monday 03-30
    _do(referrals, "record_outcome", POLICE, referral_id, {"outcome": "arrested", "on": "2026-04-10", "persons": 2})
    _do(referrals, "record_outcome", PROCURATORATE, referral_id, {"outcome": "prosecuted", "on": "2026-05-10"})
    referral = _do(referrals, "record_outcome", PROCURATORATE, referral_id, {"outcome": "judged", "on": "2026-06-30"})
    assert referral.status == "judged" and referral.owed_by is None and referral.open_deadlines() == []
    _do(
        referrals,
        "record_paid_fine",
        OFFICER,
        referral_id,
        {"decision_number": "(醴)应急罚〔2026〕12号", "amount_yuan": 30000, "paid_on": "2026-02-20"},
    )
    assert referrals.get_referral(referral_id).paid_fines_yuan == 30000
    types = [e["type"].removeprefix("cn.caseledger.referral.") for e in _events(referrals, referral_id)]
    assert types == [
        "reported.v1",
        "head_decided.v1",
        "dispatched.v1",
        "received.v1",
        "filing_decided.v1",
        "reconsideration_requested.v1",
        "reconsideration_answered.v1",
        "supervised.v1",
        "filing_decided.v1",
        "handed_over.v1",
        "outcome_recorded.v1",
        "outcome_recorded.v1",
        "outcome_recorded.v1",
        "paid_fine_recorded.v1",
    ]
    # Every step names the case and both organs, so either organ's subscriber receives it.
    for event in _events(referrals, referral_id):
        assert event["case_id"] == CASE["case_id"] and event["organ_code"] == POLICE_CODE


def test_a_refusal_by_the_head_needs_a_reason_and_returns_the_case(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals)
    with pytest.raises(RuleViolation) as refused:
        _do(referrals, "decide", HEAD, referral_id, {"outcome": "refused", "head": {"name": "陈局长"}})
    assert refused.value.pointer == "/reason" and refused.value.rule == "reason-required"
    _do(
        referrals,
        "decide",
        HEAD,
        referral_id,
        {"outcome": "refused", "reason": "不构成犯罪", "head": {"name": "陈局长"}, "decided_at": _at("2026-03-03", 9)},
    )
    returned = _events(referrals, referral_id)[-1]
    assert returned["type"] == "cn.caseledger.referral.returned.v1"
    assert returned["reason"] == "head_refused" and returned["penalty_due"] is True
    assert referrals.get_referral(referral_id).status == "returned"


def test_a_declined_referral_comes_back_when_the_agency_takes_it(referrals: ReferralApplication) -> None:
    referral_id = _approved_and_received(referrals)
    _do(
        referrals,
        "decide_filing",
        POLICE,
        referral_id,
        {"outcome": "not_filed", "reason": "不构成犯罪", "decided_on": "2026-03-10"},
    )
    referral = _do(referrals, "take_back", OFFICER, referral_id, {"returned_on": "2026-03-12"})
    returned = _events(referrals, referral_id)[-1]
    assert returned["type"] == "cn.caseledger.referral.returned.v1" and returned["reason"] == "not_filed"
    assert set(returned["closed_deadlines"]) == {"reconsideration_request"} and referral.open_deadlines() == []


@pytest.mark.parametrize("outcome", ["not_prosecuted", "exempted"])
def test_no_prosecution_or_an_exemption_returns_the_case(referrals: ReferralApplication, outcome: str) -> None:
    referral_id = _approved_and_received(referrals)
    _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "filed", "decided_on": "2026-03-10"})
    _do(referrals, "record_outcome", PROCURATORATE, referral_id, {"outcome": outcome, "on": "2026-05-01"})
    returned = _events(referrals, referral_id)[-1]
    assert returned["reason"] == outcome and returned["returned_on"] == "2026-05-01"
    assert referrals.get_referral(referral_id).status == "returned"


def test_out_of_turn_steps_are_refused_with_the_current_step(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals)
    with pytest.raises(StepNotAllowed) as early:
        _do(referrals, "dispatch", OFFICER, referral_id, {"file": FILE})  # before the head's approval
    assert early.value.facts == {"current_state": "reported", "allowed_actions": ["decide"], "owed_by": "agency_head"}
    referral_id = _approved_and_received(referrals, {**CASE, "case_id": "6c1f9e2f-9e2b-4d66-8e1f-4b2a7f8e3d22"})
    with pytest.raises(StepNotAllowed):  # reconsideration before any refusal
        _do(referrals, "request_reconsideration", OFFICER, referral_id, {"reason": "x"})
    with pytest.raises(StepNotAllowed):  # hand-over before filing
        _do(
            referrals,
            "hand_over",
            OFFICER,
            referral_id,
            {"items": [{"description": "x", "quantity": "1"}], "received_by": {"name": "刘警官"}},
        )
    _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "filed", "decided_on": "2026-03-10"})
    with pytest.raises(StepNotAllowed) as second:  # a second filing decision
        _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "not_filed", "reason": "改变"})
    assert second.value.facts["current_state"] == "filed"


def test_the_police_act_only_on_referrals_addressed_to_them(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals)
    _do(referrals, "decide", HEAD, referral_id, {"outcome": "approved", "head": {"name": "陈局长"}})
    _do(referrals, "dispatch", OFFICER, referral_id, {"file": FILE})
    receipt = {"received_by": {"name": "张警官"}}
    for stranger in (OTHER_POLICE, _principal("public_security", PROCURATORATE_CODE)):
        with pytest.raises(NotFound):  # as if there were no such referral
            _do(referrals, "receive", stranger, referral_id, receipt)
    with pytest.raises(NotFound):  # the police do not supervise; the copy holder does
        _do(
            referrals,
            "supervise",
            _principal("procuratorate", POLICE_CODE),
            referral_id,
            {"outcome": "no_grounds", "reason": "x"},
        )
    with pytest.raises(Forbidden):  # the city sees the county's referral but does not act on it
        _do(referrals, "take_back", CITY_OFFICER, referral_id, {})
    with pytest.raises(NotFound):
        _do(referrals, "take_back", _principal("officer", "11430202MB4444444M", "430202"), referral_id, {})


def test_a_late_reconsideration_request_is_refused(referrals: ReferralApplication) -> None:
    referral_id = _approved_and_received(referrals)
    _do(
        referrals,
        "decide_filing",
        POLICE,
        referral_id,
        {"outcome": "not_filed", "reason": "不构成犯罪", "decided_on": "2026-03-11"},
    )
    with pytest.raises(RuleViolation) as late:  # the last day was Monday 03-16
        _do(referrals, "request_reconsideration", OFFICER, referral_id, {"requested_on": "2026-03-17", "reason": "x"})
    assert late.value.rule == "reconsideration-period" and "2026-03-16" in late.value.detail


def test_the_report_needs_two_officers_a_known_offence_and_the_dispatch_a_full_file(
    referrals: ReferralApplication,
) -> None:
    # One officer is refused by the request's schema (minItems 2); two on one certificate by the domain.
    with pytest.raises(ValidationError, match="at least 2 items"):
        _report(referrals, officers=OFFICERS[:1])
    with pytest.raises(RuleViolation) as one_officer:
        _report(referrals, officers=[OFFICERS[0], OFFICERS[0]])
    assert one_officer.value.rule == "two-officers"
    for offence, why in (
        ("offence.criminal_law_999", "no offence"),
        ("offence.serious_consequences.deaths", "a threshold"),
        ("case.decision_due", "not an offence"),
    ):
        with pytest.raises(RuleViolation, match=why) as unknown:
            _report(referrals, offence=offence)
        assert unknown.value.pointer == "/offence"
    # 危险作业罪 came with the 11th amendment (2021-03-01): not before.
    with pytest.raises(RuleViolation, match="not in force on 2021-02-28"):
        _report(referrals, reported_on="2021-02-28")
    referral_id = _report(referrals, offence="offence.criminal_law_134_2")
    assert _events(referrals, referral_id)[0]["offence"]["offence"] == "强令、组织他人违章冒险作业罪"
    _do(referrals, "decide", HEAD, referral_id, {"outcome": "approved", "head": {"name": "陈局长"}})
    with pytest.raises(RuleViolation) as no_letter:
        _do(referrals, "dispatch", OFFICER, referral_id, {"file": FILE[1:]})
    assert no_letter.value.pointer == "/file" and "referral_letter" in no_letter.value.detail


def test_a_dispatch_without_a_procuratorate_copy_is_refused(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals, copy_to_code=None)
    _do(referrals, "decide", HEAD, referral_id, {"outcome": "approved", "head": {"name": "陈局长"}})
    with pytest.raises(RuleViolation) as no_copy:
        _do(referrals, "dispatch", OFFICER, referral_id, {"file": FILE})
    assert no_copy.value.rule == "procuratorate-copy"


def test_a_retried_step_gets_the_first_answer(referrals: ReferralApplication) -> None:
    referral_id = _report(referrals)
    body = schemas.HeadDecisionRequest.model_validate({"outcome": "approved", "head": {"name": "陈局长"}})
    first, replayed = referrals.step("head-decision", HEAD, referral_id, body, "head-1", None)
    again, replayed_again = referrals.step("head-decision", HEAD, referral_id, body, "head-1", None)
    assert (replayed, replayed_again) == (False, True) and again.version == first.version


def test_the_police_filing_deadline_is_recorded_missed_and_closed_by_the_decision(
    referrals: ReferralApplication,
) -> None:
    referral_id = _approved_and_received(referrals)
    referrals.record_deadline_events(referral_id, date(2026, 3, 13))  # due Thu 03-12
    _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "filed", "decided_on": "2026-03-13"})
    events = _events(referrals, referral_id)
    assert events[-2]["type"] == "cn.caseledger.referral.deadline_missed.v1"
    assert events[-2]["organ_code"] == POLICE_CODE  # the police's subscriber hears of it
    assert events[-1]["late"] is True and "police_filing_decision" in events[-1]["closed_deadlines"]
    # Filed Fri 03-13: the hand-over is due 03-14 (1), 03-15 (2), Mon 03-16 (3); its lead began
    # Wed 03-11 (Fri 13, Thu 12, Wed 11), so approaching is recorded at once, and the next
    # look is the day after the due date.
    assert referrals.record_deadline_events(referral_id, date(2026, 3, 14)) == date(2026, 3, 17)
    assert _events(referrals, referral_id)[-1]["deadline"]["name"] == "handover"


def test_a_step_that_races_the_scheduler_is_decided_again(
    referrals: ReferralApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline scheduler (here: another replica's) appends between the step's read and
    its write: without If-Match the step is decided again on the new version, not 412."""
    referral_id = _approved_and_received(referrals)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "referrals.sqlite")}
    replica = ReferralApplication(env=env, catalogue=CATALOGUE)
    original = Referral.decide_filing
    raced: list[date | None] = []

    def racing(self: Referral, **fields: Any) -> None:
        if not raced:
            raced.append(replica.record_deadline_events(referral_id, date(2026, 3, 13)))  # missed
        original(self, **fields)

    monkeypatch.setattr(Referral, "decide_filing", racing)
    try:
        _do(referrals, "decide_filing", POLICE, referral_id, {"outcome": "filed", "decided_on": "2026-03-13"})
    finally:
        replica.close()
    types = [e["type"].removeprefix("cn.caseledger.referral.") for e in _events(referrals, referral_id)]
    assert types[-2:] == ["deadline_missed.v1", "filing_decided.v1"]
