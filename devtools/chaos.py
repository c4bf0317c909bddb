"""Fault injection: drive thousands of commands through the whole system on PostgreSQL while
the four service processes (their outbox relays, consumers and workers live inside them)
are killed with SIGKILL at random moments and restarted, then check that nothing was lost,
duplicated or diverged.

    python -m devtools.chaos --commands 10000          # what `make chaos` runs
    python -m devtools.chaos --commands 300 --kills 2  # what the e2e test runs

Each service is killed at least ``--kills`` times, at random points of the command stream,
and a share of the kills is followed by another one while the service starts up again.
The broker (Tansu keeps the topic in memory only), PostgreSQL, the Credit China simulator
and a local webhook receiver stay up; only the service processes die. Clients behave like
real ones: every command carries an Idempotency-Key (and If-Match where it applies), and a
command that got no answer (connection refused or reset, timeout) is retried with the same
key. At the end, with the system settled, it reads the event stores, the whole topic, the
read models, the webhook receiver and the simulator, and checks:

1. every command answered 2xx is in its event store (the subscription: its table) exactly
   once (lost 0, duplicated 0);
2. every stored event is on the topic (CloudEvent id = uuid5(aggregate id, version)), in
   version order per aggregate, and nothing else is;
3. every projection equals a fresh rebuild from the topic by the same projection classes,
   compared by checksum without the record-time columns (see ``PROJECTIONS``);
4. every decision was published exactly once and Credit China holds the same receipt;
5. every webhook owed was delivered at least once, correctly signed, and no id was ever
   seen with two different payloads.

It exits non-zero when any check fails. ``run_chaos`` is what the e2e test calls.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, TopicPartition
from psycopg.rows import dict_row
from psycopg.types.json import Json
from standardwebhooks import Webhook
from tqdm import tqdm

from devtools.demo import (
    AGENCY,
    ENTERPRISE,
    PERSON,
    filing_request,
    legal_review_request,
    penalty_decision_request,
    referral_request,
)
from devtools.inprocess import consumed_batch, key_ring, service_settings
from devtools.launcher import SERVICES, LocalSystem, drop_databases
from devtools.webhooks import WebhookReceiver
from services.case.application import CASE_ID_NAMESPACE, CaseApplication
from services.case.domain import Case
from services.case.ledger import CaseLedgerProjection
from services.disclosure.application import DisclosureApplication
from services.disclosure.domain import Publication, publication_id_for
from services.disclosure.feed import DisclosureFeedProjection
from services.infra.clock import today_in_china
from services.infra.consumer import (
    ConsumedEvent,
    ProjectionRunner,
    applied_events,
    consumer_offsets,
    parse_record,
)
from services.infra.eventstore import event_id
from services.infra.settings import CASE_EVENTS_TOPIC
from services.infra.storage import ensure_postgres_database
from services.notification.projection import DeliveryProjection, cloud_event_envelope
from services.notification.subscriptions import matches
from services.referral.application import ReferralApplication
from services.referral.domain import Referral, referral_id_for
from services.referral.views import ReferralViewsProjection

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
TOPIC = CASE_EVENTS_TOPIC
# The services with an event store, and the stored-events / tracking tables the
# eventsourcing PostgreSQL recorder names after the application.
EVENT_STORES = {
    "case": CaseApplication.name.lower(),
    "referral": ReferralApplication.name.lower(),
    "disclosure": DisclosureApplication.name.lower(),
}
RELAY_POSITION = f"relay:{TOPIC}"
# Stored event topics (the eventsourcing class paths) the checks count.
DECIDED_TOPIC = get_topic(Case.PenaltyDecided)
PREPARED_TOPIC = get_topic(Publication.Prepared)
PUBLISHED_TOPIC = get_topic(Publication.Published)
REFERRED_TOPIC = get_topic(Referral.Referred)
UNKNOWN_CASE = "/problems/unknown-case"
RECEIVING_ORGAN = "public_security"
REFERRAL_DELAY_S = 2.0  # a referral is sent this long after its case's decision


@dataclass(frozen=True)
class ProjectionCheck:
    """A read model to compare with its rebuild. ``excluded`` columns are left out of the
    checksum, each for the reason given; ``copied`` tables are inputs, not projected."""

    service: str
    # Builds the projection as the service does (the ledger needs the personal-data key
    # ring the running system uses, for its lookup digests).
    projection: Callable[[LocalSystem], Any]
    tables: dict[str, tuple[str, ...]]
    copied: tuple[str, ...] = ()


# Excluded: record time (when this process applied the event: wall-clock, so a rebuild
# a minute later differs by design) and, for deliveries, the delivery worker's own progress
# (status, attempts, retry schedule, last answer, delivery time), which no projection
# writes and the rebuild, having no worker, cannot have; the webhook check covers it.
PROJECTIONS = (
    ProjectionCheck("case", lambda system: CaseLedgerProjection(key_ring(service_settings(system, "case"))), {"case_ledger": ("recorded_at", "updated_at")}),
    ProjectionCheck(
        "referral",
        lambda _: ReferralViewsProjection(),
        {"known_cases": ("updated_at",), "referral_tracker": ("recorded_at", "updated_at")},
    ),
    ProjectionCheck("disclosure", lambda _: DisclosureFeedProjection(), {"disclosure_feed": ("recorded_at",)}),
    ProjectionCheck(
        "notification",
        lambda _: DeliveryProjection(),
        {
            "deliveries": (
                "status",
                "attempts",
                "next_attempt_at",
                "last_status_code",
                "last_error",
                "created_at",
                "delivered_at",
            )
        },
        copied=("subscriptions",),
    ),
)


@dataclass
class ChaosOptions:
    commands: int = 10_000
    kills_per_service: int = 5
    workers: int = 12
    referral_share: float = 0.3
    seed: int | None = None
    postgres_url: str = DEFAULT_POSTGRES
    data_dir: Path | None = None  # a temporary directory when None
    keep: bool = False  # keep the databases and the data directory afterwards
    progress: bool = True
    # How long a client keeps retrying one command before it gives up on it.
    command_deadline_s: float = 240.0
    # Longest a killed service stays down before it is started again.
    max_downtime_s: float = 2.0
    # Share of kills after which the service is killed once more while it starts up.
    recovery_kill_share: float = 0.25
    settle_timeout_s: float = 600.0
    restart_timeout_s: float = 180.0


# -- what the clients did ----------------------------------------------------------------


@dataclass
class Command:
    """One logical command and every attempt made to get it answered."""

    kind: str  # subscribe, file, review, decide, refer
    key: str  # its Idempotency-Key
    case_id: str = ""
    attempts: int = 0
    refused: int = 0  # connection refused: the request never reached a service
    no_answer: int = 0  # sent, then reset, closed or timed out: it may or may not have happened
    server_errors: int = 0  # 5xx answers, retried
    not_yet_known: int = 0  # referral: 422 unknown-case until the referral service learns the case
    stale: int = 0  # 412 answers (If-Match behind), retried with the current version
    status: int | None = None  # the final answer's status, None when none came
    replayed: bool = False
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Kill:
    service: str
    at_command: int
    killed_at: float
    ready_after_s: float = 0.0
    during_recovery: bool = False  # killed again while starting up from the previous kill
    starts: int = 1  # more than one: it exited by itself while starting and was started again


@dataclass
class ChaosReport:
    options: ChaosOptions
    seed: int
    database_prefix: str = ""
    data_dir: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    settled_after: dict[str, float] = field(default_factory=dict)  # seconds into settling
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def render(self) -> str:
        c = self.counts
        lines = [
            f"chaos run (seed {self.seed}, databases {self.database_prefix}_*, data {self.data_dir})",
            "",
            "faults injected (SIGKILL, then restart):",
        ]
        kills_by = Counter(k.service for k in self.kills)
        for service in SERVICES:
            mine = [k for k in self.kills if k.service == service]
            moments = ", ".join(
                f"#{k.at_command}: " + ("again while recovering" if k.during_recovery else f"{k.ready_after_s:.1f}s")
                for k in sorted(mine, key=lambda k: k.killed_at)
            )
            lines.append(f"  {service:<13} killed {kills_by[service]:>2}x   (at command: back ready after) {moments}")
        lines += [
            "",
            "commands:",
            f"  sent                          {c.get('sent', 0):>8}",
            f"  answered 2xx                  {c.get('ok', 0):>8}   (first attempt {c.get('ok_first_attempt', 0)},"
            f" only after retrying {c.get('ok_after_retry', 0)}, idempotent replays {c.get('replayed', 0)})",
            f"  no answer, given up           {c.get('unanswered', 0):>8}"
            f"   (of which stored anyway {c.get('unanswered_stored', 0)})",
            f"  other final answers           {c.get('unexpected', 0):>8}",
            f"  attempts without an answer    {c.get('attempts_no_answer', 0):>8}"
            f"   (connection refused {c.get('attempts_refused', 0)},"
            f" reset/timeout after sending {c.get('attempts_in_flight', 0)})",
            f"  5xx answers retried           {c.get('attempts_5xx', 0):>8}",
            f"  412 stale If-Match retried    {c.get('attempts_412', 0):>8}",
            f"  422 unknown-case retried      {c.get('attempts_unknown_case', 0):>8}",
            f"  by kind                       {c.get('by_kind', {})}",
            f"  LOST (2xx, not stored)        {c.get('lost', 0):>8}",
            f"  DUPLICATED (stored twice)     {c.get('duplicated', 0):>8}",
            "",
            "events:",
            f"  stored                        {c.get('events_stored', 0):>8}   {c.get('events_by_store', {})}",
            f"  on the broker (unique ids)    {c.get('events_on_broker', 0):>8}"
            f"   (records {c.get('broker_records', 0)},"
            f" re-published duplicates {c.get('broker_duplicates', 0)})",
            f"  stored, not on the broker     {c.get('events_missing_on_broker', 0):>8}",
            f"  on the broker, not stored     {c.get('events_unknown_on_broker', 0):>8}",
            f"  out of version order          {c.get('events_out_of_order', 0):>8}",
            "",
            "publications:",
            f"  decisions stored              {c.get('decisions', 0):>8}",
            f"  prepared / published          {c.get('prepared', 0):>8} / {c.get('published', 0)}",
            f"  Credit China accepted         {c.get('credit_china_accepted', 0):>8}"
            f"   (intake requests {c.get('credit_china_requests', 0)},"
            f" receipt mismatches {c.get('receipt_mismatches', 0)})",
            "",
            "projections (sha256 of content, live vs rebuilt from the topic):",
        ]
        for name, sums in self.checksums.items():
            same = "equal" if sums["live"] == sums["rebuilt"] else "DIFFERENT"
            lines.append(f"  {name:<34} {sums['live'][:16]} {sums['rebuilt'][:16]}  {sums['rows']:>6} rows  {same}")
        lines += [
            "  (left out: record-time columns recorded_at/updated_at, and the delivery worker's own columns",
            "   status/attempts/next_attempt_at/last_status_code/last_error/created_at/delivered_at)",
            "",
            "webhooks:",
            f"  owed                          {c.get('webhooks_owed', 0):>8}",
            f"  delivered (distinct ids)      {c.get('webhooks_delivered', 0):>8}"
            f"   (requests received {c.get('webhook_requests', 0)})",
            f"  missing                       {c.get('webhooks_missing', 0):>8}",
            f"  changed payload for an id     {c.get('webhooks_changed', 0):>8}",
            f"  differing from the topic      {c.get('webhooks_differ_from_topic', 0):>8}",
            f"  bad signatures                {c.get('webhooks_bad_signature', 0):>8}",
            f"  not owed                      {c.get('webhooks_not_owed', 0):>8}",
            "",
            "time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items()),
            "  settling, reached after (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.settled_after.items()),
        ]
        if self.notes:
            lines += ["", "notes:"] + [f"  - {n}" for n in self.notes]
        lines += ["", "RESULT: " + ("PASS" if self.ok else "FAIL")]
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


# -- the client side ---------------------------------------------------------------------


class Clients:
    """What every worker thread shares: URLs, tokens (minted once), the command log."""

    def __init__(self, system: LocalSystem, options: ChaosOptions, run_id: str, rng: random.Random) -> None:
        self.system = system
        self.options = options
        self.run_id = run_id
        self.jitter = random.Random(rng.random())  # retry delays
        self.tokens = {
            role: system.auth(role, AGENCY)
            for role in ("officer", "legal_reviewer", "agency_head", "auditor", "integration")
        }
        self.commands: list[Command] = []
        self.lock = threading.Lock()
        self.local = threading.local()

    def client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
            self.local.client = client
        return client

    def send(
        self,
        command: Command,
        service: str,
        path: str,
        body: dict[str, Any],
        role: str,
        if_match: str | None = None,
        retry_unknown_case: bool = False,
    ) -> httpx.Response | None:
        """POST until answered (not 5xx, not a transient 412/422), or the deadline passes."""
        with self.lock:
            self.commands.append(command)
        deadline = time.monotonic() + self.options.command_deadline_s
        delay = 0.1
        while True:
            headers = {**self.tokens[role], "Idempotency-Key": command.key}
            if if_match:
                headers["If-Match"] = if_match
            command.attempts += 1
            response: httpx.Response | None = None
            try:
                response = self.client().post(self.system.url(service) + path, json=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                command.refused += 1
            except httpx.TransportError:  # reset, closed without an answer, read/write timeout
                command.no_answer += 1
            if response is not None:
                if response.status_code >= 500:
                    command.server_errors += 1
                elif response.status_code == 412:
                    command.stale += 1
                    if_match = response.headers.get("etag", if_match)
                elif retry_unknown_case and response.status_code == 422 and _problem_type(response) == UNKNOWN_CASE:
                    command.not_yet_known += 1
                else:
                    command.status = response.status_code
                    command.replayed = response.headers.get("idempotent-replayed") == "true"
                    try:
                        command.answer = response.json()
                    except ValueError:
                        command.answer = {"text": response.text[:500]}
                    return response
            if time.monotonic() > deadline:
                if response is not None:  # still 5xx, 412 or unknown-case: that is its answer
                    command.status = response.status_code
                    command.answer = {"text": response.text[:500]}
                return None
            time.sleep(delay * self.jitter.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)


def _problem_type(response: httpx.Response) -> str:
    try:
        return str(response.json().get("type", ""))
    except ValueError:
        return ""


@dataclass(frozen=True)
class CasePlan:
    index: int
    refer: bool

    @property
    def size(self) -> int:
        return 4 if self.refer else 3


class Workload:
    """Worker threads, each driving whole cases: file, legal review, penalty decision and,
    for a share of them, a referral to the police; until the command budget is spent."""

    def __init__(self, clients: Clients, options: ChaosOptions, rng: random.Random, bar: tqdm) -> None:
        self.clients = clients
        self.options = options
        self.rng = rng
        self.bar = bar
        self.lock = threading.Lock()
        self.planned = 0
        self.done = 0
        self.next_case = 0
        self.day = today_in_china()
        self.decision_base = rng.randrange(1, 800_000)
        self.errors: list[str] = []
        self.referrals: queue.Queue[tuple[float, Command, dict[str, Any]]] = queue.Queue()
        self.cases_done = threading.Event()
        self.finished = threading.Event()
        # The command count past which no new case starts yet (the fault injector's next kill).
        self.gate: Callable[[], float] = lambda: float("inf")

    def _take(self) -> CasePlan | None:
        while self.done >= self.gate():
            time.sleep(0.01)
        with self.lock:
            if self.planned >= self.options.commands:
                return None
            plan = CasePlan(self.next_case, self.rng.random() < self.options.referral_share)
            self.next_case += 1
            self.planned += plan.size
            return plan

    def _count(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
        self.bar.update(n)

    def _unsend(self, n: int) -> None:
        """Commands of a case that cannot be sent after an earlier one got no answer."""
        with self.lock:
            self.planned -= n

    def run(self) -> None:
        cases = [
            threading.Thread(target=self._worker, name=f"chaos-case-{i}", daemon=True)
            for i in range(self.options.workers)
        ]
        referrals = [
            threading.Thread(target=self._referrer, name=f"chaos-referral-{i}", daemon=True)
            for i in range(max(2, self.options.workers // 3))
        ]
        for t in [*cases, *referrals]:
            t.start()
        for t in cases:
            t.join()
        self.cases_done.set()
        for t in referrals:
            t.join()
        self.finished.set()

    def _worker(self) -> None:
        try:
            while (plan := self._take()) is not None:
                self._case(plan)
        except Exception:  # a bug in the harness: say so, do not hang
            self.errors.append(traceback.format_exc())

    def _referrer(self) -> None:
        """Referrals go a little after their case's decision: the referral service learns
        cases from the topic, so a referral sent at once mostly waits out 422 unknown-case."""
        try:
            while True:
                try:
                    not_before, command, body = self.referrals.get(timeout=0.2)
                except queue.Empty:
                    if self.cases_done.is_set():
                        return
                    continue
                time.sleep(max(0.0, not_before - time.monotonic()))
                self.clients.send(command, "referral", "/v1/referrals", body, "officer", retry_unknown_case=True)
                self._count()
        except Exception:
            self.errors.append(traceback.format_exc())

    def _case(self, plan: CasePlan) -> None:
        c, day, n = self.clients, self.day, plan.index
        key = f"chaos-{c.run_id}-{n}"
        party = PERSON if n % 3 == 0 else ENTERPRISE
        filing = Command("file", f"{key}-file")
        filed = c.send(
            filing,
            "case",
            "/v1/cases",
            filing_request(
                party,
                (day - timedelta(days=30 + n % 200)).isoformat(),
                violation_summary=f"未按规定对从业人员进行安全生产教育和培训（第{n}号）",
                filed_on=day.isoformat(),
            ),
            "officer",
        )
        self._count()
        if filed is None or not filing.ok:
            self._unsend(plan.size - 1)
            return
        case_id = filing.case_id = str(filed.json()["id"])
        review = Command("review", f"{key}-review", case_id)
        reviewed = c.send(
            review,
            "case",
            f"/v1/cases/{case_id}/legal-reviews",
            legal_review_request(opinion="事实清楚，证据确凿，程序合法", reviewed_on=day.isoformat()),
            "legal_reviewer",
            if_match=filed.headers.get("etag"),
        )
        self._count()
        if reviewed is None or not review.ok:
            self._unsend(plan.size - 2)
            return
        decision = Command("decide", f"{key}-decide", case_id)
        decided = c.send(
            decision,
            "case",
            f"/v1/cases/{case_id}/penalty-decision",
            penalty_decision_request(
                day.year, self.decision_base + n, 10_000 + 500 * (n % 40), decided_on=day.isoformat()
            ),
            "agency_head",
            if_match=reviewed.headers.get("etag"),
        )
        self._count()
        if not plan.refer:
            return
        if decided is None or not decision.ok:
            self._unsend(1)
            return
        body = {**referral_request(case_id), "referred_on": day.isoformat()}
        self.referrals.put((time.monotonic() + REFERRAL_DELAY_S, Command("refer", f"{key}-refer", case_id), body))


class Monkey:
    """Kills service processes with SIGKILL at random moments of the workload, each service
    at least ``kills_per_service`` times, and starts each one again after a short while.

    The moments are random points of the command stream. The clients do not start new cases
    past the next point until its kill has been made, so every kill lands in live traffic
    even though a restart takes seconds; the restarts run in their own threads, so other
    services can be killed while one is still coming back."""

    def __init__(self, system: LocalSystem, options: ChaosOptions, rng: random.Random, workload: Workload) -> None:
        self.system = system
        self.options = options
        self.rng = random.Random(rng.random())
        self.workload = workload
        victims = [s for s in SERVICES for _ in range(options.kills_per_service)]
        self.rng.shuffle(victims)
        points = sorted(self.rng.uniform(0.02, 0.92) * options.commands for _ in victims)
        self.plan = list(zip(points, victims, strict=True))
        self.made = 0  # kills of the plan made so far
        self.kills: list[Kill] = []
        self.restarts: dict[str, threading.Thread] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()  # the restart threads share the random generator
        self.thread = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)
        workload.gate = self.next_point

    def next_point(self) -> float:
        if self.errors or self.made >= len(self.plan):
            return float("inf")
        return self.plan[self.made][0]

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()
        for restart in list(self.restarts.values()):
            restart.join()

    def _run(self) -> None:
        try:
            for point, service in self.plan:
                while self.workload.done < point and not self.workload.finished.is_set():
                    time.sleep(0.02)
                previous = self.restarts.get(service)
                if previous is not None:
                    previous.join()  # still coming back from its last kill
                with self.lock:
                    jitter = self.rng.uniform(0.0, 0.3)  # not in step with any command
                    downtime = self.rng.uniform(0.0, self.options.max_downtime_s)
                time.sleep(jitter)
                kill = Kill(service, self.workload.done, time.monotonic())
                self.system.kill(service, signal.SIGKILL)
                self.kills.append(kill)
                self.made += 1
                restart = threading.Thread(
                    target=self._restart, args=(kill, downtime), name=f"restart-{service}", daemon=True
                )
                self.restarts[service] = restart
                restart.start()
        except Exception:
            self.errors.append(traceback.format_exc())

    def _restart(self, kill: Kill, downtime: float) -> None:
        try:
            time.sleep(downtime)
            with self.lock:
                again = self.rng.random() < self.options.recovery_kill_share
                recovering_for = self.rng.uniform(0.3, 5.0)
            if again:
                # Killed again while it recovers: starting up, re-relaying its backlog,
                # re-joining its consumer groups, catching up.
                self.system.start_service(kill.service)
                time.sleep(recovering_for)
                self.system.kill(kill.service, signal.SIGKILL)
                self.kills.append(Kill(kill.service, self.workload.done, time.monotonic(), during_recovery=True))
            kill.starts = self.system.restart(kill.service, self.options.restart_timeout_s)  # dead: just starts
            kill.ready_after_s = time.monotonic() - kill.killed_at
        except Exception:
            self.errors.append(traceback.format_exc())


# -- the webhook subscriber -------------------------------------------------------------


class _Journal(list):  # type: ignore[type-arg]
    """Stands in for WebhookReceiver.received: each request goes to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def append(self, item: dict[str, Any]) -> None:
        line = json.dumps({"headers": item["headers"], "body": base64.b64encode(item["body"]).decode()})
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


