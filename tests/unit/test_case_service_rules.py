"""The case service and the rules catalogue: it refuses to start on a catalogue that is
invalid or overlaps (naming the file and the rule), serves the catalogue as GET /v1/rules
shows it, and warns in /readyz of calendar years still guessed."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from services.case.application import CaseApplication, CaseSettings
from services.case.main import create_app
from services.common.rules import DEFAULT_RULES_DIR, CatalogueError, RulesSettings, load_catalogue
from services.infra.errors import InvalidInput, NotFound
from services.infra.pagination import list_page

OVERLAPPING = """\
family: procedure
title: 重叠的版本
rules:
  - id: case.decision_due
    name: 九十日
    kind: procedural
    versions:
      - version: 1
        statute: 旧法
        article: null
        value: {days: 90}
        counting: calendar_days
        effective_from: null
        effective_to: 2026-03-01
        to_confirm: false
      - version: 2
        statute: 新法
        article: null
        value: {days: 60}
        counting: calendar_days
        effective_from: 2026-02-01
        effective_to: null
        to_confirm: false
"""


def _settings(tmp_path: Path) -> CaseSettings:
    return CaseSettings(service_name="case", data_dir=tmp_path / "var")


def test_the_service_refuses_to_start_on_an_overlapping_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "procedure.yaml").write_text(OVERLAPPING, encoding="utf-8")
    monkeypatch.setenv("RULES_DIR", str(rules))
    with pytest.raises(
        CatalogueError, match=r"procedure\.yaml: rule case\.decision_due: .*versions 1 .* and 2 .* overlap"
    ):
        create_app(_settings(tmp_path))


def test_the_service_refuses_to_start_on_an_invalid_catalogue_or_a_missing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    broken = (rules / "referral.yaml").read_text(encoding="utf-8").replace("value: {hours: 24}", "value: {hours: -1}")
    (rules / "referral.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"referral\.yaml: rule referral\.dispatch: "):
        create_app(_settings(tmp_path), RulesSettings(rules_dir=rules))
    monkeypatch.setenv("RULES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(CatalogueError, match=r"nowhere: the rules catalogue directory does not exist"):
        create_app(_settings(tmp_path))


def test_the_catalogue_as_the_api_shows_it(cases: CaseApplication) -> None:
    every = cases.rules(None, "430281")
    assert len(every) == len(load_catalogue().rules()) >= 30
    tiers = next(r for r in every if r["id"] == "publication.tiers")
    assert tiers["file"] == "rules/publication.yaml"
    assert [(v["version"], v["effective_from"], v["effective_to"]) for v in tiers["versions"]] == [
        (1, None, date(2023, 5, 1)),
        (2, date(2023, 5, 1), date(2026, 4, 1)),
        (3, date(2026, 4, 1), None),
    ]
    decision = cases.rule("case.decision_due", None, None)
    assert decision["versions"][0]["statute"] == "中华人民共和国行政处罚法（2021年修订）"
    assert decision["versions"][0]["article"] == "第六十条"
    assert decision["versions"][0]["value"] == {"days": 90}
    # On a date: only the version in force then.
    before = cases.rule("publication.tiers", date(2026, 3, 31), None)
    after = cases.rule("publication.tiers", date(2026, 4, 1), None)
    assert [v["version"] for v in before["versions"]] == [2] and [v["version"] for v in after["versions"]] == [3]
    assert all(len(r["versions"]) == 1 for r in cases.rules(date(2026, 4, 1), "430281"))
    with pytest.raises(NotFound, match=r"no rule nothing\.here"):
        cases.rule("nothing.here", None, None)


def test_the_rules_list_is_paged_by_rule_id() -> None:
    items = [{"id": f"r{i:02}"} for i in range(7)]
    first, cursor = list_page(items, lambda r: r["id"], 3, None)
    second, cursor2 = list_page(items, lambda r: r["id"], 3, cursor)
    third, end = list_page(items, lambda r: r["id"], 3, cursor2)
    assert [r["id"] for r in first + second + third] == [f"r{i:02}" for i in range(7)] and end is None
    with pytest.raises(InvalidInput):
        list_page(items, lambda r: r["id"], 3, "bm90LWEtY3Vyc29y")


def test_readyz_warns_of_provisional_calendar_years(cases: CaseApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK_TODAY", "2026-06-01")
    warnings = cases.provisional_year_warnings()
    # chinesecalendar 1.11.0 knows 2026; 2027 and 2028 have no list under rules/calendar/.
    assert [w.split(":")[0] for w in warnings] == ["calendar 2027", "calendar 2028"]
