"""The publication lifecycle (issue 14): tiers and periods by the rules in force on the
decision date, withholding, withdrawal on a correction, the end of the period, credit
repair and its refusals, and the notices pushed to Credit China."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.rules import RulesSettings, load_catalogue, load_configured_catalogue
from services.disclosure.application import DisclosureApplication, publication_actor
from services.disclosure.domain import (
    CommitmentRef,
    NeverPublished,
    Publication,
    WithheldDecision,
    WithholdingGround,
    party_category,
    publication_period,
    shown_unit_code,
    withholding,
)
from services.disclosure.schemas import RepairApplicationRequest, RepairDecisionRequest
from services.infra.consumer import ConsumedEvent
from services.infra.errors import IllegalInCurrentState, RuleViolation
from services.infra.eventstore import cloud_type, event_data

CATALOGUE = load_catalogue()
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
ACTOR = publication_actor(AGENCY, "test")
ENTERPRISE = {
    "kind": "enterprise",
    "name": "醴陵市某某花炮厂",
    "code": "91430281MA4L12345R",
    "legal_representative": "张三",
}
PERSON = {"kind": "natural_person", "name": "黄小明", "code": "430281198001011234"}
NO_KEY = {"command_key": "", "command_fingerprint": ""}
COMMITMENT = CommitmentRef(title="信用承诺书", uri="records://liling/1", sha256="a" * 64)


def decision(decided_on: str = "2026-05-20", **overrides: Any) -> dict[str, Any]:
    data = {
        "case_id": "5b0e8f1e-8d1a-4c55-9d0e-3a1f6f7d2c11",
        "decision_number": "(醴)应急罚〔2026〕12号",
        "decided_on": decided_on,
        "penalties": [{"kind": "fine", "amount_yuan": 20000}],
        "fine_total_yuan": 20000,
        "agency": AGENCY,
        "party": ENTERPRISE,
        "party_is_minor": False,
        "violation_summary": "未按规定储存烟花爆竹",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条",
        "respondent": 1,
        "procedure": "ordinary",
    }
    data.update(overrides)
    return data


def period_of(data: dict[str, Any], catalogue: Any = CATALOGUE) -> tuple[str, str, str, int, bool]:
    period, published = publication_period(data, catalogue, AGENCY["region_code"])
    return period["tier"], period["repair_from"], period["ends_on"], period["rule_version"], published


def published(data: dict[str, Any] | None = None, published_on: date = date(2026, 5, 22)) -> Publication:
    data = data or decision()
    publication = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR)
    publication.publish(published_on=published_on, receipt_id="CC-1", actor=ACTOR)
    return publication


# -- tiers, by the rules in force on the decision date -----------------------------------


def test_serious_tier_minimum_is_six_months_before_2023_05_01_and_a_year_from_it() -> None:
    serious = {"disclosure": {"serious": True}}
    # Decided 2023-04-30 (v1): six months to three years.
    assert period_of(decision("2023-04-30", **serious)) == ("serious", "2023-10-30", "2026-04-30", 1, True)
    # Decided 2023-05-01 (v2, in force from that day): one year to three years.
    assert period_of(decision("2023-05-01", **serious)) == ("serious", "2024-05-01", "2026-05-01", 2, True)


def test_minor_tier_exists_from_2026_04_01_and_is_withheld_by_default() -> None:
    warning = {"penalties": [{"kind": "warning"}], "fine_total_yuan": 0}
    # The day before: no minor tier (v2), a warning is general: 3 months to 1 year.
    assert period_of(decision("2026-03-31", **warning)) == ("general", "2026-06-30", "2027-03-31", 2, True)
    # From 2026-04-01 (v3): minor, not published by default, at most 3 months.
    assert period_of(decision("2026-04-01", **warning)) == ("minor", "2026-04-01", "2026-07-01", 3, False)
    assert withholding(decision("2026-04-01", **warning), published_by_default=False) == "minor_tier"
    # A simplified-procedure fine is minor too; an ordinary fine stays general.
    assert period_of(decision("2026-04-01", procedure="simplified"))[0] == "minor"
    assert period_of(decision("2026-04-01"))[0] == "general"


def test_general_tier_on_both_sides_of_each_rule_date() -> None:
    # General: 3 months (the earliest repair) to 1 year (the end) from the decision, in
    # every version; only the version that says so changes with the date.
    for decided_on, repair_from, ends_on, version in (
        ("2023-04-30", "2023-07-30", "2024-04-30", 1),
        ("2023-05-01", "2023-08-01", "2024-05-01", 2),
        ("2026-03-31", "2026-06-30", "2027-03-31", 2),  # 06-31 does not exist: the last day of June
        ("2026-04-01", "2026-07-01", "2027-04-01", 3),
    ):
        assert period_of(decision(decided_on)) == ("general", repair_from, ends_on, version, True)


def test_a_regional_minimum_raises_the_minimum_period(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "430000.yaml").write_text(
        """region: "430000"
