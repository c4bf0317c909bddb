"""Drive one 一案双罚 case (a company and its principal responsible person) through filing,
investigation, prior notice, a defence, a hearing for the principal, legal review,
collective discussion, the two decisions, referral and the two publications against a
running system, and show what each part of the system learnt.

``make demo`` runs it against ``make run``; the end-to-end tests run the same flow and
assert on its result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from devtools.launcher import DEFAULT_PORTS, LocalSystem
from devtools.webhooks import WebhookReceiver
from services.common import event_types
from services.infra.clock import today_in_china

# Valid codes (check characters computed per GB 32100 / GB 11643).
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
AGENCY_SHORT_NAME = "醴"  # 机关代字: its decision numbers read (醴)应急罚〔2026〕n号
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
# 一案双罚: the unit, and its principal responsible person (a natural person).
UNIT = {**ENTERPRISE, "role": "unit"}
PRINCIPAL = {**PERSON, "role": "principal_responsible_person"}
# Other agencies, for scope: the receiving organs of a referral (行刑衔接), the city and
# province above Liling, and a sibling district under the same city.
POLICE = {"code": "11430281MB7654321H", "name": "醴陵市公安局", "region_code": "430281"}
PROCURATORATE = {"code": "11430281MB0012345P", "name": "醴陵市人民检察院", "region_code": "430281"}
CITY_AGENCY = {"code": "11430200MB11111114", "name": "株洲市应急管理局", "region_code": "430200"}
PROVINCE_AGENCY = {"code": "11430000MB3333333W", "name": "湖南省应急管理厅", "region_code": "430000"}
FOREIGN_AGENCY = {"code": "11430202MB4444444M", "name": "株洲市荷塘区应急管理局", "region_code": "430202"}
OFFICERS = [{"name": "李四", "certificate_no": "43010001"}, {"name": "王五", "certificate_no": "43010002"}]
REVIEWER = {"name": "赵六", "certificate_no": "43019999"}
HEARING_CHAIR = {"name": "钱七", "certificate_no": "43018888"}  # the legal office: did not investigate
HEADS = ["陈局长", "刘副局长", "孙副局长"]


EXPECTED_WEBHOOK_TYPES = {
    "cn.caseledger.case.filed.v1",
    "cn.caseledger.case.prior_notice_served.v1",
    "cn.caseledger.case.hearing_held.v1",
    "cn.caseledger.case.penalty_decided.v1",
    "cn.caseledger.referral.reported.v1",
    "cn.caseledger.referral.head_decided.v1",
    "cn.caseledger.referral.dispatched.v1",
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
    # One publication per respondent: what Credit China accepted, by decision number.
    simulator_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed_entries: list[dict[str, Any]] = field(default_factory=list)
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
    """立案: AGENCY's two officers file a case against ``party`` (or ``respondents=[...]``)."""
    return {
        "agency": {**AGENCY, "short_name": AGENCY_SHORT_NAME},
        **({} if "respondents" in fields else {"party": party}),
        "violation_summary": "未按规定对从业人员进行安全生产教育和培训",
        "violation_date": violation_date,
        "legal_basis": "《中华人民共和国安全生产法》第九十七条第三项",
        "officers": OFFICERS,
        **fields,
    }


def legal_review_request(**fields: Any) -> dict[str, Any]:
    """法制审核: the legal office passes the case."""
    return {"outcome": "passed", "reviewer": REVIEWER, "opinion": "事实清楚，证据确凿", **fields}


def prior_notice_request(fine_yuan: int, **fields: Any) -> dict[str, Any]:
    """事先告知: the facts, the basis and the intended fine and warning."""
    return {
        "facts": "经查，该单位未按规定对从业人员进行安全生产教育和培训",
        "legal_basis": "《中华人民共和国安全生产法》第九十七条第三项",
        "intended_penalties": [{"kind": "fine", "amount_yuan": fine_yuan}, {"kind": "warning"}],
        **fields,
    }