def serve_webhooks(journal: Path) -> None:
    """Child process: devtools.demo's WebhookReceiver, journalling what it receives, until
    its parent closes stdin (or dies)."""
    with WebhookReceiver() as receiver:
        receiver.received = _Journal(journal)
        print(receiver.url, flush=True)
        sys.stdin.read()


class Subscriber:
    """A real local webhook receiver (devtools.demo.WebhookReceiver) in a process of its
    own, so that its answers are not slowed by this process's client and check threads."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = data_dir / "webhooks.jsonl"
        self.journal.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.chaos", "--serve-webhooks", str(self.journal)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the webhook receiver did not start")
        self._records: list[dict[str, Any]] = []
        self._read_to = 0

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every request received so far, as WebhookReceiver records them."""
        with self.journal.open("rb") as handle:
            handle.seek(self._read_to)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._read_to += len(complete)
        for line in complete.splitlines():
            entry = json.loads(line)
            self._records.append({"headers": entry["headers"], "body": base64.b64decode(entry["body"])})
        return list(self._records)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- reading what the system holds -------------------------------------------------------


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


def _connect(system: LocalSystem, database: str) -> psycopg.Connection[dict[str, Any]]:
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
    with _connect(system, service) as conn:
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
    with _connect(system, service) as conn:
        top = conn.execute(f'SELECT MAX(notification_id) AS n FROM "{app}_events"').fetchone()
        position = conn.execute(
            f'SELECT MAX(notification_id) AS n FROM "{app}_tracking" WHERE application_name = %s', (RELAY_POSITION,)
        ).fetchone()
    return int((top or {}).get("n") or 0) - int((position or {}).get("n") or 0)


