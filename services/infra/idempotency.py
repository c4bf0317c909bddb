"""The one idempotency mechanism every write uses: a retry with the same Idempotency-Key
and the same request gets the first result; the same key with a different request is
refused (``IdempotencyConflict``); no key, or a key never seen, runs the command.

What a write remembers is (key -> fingerprint of the request), stored atomically with the
write's effect, in the write model itself: an event-sourced aggregate keeps it in its
events (``RemembersCommands``; the key and the fingerprint are not part of the published
data), the notification service's subscription rows in two columns. A key is scoped to
what the command acts on: the aggregate a change targets, the aggregate a creation makes
(its id derived from its natural key, or from the caller's agency and the key when it
has none, ``keyed_id``), the agency's subscriptions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from services.infra.errors import IdempotencyConflict


def request_fingerprint(payload: Any) -> str:
    """A stable digest of a command's request: a retry with the same Idempotency-Key must
    carry the same request, or it is refused."""
    canonical = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency:
    """A command's Idempotency-Key (or none) and the fingerprint of its request."""

    key: str | None
    fingerprint: str

    @classmethod
    def of(cls, key: str | None, request: Any) -> Idempotency:
        return cls(key or None, request_fingerprint(request))

    def recorded(self) -> dict[str, str]:
        """What an event records of the command (``command_key``, ``command_fingerprint``),
        for ``RemembersCommands``; not part of the published data."""
        return {"command_key": self.key or "", "command_fingerprint": self.fingerprint}

    def replays(self, recorded_fingerprint: str | None) -> bool:
        """Whether this command is a retry of the one recorded under its key: True for the
        same request, False when nothing was recorded (or there is no key), and refused
        for a different request."""
        if not self.key or recorded_fingerprint is None:
            return False
        if recorded_fingerprint != self.fingerprint:
            raise IdempotencyConflict(f"Idempotency-Key '{self.key}' was already used with a different request")
        return True


class RemembersCommands:
    """For aggregates: the keys of the commands its events recorded. Each event that
    records a command carries ``command_key`` and ``command_fingerprint`` and calls
    ``remember`` when applied, so a retry is answered from the event store atomically."""

    def remember(self, key: str, fingerprint: str) -> None:
        if key:
            self.__dict__.setdefault("command_keys", {})[key] = fingerprint

    def remembers(self, key: str) -> bool:
        """Whether an event recorded the command (or consumed event) of this key."""
        return bool(key) and key in self.__dict__.get("command_keys", {})

    def already_did(self, idempotency: Idempotency) -> bool:
        recorded: dict[str, str] = self.__dict__.get("command_keys", {})
        return idempotency.replays(recorded.get(idempotency.key or ""))


def keyed_id(namespace: uuid.UUID, scope: str, key: str) -> uuid.UUID:
    """The id of what a keyed creation makes, derived from (scope, key): a retry can
    only ever find the first one."""
    return uuid.uuid5(namespace, f"{scope}:{key}")
