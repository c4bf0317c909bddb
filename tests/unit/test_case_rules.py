"""The case aggregate's rules (shared/DOMAIN.md §3), and the application's answers that
become 409 (illegal in the current state) and 412 (stale If-Match)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import pytest

from services.case.application import CaseApplication
from services.case.domain import Agency, Case, IllegalTransition, Party
from services.case.schemas import FileCaseRequest, LegalReviewRequest
from services.common.identifiers import is_valid_resident_id, is_valid_uscc
from services.common.officers import Officer
from services.common.rules import load_catalogue
from services.infra.errors import IdempotencyConflict, RuleViolation, StaleVersion
from tests.unit.conftest import OFFICER, TEST_CIPHER
from tests.unit.test_case_procedure import LATEST, decide, notify

CATALOGUE = load_catalogue()  # the shipped rules/
AGENCY: Agency = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
ENTERPRISE: Party = {"kind": "enterprise", "name": "某花炮厂", "code": "91430281MA4L12345R"}
OFFICERS: list[Officer] = [
    {"name": "李四", "certificate_no": "43010001"},
    {"name": "王五", "certificate_no": "43010002"},
]


def filed(**overrides: Any) -> Case:
    args: dict[str, Any] = dict(
        case_id=None,
        agency=AGENCY,
        respondents=[ENTERPRISE],
        violation_summary="未按规定开展安全生产教育培训",
        violation_date=date(2026, 9, 1),
        harm_caused=False,
        legal_basis="《安全生产法》第九十七条",
        officers=OFFICERS,
        filed_on=date(2026, 11, 2),
        command_key="",
        command_fingerprint="",
        cipher=TEST_CIPHER,
        catalogue=CATALOGUE,
        latest=LATEST,
    )
    if "party" in overrides:
        overrides["respondents"] = [overrides.pop("party")]
    args.update(overrides)
    return Case.file(**args)


def reviewed(outcome: Literal["passed", "returned"] = "passed") -> Case:
    case = filed()
    case.record_legal_review(
        outcome=outcome,
        reviewer={"name": "赵六"},
        opinion="需补充证据",
        reviewed_on=date(2026, 11, 3),
        latest=LATEST,
        command_key="",
        command_fingerprint="",
    )
    return case


def test_identifiers_are_checked_by_their_check_characters() -> None:
    assert is_valid_uscc("91430281MA4L12345R") and not is_valid_uscc("91430281MA4L12345X")
    assert is_valid_resident_id("430281198001011234") and not is_valid_resident_id("430281198001011235")


def test_filing_sets_the_ninety_day_decision_deadline() -> None:
    case = filed()
    # Filed Monday 2026-11-02: day 1 is 11-03; 28 days to 11-30 (day 28), 31 to 12-31 (day 59),
    # 31 to 2027-01-31 (day 90), a Sunday: the next working day, Monday 2027-02-01. 2027 has
    # no official calendar yet (Monday to Friday): provisional.
    assert case.status == "filed" and case.decision_due == "2027-02-01"
    assert case.open_deadlines() == [
        {
            "name": "decision",
            "rule_id": "case.decision_due",
            "rule_version": 1,
            "due_on": "2027-02-01",
            "provisional": True,
            "region_override": None,
        }
    ]
    assert case.allowed_actions == (
        "record_evidence",
        "record_inquiry",
        "take_measure",
        "record_legal_review",
        "record_collective_discussion",
        "dismiss",
    )


@pytest.mark.parametrize(
    ("overrides", "pointer", "rule"),
    [
        ({"officers": OFFICERS[:1]}, "/officers", "two-officers"),
        ({"officers": [OFFICERS[0], {**OFFICERS[1], "certificate_no": "43010001"}]}, "/officers", "two-officers"),
        ({"violation_date": date(2024, 11, 1)}, "/violation_date", "limitation-period"),
        ({"violation_date": date(2026, 12, 1)}, "/violation_date", "not-after-filing"),
        ({"party": {**ENTERPRISE, "code": "91430281MA4L12345X"}}, "/party/code", "uscc"),
        (
            {"party": {"kind": "natural_person", "name": "黄小明", "code": "430281198001011235"}},
            "/party/code",
            "resident-id",
        ),
        ({"agency": {**AGENCY, "code": "11430281MB12345670"}}, "/agency/code", "uscc"),
    ],
)
def test_filing_rules(overrides: dict[str, Any], pointer: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        filed(**overrides)
    assert (refused.value.pointer, refused.value.rule) == (pointer, rule)


def test_harm_extends_the_limitation_period_to_five_years() -> None:
    assert filed(violation_date=date(2024, 11, 1), harm_caused=True).status == "filed"
    with pytest.raises(RuleViolation):
        filed(violation_date=date(2021, 11, 1), harm_caused=True)


def test_a_decided_case_takes_no_second_decision() -> None:
    case = reviewed()
    notify(case, 1, [{"kind": "fine", "amount_yuan": 30000}])
    decide(case, 1, [{"kind": "fine", "amount_yuan": 30000}])
    assert case.status == "decided" and case.version == 4
    with pytest.raises(IllegalTransition) as refused:
        decide(case, 1, [{"kind": "fine", "amount_yuan": 30000}])
    assert refused.value.allowed == ("record_service_consent", "serve_decision")  # after the decision: service


def test_review_rules() -> None:
    case = filed()
    with pytest.raises(RuleViolation) as no_opinion:
        case.record_legal_review(
            outcome="returned",
            reviewer={"name": "赵六"},
            opinion=" ",
            reviewed_on=date(2026, 11, 3),
            latest=LATEST,
            command_key="",
            command_fingerprint="",
        )
    assert no_opinion.value.rule == "opinion-required"
    with pytest.raises(RuleViolation) as not_independent:
        case.record_legal_review(
            outcome="passed",
            reviewer={"name": "李四"},
            opinion="",
            reviewed_on=date(2026, 11, 3),
            latest=LATEST,
            command_key="",
            command_fingerprint="",
        )
    assert not_independent.value.rule == "independent-reviewer"
    assert case.version == 1, "a refused command records nothing"


@pytest.mark.parametrize(
    ("penalties", "rule"),
    [
        ([{"kind": "fine", "amount_yuan": 1000}, {"kind": "fine", "amount_yuan": 2000}], "one-fine"),
        ([{"kind": "fine"}], "amount-required"),
        ([{"kind": "warning", "amount_yuan": 5}], "no-amount"),
    ],
)
def test_penalty_rules(penalties: list[Any], rule: str) -> None:
    case = reviewed()
    notify(case, 1, [{"kind": "fine", "amount_yuan": 3000}, {"kind": "warning"}])
    with pytest.raises(RuleViolation) as refused:
        decide(case, 1, penalties)
    assert refused.value.rule == rule


def _file(app: CaseApplication, key: str | None, summary: str = "事实") -> Case:
    request = FileCaseRequest.model_validate(
        {
            "agency": AGENCY,
            "party": ENTERPRISE,
            "violation_summary": summary,
            "violation_date": date(2026, 9, 1),
            "legal_basis": "依据",
            "officers": OFFICERS,
            "filed_on": date(2026, 11, 2),
        }
    )
    case, _ = app.file_case(OFFICER, request, key)
    return case


def _review(app: CaseApplication, case_id: Any, expected: int | None, key: str | None = None) -> tuple[Case, bool]:
    request = LegalReviewRequest.model_validate(
        {"outcome": "passed", "reviewer": {"name": "赵六"}, "reviewed_on": date(2026, 11, 3)}
    )
    return app.command(OFFICER, case_id, "record_legal_review", request, key, expected)


def test_stale_if_match_is_refused_with_the_current_version(cases: CaseApplication) -> None:
    case = _file(cases, None)
    with pytest.raises(StaleVersion) as stale:
        _review(cases, case.id, expected=2)
    assert (stale.value.expected, stale.value.current) == (2, 1)
    assert cases.get_case(case.id).version == 1
    assert _review(cases, case.id, expected=1)[0].version == 2


def test_a_retried_command_gets_the_first_result(cases: CaseApplication) -> None:
    first = _file(cases, "file-1")
    again = _file(cases, "file-1")
    assert again.id == first.id and len(cases.history(OFFICER, first.id)) == 1
    with pytest.raises(IdempotencyConflict):
        _file(cases, "file-1", summary="不同的事实")
    reviewed_case, replayed = _review(cases, first.id, expected=1, key="review-1")
    retried, replayed_again = _review(cases, first.id, expected=1, key="review-1")  # stale If-Match, same key
    assert (replayed, replayed_again) == (False, True)
    assert retried.version == reviewed_case.version == 2 and len(cases.history(OFFICER, first.id)) == 2
