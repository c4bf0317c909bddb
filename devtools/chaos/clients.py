"""The client side: what every worker thread shares (URLs, tokens minted once, the log of
commands), and a POST retried as a real client would until it is answered."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from devtools.chaos.options import ChaosOptions
from devtools.demo import AGENCY, case_unknown_to_referral
from devtools.launcher import LocalSystem


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
    not_yet_known: int = 0  # referral: 409 unknown-case until the referral service learns the case
    stale: int = 0  # 412 answers (If-Match behind), retried with the current version
    status: int | None = None  # the final answer's status, None when none came
    replayed: bool = False
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


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
        """POST until answered (not 5xx, not a transient 412 or 409 unknown-case), or the deadline passes."""
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
                elif retry_unknown_case and case_unknown_to_referral(response):
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
