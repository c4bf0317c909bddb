"""The rules catalogue's loader and selection (services/common/rules.py) on small
catalogues written for each test: refusal of invalid and overlapping catalogues, 从旧兼从轻,
regional overrides, deadlines recording their rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.common.rules import (
    CatalogueError,
    Days,
    Flag,
    Lighter,
    Months,
    NoRuleInForce,
    Percent,
    RuleNotConfigured,
    RulesSettings,
    TierPeriod,
    TierTable,
    Value,
    WorkingDays,
    WrongKindOfRule,
    Yuan,
    YuanRange,
    is_lighter,
    load_catalogue,
    load_configured_catalogue,
    region_chain,
)

FINES = """\
family: fines
title: 测试用罚款规则
rules:
  - id: test.fine
    name: 测试罚款幅度
    kind: substantive
    versions:
      - version: 1
        statute: 旧规定
        article: 第一条
        value: {yuan_from: 20000, yuan_to: 50000}
        counting: null
        effective_from: null
        effective_to: 2026-02-01
        to_confirm: false
      - version: 2
        statute: 新规定
        article: 第一条
        value: NEWER
        counting: null
        effective_from: 2026-02-01
        effective_to: null
        to_confirm: false
"""

PERIODS = """\
family: periods
title: 测试用期限规则
rules:
  - id: test.decision_due
    name: 测试决定期限
    kind: procedural
    trigger: 立案之日
    versions:
      - version: 1
        statute: 程序规定
        article: 第二条
        value: {days: 90}
        counting: calendar_days
        effective_from: null
        effective_to: null
        to_confirm: false
  - id: test.threshold
    name: 测试法制审核标准
    kind: procedural
    versions:
      - version: 1
        statute: 部门规章
        article: null
        value: {yuan: 50000}
        counting: null
        effective_from: null
        effective_to: null
        to_confirm: true
  - id: test.withdrawal
    name: 测试撤回期限
    kind: procedural
    versions:
      - version: 1
        statute: 行政处罚法
        article: 第四十八条
        value: {working_days: 3}
        counting: working_days
        effective_from: null
        effective_to: null
        to_confirm: true
  - id: test.unset
    name: 测试无全国值
    kind: procedural
    versions:
      - version: 1
        statute: 地方规定
        article: null
        value: null
        counting: null
        effective_from: null
        effective_to: null
        to_confirm: true