def stored_offsets(system: LocalSystem, service: str, consumer: str) -> dict[int, int]:
    with _connect(system, service) as conn:
        rows = conn.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = %s AND topic = %s", (consumer, TOPIC)
        ).fetchall()
    return {int(r["partition"]): int(r["next_offset"]) for r in rows}


class Topic:
    """The whole topic, read from the beginning by a group-less consumer that keeps up.

    The end of a partition is where reading stops finding records, not only what the
    broker reports: the embedded broker (Tansu 0.6.0) answers ListOffsets(latest) with the
    base offset of the partition's last record batch plus one, below records it serves
    when that batch holds several (see ``watermark_lags``)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
        )
        partitions = self.consumer.partitions_for_topic(TOPIC) or set()
        self.partitions = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.records: dict[int, list[Any]] = defaultdict(list)
        # Partitions whose readable end was past the end offset the broker reported.
        self.watermark_lags: dict[int, tuple[int, int]] = {}

    def reported_ends(self) -> dict[int, int]:
        ends = self.consumer.end_offsets(self.partitions)
        return {tp.partition: int(o) for tp, o in ends.items()}

    def catch_up(self, timeout_s: float = 300) -> dict[int, int]:
        """Read until the reported ends are reached and two polls in a row bring nothing;
        returns each partition's end as read (the next offset to come)."""
        reported = self.reported_ends()
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read the topic to its end within {timeout_s:.0f}s")
            batches = self.consumer.poll(timeout_ms=300, max_records=5000)
            for tp, batch in batches.items():
                self.records[tp.partition].extend(batch)
            at_end = all(self.consumer.position(tp) >= reported[tp.partition] for tp in self.partitions)
            quiet = quiet + 1 if at_end and not batches else 0
        after = self.reported_ends()  # asked after reading: never below what was read
        ends = {}
        for tp in self.partitions:
            read = self.consumer.position(tp)
            ends[tp.partition] = max(read, after[tp.partition])
            if read > after[tp.partition]:
                self.watermark_lags[tp.partition] = (after[tp.partition], read)
        return ends

    def close(self) -> None:
        self.consumer.close()


