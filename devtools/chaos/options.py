"""The knobs of a chaos run (``python -m devtools.chaos --help`` sets the main ones)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@dataclass
class ChaosOptions:
    commands: int = 10_000
    kills_per_service: int = 5
    workers: int = 12
    referral_share: float = 0.3
    seed: int | None = None
    postgres_url: str = DEFAULT_POSTGRES
    data_dir: Path | None = None  # a temporary directory when None
    keep: bool = False  # keep the databases and the data directory afterwards
    progress: bool = True
    # How long a client keeps retrying one command before it gives up on it.
    command_deadline_s: float = 240.0
    # Longest a killed service stays down before it is started again.
    max_downtime_s: float = 2.0
    # Share of kills after which the service is killed once more while it starts up.
    recovery_kill_share: float = 0.25
    settle_timeout_s: float = 600.0
    restart_timeout_s: float = 180.0
