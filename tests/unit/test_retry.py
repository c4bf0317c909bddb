"""The one retry helper (services/infra/retry.py) every retrying loop uses: capped
exponential backoff through tenacity, and a stop that ends the retrying at once."""

from __future__ import annotations

import threading
import time

import pytest

from services.infra.retry import WorkerStopped, backoff, delay_after, until_stopped


def test_a_failing_step_is_retried_with_doubling_waits_until_it_succeeds() -> None:
    failures: list[tuple[str, float, int]] = []
    calls: list[Exception | str] = [ValueError("broker down"), ValueError("still down"), "sent"]

    def step() -> str:
        outcome = calls.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    retrying = until_stopped(threading.Event(), lambda e, d, n: failures.append((str(e), d, n)), backoff(0.01, 0.015))
    assert retrying(step) == "sent"
    assert failures == [("broker down", 0.01, 1), ("still down", 0.015, 2)]  # doubled, then capped


def test_stopping_cuts_the_wait_short_and_tries_nothing_more() -> None:
    stopping = threading.Event()
    attempts = 0

    def step() -> None:
        nonlocal attempts
        attempts += 1
        threading.Timer(0.05, stopping.set).start()
        raise ConnectionError("refused")

    retrying = until_stopped(stopping, lambda *_: None, backoff(30, 30))
    started = time.monotonic()
    assert retrying(step) is None
    assert attempts == 1 and time.monotonic() - started < 5
    with pytest.raises(WorkerStopped):
        stopping.clear()
        until_stopped(stopping, lambda *_: None, backoff(30, 30), reraise=True)(step)


def test_failures_it_is_not_told_to_retry_are_raised_at_once() -> None:
    def step() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        until_stopped(threading.Event(), lambda *_: None, backoff(0.01, 0.01), retry_on=ConnectionError)(step)


def test_a_scheduled_retry_waits_what_the_same_backoff_gives() -> None:
    wait = backoff(0.2, 300)
    assert [delay_after(wait, n) for n in (1, 2, 3, 12, 13)] == [0.2, 0.4, 0.8, 300, 300]
    assert delay_after(wait, 11) == pytest.approx(204.8)