def waiver_request(**fields: Any) -> dict[str, Any]:
    """The respondent waives statement, defence and hearing in writing."""
    return {"kind": "waiver", "summary": "当事人书面放弃陈述、申辩和听证", **fields}


def penalty_decision_request(fine_yuan: int, **fields: Any) -> dict[str, Any]:
    """行政处罚决定: a fine and a warning (the number is the system's)."""
    return {
        "penalties": [{"kind": "fine", "amount_yuan": fine_yuan}, {"kind": "warning"}],
        "discretion": {"level": "general", "benchmark": "湖南省安全生产行政处罚自由裁量基准 第97-3项（一般）"},
        "performance_how": "自收到本决定书之日起十五日内缴至指定银行，不得向执法机关缴纳",
        "reconsideration_organ": "醴陵市人民政府",
        "court": "醴陵市人民法院",
        **fields,
    }


def document(title: str, n: int) -> dict[str, str]:
    """A record of the agency's records system, by reference and content hash."""
    return {
        "title": title,
        "uri": f"records://liling/demo/{n:04d}",
        "sha256": hashlib.sha256(title.encode()).hexdigest(),
    }


def referral_request(case_id: str) -> dict[str, Any]:
    """移送 to the Liling police, copied to the procuratorate that supervises."""
    return {
        "case_id": case_id,
        "receiving_organ": "public_security",
        "organ_name": POLICE["name"],
        "organ_code": POLICE["code"],
        "copy_to_code": PROCURATORATE["code"],
        "offence": "offence.criminal_law_134a",
        "suspected_offence": "刑法第一百三十四条之一 危险作业罪",
        "reason": "拒不执行重大事故隐患整改指令",
        "officers": OFFICERS,
        "materials": ["涉嫌犯罪案件移送书", "涉嫌犯罪案件调查报告", "涉案物品清单"],
    }


def head_approval_request(**fields: Any) -> dict[str, Any]:
    """负责人 approves the referral."""
    return {"outcome": "approved", "head": {"name": "陈局长", "title": "局长"}, **fields}


def dispatch_request(**fields: Any) -> dict[str, Any]:
    """移送: the file, each document by the SHA-256 of its content."""
    documents = [
        ("referral_letter", "涉嫌犯罪案件移送书"),
        ("investigation_report", "涉嫌犯罪案件调查报告"),
        ("seized_items_inventory", "涉案物品清单"),
    ]
    file = [
        {"kind": kind, "title": title, "sha256": hashlib.sha256(title.encode()).hexdigest()}
        for kind, title in documents
    ]
    return {"file": file, **fields}


