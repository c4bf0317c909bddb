"""The fault injector: SIGKILLs of the service processes at random moments of the
workload, and their restarts."""

from __future__ import annotations

import random
import signal
import threading
import time
import traceback
from dataclasses import dataclass

from devtools.chaos.options import ChaosOptions
from devtools.chaos.workload import Workload
from devtools.launcher import SERVICES, LocalSystem


@dataclass
class Kill:
    service: str
    at_command: int
    killed_at: float
    ready_after_s: float = 0.0
    during_recovery: bool = False  # killed again while starting up from the previous kill
    starts: int = 1  # more than one: it exited by itself while starting and was started again


class Killer:
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
        self.thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)
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
