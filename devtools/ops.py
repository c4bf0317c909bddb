"""``caseledger``: the operator's command line, on the building blocks the chaos run checks
the system with (devtools/chaos: the stores and topic readers, the projections' facts, the
table checksums), not copies of them.

    caseledger status                 every relay's backlog and every consumer's lag, in
                                      events and in seconds
    caseledger rebuild case           rebuild the case ledger beside the one serving, switch
                                      when it has caught up, and print the checksum proof
    caseledger replay referral        publish the referral event store to the broker again
    caseledger verify case            check the case service's tamper-evident log (the
                                      chain and every signed head): the first bad position
    caseledger export <case id>       the case file (案卷), saved and verified offline
    caseledger show <case id> --as-of 2026-09-01T10:00:00+08:00
                                      the case as recorded at a moment (or --version N)

Where the system is: ``--postgres`` (the server; each service's database is
``<prefix>_<service>``), ``--prefix``, ``--bootstrap`` (the brokers) and ``--data-dir`` (the
personal-data key ring and, for ``replay`` and ``verify`` on SQLite, the event stores).
``status`` and ``rebuild`` read PostgreSQL, as production runs; ``replay`` and ``verify``
work on either. ``export`` and ``show`` ask the case service over HTTP (``--case-url``) with
the operator's bearer token (``--token`` or ``CASELEDGER_TOKEN``; on a development system,
one is minted for ``--role``/``--agency`` with the keys under ``--data-dir``), so the read
audit records them like any other read, with ``--reason`` as their X-Reason.

A rebuild runs the service's own projection class and ``ProjectionRunner`` over the whole
topic into a PostgreSQL schema of its own in the service's database, while the serving
tables go on answering and being fed. When it has read the topic to its end it takes the
serving tables' write lock (readers still read), reads what came meanwhile, and in one
transaction swaps its tables in (the replaced ones are kept in a ``retired_*`` schema) and
hands its positions and applied ids to the service's consumer. It prints the checksum of
the rebuild from the topic, of what now serves (read in the same transaction: equal, or the
switch fails and nothing changes) and of what it replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql
from psycopg.types.json import Json
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import create_async_engine
from tqdm import tqdm

from devtools.chaos.facts import EVENT_STORES, PROJECTIONS, RELAY_POSITION, TOPIC, ProjectionCheck
from devtools.chaos.rebuild import table_digest
from devtools.chaos.stores import connect, relay_backlog, stored_offsets
from devtools.chaos.topic import Topic
from devtools.inprocess import consumed_batch, key_ring, service_settings
from devtools.launcher import LocalSystem
from services.case.application import CaseApplication
from services.common.rules import load_catalogue
from services.disclosure.application import DisclosureApplication
from services.infra.broker import ensure_topic, make_producer
from services.infra.casefile import verify_archive
from services.infra.eventstore import ServiceApplication, to_kafka_message
from services.infra.migrations import new_revision
from services.infra.projection import ProjectionRunner, applied_events, consumer_positions
from services.infra.relay import produce
from services.infra.settings import Settings
from services.infra.storage import event_store_env, read_model_url
from services.infra.topic import topic_watch
from services.infra.tree_heads import HeadSigner, load_public_key
from services.infra.verify import SERVICE_LOGS, open_log, verify_log
from services.referral.application import ReferralApplication


def system_of(args: argparse.Namespace) -> LocalSystem:
    return LocalSystem(
        data_dir=Path(args.data_dir),
        postgres_url=args.postgres,
        database_prefix=args.prefix,
        bootstrap_servers=args.bootstrap,
    )


# -- status ---------------------------------------------------------------------------------


def status(system: LocalSystem) -> dict[str, Any]:
    """Every relay (events in its store not yet on the topic, and how long the oldest has
    waited) and every projection consumer (records on the topic it has not applied, and how
    old the oldest of them is)."""
    topic = Topic(system.bootstrap)
    try:
        ends = topic.reported_ends()
        relays = {
            s: {"backlog_events": relay_backlog(system, s), "backlog_seconds": _relay_age(system, s)}
            for s in EVENT_STORES
        }
        consumers = {}
        for check in PROJECTIONS:
            name = check.projection(system).name
            offsets = stored_offsets(system, check.service, name)
            behind = {p: max(0, end - offsets.get(p, 0)) for p, end in ends.items()}
            consumers[name] = {
                "service": check.service,
                "lag_events": sum(behind.values()),
                "lag_seconds": _record_age(topic.consumer, {p: offsets.get(p, 0) for p, n in behind.items() if n}),
            }
    finally:
        topic.close()
    return {"relays": relays, "consumers": consumers, "topic_ends": ends}


def _relay_age(system: LocalSystem, service: str) -> float:
    """Seconds since the oldest event of the store that the relay has not published."""
    app = EVENT_STORES[service]
    with connect(system, service) as conn:
        position = conn.execute(
            f'SELECT MAX(notification_id) AS n FROM "{app}_tracking" WHERE application_name LIKE %s', (RELAY_POSITION,)
        ).fetchone()
        row = conn.execute(
            f'SELECT state FROM "{app}_events" WHERE notification_id > %s ORDER BY notification_id LIMIT 1',
            (int((position or {}).get("n") or 0),),
        ).fetchone()
    if row is None:
        return 0.0
    stamp = json.loads(bytes(row["state"])).get("timestamp")
    text = stamp.get("_data_") if isinstance(stamp, dict) else stamp
    try:
        recorded = datetime.fromisoformat(str(text))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - recorded.replace(tzinfo=recorded.tzinfo or UTC).timestamp())


def _record_age(consumer: KafkaConsumer, positions: dict[int, int]) -> float:
    """Seconds since the oldest record at these positions (the next ones a consumer reads) was written."""
    oldest = None
    for partition, offset in positions.items():
        tp = TopicPartition(TOPIC, partition)
        consumer.seek(tp, offset)
        for records in consumer.poll(timeout_ms=2000, max_records=1).values():
            for record in records:
                oldest = record.timestamp if oldest is None else min(oldest, record.timestamp)
    return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)


def print_status(state: dict[str, Any]) -> None:
    print(f"{'relay':<28}{'backlog events':>16}{'backlog s':>12}")
    for service, relay in state["relays"].items():
        print(f"{service:<28}{relay['backlog_events']:>16}{relay['backlog_seconds']:>12.1f}")
    print(f"\n{'consumer':<28}{'lag events':>16}{'lag s':>12}")
    for name, consumer in state["consumers"].items():
        print(f"{name:<28}{consumer['lag_events']:>16}{consumer['lag_seconds']:>12.1f}")


# -- rebuild --------------------------------------------------------------------------------

# The services whose projection is a read model that can be rebuilt from the topic (the
# deliveries carry the webhook worker's state: records, not rebuilt).
REBUILDABLE = ("case", "referral", "disclosure")


def rebuild(system: LocalSystem, service: str, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Rebuild ``service``'s projection beside the serving one and switch to it (see the
    module's docstring). Returns the proof: positions and checksums."""
    check = next(c for c in PROJECTIONS if c.service == service)
    projection = check.projection(system)
    if not getattr(projection, "rebuilt_tables", ()):
        raise SystemExit(f"{projection.name} keeps records (the deliveries' state), not a rebuildable read model")
    settings = service_settings(system, service, case_events_topic=TOPIC)
    assert settings.database_url, "caseledger rebuild runs on PostgreSQL (--postgres)"
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    schema, retired = f"rebuild_{stamp}", f"retired_{stamp}"
    identity = topic_watch(settings).identity(fresh=True)
    tables = [projection.metadata.tables[name] for name in projection.rebuilt_tables]
    with connect(system, service) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    engine = create_async_engine(read_model_url(settings), connect_args={"server_settings": {"search_path": schema}})
    runner = ProjectionRunner(settings, projection, engine=engine)  # its tables by the service's migrations
    topic = Topic(system.bootstrap)
    try:
        _copy_inputs(system, service, schema, check)
        applied: dict[int, int] = {}
        total = 0
        analyze_at = 1
        with tqdm(desc=f"rebuild {projection.name}", unit="event", file=sys.stderr) as bar:

            def catch_up() -> dict[int, int]:
                nonlocal total, analyze_at
                ends = topic.catch_up()
                for partition, records in topic.records.items():
                    fresh = records[applied.get(partition, 0) :]
                    for start in range(0, len(fresh), 500):  # the services' consumer batch size
                        events, last = consumed_batch(fresh[start : start + 500])
                        runner.apply(TopicPartition(TOPIC, partition), events, last, identity)
                        bar.update(len(events))
                        total += len(events)
                        if total >= analyze_at:
                            # Fresh tables have no statistics: without them PostgreSQL plans a
                            # batch's IN (...) of keys as a scan of the whole grown table.
                            _analyze(system, service, schema, [*tables, consumer_positions, applied_events])
                            analyze_at = total * 4
                    applied[partition] = len(records)
                return ends

            catch_up()
            out(f"caught up with the topic ({total} events); switching")
            with connect(system, service) as live, live.transaction():
                names = [*(t.name for t in tables), consumer_positions.name, applied_events.name]
                # Writers wait from here (the service's consumer among them); readers read on.
                live.execute(
                    sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(sql.Identifier("public", n) for n in names)
                    )
                )
                ends = catch_up()  # what came meanwhile
                rebuilt = _digests(live, schema, tables, check, projection.name)
                replaced = _digests(live, "public", tables, check, projection.name)
                live.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(retired)))
                for table in tables:
                    live.execute(
                        sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                            sql.Identifier("public", table.name), sql.Identifier(retired)
                        )
                    )
                    live.execute(sql.SQL("ALTER TABLE {} SET SCHEMA public").format(sql.Identifier(schema, table.name)))
                for bookkeeping in (consumer_positions, applied_events):
                    live.execute(
                        sql.SQL("DELETE FROM {} WHERE consumer = %s").format(
                            sql.Identifier("public", bookkeeping.name)
                        ),
                        (projection.name,),
                    )
                    live.execute(
                        sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE consumer = %s").format(
                            sql.Identifier("public", bookkeeping.name), sql.Identifier(schema, bookkeeping.name)
                        ),
                        (projection.name,),
                    )
                serving = _digests(live, "public", tables, check, projection.name)
                if serving != rebuilt:
                    raise RuntimeError(
                        f"what would serve differs from the rebuild: {serving} vs {rebuilt}; rolled back"
                    )
                live.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    except BaseException:
        with connect(system, service) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        raise
    finally:
        topic.close()
        runner.close()
    proof = {
        "service": service,
        "consumer": projection.name,
        "events": total,
        "topic_ends": ends,
        "rebuilt_from_topic": rebuilt,
        "now_serving": serving,
        "replaced": replaced,
        "replaced_equal": replaced == rebuilt,
        "replaced_kept_in": retired,
    }
    for label, digests in (("rebuilt from the topic", rebuilt), ("now serving", serving), ("replaced", replaced)):
        for table, (digest, rows) in digests.items():
            out(f"{label:<24}{table:<40}{rows:>8} rows  sha256 {digest}")
    out(
        "the serving tables are the rebuild from the topic (checksums equal)"
        + ("; they equal the replaced ones too" if proof["replaced_equal"] else "; the replaced ones differed")
        + f" (kept in schema {retired})"
    )
    return proof


