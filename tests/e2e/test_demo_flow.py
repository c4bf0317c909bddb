"""The whole system as real processes: file, review, penalise, refer and publish over HTTP,
then check the ledger, the tracker, the feed, Credit China and a signed webhook; and that a
natural person's ID number and phone are nowhere in clear at rest (event stores, read
models as SQLite files or every PostgreSQL table, the Kafka topic, logs, webhooks) while an
authorised officer still reads them through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer
from standardwebhooks import Webhook

from devtools.demo import (
    AGENCY,
    EXPECTED_WEBHOOK_TYPES,
    PERSON_ID,
    PERSON_PHONE,
    POLICE,
    run_flow,
)
from devtools.launcher import SERVICES, LocalSystem
from devtools.webhooks import WebhookReceiver
from services.infra.settings import CASE_EVENTS_TOPIC
from tests.conftest import running_system

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    with running_system(tmp_path_factory.mktemp(request.param), server) as running:
        yield running


def test_one_case_through_every_service(system: LocalSystem) -> None:
    urls = {name: system.url(name) for name in (*SERVICES, "credit_china")}
    with WebhookReceiver() as receiver:
        result = run_flow(urls, receiver, system.auth, timeout=90)

    case_id = result.case["id"]
    # The ledger learnt the decision and the other services' facts from Kafka.
    ledger = result.ledger_entry
    assert ledger["status"] == "decided"
    assert ledger["version"] == 3
    assert ledger["fine_total_yuan"] == 30000
    assert ledger["referral_status"] == "referred" and ledger["referral_organ"] == "public_security"
    assert ledger["publication_status"] == "published"

    tracker = result.tracker_row
    assert tracker["case_id"] == case_id and tracker["status"] == "referred"
    assert tracker["receiving_organ"] == "public_security"
    # One trace from the referral request, through the event store and Kafka, into the tracker.
    assert tracker["trace_id"] == result.responses["refer"].headers["x-trace-id"]
    # The police read the referral addressed to them, with the party's ID number in full.
    assert tracker["organ_code"] == POLICE["code"] and tracker["party"]["code"] == PERSON_ID

    feed_text = json.dumps(result.feed_entry, ensure_ascii=False)
    assert PERSON_ID not in feed_text and PERSON_PHONE not in feed_text
    assert "黄某某" in feed_text and "黄小明" not in feed_text
    public_feed = httpx.get(f"{urls['disclosure']}/v1/disclosures").text
    assert PERSON_ID not in public_feed

    simulator_text = json.dumps(result.simulator_record, ensure_ascii=False)
    assert result.responses["decide"].json()["decision_number"] in simulator_text
    assert PERSON_ID not in simulator_text and PERSON_PHONE not in simulator_text

    verifier = Webhook(result.subscription["secret"])
    types = set()
    for hook in result.webhooks:
        payload = verifier.verify(hook["body"], hook["headers"])  # raises if the signature is wrong
        assert payload["subject"] == case_id
        assert hook["headers"]["webhook-id"] == payload["id"]
        types.add(payload["type"])
    assert types >= EXPECTED_WEBHOOK_TYPES

    # Auditors replay the case's stored history: three events, in order, each naming who
    # acted, in which role, for which agency, and why where a reason was given.
    history = result.history
    assert [e["type"] for e in history] == [
        "cn.caseledger.case.filed.v1",
        "cn.caseledger.case.legal_review_recorded.v1",
        "cn.caseledger.case.penalty_decided.v1",
    ]
    actors = [e["data"]["actor"] for e in history]
    assert [a["role"] for a in actors] == ["officer", "legal_reviewer", "agency_head"]
    assert {a["agency_code"] for a in actors} == {AGENCY["code"]} and all(a["subject"] for a in actors)
    assert actors[2]["reason"] == "负责人集体讨论决定"
    assert actors[0]["trace_id"] == result.responses["file"].headers["x-trace-id"]
    # Auditors read personal data masked.
    assert history[0]["data"]["party"]["code"] == "430281********1234"


def test_case_commands_answer_with_problems(system: LocalSystem) -> None:
    """409 names the state and the allowed actions, 412 the current version, 422 the field
    and the rule; a retried command with the same Idempotency-Key gets the first result."""
    from devtools.demo import ENTERPRISE, OFFICERS

    client = httpx.Client(base_url=system.url("case"), timeout=30, headers=system.auth("officer", AGENCY))
    reviewer = system.auth("legal_reviewer", AGENCY)
    head = system.auth("agency_head", AGENCY)
    body = {
        "agency": AGENCY,
        "party": ENTERPRISE,
        "violation_summary": "未如实记录安全生产教育和培训情况",
        "violation_date": "2026-09-01",
        "legal_basis": "《安全生产法》第九十七条",
        "officers": OFFICERS,
        "filed_on": "2026-11-02",
    }
    first = client.post("/v1/cases", json=body, headers={"Idempotency-Key": "e2e-file-1"})
    again = client.post("/v1/cases", json=body, headers={"Idempotency-Key": "e2e-file-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    case_id = first.json()["id"]

    blank_key = client.post("/v1/cases", json=body, headers={"Idempotency-Key": ""})
    assert blank_key.status_code == 422 and blank_key.json()["errors"][0]["pointer"] == "Idempotency-Key"

    changed = client.post(
        "/v1/cases", json={**body, "violation_summary": "另一事实"}, headers={"Idempotency-Key": "e2e-file-1"}
    )
    assert changed.status_code == 422 and changed.json()["type"] == "/problems/idempotency-key-reused"

    early = client.post(
        f"/v1/cases/{case_id}/penalty-decision",
        json={"decision_number": "(醴)应急罚〔2026〕7号", "penalties": [{"kind": "warning"}]},
        headers=head,
    )
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert early.json()["current_state"] == "filed"
    assert early.json()["allowed_actions"] == ["record_legal_review"]

    stale = client.post(
        f"/v1/cases/{case_id}/legal-reviews",
        json={"outcome": "passed", "reviewer": {"name": "赵六"}},
        headers={"If-Match": '"7"', **reviewer},
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 1

    bad = client.post("/v1/cases", json={**body, "party": {**ENTERPRISE, "code": "91430281MA4L12345X"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/party/code" and bad.json()["errors"][0]["rule"] == "uscc"

    malformed = client.post("/v1/cases", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and malformed.json()["status"] == 422

    # Nothing half-written: the refused commands left the case at version 1.
    history = client.get(f"/v1/cases/{case_id}/history").json()
    assert [e["type"] for e in history] == ["cn.caseledger.case.filed.v1"]


# -- personal data at rest ---------------------------------------------------------------

SECRETS = {"ID number": PERSON_ID.encode(), "phone number": PERSON_PHONE.encode()}


def _found_in(blob: bytes) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in blob]


def scan_files(data_dir: Path) -> dict[str, list[str]]:
    """Every file the services wrote (SQLite databases with their WAL, logs), byte by byte."""
    hits = {}
    for path in data_dir.rglob("*"):
        if path.is_file() and "auth" not in path.relative_to(data_dir).parts:
            found = _found_in(path.read_bytes())
            if found:
                hits[str(path.relative_to(data_dir))] = found
    return hits


def scan_postgres(system: LocalSystem) -> tuple[dict[str, list[str]], int]:
    """Every row of every table in every service database, each value as stored (bytea
    as its raw bytes, everything else as text)."""
    hits, rows_scanned = {}, 0
    for service in SERVICES:
        url = system.database_url(service)
        assert url
        with psycopg.connect(url) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    rows_scanned += 1
                    blob = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row)
                    found = _found_in(blob)
                    if found:
                        hits[f"{service}.{table}"] = found
    return hits, rows_scanned


def scan_topic(system: LocalSystem) -> tuple[list[str], int]:
    consumer = KafkaConsumer(
        CASE_EVENTS_TOPIC,
        bootstrap_servers=system.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        group_id=None,
    )
    try:
        values = [m.value for m in consumer]
    finally:
        consumer.close()
    return _found_in(b"".join(values)), len(values)


def test_a_retried_referral_gets_the_first_result_and_a_reused_key_is_refused(system: LocalSystem) -> None:
    """The referral honours Idempotency-Key as every write does: the same key and body
    again answer with the first referral; the same key with a different body is refused;
    a different referral of the case to the same organ without the key is 409."""
    from devtools.demo import ENTERPRISE, OFFICERS, eventually, referral_request

    officer = system.auth("officer", AGENCY)
    filed = httpx.post(
        f"{system.url('case')}/v1/cases",
        json={
            "agency": AGENCY,
            "party": ENTERPRISE,
            "violation_summary": "拒不执行重大事故隐患整改指令",
            "violation_date": "2026-09-01",
            "legal_basis": "《安全生产法》第一百零二条",
            "officers": OFFICERS,
        },
        headers=officer,
        timeout=30,
    )
    assert filed.status_code == 201, filed.text
    referrals = httpx.Client(base_url=system.url("referral"), timeout=30, headers=officer)
    body = referral_request(filed.json()["id"])
    key = {"Idempotency-Key": f"e2e-refer-{filed.json()['id']}"}

    def refer() -> httpx.Response | None:
        response = referrals.post("/v1/referrals", json=body, headers=key)
        unknown = response.status_code == 422 and response.json()["type"] == "/problems/unknown-case"
        return None if unknown else response  # the referral service learns the case from Kafka

    first = eventually(refer, 60, "the referral service to know the case")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = referrals.post("/v1/referrals", json=body, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]

    changed = {**body, "reason": "另一移送理由"}
    reused = referrals.post("/v1/referrals", json=changed, headers=key)
    assert reused.status_code == 422 and reused.json()["type"] == "/problems/idempotency-key-reused"
    other = referrals.post("/v1/referrals", json=changed, headers={"Idempotency-Key": f"{key['Idempotency-Key']}-2"})
    assert other.status_code == 409 and other.json()["type"] == "/problems/already-referred"
    assert other.json()["referral_id"] == first.json()["id"]


def test_personal_data_is_never_at_rest_in_clear(system: LocalSystem) -> None:
    urls = {name: system.url(name) for name in (*SERVICES, "credit_china")}
    with WebhookReceiver() as receiver:
        result = run_flow(urls, receiver, system.auth, timeout=90)  # a natural person, through every service
        for hook in receiver.received:  # webhooks leave the system: masked
            assert not _found_in(hook["body"]), "a webhook carried personal data in clear"

    # The officer still reads the full values through the API.
    case = httpx.get(f"{urls['case']}/v1/cases/{result.case['id']}", headers=system.auth("officer", AGENCY)).json()
    assert case["party"]["code"] == PERSON_ID and case["party"]["phone"] == PERSON_PHONE
    found = httpx.get(
        f"{urls['case']}/v1/cases", params={"party_code": PERSON_ID}, headers=system.auth("officer", AGENCY)
    )
    items = found.json()["items"]  # searchable by a keyed digest of the ID number
    assert result.case["id"] in [i["case_id"] for i in items] and {i["party"]["code"] for i in items} == {PERSON_ID}

    assert scan_files(system.data_dir) == {}
    if system.postgres_url:
        hits, rows = scan_postgres(system)
        assert rows > 10 and hits == {}
    else:
        assert list(system.data_dir.rglob("*.sqlite*")), "no SQLite files were scanned"
    topic_hits, messages = scan_topic(system)
    assert messages >= 6 and topic_hits == []
