"""Tamper evidence of the event store on SQLite and PostgreSQL: the hash chain written
with each event, verification naming the first bad position after one changed byte, a
deleted row, two reordered rows; inclusion and consistency proofs checked against signed
heads as an outsider would (services.infra.merkle alone), and failing after tampering."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from services.case.application import CaseApplication
from services.common.rules import load_catalogue
from services.infra.chain import TamperEvidentLog, leaf_data
from services.infra.merkle import HashAlgorithm, verify_consistency, verify_inclusion
from services.infra.settings import Settings
from services.infra.storage import event_store_env
from services.infra.tree_heads import HeadSigner, check_signature, head_view
from services.infra.verify import open_log, verify_log
from tests.integration.test_delivery_guarantees import file_cases
from tests.unit.conftest import TEST_CIPHER


class Store:
    """A case service's event store and raw SQL on its events table, as a DBA has it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = CaseApplication(env=event_store_env(settings), cipher=TEST_CIPHER, catalogue=load_catalogue())
        self.log = TamperEvidentLog("case/events", self.app.recorder)
        self.signer = HeadSigner.from_settings(settings)
        self.postgres = settings.uses_postgres
        self.table = "cases_events" if self.postgres else "stored_events"
        self.nid = "notification_id" if self.postgres else "rowid"

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        statement = statement.replace("{events}", self.table).replace("{nid}", self.nid)
        if self.postgres:
            assert self.settings.database_url
            with psycopg.connect(self.settings.database_url, autocommit=True) as pg:
                cur = pg.execute(statement.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []
        lite = sqlite3.connect(self.settings.service_dir() / "events.sqlite")
        try:
            rows = list(lite.execute(statement, params).fetchall())
            lite.commit()
            return rows
        finally:
            lite.close()

    def notification_id(self, position: int) -> int:
        return int(self.sql(f"SELECT notification_id FROM {self.chain_table} WHERE position = ?", (position,))[0][0])

    @property
    def chain_table(self) -> str:
        return f"{self.table}_chain"

    def verify(self) -> dict[str, Any]:
        return verify_log(self.log, self.signer.public_key).as_dict()

    def leaf(self, position: int) -> bytes:
        """The leaf hash an outsider computes from the event as the store now holds it."""
        nid = self.notification_id(position)
        originator, version, topic, state = self.sql(
            "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {nid} = ?", (nid,)
        )[0]
        return HashAlgorithm.SHA256.leaf_hash(leaf_data(nid, originator, version, topic, bytes(state)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, settings_for: Callable[..., Settings]) -> Iterator[Store]:
    database_url = request.getfixturevalue("postgres_database") if request.param == "postgresql" else None
    settings = settings_for("case", "127.0.0.1:1", database_url)
    s = Store(settings)
    file_cases(s.app, 6)  # 12 events: positions 0 to 11
    yield s
    s.app.close()


def test_an_unchanged_store_verifies(store: Store) -> None:
    store.signer.sign(store.log)
    report = store.verify()
    assert report["ok"], report
    assert report["events_checked"] == 12
    assert report["heads_checked"] == 1


def test_one_changed_byte_is_found_at_its_position(store: Store) -> None:
    nid = store.notification_id(5)
    (state,) = store.sql("SELECT state FROM {events} WHERE {nid} = ?", (nid,))[0]
    changed = bytearray(state)
    changed[len(changed) // 2] ^= 0x01
    store.sql("UPDATE {events} SET state = ? WHERE {nid} = ?", (bytes(changed), nid))
    report = store.verify()
    assert not report["ok"]
    assert report["first_bad_position"] == 5
    assert report["first_bad"]["reason"] == "the stored event differs from the one chained here"
    assert report["first_bad"]["notification_id"] == nid


def test_a_deleted_row_is_found_at_its_position(store: Store) -> None:
    store.sql("DELETE FROM {events} WHERE {nid} = ?", (store.notification_id(7),))
    report = store.verify()
    assert report["first_bad_position"] == 7
    assert report["first_bad"]["reason"] == "the event chained here is no longer stored"


def test_two_reordered_rows_are_found_at_the_first(store: Store) -> None:
    a, b = store.notification_id(3), store.notification_id(4)
    store.sql("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", (-1, a))
    store.sql("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", (a, b))
    store.sql("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", (b, -1))
    report = store.verify()
    assert report["first_bad_position"] == 3


def test_a_row_slipped_in_is_not_adopted(store: Store) -> None:
    rows = store.sql("SELECT originator_id, topic, state FROM {events} ORDER BY {nid} LIMIT 1")
    originator, topic, state = rows[0]
    store.sql(
        "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (originator, 99, topic, state),
    )
    file_cases(store.app, 1)  # later writes chain only their own events
    report = store.verify()
    assert report["first_bad_position"] == 12
    assert "never chained" in report["first_bad"]["reason"]


def test_proofs_check_against_published_heads_and_fail_after_tampering(store: Store) -> None:
    alg = HashAlgorithm.SHA256
    old = head_view("case/events", store.signer.sign(store.log))  # type: ignore[arg-type]
    file_cases(store.app, 3)  # 18 events
    new = head_view("case/events", store.signer.sign(store.log))  # type: ignore[arg-type]
    public_key = store.signer.public_key
    assert check_signature(old, public_key) is None and check_signature(new, public_key) is None
    assert (old["tree_size"], new["tree_size"]) == (12, 18)

    # An outsider: the event's leaf, the proof, the signed head, nothing else.
    proof = store.log.inclusion(4, new["tree_size"])
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert verify_inclusion(alg, store.leaf(4), 4, 18, path, bytes.fromhex(new["root_hash"]))
    consistency = [bytes.fromhex(h) for h in store.log.consistency(12, 18)["path"]]
    assert verify_consistency(
        alg, 12, 18, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]), consistency
    )

    # A DBA changes event 4 and rewrites its chain row and every link after it to match.
    nid = store.notification_id(4)
    store.sql("UPDATE {events} SET state = ? WHERE {nid} = ?", (b'{"forged": true}', nid))
    forged_leaf = store.leaf(4)
    assert not verify_inclusion(alg, forged_leaf, 4, 18, path, bytes.fromhex(new["root_hash"]))
    previous = bytes(store.sql(f"SELECT chain_hash FROM {store.chain_table} WHERE position = 3")[0][0])
    for position in range(4, 18):
        leaf = (
            forged_leaf
            if position == 4
            else bytes(store.sql(f"SELECT leaf_hash FROM {store.chain_table} WHERE position = ?", (position,))[0][0])
        )
        previous = alg.digest(previous + leaf)
        store.sql(
            f"UPDATE {store.chain_table} SET leaf_hash = ?, chain_hash = ? WHERE position = ?",
            (leaf, previous, position),
        )
    # The chain is whole again, but the store's proofs no longer reach the published heads.
    forged = store.log.inclusion(4, 18)
    forged_path = [bytes.fromhex(h) for h in forged["path"]]
    assert not verify_inclusion(alg, forged_leaf, 4, 18, forged_path, bytes.fromhex(new["root_hash"]))
    forged_root = store.log.root(18)
    forged_consistency = [bytes.fromhex(h) for h in store.log.consistency(12, 18)["path"]]
    assert not verify_consistency(alg, 12, 18, bytes.fromhex(old["root_hash"]), forged_root, forged_consistency)
    report = store.verify()
    assert not report["ok"]
    assert report["first_bad_position"] == 0  # below the first head that no longer matches
    assert "head of size 12 does not match" in report["heads"][0]


def test_sm3_chains_and_an_old_store_is_back_filled(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("case", "127.0.0.1:1")
    settings.chain_hash = "sm3"
    s = Store(settings)
    file_cases(s.app, 2)
    s.app.close()
    # A store from before the chain: drop its chain tables, as if written by the old code.
    s.sql("DROP TABLE stored_events_chain")
    s.sql("DELETE FROM stored_events_chain_meta")
    tree_log, factory = open_log(settings)
    try:
        assert tree_log.recorder.backfilled == 4
        assert tree_log.alg is HashAlgorithm.SM3
        assert verify_log(tree_log, s.signer.public_key).ok
    finally:
        factory.close()
