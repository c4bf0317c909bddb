"""The catalogue shipped under rules/: it loads and validates, its rule changes take
effect on their dates (应急管理部令第18号 from 2026-02-01, 信用修复管理办法 from
2026-04-01, the serious tier from 2023-05-01), and its deadlines record their rule."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.common.rules import (
    DEFAULT_RULES_DIR,
    Catalogue,
    Kind,
    RuleNotConfigured,
    TierTable,
    Yuan,
    load_catalogue,
)

CHINA = ZoneInfo("Asia/Shanghai")
FAMILIES = {
    "offences",
    "emergency_management",
    "no_penalty",
    "procedure",
    "publication",
    "referral",
    "short_periods",
    "surcharge",
    "work_safety_fines",
}
# What DOMAIN.md marks *to confirm* (or leaves to the agency): overridable per region.
TO_CONFIRM = {
    "case.decision_due.extension",  # the sector rule's extensions
    "legal_review.threshold.individual",  # provinces may set their own
    "legal_review.threshold.unit",
    "referral.police_filing_decision.complex",  # longer tiers for complex cases
    "publication.work_safety_min_months",  # local 1-year minimum
    "publication.paused_by_appeal",  # reconsideration or suit does not pause publication
    "publication.other_decision_period",  # DOMAIN.md gives no period for other decisions
    "prior_notice.statement_window",  # set by the agency
    # 行政处罚法第八十五条: short periods as working days
    "investigation.preservation_decision",
    "hearing.request_within",
    "hearing.notice_before",
    "service.absent_party",
    "publication.withdrawal_within",
    "no_penalty.first_offence_list",  # the province issues its list
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(DEFAULT_RULES_DIR)


def test_the_shipped_catalogue_loads_and_validates(catalogue: Catalogue) -> None:
    assert {path.stem for path in DEFAULT_RULES_DIR.glob("*.yaml")} == FAMILIES
    rules = catalogue.rules()
    assert len(rules) == 59
    for rule in rules:
        assert catalogue.source_file(rule.id).stem in FAMILIES
        for version in rule.versions:
            assert version.statute
    assert {r.id for r in rules if any(v.to_confirm for v in r.versions)} == TO_CONFIRM
    # Working days are the official calendar's for 2026 only; 2027 is not published yet.
    assert catalogue.calendar.provisional_years(2026, 2027) == [2027]


def test_every_rule_in_force_today_lists_its_source_and_dates(catalogue: Catalogue) -> None:
    in_force = catalogue.in_force_on(date(2026, 12, 1))
    assert len(in_force) == 59  # every rule has one version in force today
    decision_due = next(rule for rule in in_force if rule.rule_id == "case.decision_due")
    assert (decision_due.statute, decision_due.article) == ("中华人民共和国行政处罚法（2021年修订）", "第六十条")
    tiers = next(rule for rule in in_force if rule.rule_id == "publication.tiers")
    assert (tiers.rule_version, tiers.effective_from, tiers.statute) == (3, date(2026, 4, 1), "信用修复管理办法")


def test_the_sector_rule_changes_on_2026_02_01(catalogue: Catalogue) -> None:
    before = catalogue.procedural("legal_review.threshold.unit", date(2026, 1, 31))
    after = catalogue.procedural("legal_review.threshold.unit", date(2026, 2, 1))
    assert (before.rule_version, before.statute, before.effective_to) == (
        1,
        "安全生产违法行为行政处罚办法",
        date(2026, 2, 1),
    )
    assert (after.rule_version, after.statute, after.effective_from) == (2, "应急管理部令第18号", date(2026, 2, 1))
    assert before.value == after.value == Yuan(yuan=50000)  # carried over until confirmed


def test_no_regional_override_is_shipped(catalogue: Catalogue) -> None:
    # Nothing is shipped under rules/overrides/: every region gets the national value.
    assert catalogue.procedural("legal_review.threshold.individual", date(2026, 3, 1), "430281").override is None


def test_the_minor_publication_tier_starts_on_2026_04_01(catalogue: Catalogue) -> None:
    before = catalogue.procedural("publication.tiers", date(2026, 3, 31))
    after = catalogue.procedural("publication.tiers", date(2026, 4, 1))
    assert isinstance(before.value, TierTable) and isinstance(after.value, TierTable)
    assert (before.rule_version, sorted(before.value.tiers)) == (2, ["general", "serious"])
    assert (after.rule_version, sorted(after.value.tiers)) == (3, ["general", "minor", "serious"])
    minor = catalogue.tier_deadlines(after, "minor", date(2026, 4, 1))
    # not published by default; if published, at most 3 months: Apr 1 + 3 months = Jul 1
    assert (minor.published_by_default, minor.ends_on.due_on) == (False, date(2026, 7, 1))
    assert (minor.ends_on.rule_id, minor.ends_on.rule_version) == ("publication.tiers", 3)
    with pytest.raises(LookupError, match="has no tier 'minor'"):
        catalogue.tier_deadlines(before, "minor", date(2026, 3, 31))


def test_the_serious_tier_minimum_changed_on_2023_05_01(catalogue: Catalogue) -> None:
    before = catalogue.procedural("publication.tiers", date(2023, 4, 30))
    after = catalogue.procedural("publication.tiers", date(2023, 5, 1))
    old = catalogue.tier_deadlines(before, "serious", date(2023, 4, 30))
    new = catalogue.tier_deadlines(after, "serious", date(2023, 5, 1))
    # 6 months to 3 years before: Apr 30 + 6 months = Oct 30 2023, + 36 months = Apr 30 2026
    assert (old.repair_from.due_on, old.ends_on.due_on, old.ends_on.rule_version) == (
        date(2023, 10, 30),
        date(2026, 4, 30),
        1,
    )
    # 1 to 3 years since: May 1 + 12 months = May 1 2024, + 36 months = May 1 2026 (a holiday; ends there)
    assert (new.repair_from.due_on, new.ends_on.due_on, new.ends_on.rule_version) == (
        date(2024, 5, 1),
        date(2026, 5, 1),
        2,
    )


def test_deadlines_from_the_shipped_rules_record_their_rule(catalogue: Catalogue) -> None:
    # filed Jul 3 + 90 days = Oct 1 (国庆) -> Thu Oct 8
    decision = catalogue.procedural_deadline("case.decision_due", date(2026, 7, 3))
    assert (decision.due_on, decision.rule_id, decision.rule_version, decision.provisional) == (
        date(2026, 10, 8),
        "case.decision_due",
        1,
        False,
    )
    # decided Sep 24: Sep 28-30 = 1-3, Oct 8 = 4, 9 = 5, Oct 10 (Sat, make-up) = 6, Oct 12 = 7
    publish = catalogue.procedural_deadline("publication.penalty_publish_within", date(2026, 9, 24))
    assert (publish.due_on, publish.provisional) == (date(2026, 10, 12), False)
    # decided Dec 28: Dec 29-31 = 1-3, then 2027 on Mon-Fri: Jan 1 = 4, 4 = 5, 5 = 6, Jan 6 = 7, provisional
    late = catalogue.procedural_deadline("publication.penalty_publish_within", date(2026, 12, 28))
    assert (late.due_on, late.provisional, late.provisional_years) == (date(2027, 1, 6), True, (2027,))
    # approved Sep 30 16:30: dispatch to the police within 24 hours, Oct 1 16:30 (a holiday: hours do not move)
    dispatch = catalogue.procedural_deadline("referral.dispatch", datetime(2026, 9, 30, 16, 30, tzinfo=CHINA))
    assert dispatch.due_at == datetime(2026, 10, 1, 16, 30, tzinfo=CHINA)
    assert (dispatch.due_on, dispatch.trigger_on, dispatch.counting.value) == (
        date(2026, 10, 1),
        date(2026, 9, 30),
        "hours",
    )
    # hearing on Mon Oct 12: notify 7 working days before at the latest, Sep 24
    notice = catalogue.procedural_deadline("hearing.notice_before", date(2026, 10, 12))
    assert (notice.due_on, notice.direction.value) == (date(2026, 9, 24), "before")
    # the police's filing decision counts from receipt, not from the referral date: received Apr 2 -> Apr 7
    police = catalogue.procedural_deadline("referral.police_filing_decision", date(2026, 4, 2))
    assert police.due_on == date(2026, 4, 7)


def test_a_rule_the_legal_office_has_not_valued_yet_says_so(catalogue: Catalogue) -> None:
    with pytest.raises(RuleNotConfigured, match=r"case\.decision_due\.extension v2 has no national value"):
        catalogue.procedural_deadline("case.decision_due.extension", date(2026, 10, 8))


def test_substantive_rules_are_chosen_by_the_violation_date(catalogue: Catalogue) -> None:
    limitation = catalogue.substantive("case.limitation", date(2025, 6, 1), date(2026, 3, 1))
    assert (limitation.kind, limitation.selection, limitation.rule_version) == (Kind.SUBSTANTIVE, "in_force", 1)
    fine = catalogue.substantive("worksafety.unit_accident_fine.general", date(2026, 1, 5), date(2026, 3, 1))
    assert (fine.article, fine.value) == (
        "第一百一十四条第一款第（一）项",
        catalogue.rule("worksafety.unit_accident_fine.general").versions[0].value,
    )
