"""HTTP metrics (services/infra/metrics.py): counted by route template, never by the raw
path; 5xx answers and unhandled exceptions are errors; the readings of a scrape are
exposed as gauges and counters, in the Prometheus text and the OpenMetrics format."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from services.infra.metrics import HttpMetrics, Reading, ServiceMetrics


def samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


async def test_requests_are_counted_by_route_template_and_errors_by_status() -> None:
    app = FastAPI()
    metrics = ServiceMetrics()

    @app.get("/v1/cases/{case_id}")
    async def case(case_id: str) -> JSONResponse:
        return JSONResponse({"id": case_id}, status_code=503 if case_id == "down" else 200)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    app.add_middleware(HttpMetrics, metrics=metrics)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for case_id in ("a1", "b2", "c3", "down"):
            await client.get(f"/v1/cases/{case_id}")
        await client.get("/boom")
        await client.get("/no/such/path")

    body, content_type = metrics.exposition(
        [
            Reading("caseledger_relay_backlog_events", "backlog", 7),
            Reading("caseledger_consumer_lag_events", "lag", 3, {"group": "case-ledger"}),
            Reading("caseledger_consumer_applied_events", "applied", 40, {"group": "case-ledger"}, counter=True),
        ],
        "application/openmetrics-text; version=1.0.0",
    )
    assert content_type.startswith("application/openmetrics-text")
    found = samples(body)
    route = ("route", "/v1/cases/{case_id}")
    get = ("method", "GET")
    assert found["caseledger_http_requests_total", frozenset({get, route, ("status", "200")})] == 3
    assert found["caseledger_http_requests_total", frozenset({get, route, ("status", "503")})] == 1
    assert found["caseledger_http_request_errors_total", frozenset({get, route})] == 1
    assert found["caseledger_http_request_errors_total", frozenset({get, ("route", "/boom")})] == 1
    assert found["caseledger_http_requests_total", frozenset({get, ("route", "unmatched"), ("status", "404")})] == 1
    assert found["caseledger_http_request_duration_seconds_count", frozenset({get, route})] == 4
    assert not any("a1" in str(labels) for _, labels in found)  # no raw path, no case id
    assert found["caseledger_relay_backlog_events", frozenset()] == 7
    assert found["caseledger_consumer_lag_events", frozenset({("group", "case-ledger")})] == 3
    assert found["caseledger_consumer_applied_events_total", frozenset({("group", "case-ledger")})] == 40

    text, plain_type = metrics.exposition([], "text/plain")
    assert plain_type.startswith("text/plain") and b"caseledger_http_requests_total" in text
