"""The procedure after the decision (shared/DOMAIN.md §3, issue 12): service and the
payment clock, the surcharge, deferral and instalments, payments by bank receipt,
remedies and the correction events they produce, the reminder and the court
application's windows, closure and archive.

Every expected date is counted by hand on the 2026 official calendar (rules/calendar/
2026.yaml: 中秋节 09-25..27, 国庆节 10-01..07, make-up working days Sun 09-20 and Sat 10-10).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from services.case.domain import Case, IllegalTransition
from services.case.readmodel import CaseLedgerProjection, LedgerFilter, ledger_page
from services.infra.consumer import parse_record
from services.infra.eventstore import to_kafka_message
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from tests.unit.conftest import OFFICER, TEST_CIPHER
from tests.unit.test_case_ledger import TOPIC, Record
from tests.unit.test_case_procedure import (
    CATALOGUE,
    DOC,
    LATEST,
    NO_KEY,
    PRINCIPAL,
    SERVICE,
    UNIT,
    decide,
    filed,
    fine,
    notify,
    refused,
    state,
)

RECEIPT = "中国农业银行醴陵支行"
DECIDED = date(2026, 9, 16)  # a Wednesday


def decided(fines: tuple[int, ...] = (10_000, 5_000), on: date = DECIDED) -> Case:
    """A case whose unit (and principal) were fined on ``on`` (statement and hearing waived)."""
    respondents = [UNIT, PRINCIPAL][: len(fines)]
    case = filed(respondents, violation_date=date(2026, 1, 5), filed_on=date(2026, 2, 2))
    for number, yuan in enumerate(fines, start=1):
        notify(case, number, fine(yuan), on=date(2026, 2, 9))
        state(case, number, "waiver", on=date(2026, 2, 10))
        decide(case, number, fine(yuan), on=on, serial=number)
    assert case.status == "decided"
    return case


def serve(case: Case, respondent: int = 1, method: Any = "on_the_spot", on: date | None = DECIDED, **kw: Any) -> None:
    args: dict[str, Any] = dict(
        respondent=respondent,
        method=method,
        served_on=on,
        published_on=None,
        document=DOC,
        catalogue=CATALOGUE,
        latest=kw.pop("latest", LATEST),
        **NO_KEY,
    )
    args.update(kw)
    case.serve_decision(**args)


def pay(case: Case, respondent: int, on: date, yuan: int, receipt: str) -> None:
    case.record_payment(
        respondent=respondent,
        paid_on=on,
        amount_fen=yuan * 100,
        bank=RECEIPT,
        receipt_reference=receipt,
        latest=LATEST,
        **NO_KEY,
    )


def events(case: Case, kind: type[Any]) -> list[Any]:
    return [e for e in case.pending_events if isinstance(e, kind)]  # not collected: asked again


# -- service (送达) -------------------------------------------------------------------


def test_no_payment_before_service_and_service_opens_the_payment_clock() -> None:
    case = decided()
    assert "payment_1" not in [d["name"] for d in case.open_deadlines()]
    with pytest.raises(IllegalTransition) as refusal:
        pay(case, 1, DECIDED, 100, "R-0")
    assert refusal.value.status == "decided"
    assert refusal.value.allowed == ("record_service_consent", "serve_decision")
    serve(case, 1)
    track = case.tracks[0]
    # 15 days from the day after 09-16: the 15th is 10-01, in 国庆节 (10-01..07), so the
    # period ends on the next working day, Thursday 10-08.
    assert (track.state, track.served_on, track.payment_due) == ("served", "2026-09-16", "2026-10-08")
    (payment,) = [d for d in case.open_deadlines() if d["name"] == "payment_1"]
    assert (payment["rule_id"], payment["due_on"]) == ("payment.due", "2026-10-08")
    # Remedies: reconsideration 60 days (09-17 + 59 = 11-15, a Sunday → Monday 11-16);
    # suit 6 months (03-16, a Tuesday).
    assert (track.reconsideration_until, track.suit_until) == ("2026-11-16", "2027-03-16")
    assert case.respondent_actions(track) == (
        "record_payment",
        "arrange_payment",
        "file_remedy",
        "decide_remedy",
        "serve_reminder",
    )


def test_service_on_the_spot_is_on_the_day_of_the_decision() -> None:
    case = decided()
    assert refused("on-the-spot-same-day", serve, case, 1, on=date(2026, 9, 17)).pointer == "/served_on"


def test_service_on_an_absent_party_within_its_period() -> None:
    case = decided()
    # 7 working days after 09-16: Thu 17 (1), Fri 18 (2), Sun 20 (make-up working day, 3),
    # Mon 21 (4), Tue 22 (5), Wed 23 (6), Thu 24 (7); 25..27 are 中秋节.
    assert refused("absent-party-service-period", serve, case, 1, "absent_party", date(2026, 9, 25))
    serve(case, 1, "absent_party", date(2026, 9, 24))
    # 15 days from the day after 09-24: 10-09, a Friday.
    assert case.tracks[0].payment_due == "2026-10-09"


def test_electronic_service_only_with_the_recorded_consent() -> None:
    case = decided()
    violation = refused("electronic-service-consent", serve, case, 1, "electronic")
    assert violation.pointer == "/method"
    case.record_service_consent(
        respondent=1, consented_on=DECIDED, address="huapao@example.cn", document=DOC, latest=LATEST, **NO_KEY
    )
    serve(case, 1, "electronic")
    (served,) = events(case, Case.DecisionServed)
    assert (served.method, served.address) == ("electronic", "huapao@example.cn")


def test_a_public_notice_counts_as_served_after_its_period() -> None:
    case = decided()
    kw: dict[str, Any] = {"published_on": date(2026, 9, 18)}
    # 60 days from the day after 09-18: 09-19..30 is 12, October 31 (43), 11-17 the 60th, a Tuesday.
    violation = refused(
        "public-notice-period-running", serve, case, 1, "public_notice", None, latest=date(2026, 11, 16), **kw
    )
    assert violation.pointer == "/published_on"
    serve(case, 1, "public_notice", None, **kw)
    track = case.tracks[0]
    # Payment: 15 days from the day after 11-17, 12-02 (a Wednesday).
    assert (track.served_on, track.payment_due) == ("2026-11-17", "2026-12-02")


def test_a_decision_without_a_fine_is_performed_by_its_service() -> None:
    case = filed([UNIT], violation_date=date(2026, 1, 5), filed_on=date(2026, 2, 2))
    notify(case, 1, [{"kind": "warning"}], on=date(2026, 2, 9))
    state(case, 1, "waiver", on=date(2026, 2, 10))
    decide(case, 1, [{"kind": "warning"}], on=DECIDED)
    serve(case, 1)
    assert case.tracks[0].state == "performed" and not [d for d in case.open_deadlines() if d["name"] == "payment_1"]


# -- payment and the surcharge (加处罚款) ----------------------------------------------


def test_the_surcharge_across_a_holiday_with_a_partial_payment_and_at_the_cap() -> None:
    case = decided()  # the unit fined 10,000 yuan, the principal 5,000, both served 09-16
    serve(case, 1)
    serve(case, 2)
    unit, principal = case.tracks
    # The period ends on 10-08 (its 15th day, 10-01, is in 国庆节): nothing accrues until
    # then; without the move, 10-02..10-08 would have been 7 days (2,100 yuan).
    assert unit.surcharge_fen(date(2026, 10, 8)) == 0
    # A partial payment inside the period (4,000 yuan, on a holiday: banks take it).
    pay(case, 1, date(2026, 10, 5), 4_000, "R-1")
    assert unit.outstanding_fen(date(2026, 10, 8)) == 600_000
    # 3% of the fine (not of what is left: Art. 72 "罚款数额") is 300 yuan a day from 10-09:
    # 10-09..10-18 is 10 days, 3,000 yuan; outstanding 10,000 + 3,000 − 4,000 = 9,000.
    assert unit.surcharge_fen(date(2026, 10, 18)) == 300_000
    assert unit.outstanding_fen(date(2026, 10, 18)) == 900_000
    # The rest of the fine on 10-20: 10-09..10-20 is 12 days, 3,600 yuan; the fine is paid,
    # so nothing more accrues, and 3,600 yuan of surcharge stays outstanding.
    pay(case, 1, date(2026, 10, 20), 6_000, "R-2")
    (_, second) = events(case, Case.PaymentRecorded)
    assert (second.surcharge_accrued_fen, second.outstanding_fen) == (360_000, 360_000)
    assert unit.surcharge_fen(date(2026, 12, 31)) == 360_000 and unit.state == "served"
    assert refused("overpayment", pay, case, 1, date(2026, 10, 21), 3_601, "R-3").pointer == "/amount_fen"
    pay(case, 1, date(2026, 10, 21), 3_600, "R-3")
    assert unit.state == "paid" and "payment_1" not in [d["name"] for d in case.open_deadlines()]
    # The principal never pays: 150 yuan a day from 10-09; 10-09..11-10 is 33 days (4,950
    # yuan); the 34th day, 11-11, would make 5,100: capped at the fine, 5,000.
    assert principal.surcharge_fen(date(2026, 11, 10)) == 495_000
    assert principal.surcharge_fen(date(2026, 11, 11)) == 500_000
    assert principal.surcharge_fen(date(2026, 12, 31)) == 500_000
    assert principal.outstanding_fen(date(2026, 12, 31)) == 1_000_000
    (served, _) = events(case, Case.DecisionServed)
    assert served.surcharge == {
        "rule_id": "payment.surcharge",
        "rule_version": 1,
        "percent_per_day": "3",
        "capped_at_percent": "100",
    }


def test_a_payment_names_the_bank_and_its_receipt_once() -> None:
    case = decided()
    serve(case, 1)
    assert refused("bank-receipt", pay, case, 1, date(2026, 9, 20), 100, " ").pointer == "/receipt_reference"
    pay(case, 1, date(2026, 9, 20), 100, "R-1")
    assert refused("receipt-once", pay, case, 1, date(2026, 9, 21), 100, "R-1")
    assert refused("not-before-previous-step", pay, case, 1, date(2026, 9, 19), 100, "R-2")


def arrange(case: Case, kind: Any, applied: date, **kw: Any) -> None:
    case.arrange_payment(
        respondent=1,
        kind=kind,
        applied_on=applied,
        approved_on=kw.pop("approved", applied),
        approver={"name": "局长"},
        reason="经营困难，申请暂缓缴纳",
        due_on=kw.pop("due_on", None),
        instalments=kw.pop("instalments", []),
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )


def test_a_deferral_or_instalments_approved_move_the_clock() -> None:
    case = decided()
    serve(case, 1)  # due 10-08
    assert refused(
        "apply-within-payment-period", arrange, case, "deferral", date(2026, 10, 9), due_on=date(2026, 11, 30)
    )
    assert refused(
        "instalments-sum",
        arrange,
        case,
        "instalments",
        date(2026, 10, 8),
        instalments=[{"due_on": "2026-11-02", "amount_fen": 500_000}, {"due_on": "2026-12-01", "amount_fen": 1}],
    )
    arrange(case, "deferral", date(2026, 10, 8), approved=date(2026, 10, 9), due_on=date(2026, 11, 30))
    track = case.tracks[0]
    assert track.payment_due == "2026-11-30" and track.surcharge_fen(date(2026, 11, 30)) == 0
    assert track.surcharge_fen(date(2026, 12, 1)) == 30_000  # the first day late: 300 yuan
    (payment,) = [d for d in case.open_deadlines() if d["name"] == "payment_1"]
    assert payment["due_on"] == "2026-11-30"
    (arranged,) = events(case, Case.PaymentArranged)
    assert arranged.previous_due_on == "2026-10-08"
    # Not through the generic extension: the track's payment period would not follow.
    violation = refused(
        "not-extensible",
        case.extend_deadline,
        name="payment_1",
        change="extension",
        due_on=date(2026, 12, 31),
        reason="延期",
        approver={"name": "局长"},
        **NO_KEY,
    )
    assert violation.pointer == "/name"


def test_instalments_cover_the_unpaid_fine_and_the_clock_moves_to_the_last() -> None:
    case = decided()
    serve(case, 1)
    pay(case, 1, date(2026, 9, 30), 2_000, "R-1")
    arrange(
        case,
        "instalments",
        date(2026, 10, 8),
        instalments=[{"due_on": "2026-11-02", "amount_fen": 400_000}, {"due_on": "2026-12-01", "amount_fen": 400_000}],
    )
    assert case.tracks[0].payment_due == "2026-12-01"


# -- remedies and corrections -----------------------------------------------------------


def file(case: Case, kind: Any, on: date, respondent: int = 1) -> None:
    case.file_remedy(
        respondent=respondent,
        kind=kind,
        filed_on=on,
        organ="醴陵市人民政府",
        catalogue=CATALOGUE,
        latest=LATEST,
        **NO_KEY,
    )


def rule_on(case: Case, outcome: Any, on: date, penalties: Any = None, respondent: int = 1) -> None:
    case.decide_remedy(
        respondent=respondent,
        decided_on=on,
        outcome=outcome,
        penalties=penalties,
        document=DOC,
        latest=LATEST,
        **NO_KEY,
    )


def test_a_decision_revoked_on_reconsideration_produces_the_correction_events() -> None:
    case = decided()
    serve(case, 1)
    assert refused("remedy-period", file, case, "reconsideration", date(2026, 11, 17)).pointer == "/filed_on"
    file(case, "reconsideration", date(2026, 11, 16))  # the last day (see the first test)
    # Neither suspends the penalty: the party may still pay while the remedy is pending.
    assert "record_payment" in case.respondent_actions(case.tracks[0])
    assert refused("remedy-pending", file, case, "suit", date(2026, 11, 17))
    rule_on(case, "revoked", date(2026, 12, 10))
    track = case.tracks[0]
    assert track.state == "revoked" and "payment_1" not in [d["name"] for d in case.open_deadlines()]
    (remedy,) = events(case, Case.RemedyDecided)
    (correction,) = events(case, Case.DecisionCorrected)
    assert (remedy.kind, remedy.outcome) == ("reconsideration", "revoked")
    assert correction.cloud_type == "cn.caseledger.case.decision_corrected.v1"
    assert (correction.correction, correction.by, correction.decision_number) == (
        "revoked",
        "reconsideration",
        "(醴)应急罚〔2026〕1号",
    )
    assert correction.withdraw_publication and correction.fine_total_yuan == 0
    assert correction.previous_penalties == fine(10_000)
    # History is not edited: the decision's own event still says what was decided.
    (decision, _) = events(case, Case.PenaltyDecided)
    assert decision.fine_total_yuan == 10_000 and decision.respondent == 1
    assert case.respondent_actions(track) == ()


def test_a_decision_changed_by_a_suit_after_reconsideration_never_heavier() -> None:
    case = decided()
    serve(case, 1)
    file(case, "reconsideration", date(2026, 10, 12))
    rule_on(case, "upheld", date(2026, 11, 2))
    assert not events(case, Case.DecisionCorrected)
    # A suit within 15 days of the reconsideration decision: 11-03..11-17.
    assert refused("remedy-period", file, case, "suit", date(2026, 11, 18))
    file(case, "suit", date(2026, 11, 17))
    assert refused("no-heavier-on-remedy", rule_on, case, "changed", date(2026, 12, 1), fine(12_000))
    assert refused("changed-penalties", rule_on, case, "changed", date(2026, 12, 1))
    rule_on(case, "changed", date(2026, 12, 1), fine(6_000))
    (correction,) = events(case, Case.DecisionCorrected)
    assert (correction.correction, correction.fine_total_yuan, correction.withdraw_publication) == (
        "changed",
        6_000,
        True,  # Art. 48 withdraws a changed decision's publication too
    )
    track = case.tracks[0]
    # The surcharge follows the changed fine: 3% of 6,000 is 180 yuan a day from 10-09;
    # 10-09..12-01 is 23 + 30 + 1 = 54 days, capped at 6,000 (33⅓ days).
    assert track.fine_total_yuan == 6_000 and track.surcharge_fen(date(2026, 12, 1)) == 600_000
    assert refused("remedy-used", file, case, "reconsideration", date(2026, 12, 2))


# -- compulsory enforcement (申请人民法院强制执行) -----------------------------------------


def court_case() -> Case:
    """The unit fined 10,000 yuan on Monday 2026-03-02, served on the spot, never paying.
    Payment due 03-17 (15 days: 03-03..03-17); suit until 09-02 (6 months); the court
    application's window: 3 months from 09-02, until 12-02 (a Wednesday)."""
    case = decided((10_000,), on=date(2026, 3, 2))
    serve(case, 1, on=date(2026, 3, 2))
    assert (case.tracks[0].payment_due, case.tracks[0].suit_until) == ("2026-03-17", "2026-09-02")
    return case


