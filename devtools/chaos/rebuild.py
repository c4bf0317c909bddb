"""Every projection rebuilt from the topic into fresh databases by the services' own
projection classes and ProjectionRunner, and compared with the live one by checksum."""

from __future__ import annotations

import hashlib
import json
import threading
import traceback
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from kafka import TopicPartition
from psycopg.types.json import Json

from devtools.chaos.facts import PROJECTIONS, TOPIC, ProjectionCheck
from devtools.chaos.report import ChaosReport
from devtools.chaos.stores import connect, patiently
from devtools.inprocess import consumed_batch, service_settings
from devtools.launcher import LocalSystem
from services.infra.consumer import ConsumedEvent
from services.infra.projection import ProjectionRunner, applied_events, consumer_positions
from services.infra.storage import ensure_postgres_database


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _names(identifiers: Iterable[str]) -> str:
    return ", ".join(_q(i) for i in identifiers)


def table_digest(
    conn: psycopg.Connection[dict[str, Any]], table: Any, excluded: Iterable[str], where: dict[str, Any] | None = None
) -> tuple[str, int, list[str]]:
    """sha256 over the rows' canonical JSON (columns minus ``excluded``), in primary-key order."""
    columns = [c.name for c in table.columns if c.name not in set(excluded)]
    keys = [c.name for c in table.primary_key.columns]
    sql = f"SELECT {_names(columns)} FROM {_q(table.name)}"
    params: list[Any] = []
    if where:
        sql += " WHERE " + " AND ".join(f"{_q(k)} = %s" for k in where)
        params = list(where.values())
    sql += f" ORDER BY {_names(keys)}"
    digest = hashlib.sha256()
    lines = []
    for row in conn.execute(sql, params):
        line = json.dumps({k: _canonical(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False, default=str)
        digest.update(line.encode() + b"\n")
        lines.append(line)
    return digest.hexdigest(), len(lines), lines


Batches = dict[int, list[tuple[list[ConsumedEvent], int]]]  # per partition: (events, last offset) as polled


def rebuild(system: LocalSystem, check: ProjectionCheck, batches: Batches, database: str) -> None:
    """Rebuild one projection from the topic into the fresh database ``database`` (of the
    system's prefix), in-process, with the same projection class and ProjectionRunner the
    service runs."""
    settings = service_settings(system, check.service, database=database, case_events_topic=TOPIC)
    url = settings.database_url
    assert url, "the chaos run needs PostgreSQL"
    patiently(lambda: ensure_postgres_database(url))
    runner = patiently(lambda: ProjectionRunner(settings, check.projection(system)))
    try:
        with connect(system, check.service) as live, connect(system, database) as fresh:
            for name in check.copied:  # inputs the projection reads, not writes
                for row in live.execute(f"SELECT * FROM {_q(name)}").fetchall():
                    values = [Json(v) if isinstance(v, dict | list) else v for v in row.values()]
                    placeholders = ", ".join(["%s"] * len(row))
                    fresh.execute(f"INSERT INTO {_q(name)} ({_names(row)}) VALUES ({placeholders})", values)
        for partition in sorted(batches):
            for events, last_offset in batches[partition]:
                # A batch is one transaction: one that failed left nothing and can go again.
                patiently(lambda: runner.apply(TopicPartition(TOPIC, partition), events, last_offset, "rebuild"))  # noqa: B023
    finally:
        runner.close()


class Rebuilds:
    """Every projection rebuilt from a copy of the whole topic, one thread each (as the
    services run them), into fresh databases ``<prefix>_rebuild<tag>_<service>``. It can
    start as soon as the topic is complete, while the webhooks are still going out."""

    def __init__(self, system: LocalSystem, records: dict[int, list[Any]], tag: str = "") -> None:
        self.system = system
        self.records = sum(len(r) for r in records.values())
        self.batches: Batches = defaultdict(list)
        for partition, batch in records.items():
            for start in range(0, len(batch), 500):  # the services' consumer batch size
                chunk = batch[start : start + 500]
                self.batches[partition].append(consumed_batch(chunk))
        self.databases = {c.service: f"rebuild{tag}_{c.service}" for c in PROJECTIONS}
        self.done: set[str] = set()
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._one, args=(c,), name=f"rebuild-{c.service}", daemon=True) for c in PROJECTIONS
        ]
        for t in self.threads:
            t.start()

    def _one(self, check: ProjectionCheck) -> None:
        try:
            rebuild(self.system, check, self.batches, self.databases[check.service])
            self.done.add(check.service)
        except Exception:
            self.errors.append(traceback.format_exc())

    def compare(self, report: ChaosReport) -> None:
        """Wait for the rebuilds, then compare each table with the live one by checksum."""
        for t in self.threads:
            t.join()
        for error in self.errors:
            report.fail(f"a rebuild failed: {error}")
        for check in PROJECTIONS:
            if check.service not in self.done:
                continue
            name = check.projection(self.system).name
            tables: list[tuple[Any, Iterable[str], dict[str, Any] | None]] = [
                (check.projection(self.system).metadata.tables[t], excluded, None)
                for t, excluded in check.tables.items()
            ]
            tables += [
                (applied_events, (), {"consumer": name}),
                (consumer_positions, ("topic_identity",), {"consumer": name}),
            ]
            with (
                connect(self.system, check.service) as live,
                connect(self.system, self.databases[check.service]) as fresh,
            ):
                for table, excluded, where in tables:
                    label = f"{check.service}.{table.name}"
                    live_sum, live_rows, live_lines = table_digest(live, table, excluded, where)
                    new_sum, new_rows, new_lines = table_digest(fresh, table, excluded, where)
                    report.checksums[label] = {"live": live_sum, "rebuilt": new_sum, "rows": live_rows}
                    if live_sum != new_sum:
                        only_live = sorted(set(live_lines) - set(new_lines))[:2]
                        only_new = sorted(set(new_lines) - set(live_lines))[:2]
                        report.fail(
                            f"{label} differs from its rebuild ({live_rows} vs {new_rows} rows); "
                            f"live only: {only_live}; rebuilt only: {only_new}"
                        )