name: 湖南省
overrides:
  - rule: publication.work_safety_min_months
    value: {months: 12}
    source: 湖南省安全生产行政处罚信息公示办法（测试）
    effective_from: 2026-01-01
    effective_to: null
""",
        encoding="utf-8",
    )
    local = load_configured_catalogue(RulesSettings(rules_overrides_dir=overrides))
    # General tier (3 to 12 months): the province's 12-month minimum moves repair to 2027-05-20.
    assert period_of(decision(), local)[:3] == ("general", "2027-05-20", "2027-05-20")
    period, _ = publication_period(decision(), local, AGENCY["region_code"])
    assert period["regional_minimum_from"] == "430000"
    # Before the local rule took effect: the national minimum.
    assert period_of(decision("2025-12-31"), local)[1] == "2026-03-31"


# -- data items --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("91430281MA4L12345R", "legal_person"),  # 企业
        ("92430281MA4L12345N", "individual_business"),  # 个体工商户
        ("12430281MB1234567X", "legal_person"),  # 事业单位
        ("59430281MJ1234567X", "other_organisation"),  # 民政登记的其他组织
        ("31430000MD1234567X", "other_organisation"),  # 律师事务所
    ],
)
def test_party_category_from_the_uscc(code: str, category: str) -> None:
    assert party_category({"kind": "enterprise", "code": code}) == category


def test_violation_type_and_validity_from_the_decision_and_the_code_masked_on_the_site() -> None:
    data = decision(disclosure={"violation_type": "未按规定储存危险物品", "penalty_validity": "2026-11-20"})
    publication = Publication.prepare(
        case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR, code_masked_digits=4
    )
    assert publication.item["violation_type"] == "未按规定储存危险物品"
    assert publication.item["penalty_validity"] == "2026-11-20"
    assert publication.item["party_code"] == "91430281MA4L12345R"  # whole for Credit China
    assert publication.shown_party_code == "91430281MA4L12****"
    assert shown_unit_code("", 4) == "" and shown_unit_code("91430281MA4L12345R", 0) == "91430281MA4L12345R"


@pytest.mark.parametrize("ground", ["state_secret", "trade_secret", "privacy"])
def test_a_decision_flagged_secret_or_private_is_withheld(ground: WithholdingGround) -> None:
    data = decision(disclosure={"withheld_because": ground})
    assert withholding(data, published_by_default=True) == ground
    withheld = WithheldDecision.record(
        case_id=data["case_id"], decision=data, tier="general", ground=ground, actor=ACTOR
    )
    (event,) = withheld.collect_events()
    assert cloud_type(type(event)) == "cn.caseledger.disclosure.publication_withheld.v1"
    assert "item" not in event_data(event) and "未按规定" not in str(event_data(event))


# -- withdrawal ---------------------------------------------------------------------------


def correction(kind: str = "revoked", **overrides: Any) -> dict[str, Any]:
    data = {
        "decision_number": "(醴)应急罚〔2026〕12号",
        "correction": kind,
        "by": "reconsideration",
        "corrected_on": "2026-06-10",
        "agency": AGENCY,
        "party": ENTERPRISE,
        "penalties": [],
        "fine_total_yuan": 0,
    }
    data.update(overrides)
    return data


def test_a_revoked_decision_is_withdrawn_with_the_reason_within_three_working_days() -> None:
    publication = published()
    publication.withdraw(correction(), today=date(2026, 6, 11), catalogue=CATALOGUE, actor=ACTOR)
    # Corrected Wednesday 06-10: Thu 06-11 (1), Fri 06-12 (2), Mon 06-15 (3).
    assert publication.deadlines["withdrawal"]["deadline"]["due_on"] == "2026-06-15"
    assert publication.state == "withdrawn" and publication.pending_notice() == "withdrawal"
    body = publication.notice_body("withdrawal")
    assert body["effective_on"] == "2026-06-11" and "撤销" in body["reason"] and "第四十八条" in body["reason"]
    publication.notify(notice="withdrawal", receipt_id="CC-2", notified_on=date(2026, 6, 11), actor=ACTOR)
    assert publication.pending_notice() is None and publication.open_deadlines() == []
    with pytest.raises(IllegalInCurrentState):  # withdrawn once
        publication.withdraw(correction(), today=date(2026, 6, 12), catalogue=CATALOGUE, actor=ACTOR)


def test_a_changed_decision_is_withdrawn_and_published_again_as_changed() -> None:
    publication = published()
    changed_to = correction("changed", penalties=[{"kind": "fine", "amount_yuan": 8000}], fine_total_yuan=8000)
    changed = publication.republish_changed(changed_to, catalogue=CATALOGUE, actor=ACTOR)
    publication.withdraw(
        changed_to, today=date(2026, 6, 10), catalogue=CATALOGUE, actor=ACTOR, republished_as=changed.publication_id
    )
    assert publication.republished_as == changed.publication_id and changed.replaces == publication.publication_id
    assert changed.item["fine_amount_wan_yuan"] == "0.800000" and "变更" in changed.item["remarks"]
    assert "罚款人民币20000元" in changed.item["remarks"]  # what it was
    assert (changed.tier, changed.publication_end) == (publication.tier, publication.publication_end)
    assert changed.state == "pending" and changed.id != publication.id


def test_a_changed_republication_is_due_seven_working_days_from_the_change() -> None:
    publication = published()  # decided Wed 2026-05-20: due Fri 05-29 (7 working days)
    assert publication.publish_by == "2026-05-29"
    changed_to = correction("changed", penalties=[{"kind": "fine", "amount_yuan": 8000}], fine_total_yuan=8000)
    changed = publication.republish_changed(changed_to, catalogue=CATALOGUE, actor=ACTOR)
    # Changed Wed 06-10: Thu 11 (1), Fri 12 (2), Mon 15 (3), Tue 16 (4), Wed 17 (5),
    # Thu 18 (6); Fri 19 to Sun 21 is 端午节; Mon 22 (7).
    assert changed.publish_by == "2026-06-22"
    assert changed.deadlines["publication"]["deadline"]["due_on"] == "2026-06-22"


def test_a_record_accepted_after_its_withdrawal_is_recorded_and_then_withdrawn() -> None:
    data = decision()
    pending = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR)
    pending.withdraw(correction(), today=date(2026, 6, 10), catalogue=CATALOGUE, actor=ACTOR)
    assert pending.pending_notice() is None  # nothing went out, so far as we know
    with pytest.raises(IllegalInCurrentState):  # it is not published here again
        pending.publish(published_on=date(2026, 6, 11), receipt_id="CC-1", actor=ACTOR)
    # The push that was in flight went through on Thursday 06-11.
    pending.record_acceptance(accepted_on=date(2026, 6, 11), receipt_id="CC-1", catalogue=CATALOGUE, actor=ACTOR)
    assert pending.state == "withdrawn" and pending.published_on == "2026-06-11" and pending.receipt_id == "CC-1"
    assert pending.pending_notice() == "withdrawal"
    # From the acceptance Thu 06-11: Fri 12 (1), Mon 15 (2), Tue 16 (3).
    assert [d["due_on"] for d in pending.open_deadlines()] == ["2026-06-16"]
    pending.notify(notice="withdrawal", receipt_id="CC-2", notified_on=date(2026, 6, 12), actor=ACTOR)
    assert pending.pending_notice() is None and pending.open_deadlines() == []


def test_withdrawal_of_a_publication_that_never_went_out_is_refused() -> None:
    data = decision(disclosure={"withheld_because": "privacy"})
    withheld = WithheldDecision.record(
        case_id=data["case_id"], decision=data, tier="general", ground="privacy", actor=ACTOR
    )
    with pytest.raises(NeverPublished):
        withheld.withdraw(correction(), today=date(2026, 6, 10), catalogue=CATALOGUE, actor=ACTOR)


def test_a_pending_publication_corrected_is_stopped_without_a_notice() -> None:
    data = decision()
    pending = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR)
    pending.withdraw(correction(), today=date(2026, 5, 21), catalogue=CATALOGUE, actor=ACTOR)
    assert pending.state == "withdrawn" and pending.pending_notice() is None and pending.open_deadlines() == []


# -- the end of the period ----------------------------------------------------------------


def test_publication_ends_by_itself_the_day_after_its_last_day_once() -> None:
    publication = published()  # general, decided 2026-05-20: published to 2027-05-20
    calendar = CATALOGUE.calendar
    assert publication.next_deadline_check(calendar, 3) == date(2027, 5, 21)
    publication.record_deadline_events(date(2027, 5, 20), calendar, 3)
    assert publication.state == "published"
    publication.record_deadline_events(date(2027, 5, 21), calendar, 3)
    publication.record_deadline_events(date(2027, 5, 22), calendar, 3)
    ended = [e for e in publication.collect_events() if isinstance(e, Publication.Ended)]
    assert [e.ended_on for e in ended] == ["2027-05-21"]
    assert publication.state == "ended" and publication.pending_notice() == "end"
    assert publication.next_deadline_check(calendar, 3) is None


def test_an_end_noticed_late_is_dated_the_legal_end_and_shows_when_it_was_recorded() -> None:
    publication = published()  # published to 2027-05-20: it ends on 2027-05-21
    publication.record_deadline_events(date(2027, 7, 21), CATALOGUE.calendar, 3)  # two months late
    (ended,) = [e for e in publication.collect_events() if isinstance(e, Publication.Ended)]
    assert (ended.ended_on, ended.recorded_on, ended.was_published) == ("2027-05-21", "2027-07-21", True)
    body = publication.notice_body("end")
    assert body["effective_on"] == "2027-05-21" and "2027-05-20" in body["reason"]


def test_a_pending_publication_past_its_period_ends_without_going_out() -> None:
    data = decision("2025-06-02")  # general, v2: published to 2026-06-02
    pending = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR)
    calendar = CATALOGUE.calendar
    assert not pending.period_over(date(2026, 6, 2)) and pending.period_over(date(2026, 6, 3))
    pending.record_deadline_events(date(2026, 7, 21), calendar, 3)
    ended = [e for e in pending.collect_events() if isinstance(e, Publication.Ended)]
    assert [(e.ended_on, e.recorded_on, e.was_published) for e in ended] == [("2026-06-03", "2026-07-21", False)]
    assert pending.state == "ended" and not pending.published and pending.pending_notice() is None
    assert pending.open_deadlines() == [] and pending.next_deadline_check(calendar, 3) is None  # not every tick
    pending.record_deadline_events(date(2026, 7, 22), calendar, 3)
    assert [e for e in pending.collect_events() if isinstance(e, Publication.Ended)] == []  # once


def test_a_decision_recorded_after_its_period_is_ended_at_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK_TODAY", "2026-07-21")
    app = DisclosureApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, catalogue=CATALOGUE)
    late = decision("2025-06-02")  # published to 2026-06-02 at the latest
    event = ConsumedEvent(
        id="00000000-0000-4000-8000-000000000d01",
        type="cn.caseledger.case.penalty_decided.v1",
        source="/caseledger/case",
        subject=late["case_id"],
        time="2026-07-21T08:00:00Z",
        data=late,
        traceparent="",
        topic="caseledger.case-events.v1",
        partition=0,
        offset=0,
    )
    (publication,) = app.prepare_on_decision(event)
    assert isinstance(publication, Publication)
    assert publication.state == "ended" and not publication.published and publication.pending_notice() is None
    assert publication.ended_on == "2026-06-03"


# -- credit repair ------------------------------------------------------------------------


def apply(publication: Publication, on: date, performed: bool = True, today: date = date(2026, 12, 1)) -> None:
    publication.apply_for_repair(
        applied_on=on,
        obligations_performed=performed,
        commitment=COMMITMENT,
        today=today,
        **NO_KEY,
    )


def test_repair_before_the_minimum_period_is_refused() -> None:
    publication = published()  # general: repair from 2026-08-20
    with pytest.raises(RuleViolation) as refused:
        apply(publication, date(2026, 8, 19))
    assert (refused.value.pointer, refused.value.rule) == ("/applied_on", "repair-before-minimum-period")
    apply(publication, date(2026, 8, 20))
    assert publication.repair["status"] == "applied"


def test_repair_without_performance_is_refused() -> None:
    publication = published()
    with pytest.raises(RuleViolation) as refused:
        apply(publication, date(2026, 9, 1), performed=False)
    assert (refused.value.pointer, refused.value.rule) == ("/obligations_performed", "obligations-not-performed")


def test_repair_applied_for_in_the_future_or_decided_before_the_application_is_refused() -> None:
    publication = published()  # general: repair from 2026-08-20
    with pytest.raises(RuleViolation) as refused:
        apply(publication, date(2026, 12, 2), today=date(2026, 12, 1))
    assert (refused.value.pointer, refused.value.rule) == ("/applied_on", "not-in-future")
    apply(publication, date(2026, 9, 10))
    with pytest.raises(RuleViolation) as refused:
        publication.decide_repair(
            granted=True, reason="已履行", decided_on=date(2026, 9, 9), today=date(2026, 12, 1), **NO_KEY
        )
    assert (refused.value.pointer, refused.value.rule) == ("/decided_on", "before-application")
    with pytest.raises(RuleViolation) as refused:
        publication.decide_repair(
            granted=True, reason="已履行", decided_on=date(2026, 12, 2), today=date(2026, 12, 1), **NO_KEY
        )
    assert (refused.value.pointer, refused.value.rule) == ("/decided_on", "not-in-future")
    assert publication.repair["status"] == "applied"


@pytest.mark.parametrize(
    ("commitment", "pointer"),
    [
        (
            CommitmentRef(title="黄小明信用承诺书 电话13800138000", uri="records://liling/1", sha256="a" * 64),
            "/commitment/title",
        ),
        (
            CommitmentRef(title="信用承诺书", uri="records://liling/430281198001011234/1", sha256="a" * 64),
            "/commitment/uri",
        ),
    ],
)
def test_personal_data_in_the_commitment_is_refused(commitment: CommitmentRef, pointer: str) -> None:
    publication = published()
    with pytest.raises(RuleViolation) as refused:
        publication.apply_for_repair(
            applied_on=date(2026, 9, 1),
            obligations_performed=True,
            commitment=commitment,
            today=date(2026, 12, 1),
            **NO_KEY,
        )
    assert (refused.value.pointer, refused.value.rule) == (pointer, "no-personal-data-in-text")
    assert publication.repair["status"] == "none"


@pytest.mark.parametrize("reason", ["黄小明（身份证430281198001011234）已缴清罚款", "已缴清罚款，电话13800138000"])
def test_personal_data_in_the_repair_reason_is_refused(reason: str) -> None:
    publication = published()
    apply(publication, date(2026, 9, 1))
    with pytest.raises(RuleViolation) as refused:
        publication.decide_repair(
            granted=True, reason=reason, decided_on=date(2026, 9, 2), today=date(2026, 12, 1), **NO_KEY
        )
    assert (refused.value.pointer, refused.value.rule) == ("/reason", "no-personal-data-in-text")
    assert publication.state == "published"


@pytest.mark.parametrize(
    ("model", "body", "pointer"),
    [
        (RepairDecisionRequest, {"granted": True, "reason": "黄小明 身份证430281198001011234"}, ("reason",)),
        (RepairDecisionRequest, {"granted": False, "reason": "请致电13800138000"}, ("reason",)),
        (
            RepairApplicationRequest,
            {
                "obligations_performed": True,
                "commitment": {"title": "承诺书13800138000", "uri": "records://liling/1", "sha256": "a" * 64},
            },
            ("commitment", "title"),
        ),
        (
            RepairApplicationRequest,
            {
                "obligations_performed": True,
                "commitment": {"title": "承诺书", "uri": "records://430281198001011234", "sha256": "a" * 64},
            },
            ("commitment", "uri"),
        ),
    ],
)
def test_the_repair_requests_refuse_personal_data_by_field(
    model: type[RepairDecisionRequest | RepairApplicationRequest], body: dict[str, Any], pointer: tuple[str, ...]
) -> None:
    """What the routes answer 422 with (the problem names the field and the rule)."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(pointer, "no-personal-data-in-text")]


