"""The workload: whole cases (file, legal review, penalty decision and for a share of them
a referral) driven by worker threads until the command budget is spent."""

from __future__ import annotations

import queue
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tqdm import tqdm

from devtools.chaos.clients import Clients, Command
from devtools.chaos.options import ChaosOptions
from devtools.demo import (
    ENTERPRISE,
    PERSON,
    filing_request,
    legal_review_request,
    penalty_decision_request,
    prior_notice_request,
    referral_request,
    waiver_request,
)
from services.infra.clock import today_in_china

REFERRAL_DELAY_S = 2.0  # a referral is sent this long after its case's decision


# A case's commands after its filing: (name, path, role).
STEPS = (
    ("notify", "/respondents/1/prior-notice", "officer"),
    ("waive", "/respondents/1/statements", "officer"),
    ("review", "/legal-reviews", "legal_reviewer"),
    ("decide", "/respondents/1/penalty-decision", "agency_head"),
)


def _step_body(name: str, fine: int, day: str) -> dict[str, Any]:
    if name == "notify":
        return prior_notice_request(fine, notified_on=day)
    if name == "waive":
        return waiver_request(received_on=day)
    if name == "review":
        return legal_review_request(opinion="事实清楚，证据确凿，程序合法", reviewed_on=day)
    return penalty_decision_request(fine, decided_on=day)


@dataclass(frozen=True)
class CasePlan:
    index: int
    refer: bool

    @property
    def size(self) -> int:
        return len(STEPS) + 1 + (1 if self.refer else 0)


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
        cases from the topic, so a referral sent at once mostly waits out 409 unknown-case."""
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
        etag = filed.headers.get("etag")
        # Notified, waived (so it may be decided at once), reviewed, decided: fines below the
        # thresholds of a major decision, so no discussion or hearing period applies.
        fine = 1_000 + 500 * (n % 38)
        for sent, (name, path, role) in enumerate(STEPS, start=2):
            command = Command(name, f"{key}-{name}", case_id)
            answer = c.send(
                command,
                "case",
                f"/v1/cases/{case_id}{path}",
                _step_body(name, fine, day.isoformat()),
                role,
                if_match=etag,
            )
            self._count()
            if answer is None or not command.ok:
                self._unsend(plan.size - sent)
                return
            etag = answer.headers.get("etag")
        if not plan.refer:
            return
        body = {**referral_request(case_id), "reported_on": day.isoformat()}
        self.referrals.put((time.monotonic() + REFERRAL_DELAY_S, Command("refer", f"{key}-refer", case_id), body))
