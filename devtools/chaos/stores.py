"""Reading what the services' PostgreSQL databases hold: their event stores, the relay
positions and the consumer offsets, on a server shared with everyone else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from devtools.chaos.facts import EVENT_STORES, RELAY_POSITION, TOPIC
from devtools.launcher import LocalSystem
from services.infra.eventstore import event_id

T = TypeVar("T")


def patiently(action: Callable[[], T], timeout_s: float = 180.0) -> T:
    """Run ``action``, again while PostgreSQL has no connection to spare: the server is
    shared (max_connections), and each service process holds pools of its own."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except Exception as exc:
            if "too many clients" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def connect(system: LocalSystem, database: str) -> psycopg.Connection[dict[str, Any]]:
    """A connection to the system's database ``<prefix>_<database>`` (a service's, or a
    rebuild's), waiting while the server has none to spare."""
    url = system.database_url(database)
    assert url, "the chaos run needs PostgreSQL"
    return patiently(lambda: psycopg.connect(url, row_factory=dict_row, autocommit=True))


@dataclass(frozen=True)
class StoredEvent:
    service: str
    originator_id: str
    version: int
    topic: str
    state: dict[str, Any]

    @property
    def event_id(self) -> str:
        return event_id(self.originator_id, self.version)


def read_event_store(system: LocalSystem, service: str) -> list[StoredEvent]:
    """The stored events of a service, read straight from the eventsourcing table. Only the
    top-level keys the checks need are looked at (never a party's fields, which will be
    encrypted), so the state's other contents do not matter."""
    table = f"{EVENT_STORES[service]}_events"
    with connect(system, service) as conn:
        rows = conn.execute(
            f'SELECT originator_id, originator_version, topic, state FROM "{table}" ORDER BY notification_id'
        ).fetchall()
    events = []
    for row in rows:
        try:
            state = json.loads(bytes(row["state"]))
        except ValueError:
            state = {}
        events.append(
            StoredEvent(service, str(row["originator_id"]), int(row["originator_version"]), row["topic"], state)
        )
    return events


def relay_backlog(system: LocalSystem, service: str) -> int:
    app = EVENT_STORES[service]
    with connect(system, service) as conn:
        top = conn.execute(f'SELECT MAX(notification_id) AS n FROM "{app}_events"').fetchone()
        position = conn.execute(
            f'SELECT MAX(notification_id) AS n FROM "{app}_tracking" WHERE application_name LIKE %s', (RELAY_POSITION,)
        ).fetchone()
    return int((top or {}).get("n") or 0) - int((position or {}).get("n") or 0)


def stored_offsets(system: LocalSystem, service: str, consumer: str) -> dict[int, int]:
    with connect(system, service) as conn:
        rows = conn.execute(
            "SELECT partition, next_offset FROM consumer_positions WHERE consumer = %s AND topic = %s",
            (consumer, TOPIC),
        ).fetchall()
    return {int(r["partition"]): int(r["next_offset"]) for r in rows}
