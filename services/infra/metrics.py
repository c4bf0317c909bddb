"""Metrics at /metrics, in the Prometheus text or OpenMetrics exposition (prometheus_client).

- HTTP, by a pure-ASGI middleware (no BaseHTTPMiddleware): requests by method, route
  template (``/v1/cases/{case_id}``, never the raw path: one series per route, not per
  case) and status; errors (5xx answers and unhandled exceptions); duration.
- Read when scraped, from the running service: its outbox relay's backlog in events and in
  seconds (the age of the oldest event not yet on the topic) and what it published; each
  consumer group's lag in events (the partitions' high watermarks minus its positions)
  and in seconds (how old the last record it consumed was, while it is behind), what it
  applied and skipped; and the service's own figures (``Reading``s from its
  ``gauges``: deliveries by state, publications pending and overdue, open and missed
  deadlines).

Every app has a registry of its own, so several apps in one process (tests) never share
series. Names are ``caseledger_*``; Prometheus adds the job and instance labels.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import exposition as text_format
from prometheus_client.core import Metric
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.registry import Collector

# Request durations from a fast read (a few ms) to a slow command under load (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Reading:
    """One value read at scrape time: a gauge, or (``counter``) a running total."""

    name: str
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    counter: bool = False


class ServiceMetrics:
    """A service's series: the HTTP ones it counts, and the readings taken when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "caseledger_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "caseledger_http_request_errors",
            "HTTP requests answered with a 5xx status or failed with an unhandled exception",
            ["method", "route"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "caseledger_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method and route template",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._readings: Sequence[Reading] = ()
        self.registry.register(_Readings(self))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        if status >= 500:
            self.errors.labels(method, route).inc()
        self.duration.labels(method, route).observe(seconds)

    def exposition(self, readings: Sequence[Reading], accept: str) -> tuple[bytes, str]:
        """The body and content type of a scrape: OpenMetrics when the scraper asks for it."""
        self._readings = readings
        if "application/openmetrics-text" in accept:
            body: bytes = openmetrics_format.generate_latest(self.registry)  # type: ignore[no-untyped-call]
            return body, openmetrics_format.CONTENT_TYPE_LATEST
        return text_format.generate_latest(self.registry), text_format.CONTENT_TYPE_LATEST


class _Readings(Collector):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()  # what is read depends on the service and its state

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for reading in self.metrics._readings:
            family = families.get(reading.name)
            if family is None:
                kind = CounterMetricFamily if reading.counter else GaugeMetricFamily
                family = kind(reading.name, reading.help, labels=sorted(reading.labels))
                families[reading.name] = family
            family.add_metric([reading.labels[k] for k in sorted(reading.labels)], reading.value)
        yield from families.values()


class HttpMetrics:
    """Pure ASGI middleware: counts and times every HTTP request by its route template,
    which the router leaves in the scope (``scope["route"]``); a path no route matched is
    ``unmatched``."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts

        async def send_noting_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception:
            status = 500
            raise
        finally:
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
