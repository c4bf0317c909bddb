"""The load generator: case lifecycles through the REST APIs, in its own process.

One asyncio event loop (uvloop when installed) and one httpx.AsyncClient with HTTP
keep-alive. Two ways of offering load:

- ``closed``: ``concurrency`` workers each run lifecycles back to back. What completes in
  the window is the maximum sustained throughput at that concurrency.
- ``paced``: lifecycles start at a fixed rate whatever the system does (open loop), so a
  slow system shows as latency and lag instead of as less offered load. With ``watch``,
  every case command's ledger lag and every decision's disclosure-feed lag is measured.

The trivial-endpoint baseline runs through exactly this code (target ``trivial``): the same
client, the same send path, the same body and headers, one POST per "lifecycle".
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devtools.bench.resources import CpuMeter
from devtools.demo import (
    ENTERPRISE,
    PERSON,
    case_unknown_to_referral,
    filing_request,
    legal_review_request,
    penalty_decision_request,
    prior_notice_request,
    referral_request,
    waiver_request,
)
from services.infra.clock import today_in_china

# Every command of a lifecycle on the case service (each appends one event to the case).
CASE_COMMANDS = ("file", "notify", "waive", "review", "penalise")
# Progress slots shared with the parent process (read for the progress bar only).
DONE, ERRORS = 0, 1


@dataclass
class LoadSpec:
    target: str  # "caseledger" or "trivial"
    mode: str  # "closed" or "paced"
    urls: dict[str, str]
    auth: dict[str, dict[str, str]]  # role -> Authorization header, minted once
    concurrency: int
    warmup_s: float
    duration_s: float
    rate: float = 0.0  # paced: case commands (or trivial requests) per second
    refer_share: float = 0.25
    person_share: float = 0.2
    watch: bool = False
    # Each poll is a GET the case service serves beside the load: often enough to
    # resolve a 500 ms target, rarely enough not to become the load.
    poll_s: float = 0.05
    tail_s: float = 20.0
    run_tag: str = "bench"
    seed: int = 1
    # Processes whose CPU time is measured over the window (name -> pid).
    pids: dict[str, int] = field(default_factory=dict)
    # Several load processes share one run: this one's lifecycles are numbered
    # offset, offset + step, ... (distinct Idempotency-Keys and decision numbers), and
    # all of them start their warm-up at the same time.monotonic() instant.
    serial_offset: int = 0
    serial_step: int = 1
    begin_at: float = 0.0


@dataclass
class _WatchedCase:
    """A case whose ledger lag is being measured: (version, response time) not yet seen."""

    case_id: str
    # (version, answered on the monotonic clock, answered on the wall clock)
    pending: list[tuple[int, float, float]] = field(default_factory=list)
    finished: bool = False


class _Retry(Exception):
    """The referral service does not know the case yet (409 unknown-case)."""


class Load:
    def __init__(self, spec: LoadSpec, progress: Any) -> None:
        self.spec = spec
        self.progress = progress
        self.rng = random.Random(spec.seed)
        self.serial = itertools.count(1 + spec.serial_offset, spec.serial_step)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.lag: dict[str, list[float]] = {"ledger": [], "feed": []}
        self.unseen: Counter[str] = Counter()
        self.polls: Counter[str] = Counter()
        self.lag_split: dict[str, list[float]] = defaultdict(list)
        self.refer_retries = 0
        self.cases_filed = 0
        self.last_cases: deque[tuple[str, int]] = deque(maxlen=20)
        self.background: set[asyncio.Task[Any]] = set()
        self.awaiting_feed: dict[str, float] = {}
        self.scheduling_done = False
        self.open_lifecycles = 0  # decisions may still come from these
        self.today = today_in_china()
        self.case_url = spec.urls.get("case", "")
        self.trivial_url = spec.urls.get("trivial", "")

    # -- the run ---------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        spec = self.spec
        # Enough connections that the pool is never what limits the offered load.
        pool = spec.concurrency * 2 + 16 if spec.mode == "closed" else 256
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        cpu0 = time.process_time()
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            self.client = client
            await asyncio.sleep(max(0.0, spec.begin_at - time.monotonic()))
            now = time.monotonic()
            self.start = now + spec.warmup_s
            self.end = self.start + spec.duration_s
            self.tail_deadline = self.end + spec.tail_s
            cpu_window = asyncio.create_task(self._cpu_over_window())
            if spec.mode == "closed":
                await self._closed()
            else:
                await self._paced()
            cpu_cores = await cpu_window
        cpu = time.process_time() - cpu0
        return {
            "target": spec.target,
            "mode": spec.mode,
            "concurrency": spec.concurrency,
            "window_s": spec.duration_s,
            "offered_rate": spec.rate if spec.mode == "paced" else None,
            "latency_ms": dict(self.latency),
            "counts": {kind: len(values) for kind, values in self.latency.items()},
            "errors": dict(self.errors),
            "lag_ms": self.lag,
            "lag_unseen": dict(self.unseen),
            "lag_polls": dict(self.polls),
            "lag_split_ms": dict(self.lag_split),
            "poll_s": spec.poll_s,
            "refer_unknown_case_retries": self.refer_retries,
            "cases_filed": self.cases_filed,
            "last_cases": list(self.last_cases),
            "client_cpu_s": cpu,
            "cpu_cores": cpu_cores,
            "client_wall_s": time.monotonic() - (self.start - spec.warmup_s),
        }

    async def _closed(self) -> None:
        async def worker() -> None:
            while time.monotonic() < self.end:
                await self._one(counted=None)

        await asyncio.gather(*(worker() for _ in range(self.spec.concurrency)))
        await self._drain_background()

    async def _paced(self) -> None:
        spec = self.spec
        # A lifecycle carries five case commands; the trivial "lifecycle" one request.
        per_arrival = len(CASE_COMMANDS) if spec.target == "caseledger" else 1
        interval = per_arrival / spec.rate
        lifecycles: set[asyncio.Task[Any]] = set()
        if spec.watch:
            self._spawn(self._watch_feed())
        due = time.monotonic()
        while due < self.end:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(counted=due >= self.start))
            lifecycles.add(task)
            task.add_done_callback(lifecycles.discard)
            due += interval
        self.scheduling_done = True
        if lifecycles:
            await asyncio.wait(set(lifecycles), timeout=max(1.0, self.tail_deadline - time.monotonic()))
        for task in set(lifecycles):  # still waiting for an answer at the tail deadline
            task.cancel()
            self._error("lifecycle", "unfinished at the tail deadline")
        await self._drain_background()

    async def _cpu_over_window(self) -> dict[str, float]:
        await asyncio.sleep(max(0.0, self.start - time.monotonic()))
        meter = CpuMeter(self.spec.pids)
        await asyncio.sleep(max(0.0, self.end - time.monotonic()))
        return meter.cores_used()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _drain_background(self) -> None:
        while self.background:
            await asyncio.wait(set(self.background), timeout=max(1.0, self.tail_deadline - time.monotonic() + 5))
            if time.monotonic() > self.tail_deadline + 5:
                for task in self.background:
                    task.cancel()
                break

    # -- one request -----------------------------------------------------------------
    async def _send(
        self, kind: str, method: str, url: str, counted: bool | None, **kwargs: Any
    ) -> httpx.Response | None:
        """Send one command and account for it. ``counted`` None (closed loop): counted
        when the answer arrives inside the window."""
        sent = time.monotonic()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self._error(kind, type(exc).__name__)
            return None
        answered = time.monotonic()
        if kind == "refer" and case_unknown_to_referral(response):
            self.refer_retries += 1
            raise _Retry
        if counted is None:
            counted = self.start <= answered <= self.end
        if response.status_code >= 300:
            self._error(kind, str(response.status_code))
            return None
        if counted:
            self.latency[kind].append((answered - sent) * 1000)
            self.progress[DONE] += 1
        return response

    def _error(self, kind: str, what: str) -> None:
        self.errors[f"{kind} {what}"] += 1
        self.progress[ERRORS] += 1

    # -- one lifecycle ---------------------------------------------------------------
    async def _one(self, counted: bool | None) -> None:
        n = next(self.serial)
        if self.spec.target == "trivial":
            await self._send("noop", "POST", f"{self.trivial_url}/noop", counted, **self._filing(n))
            return
        self.open_lifecycles += 1
        try:
            await self._lifecycle(n, counted)
        finally:
            self.open_lifecycles -= 1

    def _filing(self, n: int) -> dict[str, Any]:
        party = PERSON if self.rng.random() < self.spec.person_share else ENTERPRISE
        body = filing_request(party, (self.today - timedelta(days=20)).isoformat())
        headers = {**self.spec.auth["officer"], "Idempotency-Key": f"bench-{self.spec.run_tag}-{n}"}
        return {"json": body, "headers": headers}

    async def _lifecycle(self, n: int, counted: bool | None) -> None:
        spec = self.spec
        watched: _WatchedCase | None = None
        filed = await self._send("file", "POST", f"{self.case_url}/v1/cases", counted, **self._filing(n))
        if filed is None:
            return
        self.cases_filed += 1
        case_id = filed.json()["id"]
        watch = spec.watch and counted
        if watch:
            watched = _WatchedCase(case_id, [(1, time.monotonic(), time.time())])
            self._spawn(self._watch_ledger(watched))
        try:
            # Notified and waived, so that it may be decided at once (fines below the major
            # thresholds: no discussion or hearing period).
            fine = 1_000 + 500 * (n % 38)
            etag = filed.headers["etag"]
            for name, path, body in (
                ("notify", "prior-notice", prior_notice_request(fine)),
                ("waive", "statements", waiver_request()),
            ):
                answer = await self._send(
                    name,
                    "POST",
                    f"{self.case_url}/v1/cases/{case_id}/respondents/1/{path}",
                    counted,
                    json=body,
                    headers={**spec.auth["officer"], "If-Match": etag},
                )
                if answer is None:
                    return
                etag = answer.headers["etag"]
            reviewed = await self._send(
                "review",
                "POST",
                f"{self.case_url}/v1/cases/{case_id}/legal-reviews",
                counted,
                json=legal_review_request(),
                headers={**spec.auth["legal_reviewer"], "If-Match": etag},
            )
            if reviewed is None:
                return
            if watched:
                watched.pending.append((4, time.monotonic(), time.time()))
            decided = await self._send(
                "penalise",
                "POST",
                f"{self.case_url}/v1/cases/{case_id}/respondents/1/penalty-decision",
                counted,
                json=penalty_decision_request(fine),
                headers={**spec.auth["agency_head"], "If-Match": reviewed.headers["etag"]},
            )
            if decided is None:
                return
            answered = time.monotonic()
            if watched:
                watched.pending.append((5, answered, time.time()))
                self.awaiting_feed[case_id] = answered
            self.last_cases.append((case_id, 5))
        finally:
            if watched:
                watched.finished = True
        if self.rng.random() < spec.refer_share:
            # Its own task: waiting for the referral service to learn of the case is not
            # the case service's time, and must not hold a closed-loop worker.
            self._spawn(self._refer(case_id, counted))

    async def _refer(self, case_id: str, counted: bool | None) -> None:
        body = referral_request(case_id)
        while time.monotonic() < self.tail_deadline:
            try:
                await self._send(
                    "refer",
                    "POST",
                    f"{self.spec.urls['referral']}/v1/referrals",
                    counted,
                    json=body,
                    headers=self.spec.auth["officer"],
                )
                return
            except _Retry:
                await asyncio.sleep(0.1)
        self._error("refer", "case never known")

    # -- lag watchers (paced runs) ----------------------------------------------------
    async def _watch_ledger(self, case: _WatchedCase) -> None:
        """Poll the case's ledger entry until it shows every version answered so far. The
        lag of a version ends when the first GET showing it returns (what a client sees)."""
        url = f"{self.case_url}/v1/cases/{case.case_id}"
        headers = self.spec.auth["officer"]
        while case.pending or not case.finished:
            if time.monotonic() > self.tail_deadline:
                self.unseen["ledger"] += len(case.pending)
                return
            if case.pending:
                self.polls["ledger"] += 1
                sent = time.monotonic()
                try:
                    response = await self.client.get(url, headers=headers)
                except httpx.HTTPError as exc:
                    self._error("ledger-read", type(exc).__name__)
                    response = None
                seen, seen_wall = time.monotonic(), time.time()
                if response is not None and response.status_code == 200:
                    entry = response.json()
                    version = entry["version"]
                    if any(v <= version for v, _, _ in case.pending):
                        self.lag_split["the GET that saw it"].append((seen - sent) * 1000)
                    for v, t, t_wall in case.pending:
                        if v <= version:
                            self.lag["ledger"].append((seen - t) * 1000)
                        if v == version and ".case." in entry["last_event_type"]:
                            self._split_lag(t_wall, entry["updated_at"], seen_wall)
                    case.pending = [p for p in case.pending if p[0] > version]
                    if not case.pending:
                        continue
            await asyncio.sleep(self.spec.poll_s)

    def _split_lag(self, answered: float, applied_at: str, seen: float) -> None:
        """Where a lag went, by the ledger row's updated_at (the projection's clock, this
        machine's): answer to applied is relay, broker and consumer; applied to seen is
        this bench's polling and the GET. Only when the row's latest change is that very
        version, so updated_at is its apply time."""
        applied_dt = datetime.fromisoformat(applied_at)
        if applied_dt.tzinfo is None:  # SQLite keeps no zone; the projection writes UTC
            applied_dt = applied_dt.replace(tzinfo=UTC)
        applied = applied_dt.timestamp()
        self.lag_split["answer to applied"].append((applied - answered) * 1000)
        self.lag_split["applied to seen"].append((seen - applied) * 1000)

    async def _watch_feed(self) -> None:
        """Follow the public disclosure feed (ordered by record time) with its cursor and
        note when each decided case first appears in it."""
        url = f"{self.spec.urls['disclosure']}/v1/disclosures"
        cursor: str | None = None
        while not (self.scheduling_done and not self.open_lifecycles and not self.awaiting_feed):
            if time.monotonic() > self.tail_deadline:
                self.unseen["feed"] += len(self.awaiting_feed)
                return
            params: dict[str, Any] = {"limit": 50}
            if cursor:
                params["cursor"] = cursor
            self.polls["feed"] += 1
            try:
                response = await self.client.get(url, params=params)
            except httpx.HTTPError as exc:
                self._error("feed-read", type(exc).__name__)
                await asyncio.sleep(self.spec.poll_s)
                continue
            seen = time.monotonic()
            page = response.json()
            for item in page["items"]:
                decided = self.awaiting_feed.pop(item["case_id"], None)
                if decided is not None:
                    self.lag["feed"].append((seen - decided) * 1000)
            if page["next_cursor"]:
                cursor = page["next_cursor"]  # a full page: read on without waiting
                continue
            await asyncio.sleep(self.spec.poll_s)
