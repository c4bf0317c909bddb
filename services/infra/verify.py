"""Verify a service's tamper-evident logs (核验), as a function and a small command:

    python -m services.infra.verify verify --service case [--log events|reads] [--public-key PEM]
    python -m services.infra.verify backfill --service case   # create the chain, back-filling

With the service's own settings (DATABASE_URL, DATA_DIR, CHAIN_HASH, TREE_HEAD_KEY_FILE).
Exit status 0 when the log verifies, 1 when it does not (the first bad position printed
as JSON), 2 on bad arguments. ``verify_log`` is what an operator CLI calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from services.infra.chain import TamperEvidentLog, Verification
from services.infra.settings import Settings
from services.infra.storage import event_store_env
from services.infra.tree_heads import HeadSigner, check_signature, head_view, load_public_key

# Each service's logs: name -> (the eventsourcing application's name, the SQLite file).
SERVICE_LOGS: dict[str, dict[str, tuple[str, str]]] = {
    "case": {"events": ("cases", "events"), "reads": ("reads", "reads")},
    "referral": {"events": ("referrals", "events")},
    "disclosure": {"events": ("disclosures", "events")},
}


def log_name(service: str, log: str) -> str:
    return f"{service}/{log}"


def verify_log(
    tree_log: TamperEvidentLog, public_key: Ed25519PublicKey, progress: Callable[[int], None] = lambda _n: None
) -> Verification:
    """Check the chain of every stored event and every stored head (signature and root)."""
    return tree_log.verify(
        check_head=lambda head: check_signature(head_view(tree_log.name, head), public_key), progress=progress
    )


def open_log(settings: Settings, log: str = "events") -> tuple[TamperEvidentLog, Any]:
    """The service's log ``log`` opened on its store (creating, and back-filling, the chain
    if it has none yet), and the recorder's factory to close."""
    app_name, sqlite_file = SERVICE_LOGS[settings.service_name][log]
    factory = InfrastructureFactory.construct(Environment(app_name, event_store_env(settings, sqlite_file)))
    recorder = factory.process_recorder()
    return TamperEvidentLog(log_name(settings.service_name, log), recorder), factory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.infra.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["verify", "backfill"])
    parser.add_argument("--service", required=True, choices=sorted(SERVICE_LOGS))
    parser.add_argument("--log", default="events")
    parser.add_argument("--public-key", help="PEM file of the service's tree-head key (default: its configured key)")
    args = parser.parse_args(argv)
    if args.log not in SERVICE_LOGS[args.service]:
        parser.error(f"the {args.service} service keeps the logs {sorted(SERVICE_LOGS[args.service])}")
    settings = Settings(service_name=args.service)
    tree_log, factory = open_log(settings, args.log)
    try:
        if args.command == "backfill":
            print(
                json.dumps({"log": tree_log.name, "backfilled": tree_log.recorder.backfilled, "size": tree_log.size()})
            )
            return 0
        if args.public_key:
            with open(args.public_key, "rb") as f:
                key = load_public_key(f.read())
        else:
            key = HeadSigner.from_settings(settings).public_key
        report = verify_log(tree_log, key)
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0 if report.ok else 1
    finally:
        factory.close()


if __name__ == "__main__":
    sys.exit(main())