"""


def _catalogue_dir(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "rules"
    for name, text in files.items():
        file = directory / f"{name}.yaml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return directory


# -- refusing a catalogue ---------------------------------------------------------------


def test_two_overlapping_versions_of_one_rule_refuse_to_load_naming_file_and_rule(tmp_path: Path) -> None:
    overlapping = FINES.replace("value: NEWER", "value: {yuan_from: 10000, yuan_to: 50000}").replace(
        "effective_from: 2026-02-01", "effective_from: 2026-01-15"
    )
    directory = _catalogue_dir(tmp_path, fines=overlapping)
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(directory)
    message = str(refused.value)
    assert f"{directory / 'fines.yaml'}: rule test.fine:" in message
    assert "versions 1 (open to 2026-02-01) and 2 (2026-01-15 to open) overlap" in message
    assert refused.value.rule_id == "test.fine"
    assert refused.value.file == directory / "fines.yaml"


def test_two_open_ended_versions_overlap_too(tmp_path: Path) -> None:
    open_ended = FINES.replace("value: NEWER", "value: {yuan_from: 1, yuan_to: 2}").replace(
        "effective_to: 2026-02-01", "effective_to: null"
    )
    with pytest.raises(CatalogueError, match=r"fines\.yaml: rule test\.fine: .*overlap"):
        load_catalogue(_catalogue_dir(tmp_path, fines=open_ended))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("value: {days: 90}", "value: {dayz: 90}"), "value must be a mapping with one of"),
        (("counting: calendar_days", "counting: working_days"), "a days value counts as calendar_days"),
        (("effective_to: null\n        to_confirm: false", "effective_to: null\n"), "to_confirm: Field required"),
        (("statute: 程序规定", "statute: ''"), "statute: String should have at least 1 character"),
        (("article: 第二条", "artcle: 第二条"), "Extra inputs are not permitted"),
        (("kind: procedural\n    trigger", "kind: procedure\n    trigger"), "kind: Input should be"),
    ],
)
def test_an_invalid_rule_refuses_to_load_naming_file_and_rule(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    directory = _catalogue_dir(tmp_path, periods=PERIODS.replace(*change, 1))
    with pytest.raises(CatalogueError, match=rf"periods\.yaml: rule test\.decision_due: .*{message}"):
        load_catalogue(directory)


def test_a_rule_without_a_value_must_be_to_confirm(tmp_path: Path) -> None:
    head, tail = PERIODS.rsplit("to_confirm: true", 1)  # test.unset is the last rule
    directory = _catalogue_dir(tmp_path, periods=f"{head}to_confirm: false{tail}")
    with pytest.raises(CatalogueError, match=r"rule test\.unset: .*only a rule marked to_confirm may have no value"):
        load_catalogue(directory)


def test_one_rule_id_in_two_files_refuses_to_load(tmp_path: Path) -> None:
    directory = _catalogue_dir(tmp_path, a_periods=PERIODS, b_more=PERIODS.replace("family: periods", "family: more"))
    with pytest.raises(CatalogueError, match=r"b_more\.yaml: rule test\.decision_due: is defined twice: .*a_periods"):
        load_catalogue(directory)


def test_a_file_that_is_not_yaml_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"periods\.yaml: cannot be read as YAML"):
        load_catalogue(_catalogue_dir(tmp_path, periods="rules: [unclosed"))


def test_a_substantive_period_rule_must_say_what_is_lighter(tmp_path: Path) -> None:
    months = "value: {months: MONTHS}\n        counting: calendar_months_exact"
    text = FINES.replace("value: {yuan_from: 20000, yuan_to: 50000}\n        counting: null", months)
    text = (
        text.replace("value: NEWER\n        counting: null", months).replace("MONTHS", "24", 1).replace("MONTHS", "12")
    )
    with pytest.raises(CatalogueError, match=r"rule test\.fine: .*must say which is lighter"):
        load_catalogue(_catalogue_dir(tmp_path, fines=text))


# -- 从旧兼从轻 ----------------------------------------------------------------------------


def _fines(tmp_path: Path, newer: str) -> Path:
    return _catalogue_dir(tmp_path, fines=FINES.replace("value: NEWER", f"value: {newer}"))


def test_substantive_rule_keeps_the_older_version_unless_the_newer_is_lighter(tmp_path: Path) -> None:
    # The newer range has a lower minimum and the same maximum: lighter, so it applies.
    lighter = load_catalogue(_fines(tmp_path / "lighter", "{yuan_from: 10000, yuan_to: 50000}"))
    chosen = lighter.substantive("test.fine", violation_date=date(2026, 1, 10), decision_date=date(2026, 3, 1))
    assert (chosen.rule_version, chosen.selection, chosen.statute) == (2, "newer_is_lighter", "新规定")
    assert chosen.value == YuanRange(yuan_from=10000, yuan_to=50000)

    # The newer range has a higher maximum: heavier, so the rule at the violation date applies.
    heavier = load_catalogue(_fines(tmp_path / "heavier", "{yuan_from: 10000, yuan_to: 100000}"))
    chosen = heavier.substantive("test.fine", violation_date=date(2026, 1, 10), decision_date=date(2026, 3, 1))
    assert (chosen.rule_version, chosen.selection, chosen.statute) == (1, "older", "旧规定")

    # The same values: the older (从旧).
    same = load_catalogue(_fines(tmp_path / "same", "{yuan_from: 20000, yuan_to: 50000}"))
    assert same.substantive("test.fine", date(2026, 1, 10), date(2026, 3, 1)).rule_version == 1

    # A violation after the change has only the newer rule.
    chosen = heavier.substantive("test.fine", violation_date=date(2026, 2, 1), decision_date=date(2026, 3, 1))
    assert (chosen.rule_version, chosen.selection) == (2, "in_force")


def test_substantive_and_procedural_selection_are_not_interchangeable(tmp_path: Path) -> None:
    fines = FINES.replace("NEWER", "{yuan_from: 1, yuan_to: 2}")
    catalogue = load_catalogue(_catalogue_dir(tmp_path, fines=fines, periods=PERIODS))
    with pytest.raises(WrongKindOfRule):
        catalogue.procedural("test.fine", date(2026, 3, 1))
    with pytest.raises(WrongKindOfRule):
        catalogue.substantive("test.decision_due", date(2026, 3, 1), date(2026, 3, 1))


@pytest.mark.parametrize(
    ("newer", "older", "lighter", "expected"),
    [
        (Yuan(yuan=10000), Yuan(yuan=20000), None, True),  # lower amount
        (Yuan(yuan=20000), Yuan(yuan=20000), None, False),  # equal: the older applies
        (YuanRange(yuan_from=30000, yuan_to=40000), YuanRange(yuan_from=20000, yuan_to=50000), None, True),  # max
        (YuanRange(yuan_from=10000, yuan_to=60000), YuanRange(yuan_from=20000, yuan_to=50000), None, False),
        (YuanRange(yuan_from=10000, yuan_to=50000), YuanRange(yuan_from=20000, yuan_to=50000), None, True),  # min
        (Percent(percent=Decimal(30)), Percent(percent=Decimal(40)), None, True),
        (Months(months=12), Months(months=24), Lighter.SHORTER, True),  # shorter limitation
        (Days(days=20), Days(days=15), Lighter.LONGER, True),  # longer time granted to the party
        (Days(days=20), Days(days=15), Lighter.SHORTER, False),
        (Days(days=20), WorkingDays(working_days=15), Lighter.SHORTER, False),  # different kinds never compare
        (Flag(flag=False), Flag(flag=True), None, False),
        (
            TierTable(tiers={"serious": TierPeriod(published_by_default=True, min_months=6, max_months=36)}),
            TierTable(tiers={"serious": TierPeriod(published_by_default=True, min_months=12, max_months=36)}),
            None,
            True,  # same maximum, shorter minimum
        ),
        (
            TierTable(tiers={"serious": TierPeriod(published_by_default=True, min_months=6, max_months=48)}),
            TierTable(tiers={"serious": TierPeriod(published_by_default=True, min_months=12, max_months=36)}),
            None,
            False,  # longer maximum outweighs the shorter minimum
        ),
    ],
)
def test_what_lighter_means_per_kind_of_value(
    newer: Value, older: Value, lighter: Lighter | None, expected: bool
) -> None:
    assert is_lighter(newer, older, lighter) is expected


# -- regional overrides -----------------------------------------------------------------

HUNAN = """\
region: "430000"
name: 湖南省
overrides:
  - rule: test.threshold
    value: {yuan: 100000}
    source: 湖南省测试规定（湘应急〔2026〕1号）
    effective_from: 2026-01-01
    effective_to: null
  - rule: test.withdrawal
    value: {days: 3}
    source: 湖南省测试规定（湘应急〔2026〕1号）
    effective_from: null
    effective_to: null
  - rule: test.unset
    value: {months: 12}
    source: 湖南省测试规定（湘应急〔2026〕1号）
    effective_from: null
    effective_to: null
