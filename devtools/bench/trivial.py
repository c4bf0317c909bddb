"""The REST baseline: the least a FastAPI endpoint can do. Served by uvicorn with the
services' flags (devtools.launcher._uvicorn) and driven by the same load-generator code,
so the ratio of a case command to it is the cost of the case service's work."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bench trivial endpoint")


@app.post("/noop")
async def noop() -> dict[str, bool]:
    # The client sends the filing body and headers anyway (same bytes on the wire);
    # nothing here reads them.
    return {"ok": True}