def remind(case: Case, on: date) -> None:
    case.serve_reminder(respondent=1, served_on=on, document=DOC, catalogue=CATALOGUE, latest=LATEST, **NO_KEY)


def apply(case: Case, on: date) -> None:
    case.apply_to_court(respondent=1, applied_on=on, court="醴陵市人民法院", document=DOC, latest=LATEST, **NO_KEY)


def test_the_reminder_comes_after_the_payment_period_to_a_party_who_sought_no_remedy() -> None:
    case = court_case()
    assert refused("payment-period-running", remind, case, date(2026, 3, 17)).pointer == "/served_on"
    with pytest.raises(IllegalTransition) as refusal:
        apply(case, date(2026, 9, 3))  # no reminder yet
    assert refusal.value.allowed == (
        "record_payment",
        "arrange_payment",
        "file_remedy",
        "decide_remedy",
        "serve_reminder",
    )
    other = court_case()
    file(other, "suit", date(2026, 8, 3))
    assert refused("remedy-sought", remind, other, date(2026, 8, 17))


def test_the_court_application_after_the_reminders_period_and_within_its_window() -> None:
    case = court_case()
    remind(case, date(2026, 8, 17))  # a Monday
    track = case.tracks[0]
    # 10 working days after 08-17: 18, 19, 20, 21 (4), 24..28 (9), Monday 31 (10).
    assert (track.state, track.reminder_wait_until, track.court_application_until) == (
        "reminded",
        "2026-08-31",
        "2026-12-02",
    )
    assert [d["due_on"] for d in case.open_deadlines() if d["name"] == "court_application_1"] == ["2026-12-02"]
    assert refused("reminder-period-running", apply, case, date(2026, 8, 31)).pointer == "/applied_on"
    assert refused("remedy-period-running", apply, case, date(2026, 9, 2))  # the suit's last day
    assert refused("court-application-window", apply, case, date(2026, 12, 3))
    apply(case, date(2026, 9, 3))
    (applied,) = events(case, Case.CourtApplied)
    # Outstanding: the fine and the surcharge at its cap (03-18..09-03 is far past 34 days).
    assert applied.outstanding_fen == 2_000_000
    assert track.state == "enforcement_applied" and not case.open_deadlines()
    case.record_court_ruling(
        respondent=1,
        ruled_on=date(2026, 10, 15),
        ruling="granted",
        recovered_fen=2_000_000,
        document=DOC,
        latest=LATEST,
        **NO_KEY,
    )
    assert track.state == "enforced" and track.outstanding_fen(date(2026, 10, 15)) == 0


