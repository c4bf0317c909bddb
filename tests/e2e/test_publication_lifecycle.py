"""The publication lifecycle over real HTTP against the whole system (issue 14), on the
shared clocked system: a 一案双罚 case's two decisions published on their own, the unit's
revoked on reconsideration and its publication withdrawn and pushed, the principal's
repaired (信用修复) and ended; an older case's publication ending by itself with the
clock moved; a no-penalty decision published on the agency's site only (an other
enforcement decision, 20 working days). Credit China (the simulator) holds exactly those messages; the public feed,
the agency's view and a webhook subscriber show each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from devtools.demo import (
    AGENCY,
    ENTERPRISE,
    PRINCIPAL,
    UNIT,
    document,
    eventually,
    filing_request,
    penalty_decision_request,
    prior_notice_request,
    publications_by_state,
    waiver_request,
)
from devtools.launcher import LocalSystem
from devtools.webhooks import WebhookReceiver
from services.common import event_types as types

pytestmark = pytest.mark.e2e

LIFECYCLE_TYPES = [
    types.DISCLOSURE_PUBLISHED,
    types.DISCLOSURE_WITHDRAWN,
    types.DISCLOSURE_ENDED,
    types.DISCLOSURE_REPAIR_APPLIED,
    types.DISCLOSURE_REPAIR_GRANTED,
    types.DISCLOSURE_CREDIT_CHINA_NOTIFIED,
]
# The case service's business day stays 2026-05-01 (tests/e2e/conftest.py); the disclosure
# service's is moved by restarting it.
START = "2026-05-01"
# The 一案双罚 case: decided Monday 2026-04-20, under the 2026-04-01 tier table (v3): a fine
# and a warning are general tier (3 months to 1 year): repair from 2026-07-20, published
# to 2027-04-20.
DECIDED_ON, REPAIR_FROM, ENDS_ON = "2026-04-20", "2026-07-20", "2027-04-20"
# The unit's decision revoked on Thursday 2026-04-30; withdrawn within 3 working days
# (Art. 48): 05-01..05-05 is the Labour Day holiday, so Wed 05-06 (1), Thu 05-07 (2),
# Fri 05-08 (3).
REVOKED_ON, WITHDRAW_BY = "2026-04-30", "2026-05-08"
# The older case: decided 2025-05-20 under the 2023-05-01 table (v2), general tier,
# published to 2026-05-20; it ends by itself once the clock passes that day.
OLD_DECIDED_ON, OLD_ENDS_ON = "2025-05-20", "2026-05-20"
OTHER_PUBLISH_BY = "2026-05-20"  # a no-penalty decision of 04-20: 20 working days
MOVED_TO = "2026-07-21"  # past the older case's end and the principal's minimum period
OLD_LEGAL_END = "2026-05-21"  # the day after its last day, whenever the scheduler notices


def _move_clock(system: LocalSystem, today: str) -> None:
    system.extra_env["CLOCK_TODAY"] = today
    system.restart("disclosure")


def _decide(
    client: httpx.Client,
    system: LocalSystem,
    respondents: list[dict[str, Any]],
    fines: list[int],
    day: Callable[..., str],
) -> str:
    """File, notify, waive and decide each respondent: the case's id."""
    officer, head = system.auth("officer", AGENCY), system.auth("agency_head", AGENCY)
    filed = client.post(
        system.url("case") + "/v1/cases",
        json=filing_request(respondents[0], day(-20), respondents=respondents, filed_on=day(-15)),
        headers=officer,
    )
    assert filed.status_code == 201, filed.text
    case_id: str = filed.json()["id"]
    for number, fine in enumerate(fines, start=1):
        steps = [
            ("prior-notice", prior_notice_request(fine, notified_on=day(-10)), officer),
            ("statements", waiver_request(received_on=day(-9)), officer),
            (
                "penalty-decision",
                penalty_decision_request(
                    fine,
                    agency_short_name="醴",
                    decided_on=day(0),
                    disclosure={"violation_type": "未按规定开展安全生产教育和培训"},
                ),
                head,
            ),
        ]
        for path, body, headers in steps:
            answer = client.post(
                system.url("case") + f"/v1/cases/{case_id}/respondents/{number}/{path}", json=body, headers=headers
            )
            assert answer.is_success, answer.text
    return case_id