"""

LILING = """\
region: "430281"
name: 醴陵市
overrides:
  - rule: test.threshold
    value: {yuan: 80000}
    source: 醴陵市测试规定
    effective_from: 2026-06-01
    effective_to: null
"""


def _with_overrides(tmp_path: Path, **overrides: str) -> Path:
    directory = _catalogue_dir(tmp_path, periods=PERIODS)
    for name, text in overrides.items():
        (directory / "overrides").mkdir(exist_ok=True)
        (directory / "overrides" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


def test_a_region_override_applies_to_the_regions_under_it_from_its_date(tmp_path: Path) -> None:
    catalogue = load_catalogue(_with_overrides(tmp_path, hunan=HUNAN, liling=LILING))
    national = catalogue.procedural("test.threshold", date(2026, 3, 1), region="110000")
    assert (national.value, national.override) == (Yuan(yuan=50000), None)
    before = catalogue.procedural("test.threshold", date(2025, 12, 31), region="430281")
    assert before.value == Yuan(yuan=50000)
    province = catalogue.procedural("test.threshold", date(2026, 3, 1), region="430281")
    assert province.value == Yuan(yuan=100000)
    assert province.override is not None and province.override.region == "430000"
    county = catalogue.procedural("test.threshold", date(2026, 6, 1), region="430281")
    assert county.value == Yuan(yuan=80000)  # the most specific override in force wins
    assert county.override is not None and county.override.source == "醴陵市测试规定"
    other_county = catalogue.procedural("test.threshold", date(2026, 6, 1), region="430202")
    assert other_county.value == Yuan(yuan=100000)


def test_an_override_can_count_a_short_period_as_calendar_days(tmp_path: Path) -> None:
    catalogue = load_catalogue(_with_overrides(tmp_path, hunan=HUNAN))
    # national: 3 working days from Fri Sep 18 -> Sep 20 (Sun, make-up)=1, 21=2, 22=3
    national = catalogue.procedural_deadline("test.withdrawal", date(2026, 9, 18))
    assert (national.due_on, national.region_override) == (date(2026, 9, 22), None)
    # Hunan: 3 calendar days from Fri Sep 18 -> Mon Sep 21, a working day
    local = catalogue.procedural_deadline("test.withdrawal", date(2026, 9, 18), region="430281")
    assert (local.due_on, local.region_override, local.counting.value) == (date(2026, 9, 21), "430000", "calendar_days")


def test_a_rule_without_a_national_value_needs_its_region_to_set_one(tmp_path: Path) -> None:
    catalogue = load_catalogue(_with_overrides(tmp_path, hunan=HUNAN))
    with pytest.raises(RuleNotConfigured, match=r"test\.unset v1 has no national value"):
        catalogue.procedural_deadline("test.unset", date(2026, 3, 2), region="110000")
    # Hunan: 12 months from Mar 2 -> Tue 2027-03-02; 2027 has no calendar, so it is provisional
    deadline = catalogue.procedural_deadline("test.unset", date(2026, 3, 2), region="430281")
    assert (deadline.due_on, deadline.provisional, deadline.provisional_years) == (date(2027, 3, 2), True, (2027,))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (HUNAN.replace("rule: test.threshold", "rule: test.decision_due"), "not marked to_confirm"),
        (HUNAN.replace("rule: test.threshold", "rule: test.nothing"), "no such rule in the catalogue"),
        (HUNAN.replace("value: {yuan: 100000}", "value: {days: 3}"), "days value cannot replace"),
        (HUNAN.replace('region: "430000"', 'region: "43"'), "String should match pattern"),
    ],
)
def test_an_invalid_override_refuses_to_load(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=rf"overrides/hunan\.yaml.*{message}"):
        load_catalogue(_with_overrides(tmp_path, hunan=override))


def test_a_rule_counted_back_takes_only_day_overrides(tmp_path: Path) -> None:
    withdrawal = "    kind: procedural\n    versions:\n      - version: 1\n        statute: 行政处罚法"
    counted_back = PERIODS.replace(withdrawal, withdrawal.replace("versions:", "direction: before\n    versions:"))
    override = HUNAN.replace(
        "rule: test.withdrawal\n    value: {days: 3}", "rule: test.withdrawal\n    value: {months: 1}"
    )
    directory = _catalogue_dir(tmp_path, periods=counted_back)
    assert load_catalogue(directory).rule("test.withdrawal").direction.value == "before"
    (directory / "overrides").mkdir()
    (directory / "overrides" / "hunan.yaml").write_text(override, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"hunan\.yaml: rule test\.withdrawal: a rule counted back"):
        load_catalogue(directory)


def test_two_overlapping_overrides_of_one_rule_for_one_region_refuse_to_load(tmp_path: Path) -> None:
    second = LILING.replace('region: "430281"', 'region: "430000"').replace("name: 醴陵市", "name: 湖南省")
    with pytest.raises(CatalogueError, match=r"overrides/hunan_2\.yaml: rule test\.threshold: .*overlaps"):
        load_catalogue(_with_overrides(tmp_path, hunan=HUNAN, hunan_2=second))


def test_region_chain() -> None:
    assert region_chain("430281") == ["430281", "430200", "430000"]
    assert region_chain("430000") == ["430000"]


# -- dates and settings -----------------------------------------------------------------


def test_no_version_in_force_is_an_error_naming_the_versions(tmp_path: Path) -> None:
    gap = FINES.replace("value: NEWER", "value: {yuan_from: 1, yuan_to: 2}").replace(
        "effective_from: 2026-02-01", "effective_from: 2026-03-01"
    )
    catalogue = load_catalogue(_catalogue_dir(tmp_path, fines=gap))
    with pytest.raises(NoRuleInForce, match=r"no version of test\.fine is in force on 2026-02-15"):
        catalogue.substantive("test.fine", date(2026, 2, 15), date(2026, 4, 1))


def test_the_catalogue_directory_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _with_overrides(tmp_path, hunan=HUNAN)
    monkeypatch.setenv("RULES_DIR", str(directory))
    settings = RulesSettings()
    assert settings.rules_dir == directory
    assert settings.overrides_dir() == directory / "overrides"
    catalogue = load_configured_catalogue()
    expected = ["test.decision_due", "test.threshold", "test.unset", "test.withdrawal"]
    assert [rule.id for rule in catalogue.rules()] == expected
    monkeypatch.setenv("RULES_OVERRIDES_DIR", str(tmp_path / "nowhere"))
    assert load_configured_catalogue().procedural("test.threshold", date(2026, 3, 1), "430000").override is None


def test_a_missing_catalogue_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "absent")