# -- closure and archive ----------------------------------------------------------------


def close(case: Case, on: date = date(2026, 12, 20)) -> None:
    case.close_case(closed_on=on, summary="罚款已缴纳，结案", latest=LATEST, **NO_KEY)


def paid_case() -> Case:
    case = decided((10_000,))
    serve(case, 1)
    pay(case, 1, date(2026, 10, 8), 10_000, "R-1")
    return case


def test_no_closure_with_a_track_still_open() -> None:
    case = decided()
    serve(case, 1)
    serve(case, 2)
    pay(case, 1, date(2026, 10, 8), 10_000, "R-1")
    with pytest.raises(IllegalTransition) as refusal:
        close(case)
    assert "respondent 2 is 'served'" in refusal.value.detail and refusal.value.status == "decided"


def test_no_closure_while_a_referral_is_open() -> None:
    case = paid_case()
    assert case.suspend_for_referral(
        referral_id="r-1",
        suspended_on=date(2026, 11, 10),
        suspected_offence="重大责任事故罪",
        command_key="event-1",
        actor=SERVICE,
    )
    assert case.status == "decided"  # a decided case runs on; only closing waits
    with pytest.raises(IllegalTransition) as refusal:
        close(case)
    assert "referral r-1 is open" in refusal.value.detail
    assert case.resume_after_referral(
        referral_id="r-1",
        resumed_on=date(2026, 11, 20),
        return_reason="not_filed",
        penalty_due=True,
        command_key="event-2",
        actor=SERVICE,
    )
    close(case)
    assert case.status == "closed"


