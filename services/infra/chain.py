"""Tamper evidence for an event store (防篡改): every stored event is bound to its
predecessor by a hash chain computed at write time, in the transaction that stores it,
and the log is committed to by RFC 9162 Merkle tree heads (services/infra/merkle.py)
that the service signs and publishes (services/infra/tree_heads.py).

How events are stored (the eventsourcing library): one row per event in the events
table (``stored_events`` on SQLite, ``<app>_events`` on PostgreSQL) with originator id,
version, topic and the serialised state, numbered by the notification id (SQLite's
rowid, PostgreSQL's bigserial; a PostgreSQL id can be skipped by a rolled-back insert).
The recorders below subclass the library's process recorders: after the library
inserted the events and learnt their notification ids, still in the same transaction
(and, on PostgreSQL, under the library's EXCLUSIVE lock on the events table, on SQLite
under the database's write lock) they append one row per event to ``<events>_chain``:

    position (0, 1, 2 ... dense: the Merkle leaf index), notification_id,
    originator_id, originator_version,
    leaf_hash  = HASH(0x00 || leaf data), leaf data = the event's notification id,
                 originator id, version, topic and state bytes, each length-prefixed
    chain_hash = HASH(previous chain_hash || leaf_hash)   (32 zero bytes before the first)

Stores written before the chain existed are **back-filled when the chain table is
created** (the first start of a service with this code, or ``python -m
services.infra.verify backfill``): in the transaction that creates it, under the same
lock, every existing event is chained in notification order. Later no event is ever
chained except by its own insert, so a row slipped into the events table afterwards is
reported, not adopted.

The hash algorithm (SHA-256, or SM3 with ``CHAIN_HASH=sm3``) is recorded in
``<events>_chain_meta`` when the chain is created and used from then on; a different
setting later is refused at start-up rather than mixing two algorithms in one chain.

Verification (``verify``) re-reads every event, recomputes its leaf and the chain, and
checks each stored signed head against the tree recomputed from the events: it reports
the first position that does not match and why. No domain rule lives here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresFactory, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteFactory, SQLiteProcessRecorder
from psycopg.sql import SQL, Identifier

from services.infra.merkle import HashAlgorithm, MerkleAccumulator, consistency_proof, inclusion_proof, root

CHAIN_HASH = "CHAIN_HASH"
GENESIS = bytes(32)
PAGE = 2000


class ChainConfigurationError(RuntimeError):
    pass


def leaf_data(notification_id: int, originator_id: Any, version: int, topic: str, state: bytes) -> bytes:
    """The bytes a leaf commits to: where the event sits in the log and all it stores."""
    parts = [str(notification_id).encode(), _canonical_id(originator_id).encode(), str(version).encode()]
    parts += [topic.encode(), bytes(state)]
    return b"caseledger.event.v1" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _canonical_id(originator_id: Any) -> str:
    try:
        return str(uuid.UUID(str(originator_id)))
    except ValueError:
        return str(originator_id)


def chain_link(alg: HashAlgorithm, previous: bytes, leaf_hash: bytes) -> bytes:
    return alg.digest(previous + leaf_hash)


@dataclass(frozen=True)
class StoredRow:
    """An event as the events table holds it."""

    notification_id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes

    def leaf_hash(self, alg: HashAlgorithm) -> bytes:
        return alg.leaf_hash(
            leaf_data(self.notification_id, self.originator_id, self.originator_version, self.topic, self.state)
        )


@dataclass(frozen=True)
class ChainRow:
    position: int
    notification_id: int
    originator_id: str
    originator_version: int
    leaf_hash: bytes
    chain_hash: bytes


@dataclass
class Finding:
    """The first position that does not match, and why."""

    position: int
    reason: str
    notification_id: int | None = None
    originator_id: str | None = None
    originator_version: int | None = None


@dataclass
class Verification:
    log: str
    algorithm: str
    checked: int = 0
    heads_checked: int = 0
    finding: Finding | None = None
    head_findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding is None and not self.head_findings

    def as_dict(self) -> dict[str, Any]:
        finding = self.finding
        return {
            "log": self.log,
            "ok": self.ok,
            "algorithm": self.algorithm,
            "events_checked": self.checked,
            "heads_checked": self.heads_checked,
            "first_bad_position": finding.position if finding else None,
            "first_bad": finding.__dict__ if finding else None,
            "heads": self.head_findings,
        }


# -- the SQL of one store, SQLite or PostgreSQL ------------------------------------------


class _Tables:
    """Statements over the events table and its chain, heads and meta tables."""

    def __init__(self, events_table: str, *, postgres: bool, schema: str = "public") -> None:
        self.postgres = postgres
        self.schema = schema

        def q(name: str) -> str:
            if postgres:
                return str(SQL("{}.{}").format(Identifier(schema), Identifier(name)).as_string(None))
            return f'"{name}"'

        self.p = "%s" if postgres else "?"
        blob = "bytea" if postgres else "BLOB"
        self.events = q(events_table)
        self.chain = q(f"{events_table}_chain")
        self.heads = q(f"{events_table}_heads")
        self.meta = q(f"{events_table}_chain_meta")
        self.chain_name = f"{events_table}_chain"
        self.nid = "notification_id" if postgres else "rowid"
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {self.chain} (position bigint PRIMARY KEY, notification_id bigint NOT NULL "
            f"UNIQUE, originator_id text NOT NULL, originator_version bigint NOT NULL, leaf_hash {blob} NOT NULL, "
            f"chain_hash {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.heads} (tree_size bigint PRIMARY KEY, root_hash {blob} NOT NULL, "
            "algorithm text NOT NULL, signed_at text NOT NULL, key_id text NOT NULL, signature text NOT NULL, "
            "published boolean NOT NULL DEFAULT false)",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (key text PRIMARY KEY, value text NOT NULL)",
        ]

    def chain_exists(self, c: Any) -> bool:
        if self.postgres:
            c.execute("SELECT to_regclass(%s) AS t", (self.chain,))
            return c.fetchone()["t"] is not None
        c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (self.chain_name,))
        return c.fetchone() is not None

    def select_events(self) -> str:
        return (
            f"SELECT {self.nid} AS nid, originator_id, originator_version, topic, state FROM {self.events} "
            f"WHERE {self.nid} > {self.p} ORDER BY {self.nid} LIMIT {self.p}"
        )


def _stored(row: Any) -> StoredRow:
    return StoredRow(row["nid"], row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))


def _chain_row(row: Any) -> ChainRow:
    return ChainRow(
        row["position"],
        row["notification_id"],
        row["originator_id"],
        row["originator_version"],
        bytes(row["leaf_hash"]),
        bytes(row["chain_hash"]),
    )


class _Chain:
    """The chain of one events table: appended to by the recorder in its transaction."""

    def __init__(self, tables: _Tables, algorithm: HashAlgorithm) -> None:
        self.t = tables
        self.alg = algorithm

    def create(self, c: Any) -> int:
        """Create the chain's tables; a new chain takes in every event already stored.
        Returns how many events were back-filled."""
        if self.t.postgres:
            c.execute(f"LOCK TABLE {self.t.events} IN EXCLUSIVE MODE")
        new = not self.t.chain_exists(c)
        for statement in self.t.create:
            c.execute(statement)
        p = self.t.p
        c.execute(f"SELECT value FROM {self.t.meta} WHERE key = {p}", ("algorithm",))
        recorded = c.fetchone()
        if recorded is None:
            c.execute(f"INSERT INTO {self.t.meta} (key, value) VALUES ({p}, {p})", ("algorithm", self.alg.value))
        elif recorded["value"] != self.alg.value:
            raise ChainConfigurationError(
                f"the chain of {self.t.events} uses {recorded['value']}, CHAIN_HASH says {self.alg.value}: "
                "one chain keeps one algorithm"
            )
        if not new:
            return 0
        filled, after = 0, 0
        while True:
            c.execute(self.t.select_events(), (after, PAGE))
            rows = [_stored(r) for r in c.fetchall()]
            if not rows:
                return filled
            self._append_rows(c, rows)
            filled += len(rows)
            after = rows[-1].notification_id

    def append(self, c: Any, stored_events: Sequence[StoredEvent], notification_ids: Sequence[int] | None) -> None:
        if not stored_events:
            return
        assert notification_ids is not None and len(notification_ids) == len(stored_events)
        self._append_rows(
            c,
            [
                StoredRow(nid, e.originator_id, e.originator_version, e.topic, e.state)
                for nid, e in zip(notification_ids, stored_events, strict=True)
            ],
        )

    def _append_rows(self, c: Any, rows: Sequence[StoredRow]) -> None:
        c.execute(f"SELECT position, chain_hash FROM {self.t.chain} ORDER BY position DESC LIMIT 1")
        tail = c.fetchone()
        position, previous = (tail["position"] + 1, bytes(tail["chain_hash"])) if tail else (0, GENESIS)
        params = []
        for row in rows:
            leaf = row.leaf_hash(self.alg)
            previous = chain_link(self.alg, previous, leaf)
            params.append(
                (
                    position,
                    row.notification_id,
                    _canonical_id(row.originator_id),
                    row.originator_version,
                    leaf,
                    previous,
                )
            )
            position += 1
        p = self.t.p
        c.executemany(
            f"INSERT INTO {self.t.chain} (position, notification_id, originator_id, originator_version, leaf_hash, "
            f"chain_hash) VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            params,
        )


def _algorithm(env: Any) -> HashAlgorithm:
    name = (env.get(CHAIN_HASH) or HashAlgorithm.SHA256.value).lower()
    try:
        return HashAlgorithm(name)
    except ValueError:
        raise ChainConfigurationError(
            f"CHAIN_HASH must be one of {[a.value for a in HashAlgorithm]}, not {name}"
        ) from None


class _Chained:
    """What both recorders add: the chain, created (and back-filled) with their tables."""

    chain: _Chain
    backfilled = 0

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)  # type: ignore[misc]
        self.backfilled = self.chain.create(c)


class ChainedSQLiteRecorder(_Chained, SQLiteProcessRecorder):
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        self.chain.append(c, stored_events, ids)
        return ids


class ChainedPostgresRecorder(_Chained, PostgresProcessRecorder):
    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Still inside the library's transaction, holding its lock on the events table.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        self.chain.append(curs, stored_events, ids)
        return ids


class ChainedSQLiteFactory(SQLiteFactory):
    """PERSISTENCE_MODULE ``services.infra.chain:ChainedSQLiteFactory``."""

    def process_recorder(self) -> ChainedSQLiteRecorder:
        recorder = ChainedSQLiteRecorder(datastore=self.datastore)
        recorder.chain = _Chain(_Tables("stored_events", postgres=False), _algorithm(self.env))
        if self.env_create_table():
            recorder.create_table()
        return recorder


class ChainedPostgresFactory(PostgresFactory):
    """PERSISTENCE_MODULE ``services.infra.chain:ChainedPostgresFactory``."""

    def process_recorder(self) -> ChainedPostgresRecorder:
        prefix = self.env.name.lower() or "stored"
        events_table = prefix + "_events"
        recorder = ChainedPostgresRecorder(
            datastore=self.datastore,
            events_table_name=events_table,
            tracking_table_name=(self.env.name.lower() or "notification") + "_tracking",
        )
        tables = _Tables(events_table, postgres=True, schema=self.datastore.schema)
        recorder.chain = _Chain(tables, _algorithm(self.env))
        if self.env_create_table():
            recorder.create_table()
        return recorder


ChainedRecorder = ChainedSQLiteRecorder | ChainedPostgresRecorder


# -- reading the chain: verification and proofs ----------------------------------------


@dataclass(frozen=True)
class StoredHead:
    tree_size: int
    root_hash: bytes
    algorithm: str
    signed_at: str
    key_id: str
    signature: str
    published: bool


class TamperEvidentLog:
    """The chain, the heads and the proofs of one event store, read through its recorder."""

    def __init__(self, name: str, recorder: Any) -> None:
        if not isinstance(recorder, ChainedSQLiteRecorder | ChainedPostgresRecorder):
            raise ChainConfigurationError(f"the {name} event store has no chain (PERSISTENCE_MODULE)")
        self.name = name
        self.recorder = recorder
        self.t = recorder.chain.t
        self.alg = recorder.chain.alg

    def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return list(c.fetchall())

    def size(self) -> int:
        rows = self._rows(f"SELECT COUNT(*) AS n FROM {self.t.chain}")
        return int(rows[0]["n"])

    def _chain_rows(self) -> Iterator[ChainRow]:
        after = -1
        while True:
            p = self.t.p
            rows = self._rows(
                f"SELECT * FROM {self.t.chain} WHERE position > {p} ORDER BY position LIMIT {p}", (after, PAGE)
            )
            if not rows:
                return
            for row in rows:
                yield _chain_row(row)
            after = rows[-1]["position"]

    def _events(self) -> Iterator[StoredRow]:
        after = 0
        while True:
            rows = [_stored(r) for r in self._rows(self.t.select_events(), (after, PAGE))]
            if not rows:
                return
            yield from rows
            after = rows[-1].notification_id

    def leaf_hashes(self, size: int) -> list[bytes]:
        p = self.t.p
        rows = self._rows(f"SELECT leaf_hash FROM {self.t.chain} WHERE position < {p} ORDER BY position", (size,))
        return [bytes(r["leaf_hash"]) for r in rows]

    def position_of(self, originator_id: Any, version: int) -> ChainRow | None:
        p = self.t.p
        rows = self._rows(
            f"SELECT * FROM {self.t.chain} WHERE originator_id = {p} AND originator_version = {p}",
            (_canonical_id(originator_id), version),
        )
        return _chain_row(rows[0]) if rows else None

    def entries_of(self, originator_id: Any) -> list[tuple[ChainRow, StoredRow | None]]:
        """An aggregate's chain rows, in log order, each with its event as stored now."""
        p = self.t.p
        chained = [
            _chain_row(r)
            for r in self._rows(
                f"SELECT * FROM {self.t.chain} WHERE originator_id = {p} ORDER BY position",
                (_canonical_id(originator_id),),
            )
        ]
        entries: list[tuple[ChainRow, StoredRow | None]] = []
        for row in chained:
            stored = self._rows(
                f"SELECT {self.t.nid} AS nid, originator_id, originator_version, topic, state FROM {self.t.events} "
                f"WHERE {self.t.nid} = {p}",
                (row.notification_id,),
            )
            entries.append((row, _stored(stored[0]) if stored else None))
        return entries

    def root(self, size: int) -> bytes:
        return root(self.alg, self.leaf_hashes(size))

    def inclusion(self, position: int, size: int) -> dict[str, Any]:
        leaves = self.leaf_hashes(size)
        if size > len(leaves) or not 0 <= position < size:
            raise ValueError(f"position {position} is not in a tree of {size} (the log holds {len(leaves)})")
        return {
            "log": self.name,
            "algorithm": self.alg.value,
            "position": position,
            "tree_size": size,
            "leaf_hash": leaves[position].hex(),
            "path": [h.hex() for h in inclusion_proof(self.alg, leaves, position)],
        }

    def consistency(self, old_size: int, new_size: int) -> dict[str, Any]:
        leaves = self.leaf_hashes(new_size)
        if new_size > len(leaves) or not 0 < old_size <= new_size:
            raise ValueError(f"no consistency proof from {old_size} to {new_size} (the log holds {len(leaves)})")
        return {
            "log": self.name,
            "algorithm": self.alg.value,
            "old_size": old_size,
            "new_size": new_size,
            "path": [h.hex() for h in consistency_proof(self.alg, leaves, old_size)],
        }

    # -- signed heads (stored here, signed and published by services/infra/tree_heads.py) --

    def heads(self, *, limit: int = 100, before: int | None = None) -> list[StoredHead]:
        p = self.t.p
        where = f"WHERE tree_size < {p} " if before is not None else ""
        params: list[Any] = [before] if before is not None else []
        rows = self._rows(f"SELECT * FROM {self.t.heads} {where}ORDER BY tree_size DESC LIMIT {p}", [*params, limit])
        return [
            StoredHead(
                r["tree_size"],
                bytes(r["root_hash"]),
                r["algorithm"],
                r["signed_at"],
                r["key_id"],
                r["signature"],
                bool(r["published"]),
            )
            for r in rows
        ]

    def head(self, tree_size: int) -> StoredHead | None:
        found = self.heads(limit=1, before=tree_size + 1)
        return found[0] if found and found[0].tree_size == tree_size else None

    def store_head(self, head: StoredHead) -> None:
        """Keep a signed head; one already kept for its size (signed at once by the worker
        and an export) stays."""
        p = self.t.p
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.t.heads} (tree_size, root_hash, algorithm, signed_at, key_id, signature, "
                f"published) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (tree_size) DO NOTHING",
                (
                    head.tree_size,
                    head.root_hash,
                    head.algorithm,
                    head.signed_at,
                    head.key_id,
                    head.signature,
                    head.published,
                ),
            )

    def mark_published(self, tree_size: int) -> None:
        p = self.t.p
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"UPDATE {self.t.heads} SET published = {p} WHERE tree_size = {p}", (True, tree_size))

    # -- verification ---------------------------------------------------------------

    def verify(
        self,
        check_head: Callable[[StoredHead], str | None] = lambda _h: None,
        progress: Callable[[int], None] = lambda _n: None,
    ) -> Verification:
        """Recompute every leaf and link from the stored events and check every stored
        head (``check_head`` says what is wrong with a head's signature, or None)."""
        report = Verification(self.name, self.alg.value)
        heads = sorted(self.heads(limit=1_000_000), key=lambda h: h.tree_size)
        accumulator = MerkleAccumulator(self.alg)
        good_through = 0  # the largest head size whose root matched
        events = self._events()
        pending: StoredRow | None = next(events, None)
        previous = GENESIS
        for expected, row in enumerate(self._chain_rows()):
            where = (row.notification_id, row.originator_id, row.originator_version)
            if row.position != expected:
                report.finding = report.finding or Finding(
                    expected, f"chain rows {expected} to {row.position - 1} are missing"
                )
                break
            if pending is not None and pending.notification_id < row.notification_id:
                report.finding = report.finding or Finding(
                    expected,
                    f"event {pending.notification_id} ({_canonical_id(pending.originator_id)} "
                    f"v{pending.originator_version}) is stored but was never chained",
                    pending.notification_id,
                )
                break
            if pending is None or pending.notification_id > row.notification_id:
                report.finding = report.finding or Finding(
                    expected, "the event chained here is no longer stored", *where
                )
                break
            leaf = pending.leaf_hash(self.alg)
            if leaf != row.leaf_hash:
                report.finding = report.finding or Finding(
                    expected, "the stored event differs from the one chained here", *where
                )
                break
            if chain_link(self.alg, previous, row.leaf_hash) != row.chain_hash:
                report.finding = report.finding or Finding(
                    expected, "the chain link does not follow from its predecessor", *where
                )
                break
            previous = row.chain_hash
            accumulator.append(leaf)
            report.checked += 1
            progress(report.checked)
            while heads and heads[0].tree_size == report.checked:
                good_through = self._check_head(report, heads.pop(0), accumulator.root(), good_through, check_head)
            pending = next(events, None)
        else:
            if pending is not None:
                report.finding = report.finding or Finding(
                    report.checked,
                    f"event {pending.notification_id} is stored after the chain's end but was never chained",
                    pending.notification_id,
                )
        for head in heads:  # heads beyond what verified
            report.heads_checked += 1
            if report.finding is None:
                report.head_findings.append(
                    f"head of size {head.tree_size} covers more than the log's {report.checked}"
                )
        return report

    def _check_head(
        self,
        report: Verification,
        head: StoredHead,
        recomputed: bytes,
        good_through: int,
        check_head: Callable[[StoredHead], str | None],
    ) -> int:
        report.heads_checked += 1
        problem = check_head(head)
        if problem:
            report.head_findings.append(f"head of size {head.tree_size}: {problem}")
            return good_through
        if head.root_hash != recomputed:
            report.head_findings.append(
                f"head of size {head.tree_size} does not match the events: a change at a position from "
                f"{good_through} to {head.tree_size - 1}"
            )
            if report.finding is None:
                report.finding = report.finding or Finding(
                    good_through, f"the signed head of size {head.tree_size} does not match"
                )
            return good_through
        return head.tree_size
