"""Nothing lost, nothing twice, when the broker comes back empty (issue 8).

The whole system runs as real processes. Cases go through file, review, decide, refer and
publish with a webhook subscription; then every process stops and starts again as
`make run` does (same data, the embedded broker empty), or the broker alone is replaced
under the running services. The relays refill the new topic from the event stores, every
consumer reads it again, and each read model, what Credit China holds and the webhooks
received stay exactly as they were; new cases, on partitions used before, reach them all.
A position the topic cannot honour stops its consumer and says why in /readyz.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka.partitioner.default import murmur2

from devtools.demo import AGENCY, ENTERPRISE, OFFICERS, eventually, run_flow
from devtools.launcher import SERVICES, LocalSystem
from devtools.webhooks import WebhookReceiver
from services.case.application import CASE_ID_NAMESPACE
from tests.conftest import running_system

pytestmark = pytest.mark.e2e

RELAYING = ("case", "referral", "disclosure")
PARTITIONS = 6  # CASE_EVENTS_PARTITIONS, the default the services create the topic with


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def _system(request: pytest.FixtureRequest, factory: pytest.TempPathFactory, storage: str) -> Iterator[LocalSystem]:
    server = request.getfixturevalue("postgres_server") if storage == "postgresql" else None
    with running_system(factory.mktemp(f"restart-{storage}"), server) as running:
        # The deadline schedulers record a referral's or a publication's approaching event on
        # their tick (30 s by default): tick every half second, so that what they record falls
        # inside the one-second quiet window settled() waits for, not after a snapshot.
        running.extra_env["SCHEDULER_INTERVAL_S"] = "0.5"
        running.restart_together("case", "referral", "disclosure")
        yield running


@pytest.fixture(scope="module")
def sqlite_system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    yield from _system(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def postgresql_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalSystem]:
    yield from _system(request, tmp_path_factory, "postgresql")


# -- what the system shows ------------------------------------------------------------------


def _all_pages(client: httpx.Client, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def snapshot(system: LocalSystem, receiver: WebhookReceiver) -> dict[str, Any]:
    """Every read model as its API shows it, what Credit China accepted, the webhooks received."""
    officer, integration = system.auth("officer", AGENCY), system.auth("integration", AGENCY)
    with httpx.Client(timeout=30) as client:
        intake = client.get(system.url("credit_china") + "/api/v1/penalties").json()["items"]
        return {
            "ledger": _all_pages(client, system.url("case") + "/v1/cases", officer),
            "tracker": _all_pages(client, system.url("referral") + "/v1/referrals", officer),
            "feed": _all_pages(client, system.url("disclosure") + "/v1/disclosures", {}),
            "subscriptions": _all_pages(client, system.url("notification") + "/v1/subscriptions", integration),
            "deliveries": _all_pages(client, system.url("notification") + "/v1/deliveries", integration),
            "credit_china": sorted(intake, key=lambda r: r["publication_id"]),
            # A webhook sent twice shows up twice here.
            "webhooks": sorted((h["headers"]["webhook-id"], h["body"]) for h in receiver.received),
        }


def readiness(system: LocalSystem) -> dict[str, dict[str, Any]]:
    return {s: httpx.get(system.url(s) + "/readyz", timeout=10).json() for s in SERVICES}


def settled(system: LocalSystem, receiver: WebhookReceiver) -> dict[str, Any]:
    """The snapshot once no delivery is pending and nothing moves for a second."""

    def _quiet() -> dict[str, Any] | None:
        first = snapshot(system, receiver)
        if any(d["status"] == "pending" for d in first["deliveries"]):
            return None
        time.sleep(1.0)
        second = snapshot(system, receiver)
        return second if second == first else None

    result: dict[str, Any] = eventually(_quiet, 90, "the system to settle")
    return result


def counters(system: LocalSystem) -> tuple[dict[str, int], dict[str, int]]:
    """How many events each relay published and each consumer read (handed to its handler,
    or dropped unparsed as a type it does not handle), so far."""
    ready = readiness(system)
    published = {s: ready[s]["relay"]["published"] for s in RELAYING}
    read = {f"{s}/{name}": _read(c) for s in SERVICES for name, c in ready[s]["consumers"].items()}
    return published, read


def _read(consumer: dict[str, Any]) -> int:
    return int(consumer["applied"]) + int(consumer["skipped"])


def refilled(system: LocalSystem, old_identity: str | None, before: tuple[dict[str, int], dict[str, int]]) -> str:
    """Wait until the relays published their stores again to one new topic and every
    consumer was handed all of it; returns the new topic's identity."""
    published_before, applied_before = before
    last: list[Any] = []

    def _done() -> str | None:
        ready = readiness(system)
        last[:] = [ready]
        relays = {s: ready[s]["relay"] for s in RELAYING}
        identities = {r["topic_identity"] for r in relays.values()}
        if len(identities) != 1 or old_identity in identities or None in identities:
            return None
        if any(r["backlog"] or r["waiting_for"] for r in relays.values()):
            return None
        total = sum(relays[s]["published"] - published_before.get(s, 0) for s in RELAYING)
        consumers = {f"{s}/{n}": c for s in SERVICES for n, c in ready[s]["consumers"].items()}
        for name, consumer in consumers.items():
            if consumer["topic_identity"] not in identities:
                return None
            if _read(consumer) - applied_before.get(name, 0) < total:
                return None
        assert total > 0
        return identities.pop()

    try:
        identity: str = eventually(_done, 180, "the new topic to be refilled and read")
    except TimeoutError as exc:
        raise AssertionError(f"not refilled; before {before}, last readiness {last}") from exc
    return identity