def case_unknown_to_referral(response: httpx.Response) -> bool:
    """The referral service does not know the case yet (409 unknown-case): it learns cases
    from the topic, so a referral sent right after the decision can come too early."""
    if response.status_code != 409:
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
    subscription = _ok(
        client.post(
            f"{urls['notification']}/v1/subscriptions",
            json={"callback_url": receiver.url, "event_types": ["cn.caseledger.*"], "description": "demo"},
            headers={"Idempotency-Key": f"demo-sub-{uuid.uuid4()}", **auth("integration", AGENCY)},
        )
    )
    today = today_in_china()
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731 - n days ago
    filed = client.post(
        f"{urls['case']}/v1/cases",
        json=filing_request(PRINCIPAL, day(70), respondents=[UNIT, PRINCIPAL], filed_on=day(60)),
        headers={"Idempotency-Key": filing_key or f"demo-file-{uuid.uuid4()}", **auth("officer", AGENCY)},
    )
    case = _ok(filed)
    case_id = case["id"]
    result = DemoResult(case=case, subscription=subscription, responses={"file": filed})
    cases = f"{urls['case']}/v1/cases/{case_id}"
    officer, hearing, head = auth("officer", AGENCY), auth("legal_reviewer", AGENCY), auth("agency_head", AGENCY)

    def step(name: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        response = client.post(f"{cases}{path}", json=body, headers=headers)
        _ok(response)
        result.responses[name] = response
        return response

    # 调查取证: evidence by hash, an interview by two officers, evidence preserved in advance and its decision.
    step(
        "evidence",
        "/evidence",
        {"kind": "photo", "document": document("现场照片", 1), "officers": OFFICERS, "collected_on": day(59)},
        officer,
    )
    step(
        "interview",
        "/inquiries",
        {"kind": "interview", "officers": OFFICERS, "record": document("询问笔录", 2), "held_on": day(58)},
        officer,
    )
    step(
        "preserve",
        "/measures",
        {
            "kind": "preservation",
            "items": "安全生产教育培训档案一册",
            "officers": OFFICERS,
            "approver": {"name": HEADS[0]},
            "document": document("先行登记保存通知书", 3),
            "taken_on": day(57),
        },
        officer,
    )
    step(
        "preserved",
        "/measures/1/conclusion",
        {
            "outcome": "解除先行登记保存，退还档案",
            "document": document("解除先行登记保存通知书", 4),
            "concluded_on": day(55),
        },
        officer,
    )
    # 事先告知 to each: the unit's 60,000 and the principal's 30,000 are major (hearing right).
    step("notify_unit", "/respondents/1/prior-notice", prior_notice_request(60000, notified_on=day(50)), officer)
    step("notify_principal", "/respondents/2/prior-notice", prior_notice_request(30000, notified_on=day(50)), officer)
    step(
        "defence",
        "/respondents/1/statements",
        {"kind": "defence", "summary": "已于检查后组织全员培训，请求从轻", "received_on": day(49)},
        officer,
    )
    # 听证 for the principal: requested, notified 22 days ahead, chaired by the legal office, held.
    step("request_hearing", "/respondents/2/hearing-request", {"requested_on": day(48)}, officer)
    step(
        "schedule_hearing",
        "/respondents/2/hearing-schedule",
        {"notified_on": day(47), "hearing_on": day(25), "place": "醴陵市应急管理局听证室", "chair": HEARING_CHAIR},
        hearing,
    )
    record = document("听证笔录", 5)
    step(
        "hearing",
        "/respondents/2/hearing-record",
        {"held_on": day(25), "chair": HEARING_CHAIR, "record": record},
        hearing,
    )
    # 法制审核 after the hearing, then 负责人集体讨论.
    step("review", "/legal-reviews", legal_review_request(reviewed_on=day(20)), hearing)
    step(
        "discuss",
        "/collective-discussions",
        {
            "participants": HEADS,
            "conclusion": "同意对单位和主要负责人分别处罚",
            "minutes": document("集体讨论记录", 6),
            "discussed_on": day(19),
        },
        head,
    )
    # Two decisions, two numbers: the unit's lighter after its defence, the principal's on the hearing record.
    reason = {"X-Reason": quote("负责人集体讨论决定")}  # recorded with the event; percent-encoded UTF-8
    step(
        "decide_unit",
        "/respondents/1/penalty-decision",
        penalty_decision_request(50000, decided_on=day(18)),
        {**reason, **head},
    )
    decided = step(
        "decide",
        "/respondents/2/penalty-decision",
        penalty_decision_request(30000, decided_on=day(18), hearing_record_sha256=record["sha256"]),
        {**reason, **head},
    )
    numbers = [r["decision_number"] for r in decided.json()["respondents"]]

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
    # The head approves the report, and the file goes to the police within 24 hours.
    steps = f"{urls['referral']}/v1/referrals/{referral_id}"
    _ok(client.post(f"{steps}/head-decision", json=head_approval_request(), headers=auth("agency_head", AGENCY)))
    _ok(client.post(f"{steps}/dispatch", json=dispatch_request(), headers=auth("officer", AGENCY)))

    def _learnt() -> list[dict[str, Any]] | None:
        # What an auditor replays: every stored event of the case, each naming who acted,
        # once the case service learnt of the referral (its suspended_for_referral).
        response = client.get(f"{urls['case']}/v1/cases/{case_id}/history", headers=auth("auditor", AGENCY))
        history: list[dict[str, Any]] = _ok(response)
        return history if history[-1]["type"] == event_types.CASE_SUSPENDED_FOR_REFERRAL else None

    result.history = eventually(_learnt, timeout, "the case service to learn of the referral")

    def _ledger() -> dict[str, Any] | None:
        response = client.get(f"{urls['case']}/v1/cases/{case_id}", headers=auth("officer", AGENCY))
        entry = response.json() if response.status_code == 200 else {}
        published = [r.get("publication_status") for r in entry.get("respondents", [])] == ["published"] * 2
        current = entry.get("version") == len(result.history)
        return entry if entry.get("referral_status") == "referred" and published and current else None

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
            and r.json()["status"] == "dispatched"
            and r.json()
        ),
        timeout,
        "the tracker row",
    )

    def _feed() -> list[dict[str, Any]] | None:
        items = client.get(f"{urls['disclosure']}/v1/disclosures", params={"limit": 200}).json()["items"]
        mine = [i for i in items if i.get("case_id") == case_id]
        return mine if len(mine) == len(numbers) else None

    result.feed_entries = eventually(_feed, timeout, "a disclosure feed entry per respondent")
    result.feed_entry = next(i for i in result.feed_entries if "黄" in json.dumps(i, ensure_ascii=False))

    def _simulator() -> dict[str, dict[str, Any]] | None:
        records = client.get(f"{urls['credit_china']}/api/v1/penalties").json()
        records = records["items"] if isinstance(records, dict) else records
        found = {n: r for n in numbers for r in records if n in json.dumps(r, ensure_ascii=False)}
        return found if len(found) == len(numbers) else None

    result.simulator_records = eventually(_simulator, timeout, "Credit China to receive a publication per respondent")
    result.simulator_record = result.simulator_records[decided.json()["decision_number"]]

    def _webhooks() -> list[dict[str, Any]] | None:
        mine = [w for w in receiver.received if json.loads(w["body"]).get("subject") == case_id]
        types = {json.loads(w["body"])["type"] for w in mine}
        return mine if types >= EXPECTED_WEBHOOK_TYPES else None

    result.webhooks = eventually(_webhooks, timeout, "the webhooks")
    return result


