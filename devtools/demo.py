"""Drive one case through file, legal review, penalty decision, referral and publication
against a running system, and show what each part of the system learnt.

``make demo`` runs it against ``make run``; the end-to-end tests run the same flow and
assert on its result.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from devtools.launcher import DEFAULT_PORTS, LocalSystem
from devtools.webhooks import WebhookReceiver

# Valid codes (check characters computed per GB 32100 / GB 11643).
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
ENTERPRISE = {
    "kind": "enterprise",
    "name": "醴陵市某某花炮厂",
    "code": "91430281MA4L12345R",
    "legal_representative": "张三",
}
PERSON_ID = "430281198001011234"
PERSON_PHONE = "13800138000"
PERSON = {
    "kind": "natural_person",
    "name": "黄小明",
    "code": PERSON_ID,
    "phone": PERSON_PHONE,
    "address": "醴陵市某路1号",
}
# Other agencies, for scope: the receiving organs of a referral (行刑衔接), the city and
# province above Liling, and a sibling district under the same city.
POLICE = {"code": "11430281MB7654321H", "name": "醴陵市公安局", "region_code": "430281"}
PROCURATORATE = {"code": "11430281MB0012345P", "name": "醴陵市人民检察院", "region_code": "430281"}
CITY_AGENCY = {"code": "11430200MB11111114", "name": "株洲市应急管理局", "region_code": "430200"}
PROVINCE_AGENCY = {"code": "11430000MB3333333W", "name": "湖南省应急管理厅", "region_code": "430000"}
FOREIGN_AGENCY = {"code": "11430202MB4444444M", "name": "株洲市荷塘区应急管理局", "region_code": "430202"}
OFFICERS = [{"name": "李四", "certificate_no": "43010001"}, {"name": "王五", "certificate_no": "43010002"}]
REVIEWER = {"name": "赵六", "certificate_no": "43019999"}


EXPECTED_WEBHOOK_TYPES = {
    "cn.caseledger.case.filed.v1",
    "cn.caseledger.case.penalty_decided.v1",
    "cn.caseledger.referral.referred.v1",
    "cn.caseledger.disclosure.published.v1",
}


@dataclass
class DemoResult:
    case: dict[str, Any]
    subscription: dict[str, Any]
    responses: dict[str, httpx.Response] = field(default_factory=dict)
    ledger_entry: dict[str, Any] = field(default_factory=dict)
    tracker_row: dict[str, Any] = field(default_factory=dict)
    feed_entry: dict[str, Any] = field(default_factory=dict)
    simulator_record: dict[str, Any] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll until ``check`` returns something truthy: projections are eventually consistent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _ok(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; anything else is an error."""
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    return response.json()


# Signs a bearer token for (role, agency) and returns the Authorization header.
Auth = Callable[[str, dict[str, str]], dict[str, str]]


# The sample case's commands, as the demo, the chaos run and the bench send them.
def filing_request(party: dict[str, Any], violation_date: str, **fields: Any) -> dict[str, Any]:
    """立案: AGENCY's two officers file a case against ``party``."""
    return {
        "agency": AGENCY,
        "party": party,
        "violation_summary": "未按规定对从业人员进行安全生产教育和培训",
        "violation_date": violation_date,
        "legal_basis": "《中华人民共和国安全生产法》第九十七条第三项",
        "officers": OFFICERS,
        **fields,
    }


def legal_review_request(**fields: Any) -> dict[str, Any]:
    """法制审核: the legal office passes the case."""
    return {"outcome": "passed", "reviewer": REVIEWER, "opinion": "事实清楚，证据确凿", **fields}


def penalty_decision_request(year: int, number: int, fine_yuan: int, **fields: Any) -> dict[str, Any]:
    """行政处罚决定: a fine and a warning under decision number ``number`` of ``year``."""
    return {
        "decision_number": f"(醴)应急罚〔{year}〕{number}号",
        "penalties": [{"kind": "fine", "amount_yuan": fine_yuan}, {"kind": "warning"}],
        **fields,
    }


def referral_request(case_id: str) -> dict[str, Any]:
    """移送 to the Liling police, copied to the procuratorate that supervises."""
    return {
        "case_id": case_id,
        "receiving_organ": "public_security",
        "organ_name": POLICE["name"],
        "organ_code": POLICE["code"],
        "copy_to_code": PROCURATORATE["code"],
        "suspected_offence": "刑法第一百三十四条之一 危险作业罪",
        "reason": "拒不执行重大事故隐患整改指令",
        "officers": OFFICERS,
        "materials": ["涉嫌犯罪案件移送书", "涉嫌犯罪案件调查报告", "涉案物品清单"],
    }


def case_unknown_to_referral(response: httpx.Response) -> bool:
    """The referral service does not know the case yet (422 unknown-case): it learns cases
    from the topic, so a referral sent right after the decision can come too early."""
    if response.status_code != 422:
        return False
    try:
        return str(response.json().get("type", "")) == "/problems/unknown-case"
    except ValueError:
        return False


