"""The procedure up to the decision (shared/DOMAIN.md §3, issue 11): respondents and their
tracks, the investigation, the review and discussion gates, the prior notice and its
periods, statements (Art. 45), the hearing, the decision, the other exits, the simplified
procedure, and the business-date rules every command keeps."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.case.domain import (
    Case,
    IllegalTransition,
    Party,
    decision_number,
)
from services.common.officers import Officer
from services.common.rules import load_catalogue
from services.infra.errors import NotFound, RuleViolation
from tests.unit.conftest import TEST_CIPHER

CATALOGUE = load_catalogue()  # the shipped rules/
AGENCY: Any = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281", "short_name": "醴"}
UNIT: Party = {"kind": "enterprise", "name": "醴陵市某某花炮厂", "code": "91430281MA4L12345R", "role": "unit"}
PRINCIPAL: Party = {
    "kind": "natural_person",
    "name": "张三",
    "code": "430281198001011234",
    "role": "principal_responsible_person",
}
OFFICERS: list[Officer] = [
    {"name": "李四", "certificate_no": "43010001"},
    {"name": "王五", "certificate_no": "43010002"},
]
DOC: Any = {"title": "询问笔录", "uri": "records://liling/2026/0001", "sha256": "a" * 64}
RECORD: Any = {"title": "听证笔录", "uri": "records://liling/2026/0002", "sha256": "b" * 64}
LATEST = date(2026, 12, 31)  # "today" for these tests
NO_KEY = {"command_key": "", "command_fingerprint": ""}
DISCRETION: Any = {"level": "general", "benchmark": "湖南省安全生产行政处罚自由裁量基准 第12项 一般"}


def filed(respondents: list[Party] | None = None, **overrides: Any) -> Case:
    args: dict[str, Any] = dict(
        case_id=None,
        agency=AGENCY,
        respondents=respondents or [UNIT, PRINCIPAL],
        violation_summary="未按规定对从业人员进行安全生产教育和培训",
        violation_date=date(2026, 9, 1),
        harm_caused=False,
        legal_basis="《安全生产法》第九十七条第三项",
        officers=OFFICERS,
        filed_on=date(2026, 11, 2),
        cipher=TEST_CIPHER,
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )
    args.update(overrides)
    return Case.file(**args)


def fine(yuan: int) -> list[Any]:
    return [{"kind": "fine", "amount_yuan": yuan}]


def notify(case: Case, respondent: int, penalties: list[Any], on: date = date(2026, 11, 9)) -> None:
    case.serve_prior_notice(
        respondent=respondent,
        notified_on=on,
        facts="经查，该厂未按规定开展安全生产教育和培训",
        legal_basis="《安全生产法》第九十七条第三项",
        intended_penalties=penalties,
        document=None,
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )


def state(case: Case, respondent: int, kind: Any, on: date = date(2026, 11, 10)) -> None:
    case.record_statement(
        respondent=respondent,
        kind=kind,
        received_on=on,
        summary="当事人称已组织培训",
        document=None,
        latest=LATEST,
        **NO_KEY,
    )


def review(case: Case, on: date = date(2026, 11, 20), outcome: Any = "passed") -> None:
    case.record_legal_review(
        outcome=outcome, reviewer={"name": "赵六"}, opinion="事实清楚", reviewed_on=on, latest=LATEST, **NO_KEY
    )


def discuss(case: Case, on: date = date(2026, 11, 23)) -> None:
    case.record_collective_discussion(
        discussed_on=on,
        participants=["局长", "副局长", "法制科长"],
        conclusion="同意",
        minutes=DOC,
        latest=LATEST,
        **NO_KEY,
    )


def decide(
    case: Case,
    respondent: int,
    penalties: list[Any],
    on: date = date(2026, 11, 25),
    serial: int = 1,
    hearing_record: str | None = None,
) -> None:
    case.decide_penalty(
        respondent=respondent,
        decision_number=decision_number("醴", on.year, serial),
        serial=serial,
        decided_on=on,
        penalties=penalties,
        discretion=DISCRETION,
        performance_how="自收到本决定书之日起十五日内缴至指定银行",
        reconsideration_organ="醴陵市人民政府",
        court="醴陵市人民法院",
        hearing_record_sha256=hearing_record,
        catalogue=CATALOGUE,
        cipher=TEST_CIPHER,
        latest=LATEST,
        disclosure=None,
        **NO_KEY,
    )


def refused(rule: str, command: Any, *args: Any, **kwargs: Any) -> RuleViolation:
    with pytest.raises(RuleViolation) as refusal:
        command(*args, **kwargs)
    assert refusal.value.rule == rule, refusal.value.detail
    return refusal.value


def hear(case: Case, respondent: int = 2) -> None:
    """A hearing requested, notified 7 working days ahead and held."""
    case.request_hearing(respondent=respondent, requested_on=date(2026, 11, 11), latest=LATEST, **NO_KEY)
    case.schedule_hearing(
        respondent=respondent,
        notified_on=date(2026, 11, 12),
        hearing_on=date(2026, 11, 23),
        place="醴陵市应急管理局听证室",
        chair={"name": "钱七"},
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )
    case.record_hearing(
        respondent=respondent,
        held_on=date(2026, 11, 23),
        chair={"name": "钱七"},
        record=RECORD,
        latest=LATEST,
        **NO_KEY,
    )


# -- respondents -------------------------------------------------------------------------


def test_a_case_has_a_track_per_respondent() -> None:
    case = filed()
    assert case.status == "filed" and [t.number for t in case.tracks] == [1, 2]
    assert [t.state for t in case.tracks] == ["investigating", "investigating"]
    code: Any = case.tracks[1].party["code"]
    assert code["masked"].startswith("430281")  # sealed: not in clear
    assert case.respondent_actions(case.tracks[0]) == ("serve_prior_notice", "not_penalise")
    with pytest.raises(NotFound):
        notify(case, 3, fine(1000))


def test_a_respondent_named_twice_is_refused() -> None:
    refused("distinct-respondents", filed, [UNIT, UNIT])


# -- prior notice and statement ----------------------------------------------------------


def test_prior_notice_sets_the_statement_and_hearing_periods_from_the_catalogue() -> None:
    case = filed()
    notify(case, 1, fine(30000))  # below the unit's 50,000: no hearing right
    notify(case, 2, fine(20000))  # the individual's 20,000 inclusive: a hearing right
    unit, principal = case.tracks
    # Notified Monday 2026-11-09; 3 working days: 11-10, 11-11, 11-12 (Thursday).
    assert unit.statement_until == "2026-11-12" and not unit.hearing_right
    # 5 working days for a hearing request: 11-10 .. 11-13, then Monday 11-16.
    assert principal.hearing_right and principal.hearing_request_until == "2026-11-16"
    assert case.status == "notified"


def test_no_decision_before_the_notice() -> None:
    case = filed()
    with pytest.raises(IllegalTransition) as refusal:
        decide(case, 1, fine(30000))
    assert refusal.value.status == "investigating"
    assert refusal.value.allowed == ("serve_prior_notice", "not_penalise")


def test_no_decision_inside_the_statement_period_unless_waived() -> None:
    case = filed()
    notify(case, 1, fine(30000))
    refused("statement-period-running", decide, case, 1, fine(30000), on=date(2026, 11, 12))
    decide(case, 1, fine(30000), on=date(2026, 11, 13))  # the day after the period
    assert case.tracks[0].state == "decided" and case.tracks[0].decision_number == "(醴)应急罚〔2026〕1号"
    waived = filed()
    notify(waived, 1, fine(30000))
    state(waived, 1, "waiver", on=date(2026, 11, 9))
    decide(waived, 1, fine(30000), on=date(2026, 11, 9))
    assert waived.tracks[0].state == "decided"


def test_no_decision_inside_the_hearing_request_period() -> None:
    case = filed([PRINCIPAL])
    notify(case, 1, fine(20000))
    review(case)
    discuss(case)
    refused("hearing-request-period-running", decide, case, 1, fine(20000), on=date(2026, 11, 16))


def test_no_heavier_penalty_after_a_defence() -> None:
    case = filed()
    notify(case, 1, fine(30000))
    state(case, 1, "defence")
    refused("no-heavier-after-defence", decide, case, 1, fine(40000), on=date(2026, 11, 13))
    refused("no-heavier-after-defence", decide, case, 1, [*fine(30000), {"kind": "warning"}], on=date(2026, 11, 13))
    refused("no-heavier-after-defence", notify, case, 1, fine(35000), on=date(2026, 11, 11))
    decide(case, 1, fine(25000), on=date(2026, 11, 13))  # lighter is fine


def test_heavier_than_notified_without_a_defence_needs_a_new_notice() -> None:
    case = filed()
    notify(case, 1, fine(30000))
    refused("heavier-than-notified", decide, case, 1, fine(40000), on=date(2026, 11, 13))


# -- review and discussion gates ---------------------------------------------------------


def test_a_major_decision_needs_a_review_then_a_discussion() -> None:
    case = filed()
    notify(case, 1, fine(50000))  # the unit's threshold, inclusive
    state(case, 1, "waiver")
    refused("legal-review-required", decide, case, 1, fine(50000))
    review(case, outcome="returned")
    refused("legal-review-required", decide, case, 1, fine(50000))
    review(case)
    refused("collective-discussion-required", decide, case, 1, fine(50000))
    discuss(case)
    decide(case, 1, fine(50000))
    assert case.tracks[0].state == "decided"


def test_below_the_threshold_no_gate_applies_but_suspension_is_always_major() -> None:
    case = filed()
    notify(case, 1, [*fine(49999), {"kind": "suspension_of_production"}])
    state(case, 1, "waiver")
    refused("legal-review-required", decide, case, 1, [*fine(49999), {"kind": "suspension_of_production"}])
    decide(case, 1, fine(49999))  # the fine alone is below the threshold


def test_a_complex_case_needs_the_gates_whatever_the_amount() -> None:
    case = filed(complex_case=True)
    notify(case, 1, fine(1000))
    state(case, 1, "waiver")
    refused("legal-review-required", decide, case, 1, fine(1000))


def test_the_review_comes_before_the_discussion() -> None:
    case = filed()
    with pytest.raises(IllegalTransition) as refusal:
        discuss(case)
    assert refusal.value.allowed == ("record_legal_review",)


def test_a_legal_reviewer_who_investigated_is_refused() -> None:
    case = filed()
    refused(
        "independent-reviewer",
        case.record_legal_review,
        outcome="passed",
        reviewer={"name": "李四"},
        opinion="",
        reviewed_on=date(2026, 11, 3),
        latest=LATEST,
        **NO_KEY,
    )


# -- hearing ----------------------------------------------------------------------------


def test_one_case_two_penalties_with_a_hearing_for_the_principal() -> None:
    case = filed()
    notify(case, 1, fine(30000))
    notify(case, 2, fine(20000))
    hear(case)
    assert case.tracks[1].state == "heard"
    # The review after the hearing, then the discussion.
    review(case, on=date(2026, 11, 24))
    discuss(case, on=date(2026, 11, 24))
    refused("cite-hearing-record", decide, case, 2, fine(20000), serial=2)
    decide(case, 1, fine(30000), serial=1)
    assert case.status == "notified"  # one track still open
    decide(case, 2, fine(20000), serial=2, hearing_record="b" * 64)
    assert case.status == "decided"
    assert [t.decision_number for t in case.tracks] == ["(醴)应急罚〔2026〕1号", "(醴)应急罚〔2026〕2号"]
    events = [e for e in case.collect_events() if isinstance(e, Case.PenaltyDecided)]
    assert [e.party["name"] for e in events] == ["醴陵市某某花炮厂", "张三"]
    assert events[1].hearing_record == RECORD and events[1].major_because
    assert events[0].remedies and events[0].remedies["reconsideration_within"].startswith("60 days")
    assert events[0].performance and events[0].performance["rule_id"] == "payment.due"


def test_a_review_before_the_hearing_does_not_cover_the_decision_after_it() -> None:
    case = filed([PRINCIPAL])
    notify(case, 1, fine(20000))
    review(case, on=date(2026, 11, 10))
    hear(case, 1)
    refused("legal-review-required", decide, case, 1, fine(20000), hearing_record="b" * 64)


def test_a_late_hearing_request_is_refused() -> None:
    case = filed([PRINCIPAL])
    notify(case, 1, fine(20000))
    refused(
        "hearing-request-late",
        case.request_hearing,
        respondent=1,
        requested_on=date(2026, 11, 17),
        latest=LATEST,
        **NO_KEY,
    )
    case.request_hearing(respondent=1, requested_on=date(2026, 11, 16), latest=LATEST, **NO_KEY)


def test_no_hearing_right_below_the_threshold() -> None:
    case = filed([PRINCIPAL])
    notify(case, 1, fine(19999))
    refused(
        "no-hearing-right", case.request_hearing, respondent=1, requested_on=date(2026, 11, 10), latest=LATEST, **NO_KEY
    )


def _schedule(case: Case, notified_on: date, hearing_on: date, chair: str = "钱七") -> None:
    case.schedule_hearing(
        respondent=1,
        notified_on=notified_on,
        hearing_on=hearing_on,
        place="听证室",
        chair={"name": chair},
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )


def test_a_hearing_chaired_by_an_investigator_or_notified_late_is_refused() -> None:
    case = filed([PRINCIPAL])
    notify(case, 1, fine(20000))
    case.request_hearing(respondent=1, requested_on=date(2026, 11, 11), latest=LATEST, **NO_KEY)
    refused("chair-not-investigator", _schedule, case, date(2026, 11, 12), date(2026, 11, 23), chair="王五")
    # 7 working days before Monday 11-23: 11-20, 19, 18, 17, 16, 13, 12: notified by Thursday 11-12.
    refused("hearing-notice-period", _schedule, case, date(2026, 11, 13), date(2026, 11, 23))
    refused("hearing-date", _schedule, case, date(2026, 11, 12), date(2026, 11, 12))  # not after its notice
    _schedule(case, date(2026, 11, 12), date(2026, 11, 23))
    assert case.tracks[0].state == "hearing_scheduled"


# -- other exits -----------------------------------------------------------------------


def _no_penalty(case: Case, ground: Any, item: str | None) -> None:
    case.not_penalise(
        respondent=1,
        decided_on=date(2026, 11, 20),
        ground=ground,
        list_item=item,
        reason="初次违法，危害后果轻微并已及时改正",
        withheld_because=None,
        catalogue=CATALOGUE,
        cipher=TEST_CIPHER,
        latest=LATEST,
        **NO_KEY,
    )


def test_first_offence_not_penalised_only_for_an_item_on_the_list() -> None:
    case = filed([UNIT])
    refused("first-offence-list", _no_penalty, case, "first_offence", "WS-00-0")
    _no_penalty(case, "first_offence", "WS-97-3")
    assert case.status == "not_penalised" and case.tracks[0].no_penalty_ground == "first_offence"
    events = [e for e in case.collect_events() if isinstance(e, Case.NotPenalised)]
    assert events[0].list_rule == "no_penalty.first_offence_list v1"


def test_a_dismissed_case_takes_no_further_step() -> None:
    case = filed()
    case.dismiss(dismissed_on=date(2026, 11, 5), reason="违法事实不能成立", latest=LATEST, **NO_KEY)
    assert case.status == "dismissed" and case.allowed_actions == ("close_case",)  # closing only (issue 12)
    with pytest.raises(IllegalTransition):
        notify(case, 1, fine(1000))


# -- a referral (行刑衔接): suspended while it is open, resumed when it comes back ----------
SERVICE: Any = {"subject": "service:case", "role": "system"}


def _refer(case: Case, referral: str, key: str) -> bool:
    return case.suspend_for_referral(
        referral_id=referral,
        suspended_on=date(2026, 11, 10),
        suspected_offence="重大责任事故罪",
        command_key=key,
        actor=SERVICE,
    )


def _return(case: Case, referral: str, key: str) -> bool:
    return case.resume_after_referral(
        referral_id=referral,
        resumed_on=date(2026, 11, 20),
        return_reason="not_filed",
        penalty_due=True,
        command_key=key,
        actor=SERVICE,
    )


def test_a_referred_case_is_suspended_until_the_referral_comes_back() -> None:
    case = filed()
    notify(case, 1, fine(1000))
    assert _refer(case, "r-1", "event-1")
    assert case.status == "suspended" and case.respondent_actions(case.tracks[0]) == ()
    # No penalty in place of prosecution (不得以罚代刑): no decision, no dismissal meanwhile.
    with pytest.raises(IllegalTransition):
        decide(case, 1, fine(1000))
    with pytest.raises(IllegalTransition) as closing:
        case.dismiss(dismissed_on=date(2026, 11, 12), reason="移送后撤销", latest=LATEST, **NO_KEY)
    assert closing.value.status == "suspended"
    # A redelivered event changes nothing; the return resumes where it stopped.
    assert not _refer(case, "r-1", "event-1")
    assert _return(case, "r-1", "event-2") and not _return(case, "r-1", "event-2")
    assert case.status == "notified" and case.open_referrals == []
    state(case, 1, "waiver", on=date(2026, 11, 20))
    decide(case, 1, fine(1000))
    assert case.tracks[0].state == "decided"
    resumed = [e for e in case.collect_events() if isinstance(e, Case.ResumedAfterReferral)]
    assert [(e.referral_id, e.return_reason, e.resumed) for e in resumed] == [("r-1", "not_filed", True)]


def test_with_two_referrals_open_the_case_resumes_after_the_last() -> None:
    case = filed()
    _refer(case, "r-1", "e1")
    _refer(case, "r-2", "e2")
    _return(case, "r-1", "e3")
    assert case.status == "suspended" and case.open_referrals == ["r-2"]
    _return(case, "r-2", "e4")
    assert case.status == "filed"


def test_a_decided_case_referred_keeps_its_decision_and_a_stray_return_is_ignored() -> None:
    case = filed([UNIT])
    notify(case, 1, fine(1000))
    state(case, 1, "waiver")
    decide(case, 1, fine(1000))
    assert _refer(case, "r-1", "e1")
    # The decision keeps running (DOMAIN.md §4); the referral stays open on the case.
    assert case.status == "decided" and case.open_referrals == ["r-1"]
    assert [e.suspended for e in case.collect_events() if isinstance(e, Case.SuspendedForReferral)] == [False]
    # A referral the case never suspended for (reported before cases learnt of referrals).
    assert not _return(case, "r-old", "e2")
    assert _return(case, "r-1", "e3") and case.status == "decided"


# -- investigation ---------------------------------------------------------------------


def test_investigation_steps_by_two_officers_with_their_deadlines() -> None:
    case = filed()
    case.record_evidence(
        kind="photo", document=DOC, collected_on=date(2026, 11, 3), officers=OFFICERS, latest=LATEST, **NO_KEY
    )
    refused(
        "two-officers",
        case.record_inquiry,
        kind="interview",
        held_on=date(2026, 11, 3),
        officers=OFFICERS[:1],
        record=DOC,
        latest=LATEST,
        **NO_KEY,
    )

    def measure(kind: Any) -> None:
        case.take_measure(
            kind=kind,
            taken_on=date(2026, 11, 3),
            items="烟花爆竹成品20箱",
            officers=OFFICERS,
            approver={"name": "局长"},
            document=DOC,
            catalogue=CATALOGUE,
            latest=LATEST,
            **NO_KEY,
        )

    measure("preservation")
    measure("seizure")
    due = {d["name"]: d["due_on"] for d in case.open_deadlines()}
    # Preserved Tuesday 11-03: 7 working days 11-04 .. 11-06, 11-09 .. 11-12: Thursday 11-12.
    # Seized 11-03: 30 calendar days, day 30 is Thursday 12-03.
    assert due["measure_1"] == "2026-11-12" and due["measure_2"] == "2026-12-03"

    def extend(number: int) -> None:
        case.extend_measure(
            measure_no=number,
            extended_on=date(2026, 12, 1),
            reason="情况复杂",
            approver={"name": "局长"},
            catalogue=CATALOGUE,
            latest=LATEST,
            **NO_KEY,
        )

    refused("no-extension", extend, 1)
    extend(2)
    # Extended by 30 days from 12-03: day 30 is Saturday 2027-01-02, moved to Monday 01-04
    # (2027 has no official calendar yet: Monday to Friday).
    assert {d["name"]: d["due_on"] for d in case.open_deadlines()}["measure_2"] == "2027-01-04"
    with pytest.raises(IllegalTransition):
        extend(2)  # one extension only
    case.conclude_measure(
        measure_no=1, concluded_on=date(2026, 11, 10), outcome="解除先行登记保存", document=DOC, latest=LATEST, **NO_KEY
    )
    assert "measure_1" not in {d["name"] for d in case.open_deadlines()}


# -- simplified procedure ------------------------------------------------------------


def _on_the_spot(party: Party, penalties: list[Any]) -> Case:
    return Case.decide_on_the_spot(
        case_id=None,
        agency=AGENCY,
        party=party,
        violation_summary="未设置明显的安全警示标志",
        violation_date=date(2026, 11, 20),
        legal_basis="《安全生产法》第九十九条第一项",
        officers=OFFICERS,
        decided_on=date(2026, 11, 20),
        penalties=penalties,
        decision_number=decision_number("醴", 2026, 7),
        serial=7,
        performance_how="当场缴纳",
        reconsideration_organ="醴陵市人民政府",
        court="醴陵市人民法院",
        cipher=TEST_CIPHER,
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )


def test_the_simplified_procedure_within_its_limits() -> None:
    case = _on_the_spot(UNIT, fine(3000))  # ≤ 3,000 for an organisation, inclusive
    assert case.status == "decided" and case.procedure == "simplified"
    refused("simplified-limit", _on_the_spot, UNIT, fine(3001))
    refused("simplified-limit", _on_the_spot, PRINCIPAL, fine(201))
    refused("simplified-penalties", _on_the_spot, UNIT, [{"kind": "suspension_of_production"}])
    case.report_to_agency(reported_on=date(2026, 11, 21), latest=LATEST, **NO_KEY)
    with pytest.raises(IllegalTransition):
        case.report_to_agency(reported_on=date(2026, 11, 21), latest=LATEST, **NO_KEY)


# -- business dates (issue 16 item 4) -------------------------------------------------


def test_filed_in_the_future_is_refused() -> None:
    error = refused("not-in-future", filed, filed_on=date(2099, 12, 31))
    assert error.pointer == "/filed_on"


def test_a_violation_before_the_floor_is_refused() -> None:
    error = refused("date-floor", filed, violation_date=date(1899, 1, 1), harm_caused=True)
    assert error.pointer == "/violation_date"


def test_a_violation_after_the_filing_is_refused() -> None:
    refused("not-after-filing", filed, violation_date=date(2026, 11, 3))


def test_decided_in_the_future_is_refused() -> None:
    case = filed()
    notify(case, 1, fine(1000))
    error = refused("not-in-future", decide, case, 1, fine(1000), on=date(2027, 1, 4))
    assert error.pointer == "/decided_on"


def test_reviewed_before_the_filing_is_refused() -> None:
    error = refused("not-before-previous-step", review, filed(), on=date(2026, 11, 1))
    assert error.pointer == "/reviewed_on"


def test_a_statement_before_the_notice_is_refused() -> None:
    case = filed()
    notify(case, 1, fine(1000))
    refused("not-before-previous-step", state, case, 1, "statement", on=date(2026, 11, 8))


def test_a_refused_command_records_nothing() -> None:
    case = filed()
    version = case.version
    refused("not-before-previous-step", review, case, on=date(2026, 11, 1))
    assert case.version == version and case.review is None


# -- cases stored before respondents (upcast, not edited history) -----------------------


def test_a_case_stored_before_respondents_is_read_as_one_respondent(tmp_path: Any) -> None:
    """A case.filed of class version 2 (no respondents) and a penalty_decided of version 1
    (no respondent, number given by the caller), as the old code stored them."""
    from dataclasses import replace

    from services.case.application import CaseApplication

    app = CaseApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.sqlite")},
        cipher=TEST_CIPHER,
        catalogue=CATALOGUE,
    )
    try:
        case = filed([UNIT])
        notify(case, 1, fine(1000))
        state(case, 1, "waiver", on=date(2026, 11, 9))
        decide(case, 1, fine(1000), on=date(2026, 11, 9), serial=12)
        old = []
        for event in case.collect_events():
            stored = app.mapper.to_stored_event(event)
            data = app.mapper.transcoder.decode(stored.state)
            if isinstance(event, Case.Filed):
                for new in ("respondents", "complex_case", "procedure"):
                    del data[new]
                data["class_version"] = 2
            if isinstance(event, Case.PenaltyDecided):
                for new in ("respondent", "serial", "procedure", "discretion", "performance", "remedies"):
                    del data[new]
                del data["hearing_record"], data["major_because"]
                data.pop("class_version", None)  # version 1 recorded none
            old.append(replace(stored, state=app.mapper.transcoder.encode(data)))
        replayed = None
        for stored in old:
            old_event: Any = app.mapper.to_domain_event(stored)
            replayed = old_event.mutate(replayed)
        assert isinstance(replayed, Case)
        assert [t.number for t in replayed.tracks] == [1] and replayed.tracks[0].party["name"] == UNIT["name"]
        assert replayed.status == "decided" and replayed.procedure == "ordinary"
        assert replayed.tracks[0].decision_number == "(醴)应急罚〔2026〕12号"
        decided: Any = app.mapper.to_domain_event(old[-1])
        assert (decided.respondent, decided.serial, decided.discretion) == (1, 12, None)
    finally:
        app.close()
