"""Statutory clocks end to end (issue 10), over real HTTP against the whole system as
processes: the rules catalogue as GET /v1/rules shows it; the decision deadline in the
ledger with its rule; with the case service's clock moved forward (CLOCK_TODAY),
`deadline approaching` and `deadline missed` recorded once each in the case's history,
still once after the case service is killed and restarted, none for a case decided in time;
the referral's and the publication's deadline events delivered once each, signed, to a
webhook subscriber by the notification service, across restarts of the services that
record them.

One system (tests/e2e/conftest.py, shared with the referral lifecycle test), started with
business "today" fixed at 2026-05-01.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from devtools.demo import (
    AGENCY,
    ENTERPRISE,
    OFFICERS,
    POLICE,
    case_unknown_to_referral,
    dispatch_request,
    eventually,
    head_approval_request,
    legal_review_request,
    penalty_decision_request,
    prior_notice_request,
    referral_request,
    waiver_request,
)
from devtools.launcher import LocalSystem
from devtools.webhooks import WebhookReceiver
from services.common.rules import load_catalogue

pytestmark = pytest.mark.e2e
APPROACHING, MISSED = "cn.caseledger.case.deadline_approaching.v1", "cn.caseledger.case.deadline_missed.v1"
# Filed Monday 2026-03-02: day 1 is 03-03; 29 days to 03-31 (day 29), 30 to 04-30 (day 59),
# 31 to 05-31 (day 90), a Sunday: due Monday 2026-06-01.
FILED_ON, DUE_ON = "2026-03-02", "2026-06-01"
# 3 working days before Monday 06-01: Fri 05-29 (1), Thu 05-28 (2), Wed 05-27 (3).
IN_THE_LEAD = "2026-05-27"
AFTER_THE_DUE_DATE = "2026-06-02"


@pytest.fixture(scope="module")
def system(clocked_system: LocalSystem) -> LocalSystem:
    return clocked_system  # tests/e2e/conftest.py: business "today" fixed, moved by restarts


def _file(client: httpx.Client, system: LocalSystem, summary: str) -> str:
    body = {
        "agency": AGENCY,
        "party": ENTERPRISE,
        "violation_summary": summary,
        "violation_date": "2026-02-20",
        "legal_basis": "《安全生产法》第九十七条",
        "officers": OFFICERS,
        "filed_on": FILED_ON,
    }
    response = client.post("/v1/cases", json=body, headers=system.auth("officer", AGENCY))
    assert response.status_code == 201, response.text
    case_id: str = response.json()["id"]
    return case_id


def _deadline_events(client: httpx.Client, system: LocalSystem, case_id: str) -> list[str]:
    history = client.get(f"/v1/cases/{case_id}/history", headers=system.auth("auditor", AGENCY)).json()
    return [e["type"] for e in history if e["type"] in (APPROACHING, MISSED)]


def _ledger(client: httpx.Client, system: LocalSystem, **params: Any) -> set[str]:
    page = client.get("/v1/cases", params={"limit": 200, **params}, headers=system.auth("auditor", AGENCY)).json()
    return {item["case_id"] for item in page["items"]}


def test_the_rules_catalogue_is_served_to_every_role(system: LocalSystem) -> None:
    client = httpx.Client(base_url=system.url("case"), timeout=30)
    integration = system.auth("integration", AGENCY)
    rules, cursor = [], None
    while True:
        page = client.get(
            "/v1/rules", params={"limit": 10, **({"cursor": cursor} if cursor else {})}, headers=integration
        )
        assert page.status_code == 200, page.text
        rules += page.json()["items"]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert [r["id"] for r in rules] == [r.id for r in load_catalogue().rules()]
    for rule in rules:
        assert rule["file"].startswith("rules/") and rule["versions"]
        for version in rule["versions"]:
            assert version["statute"] and {"article", "effective_from", "effective_to", "value"} <= set(version)
    tiers = client.get("/v1/rules/publication.tiers", params={"on": "2026-03-31"}, headers=integration).json()
    assert [(v["version"], v["effective_to"]) for v in tiers["versions"]] == [(2, "2026-04-01")]
    bad_date = client.get("/v1/rules", params={"on": "2026-02-30"}, headers=integration)
    assert bad_date.status_code == 422 and bad_date.headers["content-type"] == "application/problem+json"
    assert bad_date.json()["errors"][0]["pointer"] == "on"
    unknown = client.get("/v1/rules/no.such_rule", headers=integration)
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    assert client.get("/v1/rules").status_code == 401
    ready = client.get("/readyz").json()
    assert ready["ready"] and any(w.startswith("calendar 2027") for w in ready["warnings"])


def test_deadlines_are_recorded_once_also_after_restarts_and_none_when_met(system: LocalSystem) -> None:
    client = httpx.Client(base_url=system.url("case"), timeout=30)
    late = _file(client, system, "未按规定开展安全生产教育培训（逾期）")
    in_time = _file(client, system, "未按规定开展安全生产教育培训（按期）")
    # Decided in time: notified, the respondent waived, decided (test_case_procedure.py has the rules).
    for path, body, role in [
        ("prior-notice", prior_notice_request(1000, notified_on="2026-04-20"), "officer"),
        ("statements", waiver_request(received_on="2026-04-20"), "officer"),
        (
            "penalty-decision",
            penalty_decision_request(1000, agency_short_name="醴", decided_on="2026-04-28"),
            "agency_head",
        ),
    ]:
        answer = client.post(f"/v1/cases/{in_time}/respondents/1/{path}", json=body, headers=system.auth(role, AGENCY))
        assert answer.is_success, answer.text

    # The ledger entry of the filed case shows its decision deadline and the rule behind it.
    officer = system.auth("officer", AGENCY)
    entry = eventually(
        lambda: (r := client.get(f"/v1/cases/{late}", headers=officer)).is_success and r.json(), 60, "ledger"
    )
    assert entry["decision_due"] == DUE_ON
    assert [
        {k: d[k] for k in ("name", "due_on", "rule_id", "rule_version", "provisional", "overdue")}
        for d in entry["deadlines"]
    ] == [
        {
            "name": "decision",
            "due_on": DUE_ON,
            "rule_id": "case.decision_due",
            "rule_version": 1,
            "provisional": False,
            "overdue": False,
        }
    ]
    eventually(lambda: _ledger(client, system, status="decided") >= {in_time}, 60, "the decision in the ledger")
    assert late in _ledger(client, system, due_before="2026-06-02") and in_time not in _ledger(
        client, system, due_before="2026-06-02"
    )
    assert late not in _ledger(client, system, due_before=DUE_ON) and late not in _ledger(
        client, system, overdue="true"
    )

    system.extra_env["CLOCK_TODAY"] = IN_THE_LEAD
    system.restart("case")
    eventually(lambda: _deadline_events(client, system, late) == [APPROACHING], 60, "deadline approaching")

    system.extra_env["CLOCK_TODAY"] = AFTER_THE_DUE_DATE
    system.restart("case")
    eventually(lambda: _deadline_events(client, system, late) == [APPROACHING, MISSED], 60, "deadline missed")
    eventually(lambda: late in _ledger(client, system, overdue="true"), 60, "the overdue case in the ledger")
    overdue = client.get(f"/v1/cases/{late}", headers=officer).json()["deadlines"][0]
    assert overdue["overdue"] and overdue["approaching_recorded"] and overdue["missed_recorded"]

    # Killed and started again on the same day: its scheduler reads the history, records nothing new.
    system.restart("case")
    scheduled = eventually(
        lambda: client.get("/readyz").json().get("ready") and _deadline_events(client, system, late), 60, "restarted"
    )
    time.sleep(3)  # several scheduler rounds (every 0.5 s)
    assert scheduled == _deadline_events(client, system, late) == [APPROACHING, MISSED]
    assert _deadline_events(client, system, in_time) == []


REFERRAL_APPROACHING = "cn.caseledger.referral.deadline_approaching.v1"
REFERRAL_MISSED = "cn.caseledger.referral.deadline_missed.v1"
PUBLICATION_APPROACHING = "cn.caseledger.disclosure.deadline_approaching.v1"
PUBLICATION_MISSED = "cn.caseledger.disclosure.deadline_missed.v1"
# Received by the police Monday 2026-05-18: 05-19 (1), 05-20 (2), Thursday 05-21 (3): their
# filing decision is due 05-21; its lead (3 working days before) starts Mon 05-18 (Wed 20, Tue 19, Mon 18).
REFERRED_ON = "2026-05-18"
# Decided Wednesday 2026-05-20: Thu 21 (1), Fri 22 (2), Mon 25 (3), Tue 26 (4), Wed 27 (5),
# Thu 28 (6), Fri 05-29 (7): publish by 05-29; its lead starts Tue 05-26 (Thu 28, Wed 27, Tue 26).
DECIDED_ON, PUBLISH_BY = "2026-05-20", "2026-05-29"


def _move_clock(system: LocalSystem, today: str, *services: str) -> None:
    system.extra_env["CLOCK_TODAY"] = today
    system.restart_together(*services)


@pytest.mark.timeout(900)  # eight service restarts: over the default 300 s on a loaded machine
def test_referral_and_publication_deadline_events_reach_a_webhook_subscriber(system: LocalSystem) -> None:
    client = httpx.Client(timeout=30)
    _move_clock(system, "2026-05-01", "referral", "disclosure")
    # Credit China refuses every push for now, so the publication stays unpublished.
    assert client.post(system.url("credit_china") + "/_control/fail-next", json={"count": 10_000}).is_success
    with WebhookReceiver() as receiver:
        subscription = client.post(
            system.url("notification") + "/v1/subscriptions",
            json={
                "callback_url": receiver.url,
                "event_types": ["cn.caseledger.referral.deadline_*", "cn.caseledger.disclosure.deadline_*"],
                "description": "officers' reminders",
            },
            headers=system.auth("integration", AGENCY),
        )
        assert subscription.status_code == 201, subscription.text
        case = httpx.Client(base_url=system.url("case"), timeout=30)
        case_id = _file(case, system, "拒不执行重大事故隐患整改指令")
        assert case.post(
            f"/v1/cases/{case_id}/legal-reviews",
            json=legal_review_request(reviewed_on="2026-05-10"),
            headers=system.auth("legal_reviewer", AGENCY),
        ).is_success
        # Notified and waived on the 10th, decided on DECIDED_ON.
        for path, body, role in [
            ("prior-notice", prior_notice_request(30000, notified_on="2026-05-10"), "officer"),
            ("statements", waiver_request(received_on="2026-05-10"), "officer"),
            (
                "penalty-decision",
                penalty_decision_request(30000, agency_short_name="醴", decided_on=DECIDED_ON),
                "agency_head",
            ),
        ]:
            answer = case.post(
                f"/v1/cases/{case_id}/respondents/1/{path}", json=body, headers=system.auth(role, AGENCY)
            )
            assert answer.is_success, answer.text

        def _refer() -> httpx.Response | None:
            response = client.post(
                system.url("referral") + "/v1/referrals",
                json={**referral_request(case_id), "reported_on": REFERRED_ON},
                headers=system.auth("officer", AGENCY),
            )
            return None if case_unknown_to_referral(response) else response

        referred = eventually(_refer, 60, "the referral service to learn of the case")
        assert referred.status_code == 201, referred.text
        # Approved and dispatched the same day, received by the police on the 18th: their
        # filing decision starts from the receipt.
        steps = system.url("referral") + f"/v1/referrals/{referred.json()['id']}"
        for path, body, role, agency in (
            ("head-decision", head_approval_request(decided_at="2026-05-18T09:00:00+08:00"), "agency_head", AGENCY),
            ("dispatch", dispatch_request(dispatched_at="2026-05-18T15:00:00+08:00"), "officer", AGENCY),
            ("receipt", {"received_on": REFERRED_ON, "received_by": {"name": "刘警官"}}, "public_security", POLICE),
        ):
            answer = client.post(f"{steps}/{path}", json=body, headers=system.auth(role, agency))
            assert answer.status_code == 200, answer.text

        def delivered() -> list[tuple[str, str]]:
            return sorted((e["type"], e["data"]["deadline"]["due_on"]) for e in receiver.events())

        # 05-19: in the referral's lead; the publication's starts 05-26.
        _move_clock(system, "2026-05-19", "referral", "disclosure")
        eventually(lambda: delivered() == [(REFERRAL_APPROACHING, "2026-05-21")], 90, "referral approaching")
        # 05-26: the filing decision is overdue; the publication is in its lead.
        _move_clock(system, "2026-05-26", "referral", "disclosure")
        expected = [(PUBLICATION_APPROACHING, PUBLISH_BY), (REFERRAL_APPROACHING, "2026-05-21")]
        expected.append((REFERRAL_MISSED, "2026-05-21"))
        eventually(lambda: delivered() == expected, 90, "publication approaching, referral missed")
        # 06-01: the publication is overdue; killed and started again the same day, nothing twice.
        _move_clock(system, "2026-06-01", "disclosure")
        expected = sorted([*expected, (PUBLICATION_MISSED, PUBLISH_BY)])
        eventually(lambda: delivered() == expected, 90, "publication missed")
        _move_clock(system, "2026-06-01", "referral", "disclosure", "notification")
        # Credit China accepts again: pushed late, the publication closes its deadline.
        assert client.post(system.url("credit_china") + "/_control/fail-next", json={"count": 0}).is_success
        eventually(
            lambda: any(
                i.get("case_id") == case_id
                for i in client.get(system.url("disclosure") + "/v1/disclosures", params={"limit": 200}).json()["items"]
            ),
            90,
            "the publication pushed",
        )
        time.sleep(3)  # several scheduler rounds (every 0.5 s) after the restarts
        assert delivered() == expected
        verifier = Webhook(subscription.json()["secret"])
        for hook in receiver.received:
            payload = verifier.verify(hook["body"], hook["headers"])  # raises if the signature is wrong
            assert payload["subject"] == case_id and payload["data"]["case_id"] == case_id
            assert payload["data"]["actor"]["subject"] in ("service:referral", "service:disclosure")
            assert payload["data"]["deadline"]["rule_id"] in (
                "referral.police_filing_decision",
                "publication.penalty_publish_within",
            )
