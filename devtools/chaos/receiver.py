"""The webhook receiver in a process of its own, so that its answers are not slowed by
the chaos run's client and check threads: devtools.webhooks.WebhookReceiver, journalling
every request to a JSON-lines file the run reads.

    python -m devtools.chaos.receiver JOURNAL   # what Subscriber starts
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from devtools.webhooks import WebhookReceiver


class _Journal(list[dict[str, Any]]):
    """Stands in for WebhookReceiver.received: each request goes to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def append(self, item: dict[str, Any]) -> None:
        line = json.dumps({"headers": item["headers"], "body": base64.b64encode(item["body"]).decode()})
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


def serve_webhooks(journal: Path) -> None:
    """Child process: devtools.webhooks.WebhookReceiver, journalling what it receives, until
    its parent closes stdin (or dies)."""
    with WebhookReceiver() as receiver:
        receiver.received = _Journal(journal)
        print(receiver.url, flush=True)
        sys.stdin.read()


class Subscriber:
    """A real local webhook receiver (devtools.webhooks.WebhookReceiver) in a process of its
    own, so that its answers are not slowed by this process's client and check threads."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = data_dir / "webhooks.jsonl"
        self.journal.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.chaos.receiver", str(self.journal)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the webhook receiver did not start")
        self._records: list[dict[str, Any]] = []
        self._read_to = 0

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every request received so far, as WebhookReceiver records them."""
        with self.journal.open("rb") as handle:
            handle.seek(self._read_to)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._read_to += len(complete)
        for line in complete.splitlines():
            entry = json.loads(line)
            self._records.append({"headers": entry["headers"], "body": base64.b64decode(entry["body"])})
        return list(self._records)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    serve_webhooks(Path(sys.argv[1]))