def topic_identity(system: LocalSystem) -> str:
    identities = {readiness(system)[s]["relay"]["topic_identity"] for s in RELAYING}
    assert len(identities) == 1, identities
    return identities.pop()


def partition_of(case_id: str, partitions: int = PARTITIONS) -> int:
    """The partition the relays' producer puts a case's events on (kafka-python's default
    partitioner: murmur2 of the key)."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


def partition_count(system: LocalSystem) -> int:
    """How many partitions the topic has now, as the consumers were given them (a broker
    that creates a missing topic by itself may give it another count than ensure_topic)."""
    ready = readiness(system)
    return 1 + max(p for s in SERVICES for c in ready[s]["consumers"].values() for p in c["partitions"])


def flows(system: LocalSystem, receiver: WebhookReceiver, count: int, filing_key: str | None = None) -> list[str]:
    urls = {name: system.url(name) for name in (*SERVICES, "credit_china")}
    return [run_flow(urls, receiver, system.auth, timeout=120, filing_key=filing_key).case["id"] for _ in range(count)]


def new_case_reaches_everything(system: LocalSystem, receiver: WebhookReceiver, used: set[int]) -> str:
    """Drive a new case, on a partition used before, through every service (run_flow fails
    unless it reaches the ledger, tracker, feed, Credit China and the subscriber). A filing
    with an Idempotency-Key gets the case id uuid5(namespace, "<agency code>:<key>")."""
    partitions = partition_count(system)
    key = next(
        k
        for k in (f"restart-{uuid.uuid4()}" for _ in range(1000))
        if partition_of(str(uuid.uuid5(CASE_ID_NAMESPACE, f"{AGENCY['code']}:{k}")), partitions) in used
    )
    (case_id,) = flows(system, receiver, 1, filing_key=key)
    assert partition_of(case_id, partitions) in used
    return case_id


def unchanged_for(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Everything in ``before`` is in ``after`` exactly once and unchanged."""
    by_id = {e["case_id"]: e for e in after["ledger"]}
    assert [by_id.get(e["case_id"]) for e in before["ledger"]] == before["ledger"]
    old_ids = {w[0] for w in before["webhooks"]}
    assert [w for w in after["webhooks"] if w[0] in old_ids] == before["webhooks"], "an old webhook came again"
    intake = {r["publication_id"]: r for r in after["credit_china"]}
    assert [intake.get(r["publication_id"]) for r in before["credit_china"]] == before["credit_china"]


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_a_restart_with_an_empty_broker_keeps_everything_and_loses_nothing(
    storage: str, request: pytest.FixtureRequest, receiver: WebhookReceiver
) -> None:
    system: LocalSystem = request.getfixturevalue(f"{storage}_system")
    old_cases = flows(system, receiver, 2)
    before = settled(system, receiver)
    # Each case fines a unit and its principal (一案双罚): two publications a case.
    assert len(before["ledger"]) == 2 and len(before["credit_china"]) == 4 and before["webhooks"]
    old_identity = topic_identity(system)

    system.stop()
    system.start(timeout=120)  # as `make run` does: the same data, the embedded broker empty

    refilled(system, old_identity, ({}, {}))
    after = settled(system, receiver)
    assert after == before, "a read model, Credit China or the subscriber changed across the restart"

    new = new_case_reaches_everything(system, receiver, {partition_of(c) for c in old_cases})
    later = settled(system, receiver)
    unchanged_for(before, later)
    assert {e["case_id"] for e in later["ledger"]} == {*old_cases, new}
    assert len(later["credit_china"]) == 2 * (len(old_cases) + 1)


