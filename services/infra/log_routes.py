"""The HTTP face of a service's tamper-evident logs (services/infra/chain.py): signed tree
heads, the key that signs them, inclusion and consistency proofs an outsider checks with
RFC 9162 alone, and a verification naming the first bad position. Each service adds
these to its router with the access rules it chooses (``add_log_routes``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from services.infra.chain import TamperEvidentLog
from services.infra.errors import InvalidInput, NotFound
from services.infra.tree_heads import head_view, public_key_pem
from services.infra.verify import verify_log

# Sizes and positions fit the databases' 64-bit integers.
MAX_SIZE = 2**62
LogName = Annotated[str, Path(pattern=r"^[a-z]{1,20}$", description="events, or (case service) reads")]


def _log(request: Request, log: str) -> TamperEvidentLog:
    logs: dict[str, TamperEvidentLog] = request.app.state.runtime.logs
    if log not in logs:
        raise NotFound(f"no log {log} here (the logs: {', '.join(sorted(logs))})")
    return logs[log]


def _size(tree_log: TamperEvidentLog, wanted: int | None, name: str) -> int:
    size = tree_log.size()
    if wanted is None:
        wanted = size
    if not 0 < wanted <= size:
        raise InvalidInput(f"/{name}", "within-log", f"the log holds {size} events", where="query")
    return wanted


def add_log_routes(router: APIRouter, reader: Any, verifier: Any) -> None:
    """GET /v1/logs/{log}/... on ``router``; ``reader`` and ``verifier`` are the access
    dependencies for reading heads and proofs, and for running a verification."""
    # Dependencies as defaults: the annotations are strings, resolved in the module's globals.
    read_access, verify_access = Depends(reader), Depends(verifier)

    @router.get("/v1/logs/{log}/heads", tags=["tamper evidence"], summary="Signed tree heads, newest first")
    async def list_heads(
        request: Request,
        log: LogName,
        _caller: Any = read_access,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, le=MAX_SIZE, description="only heads of a smaller tree size")] = None,
    ) -> dict[str, Any]:
        tree_log = _log(request, log)
        heads = await asyncio.to_thread(tree_log.heads, limit=limit, before=before)
        return {"items": [head_view(tree_log.name, h) for h in heads], "size": await asyncio.to_thread(tree_log.size)}

    @router.get("/v1/logs/{log}/public-key", tags=["tamper evidence"], summary="The key the heads are signed with")
    async def public_key(request: Request, log: LogName, _caller: Any = read_access) -> dict[str, str]:
        tree_log = _log(request, log)
        signer = request.app.state.runtime.signer
        return {
            "log": tree_log.name,
            "algorithm": "Ed25519",
            "key_id": signer.key_id,
            "pem": public_key_pem(signer.public_key),
        }

    @router.get("/v1/logs/{log}/proofs/inclusion", tags=["tamper evidence"], summary="RFC 9162 inclusion proof")
    def inclusion_proof(
        request: Request,
        log: LogName,
        _caller: Any = read_access,
        position: Annotated[int, Query(ge=0, le=MAX_SIZE)] = 0,
        tree_size: Annotated[int | None, Query(ge=1, le=MAX_SIZE, description="default: the log's size")] = None,
    ) -> dict[str, Any]:
        tree_log = _log(request, log)
        size = _size(tree_log, tree_size, "tree_size")
        if position >= size:
            raise InvalidInput("/position", "within-tree", f"the tree of size {size} ends at {size - 1}", where="query")
        return tree_log.inclusion(position, size)

    @router.get("/v1/logs/{log}/proofs/consistency", tags=["tamper evidence"], summary="RFC 9162 consistency proof")
    def consistency_proof(
        request: Request,
        log: LogName,
        _caller: Any = read_access,
        old_size: Annotated[int, Query(ge=1, le=MAX_SIZE)] = 1,
        new_size: Annotated[int | None, Query(ge=1, le=MAX_SIZE, description="default: the log's size")] = None,
    ) -> dict[str, Any]:
        tree_log = _log(request, log)
        size = _size(tree_log, new_size, "new_size")
        if old_size > size:
            raise InvalidInput("/old_size", "not-after-new-size", f"old_size must be at most {size}", where="query")
        return tree_log.consistency(old_size, size)

    @router.get(
        "/v1/logs/{log}/verification",
        tags=["tamper evidence"],
        summary="Check every stored event against its chain and every signed head; the first bad position",
    )
    def verification(request: Request, log: LogName, _caller: Any = verify_access) -> dict[str, Any]:
        tree_log = _log(request, log)
        return verify_log(tree_log, request.app.state.runtime.signer.public_key).as_dict()
