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
    referral_request,
)
from services.infra.clock import today_in_china

REFERRAL_DELAY_S = 2.0  # a referral is sent this long after its case's decision


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