def run_flow(
    urls: dict[str, str],
    receiver: WebhookReceiver,
    auth: Auth,
    party: dict[str, Any] = PERSON,
    timeout: float = 60,
    filing_key: str | None = None,
) -> DemoResult:
    """File, review, decide, refer and publish one case, with a subscription of its own,
    and wait until every read model, Credit China and ``receiver`` have it. ``filing_key``
    is the filing's Idempotency-Key (the case id derives from it), random by default."""
    client = httpx.Client(timeout=30)
    year = time.localtime().tm_year
    subscription = _ok(
        client.post(
            f"{urls['notification']}/v1/subscriptions",
            json={"callback_url": receiver.url, "event_types": ["cn.caseledger.*"], "description": "demo"},
            headers={"Idempotency-Key": f"demo-sub-{uuid.uuid4()}", **auth("integration", AGENCY)},
        )
    )
    filed = client.post(
        f"{urls['case']}/v1/cases",
        json=filing_request(party, f"{year}-01-05"),
        headers={"Idempotency-Key": filing_key or f"demo-file-{uuid.uuid4()}", **auth("officer", AGENCY)},
    )
    case = _ok(filed)
    case_id = case["id"]
    result = DemoResult(case=case, subscription=subscription, responses={"file": filed})
    reviewed = client.post(
        f"{urls['case']}/v1/cases/{case_id}/legal-reviews",
        json=legal_review_request(),
        headers={"If-Match": filed.headers["etag"], **auth("legal_reviewer", AGENCY)},
    )
    _ok(reviewed)
    decided = client.post(
        f"{urls['case']}/v1/cases/{case_id}/penalty-decision",
        json=penalty_decision_request(year, int(time.time()) % 100000, 30000),
        headers={
            "If-Match": reviewed.headers["etag"],
            "X-Reason": quote("负责人集体讨论决定"),  # recorded with the event; percent-encoded UTF-8
            **auth("agency_head", AGENCY),
        },
    )
    _ok(decided)
    result.responses.update(review=reviewed, decide=decided)

    def _refer() -> httpx.Response | None:
        response = client.post(
            f"{urls['referral']}/v1/referrals",
            json=referral_request(case_id),
            headers=auth("officer", AGENCY),
        )
        return None if case_unknown_to_referral(response) else response

    referred = eventually(_refer, timeout, "the referral service to learn of the case")
    _ok(referred)
    result.responses["refer"] = referred
    referral_id = referred.json()["id"]

    def _ledger() -> dict[str, Any] | None:
        response = client.get(f"{urls['case']}/v1/cases/{case_id}", headers=auth("officer", AGENCY))
        entry = response.json() if response.status_code == 200 else {}
        done = entry.get("referral_status") == "referred" and entry.get("publication_status") == "published"
        return entry if done else None

    result.ledger_entry = eventually(_ledger, timeout, "the ledger to show referral and publication")
    result.tracker_row = eventually(
        # Read as the police see it: the referral addressed to them and the party it shares.
        lambda: (
            (
                r := client.get(
                    f"{urls['referral']}/v1/referrals/{referral_id}", headers=auth("public_security", POLICE)
                )
            ).status_code
            == 200
            and r.json()
        ),
        timeout,
        "the tracker row",
    )

    def _feed() -> dict[str, Any] | None:
        items = client.get(f"{urls['disclosure']}/v1/disclosures", params={"limit": 200}).json()["items"]
        return next((i for i in items if i.get("case_id") == case_id), None)

    result.feed_entry = eventually(_feed, timeout, "the disclosure feed entry")

    def _simulator() -> dict[str, Any] | None:
        records = client.get(f"{urls['credit_china']}/api/v1/penalties").json()
        records = records["items"] if isinstance(records, dict) else records
        decision = decided.json()["decision_number"]
        return next((r for r in records if json.dumps(r, ensure_ascii=False).count(decision)), None)

    result.simulator_record = eventually(_simulator, timeout, "Credit China to receive the publication")

    def _webhooks() -> list[dict[str, Any]] | None:
        mine = [w for w in receiver.received if json.loads(w["body"]).get("subject") == case_id]
        types = {json.loads(w["body"])["type"] for w in mine}
        return mine if types >= EXPECTED_WEBHOOK_TYPES else None

    result.webhooks = eventually(_webhooks, timeout, "the webhooks")
    # What an auditor replays: every stored event of the case, each naming who acted.
    result.history = _ok(client.get(f"{urls['case']}/v1/cases/{case_id}/history", headers=auth("auditor", AGENCY)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Drive one case through the running system")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default="var", type=Path, help="where `make run` keeps its development keys")
    args = parser.parse_args()
    urls = {name: f"http://{args.host}:{port}" for name, port in DEFAULT_PORTS.items()}
    with WebhookReceiver() as receiver:
        print(f"webhook receiver listening at {receiver.url}")
        # Tokens signed with the development key `make run` keeps under --data-dir.
        result = run_flow(urls, receiver, LocalSystem(data_dir=args.data_dir).auth)
    show = lambda title, value: print(f"\n== {title} ==\n{json.dumps(value, ensure_ascii=False, indent=2)}")  # noqa: E731
    show("case as filed (write model)", result.case)
    show("case ledger entry (GET /v1/cases/{id})", result.ledger_entry)
    show("referral tracker row, as the police read it (GET /v1/referrals/{id})", result.tracker_row)
    show("public disclosure feed entry (GET /v1/disclosures)", result.feed_entry)
    show("what the Credit China simulator accepted", result.simulator_record)
    show(
        "the case's history as an auditor reads it: who acted, for which agency, why",
        [
            {
                "type": e["type"],
                "by": e["data"]["actor"]["subject"],
                "role": e["data"]["actor"]["role"],
                "agency": e["data"]["actor"]["agency_code"],
                "reason": e["data"]["actor"]["reason"],
            }
            for e in result.history
        ],
    )
    first = result.webhooks[0]
    show(
        f"a webhook received ({len(result.webhooks)} in all for this case)",
        {
            "headers": {k: v for k, v in first["headers"].items() if k.startswith("webhook-")},
            "body": json.loads(first["body"]),
        },
    )


if __name__ == "__main__":
    main()