def test_a_broker_replaced_under_running_services_is_refilled(
    sqlite_system: LocalSystem, receiver: WebhookReceiver
) -> None:
    system = sqlite_system
    cases = flows(system, receiver, 1)
    before = settled(system, receiver)
    old_identity = topic_identity(system)
    counts = counters(system)

    system.kill("broker")
    system.start_broker()  # same address, empty: the services keep running

    refilled(system, old_identity, counts)
    assert settled(system, receiver) == before
    ledger_ids = {e["case_id"] for e in before["ledger"]}
    assert set(cases) <= ledger_ids
    # The partitions the old cases' events are on in the refilled topic.
    used = {partition_of(c, partition_count(system)) for c in ledger_ids}
    new = new_case_reaches_everything(system, receiver, used)
    later = settled(system, receiver)
    unchanged_for(before, later)
    assert {e["case_id"] for e in later["ledger"]} == ledger_ids | {new}


def _move_position(system: LocalSystem, consumer: str, by: int) -> int:
    """Move a case-service consumer's stored position on one partition by ``by``; returns
    the partition."""
    with sqlite3.connect(system.data_dir / "case" / "views.sqlite") as db:
        partition = db.execute(
            "SELECT MIN(partition) FROM consumer_positions WHERE consumer = ? AND next_offset > 0", (consumer,)
        ).fetchone()[0]
        db.execute(
            "UPDATE consumer_positions SET next_offset = next_offset + ? WHERE consumer = ? AND partition = ?",
            (by, consumer, partition),
        )
    return int(partition)


def test_a_position_beyond_the_topic_stops_its_consumer_and_says_why(
    sqlite_system: LocalSystem, receiver: WebhookReceiver
) -> None:
    system = sqlite_system
    settled(system, receiver)
    # As if the topic had been restored from an older backup: the ledger's stored position
    # on one partition is 100,000 records past what that same topic holds.
    system.kill("case")
    partition = _move_position(system, "case-ledger", 100_000)
    system.start_service("case")

    def _unready() -> dict[str, Any] | None:
        try:
            response = httpx.get(system.url("case") + "/readyz", timeout=10)
        except httpx.TransportError:
            return None  # still starting
        body: dict[str, Any] = response.json()
        return body if response.status_code == 503 and body.get("reason") else None

    body = eventually(_unready, 90, "the case service to say it cannot consume")
    halted = body["consumers"]["case-ledger"]["halted"]
    assert f"partition {partition}" in halted and "beyond what topic" in halted
    assert body["reason"].startswith("case-ledger: ")

    # A case filed meanwhile is stored, and the ledger does not pretend to have it.
    officer = httpx.Client(base_url=system.url("case"), timeout=30, headers=system.auth("officer", AGENCY))
    filed = officer.post(
        "/v1/cases",
        json={
            "agency": AGENCY,
            "party": ENTERPRISE,
            "violation_summary": "停止消费期间立案",
            "violation_date": "2026-09-01",
            "legal_basis": "《安全生产法》第九十七条",
            "officers": OFFICERS,
        },
    )
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["id"]
    assert httpx.get(system.url("case") + "/readyz", timeout=10).status_code == 503

    # Put the position back (what an operator's replay would make true): nothing was lost.
    system.kill("case")
    _move_position(system, "case-ledger", -100_000)
    system.restart("case")
    eventually(lambda: officer.get(f"/v1/cases/{case_id}").status_code == 200, 60, "the ledger to show the case")