@dataclass
class AfterDecisionResult:
    """What :func:`run_after_decision` saw: the case's answers, its ledger entry, its history."""

    case_id: str
    numbers: list[str]
    ledger_entry: dict[str, Any]
    history: list[dict[str, Any]]


def run_after_decision(urls: dict[str, str], auth: Auth, timeout: float = 60) -> AfterDecisionResult:
    """一案双罚 after the decision (issue 12): a case decided 250 days ago, so that the
    remedy periods (6 months from service) have run out and the court application's
    window (3 months after them) is still open. Both served on the spot; the unit pays
    its fine in the payment period; the principal pays nothing, is reminded (催告), the
    head applies to the court, which grants and recovers the fine and the surcharge at its
    cap; the case closes (every track ended, no referral), is archived and annotated.
    (The demo's first case was decided 18 days ago: its remedy periods are still running.)"""
    client = httpx.Client(timeout=30)
    today = today_in_china()
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731 - n days ago
    officer, legal, head = auth("officer", AGENCY), auth("legal_reviewer", AGENCY), auth("agency_head", AGENCY)
    filed = _ok(
        client.post(
            f"{urls['case']}/v1/cases",
            json=filing_request(PRINCIPAL, day(290), respondents=[UNIT, PRINCIPAL], filed_on=day(280)),
            headers={"Idempotency-Key": f"demo-after-{uuid.uuid4()}", **officer},
        )
    )
    case_id = filed["id"]
    cases = f"{urls['case']}/v1/cases/{case_id}"

    def step(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        answer: dict[str, Any] = _ok(client.post(f"{cases}{path}", json=body, headers=headers))
        return answer

    # Below the major-decision thresholds (unit 50,000, person 20,000): no hearing right.
    for number, fine in ((1, 10_000), (2, 5_000)):
        step(f"/respondents/{number}/prior-notice", prior_notice_request(fine, notified_on=day(270)), officer)
        step(f"/respondents/{number}/statements", waiver_request(received_on=day(269)), officer)
        step(f"/respondents/{number}/penalty-decision", penalty_decision_request(fine, decided_on=day(250)), head)
        step(
            f"/respondents/{number}/service",
            {
                "method": "on_the_spot",
                "document": document("行政处罚决定书送达回证", 10 + number),
                "served_on": day(250),
            },
            officer,
        )
    # The unit pays its 10,000 at the bank within the period; the principal pays nothing.
    step(
        "/respondents/1/payments",
        {
            "amount_fen": 1_000_000,
            "bank": "中国农业银行醴陵支行",
            "receipt_reference": "ABC-2026-0001",
            "paid_on": day(245),
        },
        officer,
    )
    step("/respondents/2/reminder", {"document": document("催告书", 20), "served_on": day(40)}, officer)
    applied = step(
        "/respondents/2/court-application",
        {"court": "醴陵市人民法院", "document": document("强制执行申请书", 21), "applied_on": day(20)},
        head,
    )
    outstanding = applied["respondents"][1]["outstanding_fen"]
    step(
        "/respondents/2/court-ruling",
        {
            "ruling": "granted",
            "recovered_fen": outstanding,
            "document": document("准予强制执行裁定书", 22),
            "ruled_on": day(10),
        },
        officer,
    )
    step("/closure", {"summary": "单位已缴纳罚款；主要负责人经人民法院强制执行", "closed_on": day(5)}, head)
    step("/archive", {"archive_reference": "醴应急档〔2026〕1号", "archived_on": day(3)}, head)
    annotated = step("/annotations", {"text": "案卷评查：程序合法，文书齐全", "annotated_on": day(1)}, legal)

    def _ledger() -> dict[str, Any] | None:
        # At the annotation's version (the case's own events move it): the publications,
        # which the disclosure service makes meanwhile, may come before or after it.
        response = client.get(cases, headers=officer)
        entry: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return entry if entry.get("status") == "archived" and entry.get("version") == annotated["version"] else None

    entry = eventually(_ledger, timeout, "the ledger to show the case archived")
    history: list[dict[str, Any]] = _ok(client.get(f"{cases}/history", headers=auth("auditor", AGENCY)))
    return AfterDecisionResult(
        case_id=case_id,
        numbers=[r["decision_number"] for r in entry["respondents"]],
        ledger_entry=entry,
        history=history,
    )


def publications_by_state(urls: dict[str, str], auth: Auth) -> dict[str, list[dict[str, Any]]]:
    """The agency's view of its publications (GET /v1/publications), grouped by state."""
    rows = _ok(
        httpx.get(
            f"{urls['disclosure']}/v1/publications", params={"limit": 200}, headers=auth("officer", AGENCY), timeout=30
        )
    )["items"]
    by_state: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        state = "overdue" if row["overdue"] else row["state"]
        shown = ("decision_number", "decision_kind", "tier", "party_name", "publish_by", "publication_end", "reason")
        by_state.setdefault(state, []).append({key: row[key] for key in shown})
    return by_state


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
    show("public disclosure feed entries, one per respondent (GET /v1/disclosures)", result.feed_entries)
    show("what the Credit China simulator accepted, by decision number", result.simulator_records)
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
    after = run_after_decision(urls, LocalSystem(data_dir=args.data_dir).auth)
    show(
        "after the decision (issue 12): another 一案双罚 case, paid / enforced, closed and archived",
        after.ledger_entry,
    )
    show("its history", [{"type": e["type"], "by": e["data"]["actor"]["subject"]} for e in after.history])
    first = result.webhooks[0]
    show(
        f"a webhook received ({len(result.webhooks)} in all for this case)",
        {
            "headers": {k: v for k, v in first["headers"].items() if k.startswith("webhook-")},
            "body": json.loads(first["body"]),
        },
    )
    show(
        "the agency's view of its publications by state (GET /v1/publications)",
        publications_by_state(urls, LocalSystem(data_dir=args.data_dir).auth),
    )


if __name__ == "__main__":
    main()
