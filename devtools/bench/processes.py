"""The load generator's process boundary: a load runs in processes of its own (spawned,
so nothing is inherited from the orchestrator's threads), and their results are merged."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from devtools.bench.load import DONE, ERRORS, Load, LoadSpec


def _child(spec: LoadSpec, progress: Any, results: Any) -> None:
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    try:
        results.put(runner(Load(spec, progress).run()))
    except BaseException:  # whatever ends the child must reach the parent
        results.put({"failed": traceback.format_exc()})


def run_load(spec: LoadSpec, on_tick: Callable[[int, int], None] | None = None, processes: int = 1) -> dict[str, Any]:
    """Run the load in ``processes`` processes of its own (spawned: nothing inherited
    from the orchestrator's threads), ``spec.concurrency`` workers shared among them,
    and return what they measured together. Several processes only for the closed loop,
    where one process's client can be what limits a fast endpoint."""
    if spec.mode != "closed":
        processes = 1
    processes = max(1, min(processes, spec.concurrency))
    context = multiprocessing.get_context("spawn")
    progress = [context.Array("q", 2, lock=False) for _ in range(processes)]
    results = context.Queue()
    # Time to spawn and import before the common warm-up starts.
    begin_at = time.monotonic() + 3.0
    children = []
    for index in range(processes):
        share = replace(
            spec,
            concurrency=spec.concurrency // processes + (1 if index < spec.concurrency % processes else 0),
            serial_offset=index,
            serial_step=processes,
            seed=spec.seed + index,
            begin_at=begin_at,
            pids=spec.pids if index == 0 else {},  # one process measures everyone's CPU
        )
        child = context.Process(target=_child, args=(share, progress[index], results), name=f"bench-load-{index}")
        child.start()
        children.append(child)
    collected: list[dict[str, Any]] = []
    try:
        while len(collected) < processes:
            try:
                collected.append(results.get(timeout=0.5))
            except queue.Empty:
                if on_tick:
                    on_tick(sum(p[DONE] for p in progress), sum(p[ERRORS] for p in progress))
                if not any(c.is_alive() for c in children) and results.empty():
                    raise RuntimeError(f"the load generator exited with {[c.exitcode for c in children]}") from None
    finally:
        for child in children:
            child.join(timeout=30)
    failed = [r["failed"] for r in collected if "failed" in r]
    if failed:
        raise RuntimeError("the load generator failed:\n" + failed[0])
    merged = merge_results(collected)
    merged["processes"] = processes
    merged["concurrency"] = spec.concurrency
    return merged


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several load processes over the same window: samples joined,
    counts added, CPU taken from the process that measured it plus every generator's own."""
    if len(results) == 1:
        return results[0]
    measuring = next((r for r in results if len(r["cpu_cores"]) > 3), results[0])
    merged = dict(measuring)
    kinds = {kind for r in results for kind in r["latency_ms"]}
    merged["latency_ms"] = {kind: [v for r in results for v in r["latency_ms"].get(kind, [])] for kind in kinds}
    merged["counts"] = {kind: len(values) for kind, values in merged["latency_ms"].items()}
    merged["lag_ms"] = {k: [v for r in results for v in r["lag_ms"][k]] for k in measuring["lag_ms"]}
    for key in ("errors", "lag_unseen", "lag_polls"):
        total: Counter[str] = Counter()
        for r in results:
            total.update(r[key])
        merged[key] = dict(total)
    for key in ("refer_unknown_case_retries", "cases_filed", "client_cpu_s"):
        merged[key] = sum(r[key] for r in results)
    merged["last_cases"] = [c for r in results for c in r["last_cases"]]
    cores = dict(measuring["cpu_cores"])
    cores["load generator"] = sum(r["cpu_cores"]["load generator"] for r in results)
    ours = sum(v for k, v in cores.items() if k not in ("everything else on the machine", "machine total"))
    cores["everything else on the machine"] = max(0.0, cores["machine total"] - ours)
    merged["cpu_cores"] = cores
    return merged
