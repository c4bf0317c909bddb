"""The deadline scheduler: a thread that asks the service's application, for each of its
aggregates, what the business day says (a deadline approaching or missed), and records
it. Generic: which aggregates have deadlines, and what is due when, are the domain's;
the scheduler only learns the aggregate ids from the service's own notification log and
remembers, per aggregate, the next day its ``check`` said to look again.

Replay-safe: what was recorded is in the aggregates' events, so a restarted scheduler
(or one on another replica) finds it there; two schedulers recording the same event at
once collide on the aggregate version (``check`` handles the IntegrityError).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import date

from services.infra.clock import today_in_china
from services.infra.eventstore import ServiceApplication
from services.infra.retry import settings_backoff, until_stopped
from services.infra.settings import Settings

log = logging.getLogger(__name__)
# check(aggregate_id, today) records what is due and returns the next day to look again,
# or None when the aggregate has nothing more to schedule.
Check = Callable[[uuid.UUID, date], date | None]


class DeadlineScheduler(threading.Thread):
    def __init__(self, app: ServiceApplication, settings: Settings, check: Check) -> None:
        super().__init__(name=f"scheduler-{settings.service_name}", daemon=True)
        self.app = app
        self.settings = settings
        self.check = check
        self.stopping = threading.Event()
        self.position = 0  # the last notification read (in memory: the log is re-read on start)
        self.next_check: dict[uuid.UUID, date] = {}
        self.checked = 0
        self.last_error: str | None = None
        self._backoff = settings_backoff(settings)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        retrying = until_stopped(self.stopping, self._retrying, self._backoff)
        while not self.stopping.is_set():
            retrying(self.tick)
            self.stopping.wait(self.settings.scheduler_interval_s)

    def _retrying(self, exc: BaseException, delay: float, _attempt: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("deadline scheduler retrying in %.1fs: %s", delay, self.last_error)

    def tick(self, today: date | None = None) -> None:
        """Learn new aggregates (any new event: look at its aggregate again), then check
        every aggregate whose next day has come."""
        while not self.stopping.is_set():
            notifications = self.app.recorder.select_notifications(self.position + 1, self.settings.relay_batch_size)
            for notification in notifications:
                self.next_check[uuid.UUID(str(notification.originator_id))] = date.min
                self.position = notification.id
            if len(notifications) < self.settings.relay_batch_size:
                break
        today = today or today_in_china()
        for aggregate_id, when in list(self.next_check.items()):
            if self.stopping.is_set():
                return
            if when > today:
                continue
            following = self.check(aggregate_id, today)
            self.checked += 1
            if following is None:
                self.next_check.pop(aggregate_id, None)
            else:
                self.next_check[aggregate_id] = following
        self.last_error = None
