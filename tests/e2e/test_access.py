"""Who may call what, over real HTTP against the running services.

The matrix calls every route of every service with every role, at its own agency and at a
foreign one, and without a token, and checks each answer against the permission table in
services/access/policy.py. Routes are discovered from the services' routers (and checked to
be what their apps serve), so a new route without an access rule, or without a request
below, fails here.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.routing import APIRoute

from devtools.demo import (
    AGENCY,
    CITY_AGENCY,
    ENTERPRISE,
    FOREIGN_AGENCY,
    OFFICERS,
    PERSON,
    POLICE,
    PROCURATORATE,
    PROVINCE_AGENCY,
    dispatch_request,
    eventually,
    head_approval_request,
    penalty_decision_request,
    prior_notice_request,
    referral_request,
    waiver_request,
)
from devtools.launcher import SERVICES, LocalSystem
from devtools.tokens import KEY_ID, mint
from devtools.webhooks import WebhookReceiver
from services.access.guard import WRITE_PERMISSIONS, access_rule_of
from services.access.policy import PERMISSIONS, Role
from services.infra.clock import today_in_china
from tests.conftest import start_system

pytestmark = pytest.mark.e2e
HEALTH_CHECKS = {"/healthz", "/readyz", "/metrics"}  # unauthenticated by design, for the orchestrator and the scraper
YEAR = time.localtime().tm_year
TODAY = today_in_china().isoformat()  # a business date the world's case takes


def service_routes() -> list[tuple[str, str, str, Any]]:
    """(service, method, path, rule) for every route of every service: its router's, which
    its app (services/<service>/main.py) serves beside /healthz and /readyz."""
    import importlib

    found = []
    for service in SERVICES:
        router = importlib.import_module(f"services.{service}.routes").router
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path_format not in HEALTH_CHECKS:
                for method in sorted(route.methods or ()):
                    found.append((service, method, route.path_format, access_rule_of(route)))
    return found


ROUTES = service_routes()


def test_every_route_declares_exactly_one_access_rule() -> None:
    assert len({(s, m, p) for s, m, p, _ in ROUTES}) == len(ROUTES) >= 15, "the routes were not all found"
    import importlib

    for service in SERVICES:
        served = set(importlib.import_module(f"services.{service}.main").create_app().openapi()["paths"])
        assert served == {p for s, _, p, _ in ROUTES if s == service} | HEALTH_CHECKS, service
    missing = [f"{m} {p} ({s})" for s, m, p, rule in ROUTES if rule is None]
    assert not missing, f"routes without an access rule: {missing}"
    assert {rule for *_, rule in ROUTES} - {"public"} <= set(PERMISSIONS)
    # A command's guard records who acted; only write permissions set the actor.
    readonly_commands = [f"{m} {p}" for _, m, p, rule in ROUTES if m != "GET" and rule not in WRITE_PERMISSIONS]
    assert not readonly_commands, f"commands whose permission is not in WRITE_PERMISSIONS: {readonly_commands}"


# -- a world to call: one case of AGENCY, decided, referred to POLICE, published ----------


@dataclass
class World:
    system: LocalSystem
    ids: dict[str, str]

    def url(self, service: str, path: str) -> str:
        path = path.replace("{name}", "decision").replace("{number}", "1")  # a name and a number, not ids
        for name, value in self.ids.items():
            path = path.replace("{" + name + "}", value)
        return self.system.url(service) + path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    system = start_system(tmp_path_factory.mktemp("access"), None)
    receiver = WebhookReceiver().__enter__()
    try:
        yield World(system, build_world(system, receiver))
    finally:
        receiver.__exit__()
        system.stop()


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def build_world(system: LocalSystem, receiver: WebhookReceiver) -> dict[str, str]:
    client = httpx.Client(timeout=30)
    case_url, referral_url = system.url("case"), system.url("referral")
    subscription = _ok(
        client.post(
            system.url("notification") + "/v1/subscriptions",
            json={"callback_url": receiver.url, "event_types": ["*"]},
            headers={"Idempotency-Key": "access-sub", **system.auth("integration", AGENCY)},
        )
    )
    filed = _ok(client.post(case_url + "/v1/cases", json=file_body(PERSON), headers=system.auth("officer", AGENCY)))
    case_id = filed["id"]
    officer = system.auth("officer", AGENCY)
    # A measure taken and concluded, the one respondent notified (it waived), reviewed, decided.
    for path, body, headers in [
        ("/measures", MEASURE, officer),
        ("/measures/1/conclusion", MEASURE_CONCLUSION, officer),
        ("/respondents/1/prior-notice", NOTICE, officer),
        ("/respondents/1/statements", WAIVER, officer),
        ("/legal-reviews", REVIEW, system.auth("legal_reviewer", AGENCY)),
        ("/respondents/1/penalty-decision", DECISION, system.auth("agency_head", AGENCY)),
    ]:
        _ok(client.post(f"{case_url}/v1/cases/{case_id}{path}", json=body, headers=headers))
    referral = eventually(
        lambda: (
            (
                r := client.post(
                    referral_url + "/v1/referrals",
                    json=referral_request(case_id),
                    headers=system.auth("officer", AGENCY),
                )
            ).status_code
            == 201
            and r.json()
        ),
        90,
        "the referral service to learn of the case",
    )
    feed = eventually(
        lambda: [
            i
            for i in client.get(system.url("disclosure") + "/v1/disclosures").json()["items"]
            if i["case_id"] == case_id
        ],
        90,
        "the publication",
    )
    integration = system.auth("integration", AGENCY)
    delivery = eventually(
        lambda: client.get(system.url("notification") + "/v1/deliveries", headers=integration).json()["items"],
        90,
        "a delivery",
    )
    eventually(
        lambda: client.get(f"{case_url}/v1/cases/{case_id}", headers=system.auth("officer", AGENCY)).status_code == 200,
        60,
        "ledger",
    )
    eventually(
        lambda: (
            client.get(
                f"{referral_url}/v1/referrals/{referral['id']}", headers=system.auth("officer", AGENCY)
            ).status_code
            == 200
        ),
        60,
        "tracker",
    )
    replay = _ok(
        client.post(
            f"{system.url('notification')}/v1/subscriptions/{subscription['id']}/replays",
            json={"from_position": {"0": 0}},
            headers=integration,
        )
    )
    return {
        "replay_id": replay["id"],
        "case_id": case_id,
        "referral_id": referral["id"],
        "publication_id": feed[0]["publication_id"],
        "subscription_id": subscription["id"],
        "delivery_id": delivery[0]["id"],
        "rule_id": "case.decision_due",
        "log": "events",
    }


def file_body(party: dict[str, Any], agency: dict[str, str] = AGENCY) -> dict[str, Any]:
    return {
        "agency": agency,
        "party": party,
        "violation_summary": "未按规定对从业人员进行安全生产教育和培训",
        "violation_date": f"{YEAR}-01-05",
        "legal_basis": "《中华人民共和国安全生产法》第九十七条第三项",
        "officers": OFFICERS,
    }


REVIEW = {"outcome": "passed", "reviewer": {"name": "赵六"}, "opinion": "事实清楚"}
DOCUMENT = {"title": "询问笔录", "uri": "records://access/1", "sha256": "c" * 64}
MEASURE = {
    "kind": "preservation",
    "items": "培训档案",
    "officers": OFFICERS,
    "approver": {"name": "陈局长"},
    "document": DOCUMENT,
}
MEASURE_CONCLUSION = {"outcome": "解除", "document": DOCUMENT}
NOTICE = prior_notice_request(1000)
WAIVER = waiver_request()
DECISION = penalty_decision_request(1000, agency_short_name="醴")
ON_THE_SPOT = {
    "agency": {**AGENCY, "short_name": "醴"},
    "party": ENTERPRISE,
    "violation_summary": "未设置明显的安全警示标志",
    "violation_date": f"{YEAR}-01-05",
    "legal_basis": "《中华人民共和国安全生产法》第九十九条第一项",
    "officers": OFFICERS,
    "penalties": [{"kind": "warning"}],
    "performance_how": "当场履行",
    "reconsideration_organ": "醴陵市人民政府",
    "court": "醴陵市人民法院",
}


# What each route is called with. A new route needs a line here, or the matrix fails.
def request_for(world: World, method: str, path: str) -> dict[str, Any]:
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/cases"): file_body(ENTERPRISE),
        ("POST", "/v1/cases/on-the-spot"): ON_THE_SPOT,
        ("POST", "/v1/cases/{case_id}/evidence"): {"kind": "photo", "document": DOCUMENT, "officers": OFFICERS},
        ("POST", "/v1/cases/{case_id}/inquiries"): {"kind": "interview", "officers": OFFICERS, "record": DOCUMENT},
        ("POST", "/v1/cases/{case_id}/measures"): MEASURE,
        ("POST", "/v1/cases/{case_id}/measures/{number}/extension"): {"reason": "复杂", "approver": {"name": "陈局长"}},
        ("POST", "/v1/cases/{case_id}/measures/{number}/conclusion"): MEASURE_CONCLUSION,
        ("POST", "/v1/cases/{case_id}/legal-reviews"): REVIEW,
        ("POST", "/v1/cases/{case_id}/collective-discussions"): {
            "participants": ["陈局长", "刘副局长"],
            "conclusion": "同意",
            "minutes": DOCUMENT,
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/prior-notice"): NOTICE,
        ("POST", "/v1/cases/{case_id}/respondents/{number}/statements"): WAIVER,
        ("POST", "/v1/cases/{case_id}/respondents/{number}/hearing-request"): {},
        ("POST", "/v1/cases/{case_id}/respondents/{number}/hearing-schedule"): {
            "hearing_on": f"{YEAR + 1}-01-20",
            "place": "听证室",
            "chair": {"name": "钱七"},
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/hearing-record"): {
            "chair": {"name": "钱七"},
            "record": DOCUMENT,
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/penalty-decision"): DECISION,
        ("POST", "/v1/cases/{case_id}/respondents/{number}/no-penalty"): {
            "ground": "not_established",
            "reason": "不成立",
        },
        ("POST", "/v1/cases/{case_id}/dismissal"): {"reason": "违法事实不能成立"},
        ("POST", "/v1/cases/{case_id}/report"): {},
        # After the decision, in the routes' order: the world's decision (1,000 yuan, today)
        # served, paid in full, a reconsideration filed and upheld; so the reminder and the
        # court's steps are out of turn (409), and the case closes once its referral is back.
        ("POST", "/v1/cases/{case_id}/respondents/{number}/service-consent"): {
            "address": "access@example.cn",
            "document": DOCUMENT,
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/service"): {"method": "absent_party", "document": DOCUMENT},
        ("POST", "/v1/cases/{case_id}/respondents/{number}/payment-arrangement"): {
            "kind": "deferral",
            "applied_on": TODAY,
            "approver": {"name": "陈局长"},
            "reason": "经营困难",
            "due_on": f"{YEAR + 1}-06-30",
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/payments"): {
            "amount_fen": 100_000,
            "bank": "中国农业银行醴陵支行",
            "receipt_reference": "ACCESS-0001",
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/remedies"): {
            "kind": "reconsideration",
            "organ": "醴陵市人民政府",
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/remedy-decision"): {
            "outcome": "upheld",
            "document": DOCUMENT,
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/reminder"): {"document": DOCUMENT},
        ("POST", "/v1/cases/{case_id}/respondents/{number}/court-application"): {
            "court": "醴陵市人民法院",
            "document": DOCUMENT,
        },
        ("POST", "/v1/cases/{case_id}/respondents/{number}/court-ruling"): {"ruling": "granted", "document": DOCUMENT},
        ("POST", "/v1/cases/{case_id}/closure"): {"summary": "罚款已缴纳"},
        ("POST", "/v1/cases/{case_id}/archive"): {"archive_reference": "醴应急档1号"},
        ("POST", "/v1/cases/{case_id}/annotations"): {"text": "案卷评查：合格"},
        ("POST", "/v1/cases/{case_id}/deadlines/{name}/extensions"): {
            "change": "extension",
            "due_on": f"{YEAR + 1}-12-31",
            "reason": "案情复杂",
            "approver": {"name": "陈局长"},
        },
        ("POST", "/v1/referrals"): referral_request(world.ids["case_id"]),
        # The referral's steps, in their order: the matrix walks the world's referral through
        # them (a step out of turn is 409), as each organ may.
        ("POST", "/v1/referrals/{referral_id}/head-decision"): head_approval_request(),
        ("POST", "/v1/referrals/{referral_id}/dispatch"): dispatch_request(),
        ("POST", "/v1/referrals/{referral_id}/receipt"): {"received_by": {"name": "刘警官"}},
        ("POST", "/v1/referrals/{referral_id}/filing-decision"): {"outcome": "not_filed", "reason": "情节轻微"},
        ("POST", "/v1/referrals/{referral_id}/reconsideration-request"): {"reason": "证据充分"},
        ("POST", "/v1/referrals/{referral_id}/reconsideration-answer"): {"outcome": "upheld", "reason": "维持"},
        ("POST", "/v1/referrals/{referral_id}/supervision"): {"outcome": "notice_to_file", "reason": "应当立案"},
        ("POST", "/v1/referrals/{referral_id}/hand-over"): {
            "items": [{"description": "烟花爆竹半成品", "quantity": "200千克"}],
            "received_by": {"name": "刘警官"},
        },
        ("POST", "/v1/referrals/{referral_id}/outcomes"): {"outcome": "arrested"},
        ("POST", "/v1/referrals/{referral_id}/return"): {},
        ("POST", "/v1/referrals/{referral_id}/paid-fines"): {
            "decision_number": f"(醴)应急罚〔{YEAR}〕88号",
            "amount_yuan": 20000,
            "paid_on": f"{YEAR}-01-20",
        },
        # Credit repair of the world's publication, published today: the application is before
        # the minimum period (422), so there is nothing for the head to decide (409).
        ("POST", "/v1/publications/{publication_id}/repair-application"): {
            "obligations_performed": True,
            "commitment": DOCUMENT,
        },
        ("POST", "/v1/publications/{publication_id}/repair-decision"): {"granted": True, "reason": "已履行"},
        ("POST", "/v1/subscriptions"): {"callback_url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
        ("PATCH", "/v1/subscriptions/{subscription_id}"): {"description": "市局执法平台"},
        ("POST", "/v1/subscriptions/{subscription_id}/secret-rotations"): {"overlap_seconds": 600},
        ("POST", "/v1/subscriptions/{subscription_id}/pings"): None,
        ("POST", "/v1/subscriptions/{subscription_id}/dead-letters/redeliveries"): None,
        ("POST", "/v1/deliveries/{delivery_id}/redeliveries"): None,
        ("POST", "/v1/subscriptions/{subscription_id}/replays"): {"from_time": "2026-01-01T00:00:00+08:00"},
    }
    reads = {
        "/v1/cases",
        "/v1/cases/{case_id}",
        "/v1/cases/{case_id}/history",
        "/v1/referrals",
        "/v1/referrals/{referral_id}",
        "/v1/referrals/statistics",
        "/v1/disclosures",
        "/v1/disclosures/{publication_id}",
        "/v1/publications",
        "/v1/publications/{publication_id}",
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}",
        "/v1/subscriptions/{subscription_id}/replays/{replay_id}",
        "/v1/deliveries",
        "/v1/deliveries/{delivery_id}",
        "/v1/rules",
        "/v1/rules/{rule_id}",
        "/v1/cases/{case_id}/export",
        "/v1/cases/{case_id}/timeline",
        "/v1/audit/reads",
        "/v1/logs/{log}/heads",
        "/v1/logs/{log}/public-key",
        "/v1/logs/{log}/proofs/inclusion",
        "/v1/logs/{log}/proofs/consistency",
        "/v1/logs/{log}/verification",
    }
    if method in ("POST", "PATCH"):
        assert (method, path) in bodies, f"no request for the new route {method} {path}: add one to request_for"
        # A key per route: the steps act on one referral, where a key names one command;
        # both creations of a case derive its id from (agency, key), so each has its own.
        return {
            "json": bodies[(method, path)],
            "headers": {"Idempotency-Key": f"access-matrix-{zlib.crc32(path.encode())}"},
        }
    if method == "DELETE" and path == "/v1/subscriptions/{subscription_id}":
        return {}
    assert method == "GET" and path in reads, f"no request for the new route {method} {path}: add one to request_for"
    return {}


# Each role at its own agency, and at an agency it has nothing to do with.
HOME = {Role.PUBLIC_SECURITY: POLICE, Role.PROCURATORATE: PROCURATORATE}
CALLERS = [(role, HOME.get(role, AGENCY), "home") for role in Role] + [
    (role, FOREIGN_AGENCY, "foreign") for role in Role
]


# Read by every authenticated role at every agency: the law is the same for all of them.
UNSCOPED = {"/v1/rules", "/v1/rules/{rule_id}"} | {
    f"/v1/logs/{{log}}/{what}"
    for what in ("heads", "public-key", "proofs/inclusion", "proofs/consistency", "verification")
}  # a service's log is the service's, not an agency's


def expected(rule: Any, role: Role | None, where: str, method: str, path: str) -> set[int]:
    """The answers the permission table and the jurisdiction rules allow."""
    if rule == "public":
        return {200}
    if role is None:
        return {401}
    if role not in PERMISSIONS[rule]:
        return {403}
    if path in UNSCOPED:
        return {200}
    one_resource = "{" in path
    if where == "home":
        if method == "GET":
            return {200}
        if path == "/v1/publications/{publication_id}/repair-application":
            return {422}  # past the guard, the world's publication is before its minimum period
        # Commands run past the guard: replays (200/201), accepted for later (202), or 409
        # where the state forbids it.
        return {200, 201, 202, 204, 409}
    # A foreign agency with the right role: others' things do not exist for it.
    if method == "GET":
        return {404} if one_resource else {200}
    if (method, path) in {("POST", "/v1/cases"), ("POST", "/v1/cases/on-the-spot")}:
        return {403}  # it may only file (or decide on the spot) for its own agency
    if (method, path) == ("POST", "/v1/referrals"):
        return {409}  # answered exactly as for a case not known (yet): 409 with Retry-After
    if (method, path) == ("POST", "/v1/subscriptions"):
        return {201, 200}  # its own subscription, scoped to what it may see
    return {404}


@pytest.mark.parametrize(("service", "method", "path", "rule"), ROUTES, ids=[f"{m} {p}" for _, m, p, _ in ROUTES])
def test_route_answers_each_role_as_the_table_says(
    world: World, service: str, method: str, path: str, rule: Any
) -> None:
    client = httpx.Client(timeout=30)
    request = request_for(world, method, path)
    mismatches = []
    for role, agency, where in [*CALLERS, (None, AGENCY, "none")]:
        headers = dict(request.get("headers", {}))
        if role is not None:
            headers.update(world.system.auth(role.value, agency))
        if method == "DELETE":  # deactivate a subscription made for this call, not the world's
            target = _ok(
                client.post(
                    world.system.url("notification") + "/v1/subscriptions",
                    json={"callback_url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
                    headers={"Idempotency-Key": f"to-delete-{uuid.uuid4()}", **world.system.auth("admin", AGENCY)},
                )
            )
            url = world.system.url(service) + path.replace("{subscription_id}", target["id"])
        else:
            url = world.url(service, path)
        response = client.request(method, url, json=request.get("json"), headers=headers)
        want = expected(rule, role, where, method, path)
        if response.status_code not in want:
            mismatches.append(
                f"{role and role.value}@{where}: {response.status_code} (expected {sorted(want)}) {response.text[:160]}"
            )
        if response.status_code in (401, 403, 404):
            assert response.headers["content-type"] == "application/problem+json"
        if response.status_code == 404 and method != "DELETE":
            # Another agency's thing is answered exactly as a thing that does not exist.
            ghost = client.request(
                method, _with_unknown_ids(world, service, path), json=request.get("json"), headers=headers
            )
            assert _anonymised(ghost.json(), world) == _anonymised(response.json(), world)
        if (
            rule != "public"
            and where == "foreign"
            and method == "GET"
            and response.status_code == 200
            and "{" not in path
            and path not in UNSCOPED
        ):
            assert not set(world.ids.values()) & set(_ids_in(response.json())), f"{role}@foreign sees {path}"
    assert not mismatches, f"{method} {path} (rule {rule}):\n" + "\n".join(mismatches)


GHOST = "00000000-0000-4000-8000-000000000000"


def _with_unknown_ids(world: World, service: str, path: str) -> str:
    path = path.replace("{name}", "decision").replace("{number}", "1")
    for name in world.ids:
        path = path.replace("{" + name + "}", GHOST)
    return world.system.url(service) + path


def _anonymised(problem: dict[str, Any], world: World) -> dict[str, Any]:
    text = str({k: v for k, v in problem.items() if k != "trace_id"})
    for value in world.ids.values():
        text = text.replace(value, GHOST)
    return {"problem": text}


def _ids_in(body: Any) -> list[str]:
    items = body.get("items", []) if isinstance(body, dict) else body
    keys = ("case_id", "referral_id", "id", "subscription_id", "publication_id")
    return [str(item.get(k)) for item in items for k in keys if item.get(k)]


# -- jurisdiction: the city and province above see the county's case, and do not act on it --


@pytest.mark.parametrize("above", [CITY_AGENCY, PROVINCE_AGENCY], ids=["city", "province"])
def test_higher_levels_see_subordinate_cases_but_do_not_act_on_them(world: World, above: dict[str, str]) -> None:
    case = world.url("case", "/v1/cases/{case_id}")
    assert httpx.get(case, headers=world.system.auth("auditor", above)).status_code == 200
    listed = httpx.get(world.system.url("case") + "/v1/cases", headers=world.system.auth("auditor", above)).json()
    assert world.ids["case_id"] in [i["case_id"] for i in listed["items"]]
    review = httpx.post(case + "/legal-reviews", json=REVIEW, headers=world.system.auth("legal_reviewer", above))
    assert review.status_code == 403 and review.json()["type"] == "/problems/forbidden"
    # A sibling county sees nothing of it.
    assert httpx.get(case, headers=world.system.auth("auditor", FOREIGN_AGENCY)).status_code == 404


def test_personal_data_is_full_for_those_who_need_it_and_masked_for_auditors(world: World) -> None:
    case = world.url("case", "/v1/cases/{case_id}")
    officer = httpx.get(case, headers=world.system.auth("officer", AGENCY)).json()
    auditor = httpx.get(case, headers=world.system.auth("auditor", AGENCY)).json()
    assert officer["party"]["code"] == PERSON["code"] and officer["party"]["phone"] == PERSON["phone"]
    assert auditor["party"]["code"] == "430281********1234" and auditor["party"]["phone"] == "138****8000"
    assert PERSON["code"] not in str(auditor)
    police = httpx.get(
        world.url("referral", "/v1/referrals/{referral_id}"), headers=world.system.auth("public_security", POLICE)
    )
    assert police.json()["party"]["code"] == PERSON["code"]  # the part of the case the referral shares


# -- tokens: every way a token can be wrong is a 401 -------------------------------------


def _foreign_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def bad_tokens(data_dir: Path) -> dict[str, dict[str, str]]:
    claims: dict[str, Any] = {"roles": ["auditor"], "agency_code": AGENCY["code"], "region_code": AGENCY["region_code"]}
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    good = mint(data_dir, **claims)
    header, payload, signature = good.split(".")
    return {
        "missing": {},
        "expired": bearer(mint(data_dir, ttl_s=-300, **claims)),
        "wrongly signed": bearer(mint(data_dir, private_key_pem=_foreign_key_pem(), kid=KEY_ID, **claims)),
        "tampered": bearer(f"{header}.{payload[:-4]}AAAA.{signature}"),
        "wrong audience": bearer(mint(data_dir, audience="another-system", **claims)),
        "untrusted issuer": bearer(mint(data_dir, issuer="someone-else", **claims)),
        "not a bearer token": {"Authorization": f"Basic {good}"},
        "unsigned": bearer(
            jwt.encode({"sub": "x", "aud": "caseledger", "iss": "caseledger-dev", "exp": 2**31}, "", algorithm="none")
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "expired",
        "wrongly signed",
        "tampered",
        "wrong audience",
        "untrusted issuer",
        "not a bearer token",
        "unsigned",
    ],
)
def test_bad_tokens_are_refused_with_401(world: World, case: str) -> None:
    headers = bad_tokens(world.system.data_dir)[case]
    for service, path in [
        ("case", "/v1/cases/{case_id}"),
        ("referral", "/v1/referrals"),
        ("notification", "/v1/deliveries"),
    ]:
        response = httpx.get(world.url(service, path), headers=headers)
        assert response.status_code == 401, f"{case} on {service}: {response.status_code} {response.text}"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
        assert world.ids["case_id"] not in response.json()["detail"]  # it speaks of the token only
    good = world.system.auth("auditor", AGENCY)
    assert httpx.get(world.url("case", "/v1/cases/{case_id}"), headers=good).status_code == 200


def test_limits_and_security_headers(world: World) -> None:
    officer = world.system.auth("officer", AGENCY)
    url = world.system.url("case") + "/v1/cases"
    huge = httpx.post(
        url, content=b"{" + b" " * (300 * 1024) + b"}", headers={**officer, "content-type": "application/json"}
    )
    assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"
    form = httpx.post(url, content=b"a=1", headers={**officer, "content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    answer = httpx.get(world.url("case", "/v1/cases/{case_id}"), headers=officer)
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"
    # CORS is off: a browser origin gets no allowance.
    preflight = httpx.options(url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_a_system_caller_is_recorded_with_whom_it_acts_for(world: World) -> None:
    """An agency's own case-handling system files for an officer: the event names both."""
    system_token = world.system.auth(
        "officer",
        AGENCY,
        subject="system:liling-case-client",
        subject_type="system",
        on_behalf_of="officer-li-43010001",
    )
    filed = httpx.post(
        world.system.url("case") + "/v1/cases",
        json=file_body(ENTERPRISE),
        headers={
            **system_token,
            "Idempotency-Key": "system-caller",
            "X-Reason": "%E7%BA%BF%E7%B4%A2%E6%A0%B8%E6%9F%A5",
        },
    )
    assert filed.status_code == 201, filed.text
    history = httpx.get(
        world.system.url("case") + f"/v1/cases/{filed.json()['id']}/history",
        headers=world.system.auth("auditor", AGENCY),
    ).json()
    actor = history[0]["data"]["actor"]
    assert actor["subject"] == "system:liling-case-client" and actor["subject_type"] == "system"
    assert actor["on_behalf_of"] == "officer-li-43010001" and actor["role"] == "officer"
    assert actor["agency_code"] == AGENCY["code"] and actor["reason"] == "线索核查"
    assert actor["trace_id"] == filed.headers["x-trace-id"]