# -- settling ----------------------------------------------------------------------------


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
    with _connect(system, "case") as conn:
        state["decisions"] = conn.execute(
            f'SELECT COUNT(*) AS n FROM "{EVENT_STORES["case"]}_events" WHERE topic = %s', (DECIDED_TOPIC,)
        ).fetchone()["n"]  # type: ignore[index]
    with _connect(system, "disclosure") as conn:
        for name, stored_topic in (("prepared", PREPARED_TOPIC), ("published", PUBLISHED_TOPIC)):
            state[name] = conn.execute(
                f'SELECT COUNT(*) AS n FROM "{EVENT_STORES["disclosure"]}_events" WHERE topic = %s', (stored_topic,)
            ).fetchone()["n"]  # type: ignore[index]
    with _connect(system, "notification") as conn:
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


# -- checks ------------------------------------------------------------------------------


def check_commands(
    report: ChaosReport,
    commands: Sequence[Command],
    stores: dict[str, list[StoredEvent]],
    subscriptions: list[dict[str, Any]],
) -> None:
    """Each command answered 2xx stored exactly once; nothing stored twice, whoever asked."""
    c = report.counts
    case_events = stores["case"]
    by_key: dict[str, list[StoredEvent]] = defaultdict(list)
    for e in case_events:
        key = e.state.get("command_key")
        if key:
            by_key[key].append(e)
    referred: dict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
    for e in stores["referral"]:
        if e.topic == REFERRED_TOPIC:
            referred[(str(e.state.get("case_id")), str(e.state.get("receiving_organ")))].append(e)
    subscription_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in subscriptions:
        if row.get("idempotency_key"):
            subscription_rows[row["idempotency_key"]].append(row)

    def stored_for(cmd: Command) -> list[Any]:
        if cmd.kind == "subscribe":
            return subscription_rows.get(cmd.key, [])
        if cmd.kind == "refer":
            found = referred.get((cmd.case_id, RECEIVING_ORGAN), [])
            expected_id = str(referral_id_for(cmd.case_id, RECEIVING_ORGAN))
            if cmd.ok and str(cmd.answer.get("id")) != expected_id:
                report.fail(f"referral of {cmd.case_id} answered with id {cmd.answer.get('id')}, not {expected_id}")
            return found
        found = by_key.get(cmd.key, [])
        if cmd.kind == "file" and cmd.ok:
            expected_id = str(uuid.uuid5(CASE_ID_NAMESPACE, f"{AGENCY['code']}:{cmd.key}"))
            if cmd.case_id != expected_id or any(e.originator_id != expected_id for e in found):
                report.fail(f"filing {cmd.key} is not stored under its derived case id {expected_id}")
        if cmd.case_id and any(e.originator_id != cmd.case_id for e in found):
            report.fail(f"command {cmd.key} is stored on another case")
        return found

    lost, duplicated = [], []
    by_kind: Counter[str] = Counter()
    for cmd in commands:
        by_kind[cmd.kind] += 1
        found = stored_for(cmd)
        if cmd.ok:
            if not found:
                lost.append(cmd)
        elif cmd.status is None:
            c["unanswered"] = c.get("unanswered", 0) + 1
            c["unanswered_stored"] = c.get("unanswered_stored", 0) + (1 if found else 0)
        else:
            c["unexpected"] = c.get("unexpected", 0) + 1
            answer = json.dumps(cmd.answer, ensure_ascii=False)[:300]
            report.fail(f"{cmd.kind} {cmd.key} was answered {cmd.status}: {answer}")
        if len(found) > 1:
            duplicated.append(cmd)
    # Duplicates whoever asked: a key or a (case, organ) stored more than once.
    twice = [k for k, v in by_key.items() if len(v) > 1] + [k for k, v in referred.items() if len(v) > 1]
    asked = {cmd.key for cmd in commands}
    strangers = [e for e in case_events if e.state.get("command_key") not in asked]
    c.update(
        sent=len(commands),
        ok=sum(cmd.ok for cmd in commands),
        ok_first_attempt=sum(cmd.ok and cmd.attempts == 1 for cmd in commands),
        ok_after_retry=sum(cmd.ok and cmd.refused + cmd.no_answer + cmd.server_errors > 0 for cmd in commands),
        replayed=sum(cmd.replayed for cmd in commands),
        attempts_refused=sum(cmd.refused for cmd in commands),
        attempts_in_flight=sum(cmd.no_answer for cmd in commands),
        attempts_no_answer=sum(cmd.refused + cmd.no_answer for cmd in commands),
        attempts_5xx=sum(cmd.server_errors for cmd in commands),
        attempts_412=sum(cmd.stale for cmd in commands),
        attempts_unknown_case=sum(cmd.not_yet_known for cmd in commands),
        by_kind=dict(by_kind),
        lost=len(lost),
        duplicated=max(len(duplicated), len(twice)),
    )
    c.setdefault("unanswered", 0)
    c.setdefault("unanswered_stored", 0)
    c.setdefault("unexpected", 0)
    if lost:
        report.fail(f"{len(lost)} commands answered 2xx are not in their event store, e.g. {[x.key for x in lost[:5]]}")
    if duplicated or twice:
        report.fail(f"commands stored more than once: {[x.key for x in duplicated[:5]] or twice[:5]}")
    if strangers:
        report.fail(f"{len(strangers)} case events no client asked for, e.g. {strangers[0].originator_id}")
    if c["sent"] < report.options.commands:
        report.notes.append(
            f"{report.options.commands - c['sent']} planned commands were not sent "
            "(an earlier command of their case got no answer)"
        )


