"""The whole run, in order: start the system, subscribe the receiver, drive the workload
under the fault injector, let the system settle, check, rebuild and compare, clean up."""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from devtools.chaos.checks import check_broker, check_commands, check_publications, check_webhooks
from devtools.chaos.clients import Clients, Command
from devtools.chaos.facts import EVENT_STORES
from devtools.chaos.killer import Killer
from devtools.chaos.options import ChaosOptions
from devtools.chaos.rebuild import Rebuilds
from devtools.chaos.receiver import Subscriber
from devtools.chaos.report import ChaosReport
from devtools.chaos.settle import settle_state, stop_services
from devtools.chaos.stores import connect, patiently, read_event_store
from devtools.chaos.topic import Topic
from devtools.chaos.workload import Workload
from devtools.launcher import SERVICES, LocalSystem, drop_databases

# The receiver subscribes to every event type.
WEBHOOK_PATTERNS = ["cn.caseledger.*"]


def run_chaos(options: ChaosOptions, log: Callable[[str], None] = print) -> ChaosReport:
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"caseledger_chaos_{run_id}"
    owns_dir = options.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="caseledger-chaos-")) if options.data_dir is None else options.data_dir
    report = ChaosReport(options, seed, database_prefix=prefix, data_dir=str(data_dir))
    system = LocalSystem.on_free_ports(data_dir / "var", postgres_url=options.postgres_url, database_prefix=prefix)
    started = time.monotonic()
    try:
        log(f"starting the broker, the Credit China simulator and the four services on PostgreSQL ({prefix}_*) ...")
        system.start(timeout=options.restart_timeout_s)
        report.timings["start"] = time.monotonic() - started
        receiver = Subscriber(data_dir)
        try:
            clients = Clients(system, options, run_id, rng)
            subscription = _subscribe(clients, receiver)
            log(
                f"{options.commands} commands from {options.workers} clients; killing each service "
                f"{options.kills_per_service} times at random moments (seed {seed})"
            )
            _drive(system, clients, rng, report)
            topic = Topic(system.bootstrap)
            try:
                rebuilds = _settle(system, topic, receiver, report)
                log("checking ...")
                _check(system, topic, clients, receiver, subscription, rebuilds, report)
            finally:
                topic.close()
        finally:
            receiver.close()
    except Exception:
        report.fail(f"the chaos run broke off: {traceback.format_exc()}")
    finally:
        system.stop()
        report.timings["total"] = time.monotonic() - started
        if not options.keep:
            try:
                drop_databases(options.postgres_url, prefix)
            except Exception as exc:  # report, do not mask the result
                report.notes.append(f"could not drop the databases {prefix}_*: {exc}")
            if owns_dir and report.ok:
                shutil.rmtree(data_dir, ignore_errors=True)
        if not report.ok or options.keep:
            report.notes.append(f"service logs kept in {data_dir / 'var' / 'logs'}")
    return report


def _progress(options: ChaosOptions) -> dict[str, Any]:
    return {"disable": not options.progress, "file": sys.stderr, "mininterval": 1.0}


def _subscribe(clients: Clients, receiver: Subscriber) -> Command:
    command = Command("subscribe", f"chaos-{clients.run_id}-subscription")
    body = {"callback_url": receiver.url, "event_types": WEBHOOK_PATTERNS, "description": "chaos run receiver"}
    clients.send(command, "notification", "/v1/subscriptions", body, "integration")
    if not command.ok:
        raise RuntimeError(f"could not subscribe the webhook receiver: {command.status} {command.answer}")
    return command