def test_after_archive_only_annotations() -> None:
    case = paid_case()
    assert refused("not-before-previous-step", close, case, date(2026, 10, 7))
    close(case)
    assert case.allowed_actions == ("archive_case", "annotate") and not case.open_deadlines()
    case.archive_case(archived_on=date(2026, 12, 21), archive_reference="醴应急档〔2026〕1号", latest=LATEST, **NO_KEY)
    assert case.status == "archived" and case.allowed_actions == ("annotate",)
    assert case.respondent_actions(case.tracks[0]) == ()
    with pytest.raises(IllegalTransition):
        file(case, "suit", date(2026, 12, 22))
    with pytest.raises(IllegalTransition):
        close(case)
    with pytest.raises(IllegalTransition):
        case.extend_deadline(
            name="payment_1",
            change="extension",
            due_on=date(2027, 1, 31),
            reason="补正",
            approver={"name": "局长"},
            **NO_KEY,
        )
    case.annotate(annotated_on=date(2026, 12, 22), text="案卷评查：合格", latest=LATEST, **NO_KEY)
    assert case.annotations == 1 and case.status == "archived"


def test_a_case_all_not_penalised_or_dismissed_closes() -> None:
    case = filed([UNIT])
    case.dismiss(dismissed_on=date(2026, 11, 5), reason="违法事实不能成立", latest=LATEST, **NO_KEY)
    close(case, date(2026, 11, 6))
    assert case.status == "closed"


