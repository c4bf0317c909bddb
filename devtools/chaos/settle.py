"""Settling: what has to be true before the checks can look, and stopping the services
once it is."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from devtools.chaos.facts import DECIDED_TOPIC, EVENT_STORES, PREPARED_TOPIC, PROJECTIONS, PUBLISHED_TOPIC
from devtools.chaos.receiver import Subscriber
from devtools.chaos.stores import connect, relay_backlog, stored_offsets
from devtools.chaos.topic import Topic
from devtools.launcher import SERVICES, LocalSystem


def settle_state(system: LocalSystem, topic: Topic, receiver: Subscriber) -> dict[str, Any]:
    """What has to be true before checking: relays drained, every projection at the end
    of the topic, every decision published, every delivery made and received."""
    ends = topic.catch_up()
    state: dict[str, Any] = {"ends": ends}
    state["backlogs"] = {s: relay_backlog(system, s) for s in EVENT_STORES}
    behind = {}
    for check in PROJECTIONS:
        name = check.projection(system).name
        offsets = stored_offsets(system, check.service, name)
        behind[name] = sum(end - offsets.get(p, 0) for p, end in ends.items())
    state["behind"] = behind
    with connect(system, "case") as conn:
        state["decisions"] = conn.execute(
            f'SELECT COUNT(*) AS n FROM "{EVENT_STORES["case"]}_events" WHERE topic = %s', (DECIDED_TOPIC,)
        ).fetchone()["n"]  # type: ignore[index]
    with connect(system, "disclosure") as conn:
        for name, stored_topic in (("prepared", PREPARED_TOPIC), ("published", PUBLISHED_TOPIC)):
            state[name] = conn.execute(
                f'SELECT COUNT(*) AS n FROM "{EVENT_STORES["disclosure"]}_events" WHERE topic = %s', (stored_topic,)
            ).fetchone()["n"]  # type: ignore[index]
    with connect(system, "notification") as conn:
        state["deliveries_pending"] = conn.execute(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'delivered'"
        ).fetchone()["n"]  # type: ignore[index]
        delivered_ids = {r["event_id"] for r in conn.execute("SELECT event_id FROM deliveries").fetchall()}
    received = {r["headers"].get("webhook-id") for r in receiver.received}
    state["webhooks_not_received"] = len(delivered_ids - received)
    state["milestones"] = {
        "relays drained": not any(state["backlogs"].values()),
        "projections at the end of the topic": not any(behind.values()),
        "decisions published": state["decisions"] == state["prepared"] == state["published"],
        "webhooks delivered": state["deliveries_pending"] == 0 and state["webhooks_not_received"] == 0,
    }
    state["settled"] = all(state["milestones"].values())
    state["summary"] = (
        f"relay backlog {sum(state['backlogs'].values())}, projections behind {sum(behind.values())}, "
        f"unpublished {state['decisions'] - state['published']}, deliveries pending {state['deliveries_pending']}, "
        f"not received {state['webhooks_not_received']}"
    )
    return state


def stop_services(system: LocalSystem, grace_s: float = 20.0) -> None:
    """SIGTERM the four services (broker and simulator stay), SIGKILL what lingers."""
    for service in SERVICES:
        if service in system.processes:
            system.processes[service].send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for service in SERVICES:
        process = system.processes.get(service)
        if process is None:
            continue
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            system.kill(service, signal.SIGKILL)
        else:
            system.processes.pop(service)
