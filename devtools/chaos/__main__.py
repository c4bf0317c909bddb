"""``python -m devtools.chaos``: what ``make chaos`` runs (``--help`` for the flags)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.chaos.options import DEFAULT_POSTGRES, ChaosOptions
from devtools.chaos.run import run_chaos


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.chaos",
        description="Kill caseledger's services at random under load; check nothing lost",
    )
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs per service, at least")
    parser.add_argument("--workers", type=int, default=12, help="concurrent clients")
    parser.add_argument("--referral-share", type=float, default=0.3)
    parser.add_argument(
        "--recovery-kills", type=float, default=0.25, help="share of kills followed by another one while it restarts"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server URL (trust auth)")
    parser.add_argument("--data-dir", type=Path, default=None, help="logs and keys (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the data directory")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    options = ChaosOptions(
        commands=args.commands,
        kills_per_service=args.kills,
        workers=args.workers,
        referral_share=args.referral_share,
        recovery_kill_share=args.recovery_kills,
        seed=args.seed,
        postgres_url=args.postgres,
        data_dir=args.data_dir,
        keep=args.keep,
        progress=not args.no_progress,
    )
    report = run_chaos(options)
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