def _not_penalise(client: httpx.Client, system: LocalSystem, party: dict[str, Any], day: Callable[..., str]) -> str:
    """File a case and decide not to penalise its one respondent (不予处罚) on ``day(0)``."""
    filed = client.post(
        system.url("case") + "/v1/cases",
        json=filing_request(party, day(-20), filed_on=day(-15)),
        headers=system.auth("officer", AGENCY),
    )
    assert filed.status_code == 201, filed.text
    case_id: str = filed.json()["id"]
    decided = client.post(
        system.url("case") + f"/v1/cases/{case_id}/respondents/1/no-penalty",
        json={"ground": "minor_corrected", "reason": "违法行为轻微并及时改正，没有造成危害后果", "decided_on": day(0)},
        headers=system.auth("agency_head", AGENCY),
    )
    assert decided.is_success, decided.text
    return case_id


def _published_row(client: httpx.Client, system: LocalSystem, case_id: str) -> dict[str, Any] | None:
    page = client.get(
        system.url("disclosure") + "/v1/publications",
        params={"limit": 200, "state": "published"},
        headers=system.auth("officer", AGENCY),
    )
    assert page.status_code == 200, page.text
    return next((r for r in page.json()["items"] if r["case_id"] == case_id), None)


def _on(iso: str) -> Callable[..., str]:
    """Days counted from ``iso``."""
    base = date.fromisoformat(iso)
    return lambda n: (base + timedelta(days=n)).isoformat()