def _analyze(system: LocalSystem, service: str, schema: str, tables: list[Table]) -> None:
    with connect(system, service) as conn:
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table.name)))


def _copy_inputs(system: LocalSystem, service: str, schema: str, check: ProjectionCheck) -> None:
    """Tables the projection reads but does not write (the subscriptions), copied beside it."""
    with connect(system, service) as conn:
        for name in check.copied:
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("public", name))).fetchall()
            for row in rows:
                conn.execute(
                    sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        sql.Identifier(schema, name),
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    [Json(v) if isinstance(v, dict | list) else v for v in row.values()],
                )


def _digests(
    conn: psycopg.Connection[dict[str, Any]], schema: str, tables: Sequence[Any], check: ProjectionCheck, consumer: str
) -> dict[str, tuple[str, int]]:
    """The chaos run's checksums of the projection's tables and its consumer's rows, as
    the tables on ``schema`` hold them."""
    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
    found = {}
    for table in tables:
        # Record-time columns left out, as the chaos run compares them.
        digest, rows, _ = table_digest(conn, table, check.tables.get(table.name, ()))
        found[table.name] = (digest, rows)
    digest, rows, _ = table_digest(conn, applied_events, (), {"consumer": consumer})
    found[applied_events.name] = (digest, rows)
    conn.execute("SET LOCAL search_path TO public")
    return found