def test_an_undecided_case_does_not_close() -> None:
    case = filed()
    notify(case, 1, fine(1_000))
    with pytest.raises(IllegalTransition):
        close(case)


# -- the ledger (案件台账) after the decision ---------------------------------------------


def test_the_ledger_shows_service_amounts_remedies_enforcement_and_closure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit pays all (fine and surcharge); the principal never pays and is reminded.
    first = decided()
    serve(first, 1)
    serve(first, 2)
    pay(first, 1, date(2026, 10, 5), 4_000, "R-1")
    pay(first, 1, date(2026, 10, 20), 6_000, "R-2")
    pay(first, 1, date(2026, 10, 21), 3_600, "R-3")
    first.serve_reminder(
        respondent=2, served_on=date(2026, 10, 12), document=DOC, catalogue=CATALOGUE, latest=LATEST, **NO_KEY
    )
    # A decision revoked on reconsideration.
    second = decided((10_000,))
    serve(second, 1)
    file(second, "reconsideration", date(2026, 10, 12))
    rule_on(second, "revoked", date(2026, 11, 2))
    # A case paid, closed and archived.
    third = paid_case()
    close(third, date(2026, 10, 9))
    third.archive_case(archived_on=date(2026, 10, 10), archive_reference="醴应急档1号", latest=LATEST, **NO_KEY)
    events = [e for case in (first, second, third) for e in case.collect_events()]
    records = []
    for offset, domain_event in enumerate(events):
        parsed = parse_record(Record(TOPIC, 0, offset, to_kafka_message(domain_event, "/caseledger/case").value))
        assert parsed is not None
        records.append(parsed)
    monkeypatch.setenv("CLOCK_TODAY", "2026-11-11")
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), CaseLedgerProjection(TEST_CIPHER))
    try:
        runner.apply(TopicPartition(TOPIC, 0), records, len(records) - 1, "topic-a")

        def page(**filters: Any) -> list[dict[str, Any]]:
            found = runner.loop.run_until_complete(
                ledger_page(runner.engine, TEST_CIPHER, OFFICER, LedgerFilter(**filters), limit=50, cursor=None)
            )
            items: list[dict[str, Any]] = found["items"]
            return items

        entries = {e["case_id"]: e for e in page()}
        unit, principal = entries[str(first.id)]["respondents"]
        assert (unit["state"], unit["service_method"], unit["served_on"], unit["payment_due"]) == (
            "paid",
            "on_the_spot",
            "2026-09-16",
            "2026-10-08",
        )
        # Decided 10,000; paid 13,600 (the fine and 12 days of surcharge, see above); nothing outstanding.
        assert (unit["fine_total_yuan"], unit["paid_fen"], unit["outstanding_fen"]) == (10_000, 1_360_000, 0)
        # The principal: 5,000 decided, nothing paid; on 11-11 the surcharge reached its cap
        # (34 days at 150 yuan would be 5,100): 10,000 outstanding; reminded.
        assert (principal["state"], principal["paid_fen"], principal["surcharge_accrued_fen"]) == (
            "reminded",
            0,
            500_000,
        )
        assert (principal["outstanding_fen"], principal["enforcement_status"]) == (1_000_000, "reminded")
        assert principal["allowed_actions"] == [
            "record_payment",
            "arrange_payment",
            "file_remedy",
            "decide_remedy",
            "apply_to_court",
        ]
        # The reminder closed the principal's payment deadline and opened the court's window:
        # suit until 2027-03-16 (6 months from 09-16), then 3 months: 2027-06-16 (provisional year).
        deadlines = {d["name"]: d["due_on"] for d in entries[str(first.id)]["deadlines"]}
        assert deadlines == {"court_application_2": "2027-06-16"}
        (revoked,) = entries[str(second.id)]["respondents"]
        assert (revoked["state"], revoked["remedy_status"], revoked["correction"], revoked["fine_total_yuan"]) == (
            "revoked",
            "reconsideration_revoked",
            "revoked",
            0,
        )
        assert not entries[str(second.id)]["deadlines"]
        archived = entries[str(third.id)]
        assert (archived["status"], archived["closed_on"], archived["archived_on"]) == (
            "archived",
            "2026-10-09",
            "2026-10-10",
        )
        assert archived["allowed_actions"] == ["annotate"] and archived["respondents"][0]["allowed_actions"] == []

        ids = lambda **filters: {e["case_id"] for e in page(**filters)}  # noqa: E731
        assert ids(enforcement_status="reminded") == {str(first.id)}
        assert ids(remedy_status="reconsideration_revoked") == {str(second.id)}
        assert ids(unpaid=True) == {str(first.id)}
        assert ids(status="archived") == {str(third.id)}
        assert ids(respondent_state="revoked") == {str(second.id)}
    finally:
        runner.close()


def test_a_criminal_judgment_ends_the_undecided_tracks_as_referred_and_the_case_closes() -> None:
    case = filed()
    notify(case, 1, fine(1_000))
    assert case.suspend_for_referral(
        referral_id="r-1",
        suspended_on=date(2026, 11, 10),
        suspected_offence="重大责任事故罪",
        command_key="event-1",
        actor=SERVICE,
    )
    with pytest.raises(IllegalTransition):
        close(case)
    assert case.conclude_by_referral(referral_id="r-1", judged_on=date(2026, 12, 1), command_key="e-2", actor=SERVICE)
    assert not case.conclude_by_referral(
        referral_id="r-1", judged_on=date(2026, 12, 1), command_key="e-2", actor=SERVICE
    )
    assert [t.state for t in case.tracks] == ["referred", "referred"]
    assert case.status == "referred" and not case.open_referrals and not case.open_deadlines()
    close(case)
    assert case.status == "closed"
