"""A local stand-in for the Credit China (信用中国) penalty intake, for development and tests.

It checks every body against contracts/credit_china/penalty.schema.json (a record) or
notice.schema.json (its withdrawal, end or repair: the contracts the disclosure service must
meet), keeps what it accepted (in memory, and in a JSON-lines file when
``CREDIT_CHINA_STORE`` names one, so a restarted simulator still has it, as the real intake
would), answers a repeated publication id (or notice) with the first receipt, refuses a
notice of a record it never accepted (404) or that is no longer published (409), lists every
accepted message in order (``GET /api/v1/messages``), and can be told to fail the next N
intakes.

    CREDIT_CHINA_STORE=var/credit_china/accepted.jsonl uvicorn devtools.credit_china:app --port 8109

Tests start one in-process with ``running()``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "contracts" / "credit_china" / "penalty.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
NOTICE_SCHEMA = json.loads(SCHEMA_PATH.with_name("notice.schema.json").read_text(encoding="utf-8"))
NOTICE_VALIDATOR = Draft202012Validator(NOTICE_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
NOTICES = ("withdrawal", "end", "repair")


class FailNext(BaseModel):
    count: int = Field(ge=0, le=10_000)


class CreditChinaState:
    """What the fake has accepted, by publication id, and how many intakes to fail."""

    def __init__(self, store: Path | None = None) -> None:
        self.accepted: dict[str, dict[str, Any]] = {}
        # Every accepted message in order: {"kind": "publication" | a notice, ...}.
        self.messages: list[dict[str, Any]] = []
        self.fail_next = 0
        self.intake_requests = 0
        self.store = store
        if store is not None and store.exists():
            for line in store.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._keep(json.loads(line))

    def _keep(self, record: dict[str, Any]) -> None:
        kind = record.setdefault("kind", "publication")
        self.messages.append(record)
        if kind == "publication":
            self.accepted[record["publication_id"]] = {**record, "status": "published", "notices": {}}
        else:
            penalty = self.accepted[record["publication_id"]]
            penalty["notices"][kind] = record
            penalty["status"] = {"withdrawal": "withdrawn", "end": "ended", "repair": "repaired"}[kind]

    def accept(self, record: dict[str, Any]) -> None:
        """Keep an accepted record or notice; written through to the store before it is answered."""
        if self.store is not None:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            with self.store.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
        self._keep(record)


def validation_errors(body: Any, validator: Draft202012Validator = VALIDATOR) -> list[dict[str, str]]:
    """Every schema violation, with a JSON pointer to the offending field."""
    errors = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        path = list(map(str, error.absolute_path))
        if "propertyNames" in error.absolute_schema_path:
            path.append(str(error.instance))  # the forbidden field name itself
        errors.append({"pointer": "/" + "/".join(path), "rule": str(error.validator), "detail": error.message})
    return errors


def create_app(store: Path | None = None) -> FastAPI:
    """A simulator (one per test, one per process): empty, or with what ``store`` holds."""
    app = FastAPI(title="Credit China (信用中国) intake simulator", version="1.0.0")
    state = CreditChinaState(store)

    @app.post("/api/v1/penalties", status_code=201)
    async def intake(
        request: Request, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> JSONResponse:
        state.intake_requests += 1
        if state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"error": "service unavailable (simulated)"}, status_code=503)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON", "errors": []}, status_code=400)
        errors = validation_errors(body)
        if errors:
            fields = ", ".join(e["pointer"] for e in errors)
            return JSONResponse({"error": f"invalid field(s): {fields}", "errors": errors}, status_code=400)
        publication_id = body["publication_id"]
        if idempotency_key is not None and idempotency_key != publication_id:
            return JSONResponse({"error": "Idempotency-Key must equal publication_id", "errors": []}, status_code=400)
        first = state.accepted.get(publication_id)
        if first is not None:
            if first["item"] != body["item"]:
                return JSONResponse(
                    {"error": "publication_id already used with a different item", "receipt_id": first["receipt_id"]},
                    status_code=409,
                )
            return JSONResponse(
                {"receipt_id": first["receipt_id"]}, status_code=200, headers={"Idempotent-Replayed": "true"}
            )
        record = {
            "kind": "publication",
            "publication_id": publication_id,
            "receipt_id": f"CC-{uuid.uuid4().hex[:16].upper()}",
            "received_at": datetime.now(UTC).isoformat(),
            "item": body["item"],
        }
        state.accept(record)
        return JSONResponse({"receipt_id": record["receipt_id"]}, status_code=201)

    @app.post("/api/v1/penalties/{publication_id}/{notice}", status_code=201)
    async def notice_intake(
        publication_id: str,
        notice: str,
        request: Request,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        """A withdrawal, an end or a repair of a record accepted before."""
        state.intake_requests += 1
        if state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"error": "service unavailable (simulated)"}, status_code=503)
        if notice not in NOTICES:
            return JSONResponse({"error": f"no such notice {notice!r}", "errors": []}, status_code=404)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON", "errors": []}, status_code=400)
        errors = validation_errors(body, NOTICE_VALIDATOR)
        if not errors:
            # Each of the two must be the path's: name the one that is not.
            errors = [
                {
                    "pointer": f"/{field}",
                    "rule": "path",
                    "detail": f"the body's {field} must be the path's {expected!r}",
                }
                for field, expected in (("publication_id", publication_id), ("notice", notice))
                if body[field] != expected
            ]
        if errors:
            fields = ", ".join(e["pointer"] for e in errors)
            return JSONResponse({"error": f"invalid field(s): {fields}", "errors": errors}, status_code=400)
        if idempotency_key is not None and idempotency_key != f"{publication_id}:{notice}":
            return JSONResponse(
                {"error": "Idempotency-Key must be <publication_id>:<notice>", "errors": []}, status_code=400
            )
        penalty = state.accepted.get(publication_id)
        if penalty is None:
            return JSONResponse({"error": f"no penalty {publication_id} was ever published"}, status_code=404)
        first = penalty["notices"].get(notice)
        if first is not None:
            return JSONResponse(
                {"receipt_id": first["receipt_id"]}, status_code=200, headers={"Idempotent-Replayed": "true"}
            )
        if penalty["status"] != "published":
            return JSONResponse({"error": f"penalty {publication_id} is {penalty['status']}"}, status_code=409)
        record = {
            "kind": notice,
            "publication_id": publication_id,
            "receipt_id": f"CC-{uuid.uuid4().hex[:16].upper()}",
            "received_at": datetime.now(UTC).isoformat(),
            "notice": body,
        }
        state.accept(record)
        return JSONResponse({"receipt_id": record["receipt_id"]}, status_code=201)

    @app.get("/api/v1/penalties")
    async def list_penalties() -> dict[str, Any]:
        return {"items": list(state.accepted.values()), "intake_requests": state.intake_requests}

    @app.get("/api/v1/messages")
    async def list_messages() -> dict[str, Any]:
        """Every accepted message (records and notices) in the order accepted."""
        return {"items": state.messages}

    @app.get("/api/v1/penalties/{publication_id}")
    async def get_penalty(publication_id: str) -> JSONResponse:
        record = state.accepted.get(publication_id)
        if record is None:
            return JSONResponse({"error": f"no penalty {publication_id}"}, status_code=404)
        return JSONResponse(record)

    @app.post("/_control/fail-next")
    async def fail_next(body: FailNext) -> dict[str, int]:
        """Make the next ``count`` intake requests answer 503 (retry tests)."""
        state.fail_next = body.count
        return {"fail_next": state.fail_next}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app(Path(os.environ["CREDIT_CHINA_STORE"]) if os.environ.get("CREDIT_CHINA_STORE") else None)


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a fresh simulator in a background thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="credit-china-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Credit China simulator did not start")
        time.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(10)