def test_repair_of_a_publication_not_published_now_is_refused() -> None:
    data = decision()
    pending = Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=ACTOR)
    with pytest.raises(IllegalInCurrentState):
        apply(pending, date(2026, 9, 1))


def test_a_granted_repair_ends_publication_at_once_a_refused_one_does_not() -> None:
    publication = published()
    apply(publication, date(2026, 9, 1))
    with pytest.raises(IllegalInCurrentState):  # one application at a time
        apply(publication, date(2026, 9, 2))
    publication.decide_repair(
        granted=False, reason="尚未履行全部义务", decided_on=date(2026, 9, 3), today=date(2026, 12, 1), **NO_KEY
    )
    assert publication.state == "published" and publication.repair["status"] == "refused"
    apply(publication, date(2026, 9, 10))
    publication.decide_repair(
        granted=True, reason="已履行并作出信用承诺", decided_on=date(2026, 9, 11), today=date(2026, 12, 1), **NO_KEY
    )
    assert publication.state == "repaired" and publication.pending_notice() == "repair"
    assert publication.notice_body("repair")["effective_on"] == "2026-09-11"
    types = [cloud_type(type(e)).split(".")[-2] for e in publication.collect_events()]
    assert types == [
        "publication_prepared",
        "published",
        "repair_applied",
        "repair_refused",
        "repair_applied",
        "repair_granted",
    ]
