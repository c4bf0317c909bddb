"""Personal information (个人信息) of natural persons: sealed before any event records it,
masked for display, refused in narrative text; the actor recorded with every event."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from services.case.domain import Agency, Case, Party
from services.common.officers import Officer
from services.common.personal_data import mask, party_as_shown
from services.common.rules import load_catalogue
from services.infra.crypto import FieldCipher, SealError, masked_copy
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate, event_data
from tests.unit.conftest import OFFICER_ACTOR, TEST_CIPHER
from tests.unit.test_case_procedure import LATEST, notify, state
from tests.unit.test_case_procedure import decide as decide_respondent

AGENCY: Agency = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
PERSON_ID = "430281198001011234"
MINOR_ID = "430281201001011239"
PERSON: Party = {
    "kind": "natural_person",
    "name": "黄小明",
    "code": PERSON_ID,
    "phone": "13800138000",
    "address": "醴陵市某路1号",
}
OFFICERS: list[Officer] = [
    {"name": "李四", "certificate_no": "43010001"},
    {"name": "王五", "certificate_no": "43010002"},
]


def file(party: Party = PERSON, summary: str = "未按规定开展安全生产教育培训") -> Case:
    return Case.file(
        case_id=None,
        agency=AGENCY,
        respondents=[party],
        violation_summary=summary,
        violation_date=date(2026, 9, 1),
        harm_caused=False,
        legal_basis="《安全生产法》第九十七条",
        officers=OFFICERS,
        filed_on=date(2026, 11, 2),
        command_key="",
        command_fingerprint="",
        cipher=TEST_CIPHER,
        catalogue=load_catalogue(),
        latest=LATEST,
    )


def decide(case: Case) -> None:
    """Notified, waived, decided (the procedure's own tests: test_case_procedure.py)."""
    notify(case, 1, [{"kind": "fine", "amount_yuan": 3000}], on=date(2026, 11, 4))
    state(case, 1, "waiver", on=date(2026, 11, 4))
    decide_respondent(case, 1, [{"kind": "fine", "amount_yuan": 3000}], on=date(2026, 11, 5))


def test_a_persons_id_phone_and_address_never_reach_an_event_in_clear() -> None:
    case = file()
    decide(case)
    events = case.collect_events()
    stored = json.dumps([event_data(e) for e in events], ensure_ascii=False)
    for secret in (PERSON_ID, "13800138000", "醴陵市某路1号"):
        assert secret not in stored
    assert isinstance(events[0], Case.Filed)
    party: dict[str, Any] = dict(events[0].party)  # its sealed fields as the events hold them
    assert party["code"]["masked"] == "430281********1234" and party["phone"]["masked"] == "138****8000"
    assert party["name"] == "黄小明"  # the name is needed to run the case; the public feed masks it
    assert party_as_shown(party, TEST_CIPHER, full=True) == PERSON
    assert party_as_shown(party, TEST_CIPHER, full=False)["code"] == "430281********1234"
    assert masked_copy({"data": {"party": party}})["data"]["party"]["address"] == mask("address", "醴陵市某路1号")


def test_an_enterprise_is_recorded_as_given() -> None:
    enterprise: Party = {"kind": "enterprise", "name": "某花炮厂", "code": "91430281MA4L12345R"}
    assert file(enterprise).party == enterprise


def test_a_sealed_value_opens_only_with_its_key_and_in_its_field() -> None:
    sealed = TEST_CIPHER.seal(PERSON_ID, "party.code")
    assert TEST_CIPHER.open(sealed, "party.code") == PERSON_ID
    with pytest.raises(SealError):
        TEST_CIPHER.open(sealed, "party.phone")  # moved to another field
    with pytest.raises(SealError):
        FieldCipher([("unit", bytes(32))]).open(sealed, "party.code")  # same key id, other key
    rotated = FieldCipher([("next", bytes(range(1, 33))), ("unit", bytes(range(32)))])
    assert rotated.open(sealed, "party.code") == PERSON_ID  # old values still open after rotation
    assert rotated.seal(PERSON_ID, "party.code").startswith("v1:next:")


@pytest.mark.parametrize(
    ("summary", "found"),
    [
        (f"当事人身份证{PERSON_ID}未培训", "resident ID"),
        ("联系电话13800138000", "mobile"),
        ("住所醴陵市某路1号", "address"),
    ],
)
def test_personal_identifiers_in_narrative_text_are_refused(summary: str, found: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        file(summary=summary)
    assert refused.value.rule == "no-personal-data-in-text" and refused.value.pointer == "/violation_summary"
    assert found in str(refused.value)


def test_the_decision_says_whether_the_party_was_a_minor() -> None:
    adult, minor = file(), file({**PERSON, "code": MINOR_ID})
    decide(adult)
    decide(minor)
    adult_decided, minor_decided = adult.collect_events()[-1], minor.collect_events()[-1]
    assert isinstance(adult_decided, Case.PenaltyDecided) and isinstance(minor_decided, Case.PenaltyDecided)
    assert adult_decided.party_is_minor is False
    assert minor_decided.party_is_minor is True


def test_every_event_names_its_actor_and_agency() -> None:
    case = file()
    decide(case)
    for event in case.collect_events():
        assert isinstance(event, TracedAggregate.Event)
        assert event.actor == OFFICER_ACTOR
        assert event_data(event)["actor"]["agency_code"] == AGENCY["code"]
