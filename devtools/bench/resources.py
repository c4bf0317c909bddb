"""What processes use: CPU time over a window, in cores, and peak resident memory."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil


class CpuMeter:
    """CPU time used from now until ``cores_used``, in cores (CPU seconds per wall
    second): each given process, this load generator, and whatever else ran on the
    machine meanwhile (other people's work included)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):  # gone already: nothing to measure
                self.processes[name] = psutil.Process(pid)
        self.started = time.monotonic()
        self.client = time.process_time()
        self.machine = _busy(psutil.cpu_times())
        self.own = {name: _process_cpu(p) for name, p in self.processes.items()}

    def cores_used(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        used: dict[str, float] = defaultdict(float)
        for key, process in self.processes.items():
            # "name:pid" keys (e.g. our PostgreSQL backends) add up under their name.
            used[key.split(":")[0]] += (_process_cpu(process) - self.own[key]) / wall
        used["load generator"] = (time.process_time() - self.client) / wall
        machine = (_busy(psutil.cpu_times()) - self.machine) / wall
        used["everything else on the machine"] = max(0.0, machine - sum(used.values()))
        used["machine total"] = machine
        return dict(used)


def _process_cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _busy(times: Any) -> float:
    # guest time is already counted in user time; iowait is idle waiting for the disk.
    idle = sum(getattr(times, f, 0.0) for f in ("idle", "iowait", "guest", "guest_nice"))
    return float(sum(times) - idle)


def peak_rss_mib(pid: int) -> float | None:
    """The kernel's high-water mark of the process's resident memory (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return psutil.Process(pid).memory_info().rss / 2**20
    except (OSError, psutil.Error):
        return None