# -- replay ---------------------------------------------------------------------------------

APPLICATIONS: dict[str, Callable[[Settings], ServiceApplication]] = {
    "case": lambda s: CaseApplication(env=event_store_env(s), cipher=key_ring(s), catalogue=load_catalogue()),
    "referral": lambda s: ReferralApplication(env=event_store_env(s), catalogue=load_catalogue()),
    "disclosure": lambda s: DisclosureApplication(env=event_store_env(s), catalogue=load_catalogue()),
}


def replay(system: LocalSystem, service: str, start: int = 1) -> int:
    """Publish the service's stored events from notification ``start`` on to the topic
    again, in order, every ack checked; the relay's position is left alone. Consumers drop
    what they had by CloudEvent id, so this fills in what a topic lacks (one restored from
    an older backup) without changing anything else. Returns how many were sent."""
    settings = service_settings(system, service, case_events_topic=TOPIC)
    app = APPLICATIONS[service](settings)
    producer = make_producer(settings)
    sent = 0
    try:
        ensure_topic(settings)
        last = app.recorder.max_notification_id() or 0
        with tqdm(total=max(0, last - start + 1), desc=f"replay {service}", unit="event", file=sys.stderr) as bar:
            position = start
            while notifications := app.recorder.select_notifications(position, 500):
                futures = [
                    produce(producer, TOPIC, to_kafka_message(app.mapper.to_domain_event(n), app.source))
                    for n in notifications
                ]
                producer.flush(timeout=30)
                for future in futures:
                    future.get(timeout=5)  # raises unless the broker acked
                sent += len(notifications)
                bar.update(len(notifications))
                position = notifications[-1].id + 1
    finally:
        producer.close(timeout=5)
        app.close()
    return sent