def check_broker(
    report: ChaosReport, stores: dict[str, list[StoredEvent]], records: dict[int, list[Any]]
) -> dict[str, ConsumedEvent]:
    """Every stored event on the topic, nothing else there, each aggregate in version order.
    Returns the first copy of each CloudEvent, by id."""
    c = report.counts
    stored = {e.event_id: e for events in stores.values() for e in events}
    first: dict[str, ConsumedEvent] = {}
    total = unreadable = changed = 0
    order: dict[str, list[int]] = defaultdict(list)
    for partition in sorted(records):
        for record in records[partition]:
            total += 1
            event = parse_record(record)
            if event is None:
                unreadable += 1
                continue
            if event.id in first:
                if (first[event.id].type, first[event.id].data) != (event.type, event.data):
                    changed += 1
                continue
            first[event.id] = event
            order[event.aggregate_id].append(event.sequence)
    out_of_order = sum(1 for seqs in order.values() if seqs != sorted(seqs))
    missing = set(stored) - set(first)
    unknown = set(first) - set(stored)
    c.update(
        events_stored=len(stored),
        events_by_store={s: len(v) for s, v in stores.items()},
        events_on_broker=len(first),
        broker_records=total,
        broker_duplicates=total - len(first) - unreadable,
        events_missing_on_broker=len(missing),
        events_unknown_on_broker=len(unknown),
        events_out_of_order=out_of_order,
    )
    if missing:
        report.fail(f"{len(missing)} stored events never reached the broker, e.g. {sorted(missing)[:3]}")
    if unknown:
        report.fail(f"{len(unknown)} events on the broker are in no event store, e.g. {sorted(unknown)[:3]}")
    if out_of_order:
        report.fail(f"{out_of_order} aggregates' events reached the broker out of version order")
    if unreadable:
        report.fail(f"{unreadable} unreadable records on the topic")
    if changed:
        report.fail(f"{changed} events re-published with different content under the same id")
    return first


