"""Publication rules: masking, 万元 amounts, the 7-working-day deadline, deterministic ids."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import chinese_calendar
import pytest

from services.common.personal_data import mask_person_name
from services.common.rules import load_catalogue
from services.disclosure.application import publication_actor
from services.disclosure.domain import (
    AlreadyPublished,
    Publication,
    add_months,
    publication_id_for,
    to_wan_yuan,
    withheld_reason,
)
from services.infra.eventstore import cloud_type, event_data

CATALOGUE = load_catalogue()
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
RESIDENT_ID = "430281198001011234"
PERSON = {
    "kind": "natural_person",
    "name": "黄小明",
    "code": RESIDENT_ID,
    "address": "湖南省醴陵市陶瓷路8号",
    "phone": "13800138000",
}
ENTERPRISE = {
    "kind": "enterprise",
    "name": "醴陵市某某烟花爆竹有限公司",
    "code": "91430281MA4L12345R",
    "legal_representative": "李四",
    "address": "湖南省醴陵市花炮大道1号",
    "phone": "0731-23456789",
}

DISCLOSURE_ACTOR = publication_actor({"code": "11430281MB1234567L", "region_code": "430281"}, "test")


def decision(party: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "case_id": "5b0e8f1e-8d1a-4c55-9d0e-3a1f6f7d2c11",
        "decision_number": "(醴)应急罚〔2026〕12号",
        "decided_on": "2026-09-29",
        "penalties": [{"kind": "fine", "amount_yuan": 35000}, {"kind": "warning"}],
        "fine_total_yuan": 35000,
        "agency": AGENCY,
        "party": party,
        "violation_summary": f"{party['name']}未按规定储存烟花爆竹，联系电话13800138000，身份证{RESIDENT_ID}",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条",
    }
    data.update(overrides)
    return data


def prepared(party: dict[str, Any], **overrides: Any) -> Publication:
    data = decision(party, **overrides)
    return Publication.prepare(case_id=data["case_id"], decision=data, catalogue=CATALOGUE, actor=DISCLOSURE_ACTOR)


def stored_json(publication: Publication) -> str:
    return json.dumps([event_data(e) for e in publication.collect_events()], ensure_ascii=False)


def test_natural_person_is_masked_everywhere() -> None:
    publication = prepared(PERSON)
    item = publication.item
    assert item["party_name"] == "黄某某"
    assert item["party_category"] == "natural_person"
    assert item["party_code"] == ""
    assert item["legal_representative"] == ""
    assert "黄某某未按规定储存烟花爆竹" in item["violation_facts"]
    publication.publish(published_on=date(2026, 10, 8), receipt_id="CC-1", actor=DISCLOSURE_ACTOR)
    everything = stored_json(publication)
    for secret in ("黄小明", RESIDENT_ID, "13800138000", "陶瓷路", "address", "phone"):
        assert secret not in everything


def test_enterprise_keeps_uscc_and_legal_representative_but_no_contact_data() -> None:
    item = prepared(ENTERPRISE).item
    assert item["party_name"] == ENTERPRISE["name"]
    assert item["party_category"] == "legal_person"
    assert item["party_code"] == "91430281MA4L12345R"
    assert item["legal_representative"] == "李四"
    text = json.dumps(item, ensure_ascii=False)
    assert "花炮大道" not in text and "13800138000" not in text and RESIDENT_ID not in text


def test_individual_business_recognised_from_uscc() -> None:
    shop = {**ENTERPRISE, "name": "醴陵市张三五金店", "code": "92430281MA4L12345N"}
    assert prepared(shop).item["party_category"] == "individual_business"


@pytest.mark.parametrize(
    ("name", "masked"), [("黄小明", "黄某某"), ("王五", "王某某"), ("欧阳小明", "欧阳某某"), (" 李四 ", "李某某")]
)
def test_person_name_masking(name: str, masked: str) -> None:
    assert mask_person_name(name) == masked


@pytest.mark.parametrize(
    ("yuan", "wan_yuan"), [(0, "0.000000"), (1, "0.000100"), (35000, "3.500000"), (12_345_678, "1234.567800")]
)
def test_amounts_exported_in_wan_yuan(yuan: int, wan_yuan: str) -> None:
    assert to_wan_yuan(yuan) == wan_yuan


def test_fine_and_confiscation_amounts_and_penalty_texts() -> None:
    item = prepared(
        ENTERPRISE,
        penalties=[
            {"kind": "fine", "amount_yuan": 50000},
            {"kind": "confiscation_of_illegal_gains", "amount_yuan": 8800},
            {"kind": "licence_suspension", "description": "烟花爆竹经营（零售）许可证（湘）YH〔2025〕001号"},
        ],
        fine_total_yuan=50000,
    ).item
    assert item["fine_amount_wan_yuan"] == "5.000000"
    assert item["confiscated_amount_wan_yuan"] == "0.880000"
    assert item["penalty_category"] == "罚款；没收违法所得；暂扣许可证"
    assert item["penalty_content"].startswith("罚款人民币50000元；没收违法所得人民币8800元；暂扣许可证：")
    assert item["licence"] == "烟花爆竹经营（零售）许可证（湘）YH〔2025〕001号"


def test_chinese_calendar_data_for_2026_as_assumed() -> None:
    # The deadline test below relies on these official 2026 arrangements.
    assert all(not chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))  # 国庆节
    assert chinese_calendar.is_workday(date(2026, 10, 10))  # Saturday, make-up working day (调休)
    assert not chinese_calendar.is_workday(date(2026, 10, 11))


def test_publish_by_is_seven_working_days_across_national_day() -> None:
    # 09-29 decided; counted: 09-30 (1), holiday 10-01..07, 10-08 (2), 10-09 (3),
    # Saturday 10-10 make-up day (4), Sunday 10-11 off, 10-12 (5), 10-13 (6), 10-14 (7).
    publication = prepared(PERSON)
    assert publication.publish_by == "2026-10-14"
    # The date is the catalogue's rule's, and the event records which rule and version.
    assert publication.publish_deadline == {
        "name": "publication",
        "rule_id": "publication.penalty_publish_within",
        "rule_version": 1,
        "due_on": "2026-10-14",
        "provisional": False,
        "region_override": None,
    }
    (event,) = publication.collect_events()
    assert event_data(event)["publish_deadline"]["rule_id"] == "publication.penalty_publish_within"


def test_working_days_start_the_day_after() -> None:
    # Monday 03-02 decided: Tue 03-03 (1) ... Wed 03-11 (7): 03-07/08 a weekend.
    assert prepared(PERSON, decided_on="2026-03-02").publish_by == "2026-03-11"
    # Friday 03-06 decided: Mon 03-09 (1) ... Tue 03-17 (7).
    assert prepared(PERSON, decided_on="2026-03-06").publish_by == "2026-03-17"


def test_working_days_fall_back_to_monday_to_friday_outside_the_calendar() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2040, 1, 2))
    # 2040-01-06 is a Friday; 7 weekdays later is Tuesday 2040-01-17, marked provisional
    # (no official holiday list for 2040).
    publication = prepared(PERSON, decided_on="2040-01-06")
    assert publication.publish_by == "2040-01-17" and publication.publish_deadline["provisional"] is True


def test_prepared_v1_event_is_upcast_with_its_date() -> None:
    state: dict[str, Any] = {"publish_by": "2026-10-14"}
    Publication.Prepared.upcast_v1_v2(state)
    assert state["publish_deadline"]["due_on"] == "2026-10-14"
    assert state["publish_deadline"]["rule_id"] == "publication.penalty_publish_within"


def test_publication_end_is_decision_date_plus_the_tiers_maximum() -> None:
    # A fine decided 2026-09-29, general tier (3 months to 1 year): published to 2027-09-29.
    publication = prepared(PERSON)
    assert publication.publication_end == "2027-09-29" == publication.item["publication_end_date"]
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_publication_id_is_deterministic() -> None:
    first, second = prepared(PERSON), prepared(ENTERPRISE)
    assert first.id == second.id == publication_id_for(decision(PERSON)["case_id"], "(醴)应急罚〔2026〕12号")
    assert publication_id_for("other-case", "(醴)应急罚〔2026〕12号") != first.id
    assert first.publication_id == str(first.id)


def test_general_tier_and_prepared_event_type() -> None:
    publication = prepared(ENTERPRISE)
    assert publication.tier == "general"
    (event,) = publication.collect_events()
    assert cloud_type(type(event)) == "cn.caseledger.disclosure.publication_prepared.v1"
    assert not publication.published


def test_published_event_carries_the_item_and_publishes_once() -> None:
    publication = prepared(ENTERPRISE)
    publication.publish(published_on=date(2026, 10, 9), receipt_id="CC-42", actor=DISCLOSURE_ACTOR)
    events = publication.collect_events()
    data = event_data(events[-1])
    assert cloud_type(type(events[-1])) == "cn.caseledger.disclosure.published.v1"
    assert data["item"] == publication.item and data["receipt_id"] == "CC-42"
    assert data["published_on"] == "2026-10-09" and data["case_id"] == publication.case_id
    with pytest.raises(AlreadyPublished):
        publication.publish(published_on=date(2026, 10, 10), receipt_id="CC-43", actor=DISCLOSURE_ACTOR)


def test_minor_is_never_published() -> None:
    # The case service decides minority from the sealed ID number and says so in the event.
    assert withheld_reason(decision(PERSON, party_is_minor=True)) == "the penalised party is a minor"
    assert withheld_reason(decision(PERSON, party_is_minor=False)) is None
