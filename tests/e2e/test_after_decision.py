"""The procedure after the decision over HTTP with the real services (issue 12), on
PostgreSQL and on SQLite: a 一案双罚 case served, the unit paying, the principal reminded
and taken to court, the case closed, archived and annotated; the ledger per respondent
and the history as an auditor reads them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.demo import run_after_decision
from devtools.launcher import LocalSystem
from services.common import event_types as types
from tests.conftest import running_system

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    with running_system(tmp_path_factory.mktemp(request.param), server) as running:
        yield running


def test_the_demos_two_respondents_to_archive(system: LocalSystem) -> None:
    urls = {name: system.url(name) for name in ("case", "referral", "disclosure", "notification")}
    result = run_after_decision(urls, system.auth, timeout=90)
    entry = result.ledger_entry
    assert (entry["status"], entry["allowed_actions"]) == ("archived", ["annotate"])
    assert entry["closed_on"] and entry["archived_on"] and not entry["deadlines"]
    unit, principal = entry["respondents"]
    # The unit: served on the spot, its 10,000 paid within the period, no surcharge.
    assert (unit["state"], unit["service_method"], unit["fine_total_yuan"], unit["paid_fen"]) == (
        "paid",
        "on_the_spot",
        10_000,
        1_000_000,
    )
    assert (unit["outstanding_fen"], unit["enforcement_status"], unit["remedy_status"]) == (0, "none", "none")
    # The principal: nothing paid; the court recovered the 5,000 and the surcharge at its cap.
    assert (principal["state"], principal["paid_fen"], principal["recovered_fen"]) == ("enforced", 0, 1_000_000)
    assert (principal["enforcement_status"], principal["outstanding_fen"]) == ("granted", 0)
    assert unit["allowed_actions"] == principal["allowed_actions"] == []
    after = [
        e["type"]
        for e in result.history
        if e["type"] not in (types.CASE_PRIOR_NOTICE_SERVED, types.CASE_STATEMENT_RECORDED, types.CASE_PENALTY_DECIDED)
        and e["type"].startswith("cn.caseledger.case.")
        and not e["type"].startswith("cn.caseledger.case.deadline_")
    ]
    assert after == [
        types.CASE_FILED,
        types.CASE_DECISION_SERVED,
        types.CASE_DECISION_SERVED,
        types.CASE_PAYMENT_RECORDED,
        types.CASE_REMINDER_SERVED,
        types.CASE_COURT_APPLIED,
        types.CASE_COURT_RULED,
        types.CASE_CLOSED,
        types.CASE_ARCHIVED,
        types.CASE_ANNOTATED,
    ]
    assert all(e["data"]["actor"]["subject"] for e in result.history)
