"""A natural person's ID number and phone number are nowhere in clear at rest: not in the
event stores, not in the read models (the SQLite files, or every PostgreSQL table of every
service), not on the Kafka topic, not in the logs; an authorised officer still reads them
through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer

from devtools.demo import AGENCY, PERSON_ID, PERSON_PHONE, WebhookReceiver, run_flow
from devtools.launcher import SERVICES, LocalSystem
from services.infra.settings import CASE_EVENTS_TOPIC
from tests.conftest import drop_databases, start_system

pytestmark = pytest.mark.e2e
SECRETS = {"ID number": PERSON_ID.encode(), "phone number": PERSON_PHONE.encode()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    running = start_system(tmp_path_factory.mktemp(f"at-rest-{request.param}"), server)
    try:
        yield running
    finally:
        running.stop()
        if server:
            drop_databases(server, running.database_prefix)


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
        CASE_EVENTS_TOPIC, bootstrap_servers=system.bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=5000, group_id=None,
    )
    try:
        values = [m.value for m in consumer]
    finally:
        consumer.close()
    return _found_in(b"".join(values)), len(values)


def test_personal_data_is_never_at_rest_in_clear(system: LocalSystem) -> None:
    urls = {name: system.url(name) for name in (*SERVICES, "credit_china")}
    with WebhookReceiver() as receiver:
        result = run_flow(urls, receiver, system.auth, timeout=90)  # a natural person, through every service
        for hook in receiver.received:  # webhooks leave the system: masked
            assert not _found_in(hook["body"]), "a webhook carried personal data in clear"

    # The officer still reads the full values through the API.
    case = httpx.get(f"{urls['case']}/v1/cases/{result.case['id']}", headers=system.auth("officer", AGENCY)).json()
    assert case["party"]["code"] == PERSON_ID and case["party"]["phone"] == PERSON_PHONE
    found = httpx.get(f"{urls['case']}/v1/cases", params={"party_code": PERSON_ID}, headers=system.auth("officer", AGENCY))
    assert [i["case_id"] for i in found.json()["items"]] == [result.case["id"]]  # searchable by keyed digest

    assert scan_files(system.data_dir) == {}
    if system.postgres_url:
        hits, rows = scan_postgres(system)
        assert rows > 10 and hits == {}
    else:
        assert list(system.data_dir.rglob("*.sqlite*")), "no SQLite files were scanned"
    topic_hits, messages = scan_topic(system)
    assert messages >= 6 and topic_hits == []
