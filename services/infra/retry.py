"""The one retry helper: every loop that retries (the outbox relay, the consumer loop, the
Credit China publisher, the webhook delivery worker) retries through tenacity, with the
same capped exponential backoff unless it says otherwise.

A worker thread runs one step at a time through ``until_stopped``: a step that raises is
retried after the backoff (reported first through ``on_retry``) until it succeeds, which
starts the next step's backoff afresh, or until the worker is stopped. Stopping cuts a
wait short and tries nothing more: the call then returns None (or, with ``reraise``,
raises, for a caller that must not go on as if it had succeeded).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
)

from services.infra.settings import Settings

T = TypeVar("T")
# How long to wait before the next attempt (a tenacity wait strategy, or a function of
# the retry state).
Wait = Callable[[RetryCallState], float]
# Told of each failure before the wait: the exception, the seconds until the next try,
# the number of the attempt that failed.
OnRetry = Callable[[BaseException, float, int], None]
Failures = type[BaseException] | tuple[type[BaseException], ...]


class WorkerStopped(Exception):
    """The worker was stopped while it waited to try again."""


def backoff(initial_s: float, max_s: float) -> Wait:
    """Capped exponential backoff: ``initial_s`` after the first failure, doubling, at most
    ``max_s``."""
    wait: Wait = wait_exponential(multiplier=initial_s, max=max_s)
    return wait


def settings_backoff(settings: Settings) -> Wait:
    """The backoff for what talks to an outside party (RETRY_INITIAL_S, RETRY_MAX_S)."""
    return backoff(settings.retry_initial_s, settings.retry_max_s)


def delay_after(wait: Wait, attempts: int) -> float:
    """The seconds ``wait`` gives after the ``attempts``-th failed attempt (1-based), for
    retries kept in a table rather than slept through (the webhook deliveries)."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempts
    return float(wait(state))


def _policy(stopping: threading.Event, on_retry: OnRetry, wait: Wait, retry_on: Failures) -> dict[str, Any]:
    """What a tenacity retrying object is made of here, sync or async alike."""

    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if failure is not None:
            on_retry(failure, delay, state.attempt_number)

    return {
        "retry": retry_if_exception_type(retry_on),
        "wait": wait,
        "stop": lambda _state: stopping.is_set(),
        "before_sleep": before_sleep,
        "reraise": True,  # the last failure, for __call__ to sort out
    }


class UntilStopped:
    """Calls a step through tenacity until it succeeds or the worker is stopped."""

    def __init__(
        self, stopping: threading.Event, on_retry: OnRetry, wait: Wait, retry_on: Failures, reraise: bool
    ) -> None:
        self.stopping = stopping
        self.reraise = reraise

        def sleep(seconds: float) -> None:
            if stopping.wait(seconds):
                raise WorkerStopped

        self._retrying = Retrying(sleep=sleep, **_policy(stopping, on_retry, wait, retry_on))
        self._retry_on = retry_on

    def __call__(self, step: Callable[..., T], *args: Any) -> T | None:
        try:
            return self._retrying(step, *args)
        except WorkerStopped:
            if self.reraise:
                raise
            return None
        except Exception as exc:
            # A failure while already stopping: not retried, and not the caller's to handle.
            if self.reraise or not (self.stopping.is_set() and isinstance(exc, self._retry_on)):
                raise
            return None


def until_stopped(
    stopping: threading.Event,
    on_retry: OnRetry,
    wait: Wait,
    *,
    retry_on: Failures = Exception,
    reraise: bool = False,
) -> UntilStopped:
    """Retry a worker thread's step on ``retry_on`` after ``wait``, until it succeeds or
    ``stopping`` is set."""
    return UntilStopped(stopping, on_retry, wait, retry_on, reraise)


class UntilStoppedAsync:
    """``UntilStopped`` for a step that is a coroutine (a worker with its own event loop)."""

    def __init__(self, stopping: threading.Event, on_retry: OnRetry, wait: Wait) -> None:
        self.stopping = stopping

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds)
            if stopping.is_set():
                raise WorkerStopped

        self._retrying = AsyncRetrying(sleep=sleep, **_policy(stopping, on_retry, wait, Exception))

    async def __call__(self, step: Callable[..., Awaitable[T]], *args: Any) -> T | None:
        try:
            return await self._retrying(step, *args)
        except WorkerStopped:
            return None
        except Exception:
            if not self.stopping.is_set():
                raise
            return None