def check_publications(
    report: ChaosReport, stores: dict[str, list[StoredEvent]], credit_china: list[dict[str, Any]], intake_requests: int
) -> None:
    """Each decision prepared and published exactly once, and Credit China holds it with the
    receipt recorded (the policy and the publisher are effects of consumed events too)."""
    c = report.counts
    decisions = [e for e in stores["case"] if e.topic == DECIDED_TOPIC]
    expected = {str(publication_id_for(e.originator_id, str(e.state.get("decision_number")))) for e in decisions}
    prepared = Counter(e.originator_id for e in stores["disclosure"] if e.topic == PREPARED_TOPIC)
    published = Counter(e.originator_id for e in stores["disclosure"] if e.topic == PUBLISHED_TOPIC)
    receipts = {e.originator_id: e.state.get("receipt_id") for e in stores["disclosure"] if e.topic == PUBLISHED_TOPIC}
    accepted = {str(r["publication_id"]): r for r in credit_china}
    mismatched = [p for p, receipt in receipts.items() if p in accepted and accepted[p]["receipt_id"] != receipt]
    c.update(
        decisions=len(decisions),
        prepared=sum(prepared.values()),
        published=sum(published.values()),
        credit_china_accepted=len(accepted),
        credit_china_requests=intake_requests,
        receipt_mismatches=len(mismatched),
    )
    if set(prepared) != expected or any(n != 1 for n in prepared.values()):
        report.fail(f"{sum(prepared.values())} publications prepared for {len(expected)} decisions, not one each")
    if set(published) != expected or any(n != 1 for n in published.values()):
        report.fail(f"{sum(published.values())} publications published for {len(expected)} decisions, not one each")
    if set(accepted) != expected:
        report.fail(f"Credit China holds {len(accepted)} publications, {len(expected)} expected")
    if mismatched:
        report.fail(f"{len(mismatched)} publications recorded with another receipt than Credit China's")


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
        with _connect(system, check.service) as live, _connect(system, database) as fresh:
            for name in check.copied:  # inputs the projection reads, not writes
                for row in live.execute(f"SELECT * FROM {_q(name)}").fetchall():
                    values = [Json(v) if isinstance(v, dict | list) else v for v in row.values()]
                    placeholders = ", ".join(["%s"] * len(row))
                    fresh.execute(f"INSERT INTO {_q(name)} ({_names(row)}) VALUES ({placeholders})", values)
        for partition in sorted(batches):
            for events, last_offset in batches[partition]:
                # A batch is one transaction: one that failed left nothing and can go again.
                patiently(lambda: runner.apply(TopicPartition(TOPIC, partition), events, last_offset))  # noqa: B023
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
            tables = [(check.projection(self.system).metadata.tables[t], excluded, None) for t, excluded in check.tables.items()]
            tables += [(applied_events, (), {"consumer": name}), (consumer_offsets, (), {"consumer": name})]
            with (
                _connect(self.system, check.service) as live,
                _connect(self.system, self.databases[check.service]) as fresh,
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


def check_webhooks(
    report: ChaosReport, first: dict[str, ConsumedEvent], receiver: Subscriber, secret: str, patterns: Sequence[str]
) -> None:
    """Every event the subscription matches arrived at least once, correctly signed, with
    the event's content, and never with two different bodies under one webhook id."""
    c = report.counts
    owed = {i: e for i, e in first.items() if matches(e.type, patterns)}
    bodies: dict[str, set[bytes]] = defaultdict(set)
    bad_signature = differ = 0
    signer = Webhook(secret)
    received = receiver.received
    for hook in received:
        headers, body = hook["headers"], hook["body"]
        webhook_id = headers.get("webhook-id", "")
        bodies[webhook_id].add(body)
        try:
            sent_at = datetime.fromtimestamp(int(headers.get("webhook-timestamp", "0")), UTC)
            expected = signer.sign(webhook_id, sent_at, body.decode())
        except Exception:
            expected = ""
        signatures = headers.get("webhook-signature", "").split()
        if expected not in signatures:
            bad_signature += 1
        try:
            payload = json.loads(body)
        except ValueError:
            differ += 1
            continue
        if payload.get("id") != webhook_id:
            differ += 1
        elif webhook_id in owed:
            want = cloud_event_envelope(owed[webhook_id])
            if {k: payload.get(k) for k in ("id", "type", "subject", "source", "data")} != {
                k: want.get(k) for k in ("id", "type", "subject", "source", "data")
            }:
                differ += 1
    changed = sum(1 for v in bodies.values() if len(v) > 1)
    missing = set(owed) - set(bodies)
    not_owed = set(bodies) - set(owed)
    c.update(
        webhooks_owed=len(owed),
        webhooks_delivered=len(set(owed) & set(bodies)),
        webhook_requests=len(received),
        webhooks_missing=len(missing),
        webhooks_changed=changed,
        webhooks_differ_from_topic=differ,
        webhooks_bad_signature=bad_signature,
        webhooks_not_owed=len(not_owed),
    )
    if missing:
        report.fail(f"{len(missing)} webhooks owed were never delivered, e.g. {sorted(missing)[:3]}")
    if changed:
        report.fail(f"{changed} webhook ids were delivered with different payloads")
    if differ:
        report.fail(f"{differ} webhooks differ from the event on the topic")
    if bad_signature:
        report.fail(f"{bad_signature} webhooks with a bad signature")
    if not_owed:
        report.fail(f"{len(not_owed)} webhooks delivered that were not owed")


# -- the run -----------------------------------------------------------------------------


def _subscribe(clients: Clients, receiver: Subscriber, patterns: list[str]) -> Command:
    command = Command("subscribe", f"chaos-{clients.run_id}-subscription")
    body = {"callback_url": receiver.url, "event_types": patterns, "description": "chaos run receiver"}
    clients.send(command, "notification", "/v1/subscriptions", body, "integration")
    if not command.ok:
        raise RuntimeError(f"could not subscribe the webhook receiver: {command.status} {command.answer}")
    return command


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
            patterns = ["cn.caseledger.*"]
            subscription = _subscribe(clients, receiver, patterns)
            t0 = time.monotonic()
            log(
                f"{options.commands} commands from {options.workers} clients; killing each service "
                f"{options.kills_per_service} times at random moments (seed {seed})"
            )
            progress: dict[str, Any] = {"disable": not options.progress, "file": sys.stderr, "mininterval": 1.0}
            with tqdm(total=options.commands, desc="commands", unit="cmd", **progress) as bar:
                workload = Workload(clients, options, rng, bar)
                monkey = Monkey(system, options, rng, workload)
                monkey.start()
                workload.run()
                bar.set_postfix_str(f"kills {len(monkey.kills)}/{len(monkey.plan)}")
                monkey.join()
            report.kills = monkey.kills
            report.timings["commands"] = time.monotonic() - t0
            for error in monkey.errors:
                report.fail(f"the fault injector failed: {error}")
            killed = Counter(k.service for k in monkey.kills)
            if any(killed[s] < options.kills_per_service for s in SERVICES):
                report.fail(f"fewer kills than planned: {dict(killed)}")
            for error in workload.errors:
                report.fail(f"a client failed: {error}")
            for service in SERVICES:  # whatever the monkey left down comes back up
                if service not in system.processes or system.processes[service].poll() is not None:
                    system.processes.pop(service, None)
                    system.restart(service, options.restart_timeout_s)
            system.wait_ready(options.restart_timeout_s)
            crashed = [k for k in monkey.kills if k.starts > 1]
            if crashed:
                report.notes.append(
                    "services that exited by themselves while starting and were started again: "
                    + ", ".join(f"{k.service} (#{k.at_command}, {k.starts} starts)" for k in crashed)
                )

            t0 = time.monotonic()
            topic = Topic(system.bootstrap)
            try:
                state: dict[str, Any] = {}
                rebuilds: Rebuilds | None = None
                with tqdm(desc="settling", unit="round", **progress) as bar:
                    deadline = time.monotonic() + options.settle_timeout_s
                    while time.monotonic() < deadline:
                        previous = state.get("ends")
                        state = patiently(lambda: settle_state(system, topic, receiver))  # noqa: B023
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

                t0 = time.monotonic()
                log("checking ...")
                simulator = httpx.get(system.url("credit_china") + "/api/v1/penalties", timeout=60).json()
                stop_services(system)  # settled: give the checks the CPU
                stores = {service: read_event_store(system, service) for service in EVENT_STORES}
                with _connect(system, "notification") as conn:
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
                check_webhooks(report, first, receiver, str(subscription.answer["secret"]), patterns)
                report.timings["check"] = time.monotonic() - t0
                t0 = time.monotonic()
                if rebuilds is None or rebuilds.records != sum(len(r) for r in records.values()):
                    if rebuilds is not None:
                        report.notes.append("the topic grew after it looked complete: rebuilt from all of it again")
                        rebuilds.compare(ChaosReport(options, seed))  # let it finish, results unused
                    rebuilds = Rebuilds(system, records, tag="" if rebuilds is None else "2")
                rebuilds.compare(report)
                report.timings["rebuild (rest) and compare"] = time.monotonic() - t0
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
            except Exception as exc:  # noqa: BLE001 - report, do not mask the result
                report.notes.append(f"could not drop the databases {prefix}_*: {exc}")
            if owns_dir and report.ok:
                shutil.rmtree(data_dir, ignore_errors=True)
        if not report.ok or options.keep:
            report.notes.append(f"service logs kept in {data_dir / 'var' / 'logs'}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kill caseledger's services at random under load; check nothing lost")
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs per service, at least")
    parser.add_argument("--workers", type=int, default=12, help="concurrent clients")
    parser.add_argument("--referral-share", type=float, default=0.3)
    parser.add_argument(
        "--recovery-kills", type=float, default=0.25, help="share of kills followed by another one while it restarts"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server URL (trust auth)")
    parser.add_argument("--data-dir", type=Path, default=None, help="logs and keys (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the data directory")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--serve-webhooks", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_webhooks:
        serve_webhooks(args.serve_webhooks)
        return 0
    options = ChaosOptions(
        commands=args.commands,
        kills_per_service=args.kills,
        workers=args.workers,
        referral_share=args.referral_share,
        recovery_kill_share=args.recovery_kills,
        seed=args.seed,
        postgres_url=args.postgres,
        data_dir=args.data_dir,
        keep=args.keep,
        progress=not args.no_progress,
    )
    report = run_chaos(options)
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