@pytest.mark.timeout(600)  # two restarts of the disclosure service on a loaded machine
def test_published_withdrawn_repaired_and_ended_reach_credit_china_the_feed_the_agency_and_a_webhook(
    clocked_system: LocalSystem,
) -> None:
    system, client = clocked_system, httpx.Client(timeout=30)
    _move_clock(system, START)
    officer, head = system.auth("officer", AGENCY), system.auth("agency_head", AGENCY)
    with WebhookReceiver() as receiver:
        subscribed = client.post(
            system.url("notification") + "/v1/subscriptions",
            json={"callback_url": receiver.url, "event_types": LIFECYCLE_TYPES, "description": "信用平台"},
            headers=system.auth("integration", AGENCY),
        )
        assert subscribed.status_code == 201, subscribed.text
        old_case = _decide(client, system, [ENTERPRISE], [3000], _on(OLD_DECIDED_ON))
        case_id = _decide(client, system, [UNIT, PRINCIPAL], [10_000, 5_000], _on(DECIDED_ON))
        cases = {old_case, case_id}
        keys = [(case_id, 1), (case_id, 2), (old_case, 1)]

        def agency_view(**params: Any) -> dict[tuple[str, int], dict[str, Any]]:
            page = client.get(
                system.url("disclosure") + "/v1/publications", params={"limit": 200, **params}, headers=officer
            )
            assert page.status_code == 200, page.text
            return {(r["case_id"], r["respondent"]): r for r in page.json()["items"] if r["case_id"] in cases}

        def pushed(state: str, key: tuple[str, int], notice: str) -> dict[str, Any] | None:
            """The row once in ``state`` and Credit China has accepted its ``notice``."""
            row = agency_view(state=state).get(key)
            return row if row is not None and notice in row["notified"] else None

        def feed() -> dict[str, dict[str, Any]]:
            page = client.get(system.url("disclosure") + "/v1/disclosures", params={"limit": 200}).json()
            return {e["publication_id"]: e for e in page["items"] if e["case_id"] in cases}

        # Each respondent's decision is published on its own, and the older one too.
        published = eventually(
            lambda: all(pushed("published", k, "publication") for k in keys) and agency_view(state="published"),
            90,
            "three publications",
        )
        unit, principal, old = published[(case_id, 1)], published[(case_id, 2)], published[(old_case, 1)]
        assert (unit["tier"], unit["repair_from"], unit["publication_end"]) == ("general", REPAIR_FROM, ENDS_ON)
        assert (old["tier"], old["publication_end"]) == ("general", OLD_ENDS_ON)
        assert principal["party_name"] == "黄某某" and principal["party_category"] == "natural_person"
        ids = {"unit": unit["publication_id"], "principal": principal["publication_id"], "old": old["publication_id"]}
        shown = eventually(lambda: len(feed()) == 3 and feed(), 60, "the feed to show all three")
        # Liling masks a unit's code on its site (devtools/agencies.yaml); Credit China has it whole.
        assert shown[ids["unit"]]["item"]["party_code"] == ENTERPRISE["code"][:-4] + "****"
        assert shown[ids["unit"]]["item"]["violation_type"] == "未按规定开展安全生产教育和培训"
        record = client.get(system.url("credit_china") + f"/api/v1/penalties/{ids['unit']}").json()
        assert record["item"]["party_code"] == ENTERPRISE["code"]

        # A no-penalty decision (不予行政处罚决定) of the same day, an other enforcement
        # decision: on the agency's site (the feed, marked so, masked the same way), due in 20
        # working days (05-20: counted in tests/unit/test_other_decisions.py), never pushed.
        other_case = _not_penalise(client, system, ENTERPRISE, _on(DECIDED_ON))
        other = eventually(lambda: _published_row(client, system, other_case), 90, "the other decision published")
        assert (other["decision_kind"], other["tier"], other["publish_by"]) == ("other", "none", OTHER_PUBLISH_BY)
        assert other["notified"] == {} and not other["overdue"]
        on_site = client.get(system.url("disclosure") + f"/v1/disclosures/{other['publication_id']}").json()
        assert on_site["item"]["decision_kind"] == "other" and on_site["item"]["penalty_category"] == "不予行政处罚"
        assert on_site["item"]["party_code"] == ENTERPRISE["code"][:-4] + "****"

        # The unit's decision is revoked on reconsideration: withdrawn and pushed, off the feed.
        cases_url = system.url("case") + f"/v1/cases/{case_id}/respondents/1"
        for path, body, role in (
            (
                "service",
                {"method": "on_the_spot", "document": document("送达回证", 31), "served_on": DECIDED_ON},
                officer,
            ),
            ("remedies", {"kind": "reconsideration", "organ": "醴陵市人民政府", "filed_on": "2026-04-25"}, "legal"),
            (
                "remedy-decision",
                {"outcome": "revoked", "document": document("行政复议决定书", 32), "decided_on": REVOKED_ON},
                "legal",
            ),
        ):
            headers = system.auth("legal_reviewer", AGENCY) if role == "legal" else officer
            answer = client.post(f"{cases_url}/{path}", json=body, headers=headers)
            assert answer.is_success, answer.text
        withdrawn = eventually(
            lambda: pushed("withdrawn", (case_id, 1), "withdrawal"), 90, "the unit's publication withdrawn and pushed"
        )
        assert withdrawn["withdrawal_due_on"] == WITHDRAW_BY and "撤销" in withdrawn["reason"]
        assert "第四十八条" in withdrawn["reason"]
        eventually(lambda: ids["unit"] not in feed(), 30, "the withdrawn publication off the feed")

        # The clock moves past the older publication's end: it ends by itself, pushed.
        _move_clock(system, MOVED_TO)
        ended = eventually(lambda: pushed("ended", (old_case, 1), "end"), 90, "the older publication ended and pushed")
        # Dated the legal end, the day after its last day (05-20), though noticed on 07-21;
        # it went out on 2026-05-01, long after its publish-by day (2025-05-29).
        assert ended["ended_on"] == OLD_LEGAL_END and ended["published_late"] is True

        # The principal applies for credit repair through the agency: refused without the
        # obligations performed, recorded with them, granted by the head: ended at once.
        repair = system.url("disclosure") + f"/v1/publications/{ids['principal']}"
        commitment = document("信用承诺书", 33)
        refused = client.post(
            f"{repair}/repair-application",
            json={"obligations_performed": False, "commitment": commitment},
            headers=officer,
        )
        assert refused.status_code == 422, refused.text
        assert [(e["pointer"], e["rule"]) for e in refused.json()["errors"]] == [
            ("/obligations_performed", "obligations-not-performed")
        ]
        applied = client.post(
            f"{repair}/repair-application",
            json={"obligations_performed": True, "commitment": commitment},
            headers=officer,
        )
        assert applied.status_code == 200, applied.text
        assert applied.json()["repair"]["status"] == "applied"
        # The reason is published with the repair notice: no ID or phone number in it.
        leaking = client.post(
            f"{repair}/repair-decision", json={"granted": True, "reason": "已履行，电话13800138000"}, headers=head
        )
        assert leaking.status_code == 422, leaking.text
        assert [(e["pointer"], e["rule"]) for e in leaking.json()["errors"]] == [
            ("/reason", "no-personal-data-in-text")
        ]
        granted = client.post(
            f"{repair}/repair-decision", json={"granted": True, "reason": "已履行处罚决定并作出信用承诺"}, headers=head
        )
        assert granted.status_code == 200, granted.text
        assert granted.json()["state"] == "repaired"
        eventually(
            lambda: pushed("repaired", (case_id, 2), "repair"), 90, "the principal's publication repaired, pushed"
        )

        # The case ledger shows each respondent's publication as it ended.
        def ledger(case: str) -> list[str]:
            entry = client.get(system.url("case") + f"/v1/cases/{case}", headers=officer).json()
            return [r["publication_status"] for r in entry["respondents"]]

        eventually(lambda: ledger(case_id) == ["withdrawn", "repaired"], 60, "the ledger to show both")
        assert ledger(old_case) == ["ended"]

        # Nothing of the three is on the public feed; the agency's view shows each state.
        assert feed() == {}
        states = {key: row["state"] for key, row in agency_view().items()}
        assert states == {(case_id, 1): "withdrawn", (case_id, 2): "repaired", (old_case, 1): "ended"}
        # Credit China holds exactly these messages for them, each once.
        messages = client.get(system.url("credit_china") + "/api/v1/messages").json()["items"]
        assert other["publication_id"] not in {m["publication_id"] for m in messages}  # not 双公示
        # The demo's print of the agency's view groups it with the published ones.
        by_state = publications_by_state({"disclosure": system.url("disclosure")}, system.auth)
        assert {"decision_kind": "other", "tier": "none"}.items() <= next(
            r for r in by_state["published"] if r["decision_kind"] == "other"
        ).items()
        mine = sorted((m["kind"], m["publication_id"]) for m in messages if m["publication_id"] in ids.values())
        (end,) = [m["notice"] for m in messages if m["kind"] == "end" and m["publication_id"] == ids["old"]]
        assert end["effective_on"] == OLD_LEGAL_END and OLD_ENDS_ON in end["reason"]
        assert mine == sorted(
            [
                ("publication", ids["unit"]),
                ("publication", ids["principal"]),
                ("publication", ids["old"]),
                ("withdrawal", ids["unit"]),
                ("end", ids["old"]),
                ("repair", ids["principal"]),
            ]
        )
        # The webhook subscriber received each step of each.
        expected = sorted(
            [
                (types.DISCLOSURE_PUBLISHED, ids["unit"]),
                (types.DISCLOSURE_PUBLISHED, ids["principal"]),
                (types.DISCLOSURE_PUBLISHED, ids["old"]),
                (types.DISCLOSURE_WITHDRAWN, ids["unit"]),
                (types.DISCLOSURE_CREDIT_CHINA_NOTIFIED, ids["unit"]),
                (types.DISCLOSURE_ENDED, ids["old"]),
                (types.DISCLOSURE_CREDIT_CHINA_NOTIFIED, ids["old"]),
                (types.DISCLOSURE_REPAIR_APPLIED, ids["principal"]),
                (types.DISCLOSURE_REPAIR_GRANTED, ids["principal"]),
                (types.DISCLOSURE_CREDIT_CHINA_NOTIFIED, ids["principal"]),
            ]
        )

        def hooks() -> list[tuple[str, str]]:
            return sorted((e["type"], e["data"]["publication_id"]) for e in receiver.events() if e["subject"] in cases)

        eventually(lambda: hooks() == expected, 90, "a webhook for each step")