# -- audit: verify, export, show (issue 15) -------------------------------------------------

# The development agency (devtools/agencies.yaml), for development tokens.
DEV_AGENCY = "11430281MB1234567L,430281"


def verify(system: LocalSystem, service: str, log: str = "events") -> dict[str, Any]:
    """The chain of every stored event and every signed head of the service's log, checked
    on its store with a progress bar; the first bad position when it does not verify."""
    settings = service_settings(system, service)
    tree_log, factory = open_log(settings, log)
    try:
        key = HeadSigner.from_settings(settings).public_key
        with tqdm(total=tree_log.size(), desc=f"verify {tree_log.name}", unit="event", file=sys.stderr) as bar:

            def progress(checked: int) -> None:
                bar.update(checked - bar.n)

            report = verify_log(tree_log, key, progress)
        return report.as_dict()
    finally:
        factory.close()


def dev_token(system: LocalSystem, role: str, agency: str) -> str:
    """A development bearer token signed with the keys ``make run`` wrote under the data dir."""
    code, _, region = agency.partition(",")
    return system.token(role, {"code": code, "region_code": region})


class CaseReader:
    """The case service's auditor reads, over HTTP: each is in the read audit with its reason."""

    def __init__(self, case_url: str, token: str, reason: str) -> None:
        self.client = httpx.Client(
            base_url=case_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "X-Reason": quote(reason)},
            timeout=120,
        )

    def show(self, case_id: UUID, as_of: str | None, version: int | None) -> dict[str, Any]:
        params = {k: v for k, v in (("as_of", as_of), ("version", version)) if v is not None}
        answer: dict[str, Any] = self._ok(self.client.get(f"/v1/cases/{case_id}", params=params)).json()
        return answer

    def export(self, case_id: UUID, out: Path, key: Ed25519PublicKey | None) -> dict[str, Any]:
        """Saved to ``out`` with a progress bar, then verified offline: with ``key`` (the
        service's public key obtained out of band), else the one the service serves."""
        with self.client.stream("GET", f"/v1/cases/{case_id}/export") as answer:
            if answer.status_code != 200:
                answer.read()
                self._ok(answer)
            size = int(answer.headers.get("content-length") or 0) or None
            bar = tqdm(total=size, desc=f"export {case_id}", unit="B", unit_scale=True, file=sys.stderr)
            with bar, out.open("wb") as f:
                for chunk in answer.iter_bytes():
                    f.write(chunk)
                    bar.update(len(chunk))
        if key is None:
            served = self._ok(self.client.get("/v1/logs/events/public-key")).json()
            key = load_public_key(served["pem"].encode())
        return verify_archive(out.read_bytes(), key)

    @staticmethod
    def _ok(answer: httpx.Response) -> httpx.Response:
        if answer.is_error:
            raise SystemExit(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
        return answer


# -- the command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caseledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL, e.g. postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--prefix", default="caseledger", help="database names are <prefix>_<service>")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--data-dir", default="var", help="the services' DATA_DIR")
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("status", help="relay backlogs and consumer lag, in events and seconds")
    watch.add_argument("--json", action="store_true")
    watch.add_argument("--every", type=float, help="repeat every so many seconds")
    again = commands.add_parser("rebuild", help="rebuild a read model beside the serving one and switch")
    again.add_argument("service", choices=REBUILDABLE)
    republish = commands.add_parser("replay", help="publish a service's events to the broker again")
    republish.add_argument("service", choices=sorted(APPLICATIONS))
    republish.add_argument("--from", dest="start", type=int, default=1, help="first notification id")
    check = commands.add_parser("verify", help="check a service's tamper-evident log, with a progress bar")
    check.add_argument("service", choices=sorted(SERVICE_LOGS))
    check.add_argument("--log", default="events", help="events, or the case service's reads")
    readers = {
        "export": commands.add_parser("export", help="the case file (案卷), saved and verified offline"),
        "show": commands.add_parser("show", help="a case as recorded at a moment"),
    }
    for reader in readers.values():
        reader.add_argument("case_id", type=UUID)
        reader.add_argument("--case-url", default="http://127.0.0.1:8101")
        reader.add_argument("--token", default=os.environ.get("CASELEDGER_TOKEN"))
        reader.add_argument("--role", default="auditor", help="for a development token")
        reader.add_argument("--agency", default=DEV_AGENCY, help="for a development token: code,region_code")
        reader.add_argument("--reason", default="operator read", help="X-Reason recorded in the read audit")
    readers["export"].add_argument("--out", type=Path, help="where to save it (default case-file-<id>.zip)")
    readers["export"].add_argument("--public-key", type=Path, help="the key (PEM) obtained out of band")
    readers["show"].add_argument("--as-of", help="RFC 3339 with offset")
    readers["show"].add_argument("--version", type=int)
    migrations = commands.add_parser("migrations", help="schema revisions")
    migrations.add_argument("action", choices=["new"])
    migrations.add_argument("service", choices=[c.service for c in PROJECTIONS])
    migrations.add_argument("message")
    args = parser.parse_args(argv)
    if args.command == "migrations":
        import importlib

        schema = importlib.import_module(f"services.{args.service}.readmodel").SCHEMA
        print(f"wrote {new_revision(schema, args.message)} (review it)")
        return 0
    system = system_of(args)
    if args.command == "verify":
        report = verify(system, args.service, args.log)
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0 if report["ok"] else 1
    if args.command in ("export", "show"):
        cases = CaseReader(args.case_url, args.token or dev_token(system, args.role, args.agency), args.reason)
        if args.command == "show":
            print(json.dumps(cases.show(args.case_id, args.as_of, args.version), ensure_ascii=False, indent=2))
            return 0
        out = args.out or Path(f"case-file-{args.case_id}.zip")
        key = load_public_key(args.public_key.read_bytes()) if args.public_key else None
        verified = cases.export(args.case_id, out, key)
        print(json.dumps({"saved": str(out), **verified}, ensure_ascii=False, indent=2))
        return 0 if verified["ok"] else 1
    if args.command == "status":
        while True:
            state = status(system)
            print(json.dumps(state, indent=2)) if args.json else print_status(state)
            if not args.every:
                return 0
            time.sleep(args.every)
    if args.command == "rebuild":
        rebuild(system, args.service)
        return 0
    print(f"{replay(system, args.service, args.start)} events published again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