def _drive(system: LocalSystem, clients: Clients, rng: random.Random, report: ChaosReport) -> None:
    """The workload under the fault injector; then every service up again."""
    options = report.options
    t0 = time.monotonic()
    with tqdm(total=options.commands, desc="commands", unit="cmd", **_progress(options)) as bar:
        workload = Workload(clients, options, rng, bar)
        killer = Killer(system, options, rng, workload)
        killer.start()
        workload.run()
        bar.set_postfix_str(f"kills {len(killer.kills)}/{len(killer.plan)}")
        killer.join()
    report.kills = killer.kills
    report.timings["commands"] = time.monotonic() - t0
    for error in killer.errors:
        report.fail(f"the fault injector failed: {error}")
    killed = Counter(k.service for k in killer.kills)
    if any(killed[s] < options.kills_per_service for s in SERVICES):
        report.fail(f"fewer kills than planned: {dict(killed)}")
    for error in workload.errors:
        report.fail(f"a client failed: {error}")
    for service in SERVICES:  # whatever the killer left down comes back up
        if service not in system.processes or system.processes[service].poll() is not None:
            system.processes.pop(service, None)
            system.restart(service, options.restart_timeout_s)
    system.wait_ready(options.restart_timeout_s)
    crashed = [k for k in killer.kills if k.starts > 1]
    if crashed:
        report.notes.append(
            "services that exited by themselves while starting and were started again: "
            + ", ".join(f"{k.service} (#{k.at_command}, {k.starts} starts)" for k in crashed)
        )


def _settle(system: LocalSystem, topic: Topic, receiver: Subscriber, report: ChaosReport) -> Rebuilds | None:
    """Wait until the system has settled. The rebuilds start as soon as the topic looks
    complete, while the webhooks are still going out; returns them (None if never)."""
    options = report.options
    t0 = time.monotonic()
    state: dict[str, Any] = {}
    rebuilds: Rebuilds | None = None
    with tqdm(desc="settling", unit="round", **_progress(options)) as bar:
        deadline = time.monotonic() + options.settle_timeout_s
        while time.monotonic() < deadline:
            previous = state.get("ends")
            state = patiently(lambda: settle_state(system, topic, receiver))
            for milestone, reached in state["milestones"].items():
                if reached:
                    report.settled_after.setdefault(milestone, time.monotonic() - t0)
            bar.set_postfix_str(state["summary"])
            bar.update(1)
            topic_complete = all(v for k, v in state["milestones"].items() if k != "webhooks delivered")
            if rebuilds is None and topic_complete and state["ends"] == previous:
                rebuilds = Rebuilds(system, {p: list(r) for p, r in topic.records.items()})
            if state["settled"] and state["ends"] == previous:
                break
            time.sleep(1.0)
        else:
            limit = f"{options.settle_timeout_s:.0f}s"
            report.fail(f"the system did not settle within {limit}: {state['summary']}")
    report.timings["settle"] = time.monotonic() - t0
    return rebuilds


def _check(
    system: LocalSystem,
    topic: Topic,
    clients: Clients,
    receiver: Subscriber,
    subscription: Command,
    rebuilds: Rebuilds | None,
    report: ChaosReport,
) -> None:
    """Read everything the system holds with the services stopped, check it, and compare
    every projection with its rebuild from the whole topic."""
    t0 = time.monotonic()
    simulator = httpx.get(system.url("credit_china") + "/api/v1/penalties", timeout=60).json()
    stop_services(system)  # settled: give the checks the CPU
    stores = {service: read_event_store(system, service) for service in EVENT_STORES}
    with connect(system, "notification") as conn:
        subscriptions = conn.execute("SELECT * FROM subscriptions").fetchall()
    check_commands(report, [*clients.commands], stores, subscriptions)
    topic.catch_up()
    records = dict(topic.records)
    if topic.watermark_lags:
        report.notes.append(
            "the broker reported end offsets below records it serves, on partitions (reported, read): "
            f"{topic.watermark_lags}; the checks read to the real end"
        )
    first = check_broker(report, stores, records)
    check_publications(report, stores, simulator["items"], int(simulator.get("intake_requests", 0)))
    check_webhooks(report, first, receiver, str(subscription.answer["secret"]), WEBHOOK_PATTERNS)
    report.timings["check"] = time.monotonic() - t0
    t0 = time.monotonic()
    if rebuilds is None or rebuilds.records != sum(len(r) for r in records.values()):
        if rebuilds is not None:
            report.notes.append("the topic grew after it looked complete: rebuilt from all of it again")
            rebuilds.compare(ChaosReport(report.options, report.seed))  # let it finish, results unused
        rebuilds = Rebuilds(system, records, tag="" if rebuilds is None else "2")
    rebuilds.compare(report)
    report.timings["rebuild (rest) and compare"] = time.monotonic() - t0
