"""The criminal referral lifecycle end to end (issue 13), over real HTTP against the whole
system as processes, each organ with its own token: an agency reports, its head approves,
the file is dispatched; the police receive and decline, the agency asks them to
reconsider, they uphold, the procuratorate supervises with a notice to file, the police
file and the items are handed over; a second referral is declined and the case comes back
(referral.returned.v1) and is decided. The tracker rows, the overdue list with the clock
moved, the police of another region (404) and the yearly statistics are checked.

A county of its own (芦淞区, 430203), so that the statistics count only this test's
referrals on the shared system (tests/e2e/conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devtools.demo import (
    ENTERPRISE,
    FOREIGN_AGENCY,
    OFFICERS,
    case_unknown_to_referral,
    dispatch_request,
    eventually,
    penalty_decision_request,
    prior_notice_request,
    referral_request,
    waiver_request,
)
from devtools.launcher import LocalSystem

pytestmark = pytest.mark.e2e
AGENCY = {"code": "11430203MB5555555M", "name": "株洲市芦淞区应急管理局", "region_code": "430203"}
POLICE = {"code": "11430203MB66666667", "name": "株洲市公安局芦淞分局", "region_code": "430203"}
PROCURATORATE = {"code": "11430203MB7777777Q", "name": "株洲市芦淞区人民检察院", "region_code": "430203"}
OTHER_POLICE = {"code": "11430202MB4444444M", "name": "株洲市公安局荷塘分局", "region_code": "430202"}


def _status(ledger: httpx.Response) -> tuple[str, str]:
    entry = ledger.json()
    return entry["status"], entry["referral_status"]


def _at(day: str, time: str) -> str:
    return f"{day}T{time}:00+08:00"


class Walk:
    """Calls over HTTP as each organ, asserting each answer."""

    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.client = httpx.Client(timeout=30)

    def as_(self, role: str) -> dict[str, str]:
        agency = {"public_security": POLICE, "procuratorate": PROCURATORATE}.get(role, AGENCY)
        return self.system.auth(role, agency)

    def file_case(self, summary: str) -> str:
        body = {
            "agency": AGENCY,
            "party": ENTERPRISE,
            "violation_summary": summary,
            "violation_date": "2026-02-20",
            "legal_basis": "《安全生产法》第一百一十二条",
            "officers": OFFICERS,
            "filed_on": "2026-03-02",
        }
        response = self.client.post(self.system.url("case") + "/v1/cases", json=body, headers=self.as_("officer"))
        assert response.status_code == 201, response.text
        case_id: str = response.json()["id"]
        return case_id

    def report(self, case_id: str, persons: int) -> str:
        body = {
            **referral_request(case_id),
            "organ_name": POLICE["name"],
            "organ_code": POLICE["code"],
            "copy_to_code": PROCURATORATE["code"],
            "persons_referred": persons,
            "reported_on": "2026-04-01",
        }

        def attempt() -> httpx.Response | None:
            response = self.client.post(
                self.system.url("referral") + "/v1/referrals", json=body, headers=self.as_("officer")
            )
            return None if case_unknown_to_referral(response) else response

        response = eventually(attempt, 60, "the referral service to learn of the case")
        assert response.status_code == 201, response.text
        assert response.json()["owed_by"] == "agency_head"
        referral_id: str = response.json()["id"]
        return referral_id

    def step(self, referral_id: str, path: str, role: str, body: dict[str, Any], status: str) -> dict[str, Any]:
        url = self.system.url("referral") + f"/v1/referrals/{referral_id}/{path}"
        response = self.client.post(url, json=body, headers=self.as_(role))
        assert response.status_code == 200, f"{path}: {response.text}"
        state: dict[str, Any] = response.json()
        assert state["status"] == status, state
        return state

    def tracker(self, role: str = "auditor", **params: Any) -> dict[str, dict[str, Any]]:
        url = self.system.url("referral") + "/v1/referrals"
        page = self.client.get(url, params={"limit": 200, **params}, headers=self.as_(role)).json()
        return {item["referral_id"]: item for item in page["items"]}

    def row(self, referral_id: str, status: str) -> dict[str, Any]:
        return eventually(
            lambda: (row := self.tracker().get(referral_id)) and row["status"] == status and row,
            60,
            f"tracker {status}",
        )


def test_two_referrals_through_the_lifecycle(clocked_system: LocalSystem) -> None:
    system, walk = clocked_system, Walk(clocked_system)
    system.extra_env["CLOCK_TODAY"] = "2026-04-21"
    system.restart("referral")
    filed_case, declined_case = (
        walk.file_case("拒不整改重大事故隐患（一）"),
        walk.file_case("拒不整改重大事故隐患（二）"),
    )
    first, second = walk.report(filed_case, 2), walk.report(declined_case, 1)

    # Reported: the case service suspends both cases (中止) until their referral comes back.
    def suspended() -> bool:
        ledgers = [httpx.get(system.url("case") + f"/v1/cases/{c}", headers=walk.as_("officer")) for c in both]
        return all(_status(ledger)[0] == "suspended" for ledger in ledgers)

    both = (filed_case, declined_case)
    eventually(suspended, 60, "both cases to be suspended")
    # No closing it meanwhile (不得以罚代刑): the agency's dismissal is refused with the state.
    dismissal = httpx.post(
        system.url("case") + f"/v1/cases/{declined_case}/dismissal",
        json={"reason": "移送公安机关后撤销"},
        headers=walk.as_("agency_head"),
    )
    assert dismissal.status_code == 409 and dismissal.json()["current_state"] == "suspended", dismissal.text
    for referral_id in (first, second):
        walk.step(
            referral_id,
            "head-decision",
            "agency_head",
            {"outcome": "approved", "head": {"name": "陈局长"}, "decided_at": _at("2026-04-02", "10:00")},
            "approved",
        )
        walk.step(
            referral_id, "dispatch", "officer", dispatch_request(dispatched_at=_at("2026-04-02", "15:00")), "dispatched"
        )

    # The police of another region see nothing of it, and cannot act on it: 404 alike.
    other = system.auth("public_security", OTHER_POLICE)
    referral_url = system.url("referral") + f"/v1/referrals/{first}"
    assert httpx.get(referral_url, headers=other).status_code == 404
    refused = httpx.post(referral_url + "/receipt", json={"received_by": {"name": "某警官"}}, headers=other)
    assert refused.status_code == 404 and refused.json()["type"] == "/problems/not-found"
    assert httpx.get(referral_url, headers=system.auth("officer", FOREIGN_AGENCY)).status_code == 404

    # Received Fri 04-03: 04-04 (1), 04-05 (2), 04-06 (3), the Qingming holiday (04-04..06): Tue 04-07.
    received = walk.step(
        first,
        "receipt",
        "public_security",
        {"received_on": "2026-04-03", "received_by": {"name": "刘警官"}},
        "received",
    )
    assert [(d["name"], d["due_on"]) for d in received["deadlines"]] == [("police_filing_decision", "2026-04-07")]
    walk.step(
        first,
        "filing-decision",
        "public_security",
        {"outcome": "not_filed", "reason": "证据不足", "decided_on": "2026-04-07"},
        "not_filed",
    )
    # Declined Tue 04-07: 04-08 (1), 04-09 (2), Fri 04-10 (3).
    asked = walk.step(
        first,
        "reconsideration-request",
        "officer",
        {"requested_on": "2026-04-08", "reason": "证据充分"},
        "reconsideration_requested",
    )
    # Asked Wed 04-08: 04-09 (1), 04-10 (2), Sat 04-11 (3), a rest day: Monday 04-13.
    assert [(d["name"], d["due_on"]) for d in asked["deadlines"]] == [("reconsideration_answer", "2026-04-13")]
    walk.step(
        first,
        "reconsideration-answer",
        "public_security",
        {"outcome": "upheld", "reason": "维持不予立案", "answered_on": "2026-04-10"},
        "not_filed",
    )
    # Notice to file Wed 04-15: 15 days, 04-16 (1) to Thu 04-30 (15), a working day.
    noticed = walk.step(
        first,
        "supervision",
        "procuratorate",
        {"outcome": "notice_to_file", "reason": "应当立案", "supervised_on": "2026-04-15"},
        "notice_to_file",
    )
    assert [(d["name"], d["due_on"]) for d in noticed["deadlines"]] == [("filing_after_notice", "2026-04-30")]
    filed = walk.step(
        first,
        "filing-decision",
        "public_security",
        {"outcome": "filed", "decided_on": "2026-04-20", "police_case_number": "株公芦刑立〔2026〕7号"},
        "filed",
    )
    # Filed Mon 04-20: 04-21 (1), 04-22 (2), Thu 04-23 (3).
    assert filed["owed_by"] == "agency" and [(d["name"], d["due_on"]) for d in filed["deadlines"]] == [
        ("handover", "2026-04-23")
    ]
    items = [{"description": "烟花爆竹半成品", "quantity": "200千克", "sha256": "e" * 64}]
    walk.step(
        first,
        "hand-over",
        "officer",
        {"handed_over_on": "2026-04-22", "items": items, "received_by": {"name": "刘警官"}},
        "handed_over",
    )
    walk.step(
        first, "outcomes", "public_security", {"outcome": "arrested", "on": "2026-04-24", "persons": 2}, "handed_over"
    )

    # The second: received Mon 04-20, the police's decision due Thu 04-23 (21, 22, 23); not taken.
    walk.step(
        second,
        "receipt",
        "public_security",
        {"received_on": "2026-04-20", "received_by": {"name": "刘警官"}},
        "received",
    )
    walk.row(first, "handed_over")
    walk.row(second, "received")
    system.extra_env["CLOCK_TODAY"] = "2026-04-27"
    system.restart("referral")
    overdue = eventually(lambda: walk.tracker(overdue="true"), 60, "the overdue list")
    assert second in overdue and first not in overdue
    late = overdue[second]
    assert late["owed_by"] == "public_security" and late["deadlines"][0]["name"] == "police_filing_decision"
    assert late["deadlines"][0]["overdue"] is True and late["deadlines"][0]["due_on"] == "2026-04-23"
    # The police see the overdue referral addressed to them, by their own token.
    assert second in walk.tracker("public_security", overdue="true", owed_by="public_security")

    # Declined late; the agency takes the case back (反向衔接), the case service hears of it.
    declined = walk.step(
        second,
        "filing-decision",
        "public_security",
        {"outcome": "not_filed", "reason": "不构成犯罪", "decided_on": "2026-04-27"},
        "not_filed",
    )
    assert declined["owed_by"] == "agency"
    walk.step(second, "return", "officer", {"returned_on": "2026-04-28", "note": "恢复行政处罚程序"}, "returned")
    case_url = system.url("case") + f"/v1/cases/{declined_case}"
    # The case service learnt of it from the topic: the case resumes (no longer suspended).
    eventually(
        lambda: _status(httpx.get(case_url, headers=walk.as_("officer"))) == ("filed", "returned"),
        60,
        "the case to resume",
    )
    # Back in the administrative procedure: notified, waived, decided (the number is the system's;
    # below the unit's ¥50,000 no review or discussion is required).
    steps = [
        ("/respondents/1/prior-notice", prior_notice_request(30000, notified_on="2026-04-29"), "officer"),
        ("/respondents/1/statements", waiver_request(received_on="2026-04-29"), "officer"),
        (
            "/respondents/1/penalty-decision",
            penalty_decision_request(30000, agency_short_name="株芦", decided_on="2026-04-30"),
            "agency_head",
        ),
    ]
    for path, body, role in steps:
        answer = httpx.post(case_url + path, json=body, headers=walk.as_(role))
        assert answer.is_success, (path, answer.text)
    assert answer.json()["respondents"][0]["decision_number"] == "(株芦)应急罚〔2026〕1号"

    rows = {first: walk.row(first, "handed_over"), second: walk.row(second, "returned")}
    assert rows[first]["outcomes"] == ["arrested"] and rows[first]["owed_by"] == "public_security"
    assert rows[first]["referred_on"] == "2026-04-02" and rows[first]["deadlines"] == []
    assert rows[second]["returned_reason"] == "not_filed" and rows[second]["owed_by"] is None
    statistics = httpx.get(
        system.url("referral") + "/v1/referrals/statistics", params={"year": 2026}, headers=walk.as_("auditor")
    ).json()
    assert statistics == {
        "year": 2026,
        "items": [
            {
                "agency_code": AGENCY["code"],
                "agency_name": AGENCY["name"],
                "region_code": AGENCY["region_code"],
                "referred_cases": 2,
                "referred_persons": 3,
                "filed": 1,
                "not_filed": 2,
                "reconsidered": 1,
                "supervised": 1,
                "arrested": 1,
                "prosecuted": 0,
                "judged": 0,
                "returned": 1,
            }
        ],
    }
    # The city above reads the county's figures; the police read none.
    city = system.auth("auditor", {"code": "11430200MB11111114", "name": "株洲市应急管理局", "region_code": "430200"})
    city_figures = httpx.get(
        system.url("referral") + "/v1/referrals/statistics", params={"year": 2026}, headers=city
    ).json()
    assert AGENCY["code"] in [item["agency_code"] for item in city_figures["items"]]
    assert (
        httpx.get(system.url("referral") + "/v1/referrals/statistics", headers=walk.as_("public_security")).status_code
        == 403
    )
