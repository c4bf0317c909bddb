"""Signed tree heads (签名树根): each service commits to its event logs with RFC 9162
Merkle tree heads signed with its Ed25519 key, stores them beside the chain, serves them
over HTTP and publishes each one on the tree-heads topic (``caseledger.tree-heads.v1``,
keyed by log name), so outsiders keep copies a DBA cannot reach.

A head as published (JSON) and the bytes its signature covers:

    {"log": "case/events", "tree_size": 42, "algorithm": "sha256", "root_hash": "<hex>",
     "signed_at": "2026-12-01T11:00:00+00:00", "key_id": "<hex>", "signature": "<base64>"}

    signed = "caseledger-tree-head/v1\\n" + log + "\\n" + tree_size + "\\n" + algorithm
             + "\\n" + root_hash + "\\n" + signed_at + "\\n" + key_id + "\\n"   (UTF-8)

``key_id`` is the first 16 hex digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from kafka import KafkaProducer

from services.infra.broker import ensure_topic, make_producer
from services.infra.chain import StoredHead, TamperEvidentLog
from services.infra.settings import Settings

log = logging.getLogger(__name__)


def signed_bytes(log_name: str, tree_size: int, algorithm: str, root_hex: str, signed_at: str, key_id: str) -> bytes:
    fields = ["caseledger-tree-head/v1", log_name, str(tree_size), algorithm, root_hex, signed_at, key_id]
    return "".join(f"{f}\n" for f in fields).encode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("a tree-head key is an Ed25519 public key")
    return key


def head_view(log_name: str, head: StoredHead) -> dict[str, Any]:
    """A stored head as it is published and served."""
    return {
        "log": log_name,
        "tree_size": head.tree_size,
        "algorithm": head.algorithm,
        "root_hash": head.root_hash.hex(),
        "signed_at": head.signed_at,
        "key_id": head.key_id,
        "signature": head.signature,
    }


def check_signature(head: Mapping[str, Any], public_key: Ed25519PublicKey) -> str | None:
    """What is wrong with a published head's signature under ``public_key``, or None."""
    if head["key_id"] != key_id_of(public_key):
        return f"signed with key {head['key_id']}, not {key_id_of(public_key)}"
    message = signed_bytes(
        head["log"], int(head["tree_size"]), head["algorithm"], head["root_hash"], head["signed_at"], head["key_id"]
    )
    try:
        public_key.verify(base64.b64decode(head["signature"]), message)
    except (InvalidSignature, ValueError):
        return "the signature does not verify"
    return None


class HeadSigner:
    """The service's tree-head key: TREE_HEAD_KEY_FILE, else a development key kept
    under DATA_DIR/auth/ (written on first use, like the development token keys)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> HeadSigner:
        path = settings.tree_head_key_file or settings.data_dir / "auth" / f"tree-head-{settings.service_name}.pem"
        if not path.exists():
            if settings.tree_head_key_file is not None:
                raise FileNotFoundError(f"TREE_HEAD_KEY_FILE {path} does not exist")
            _write_development_key(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: a tree-head key is an Ed25519 private key")
        return cls(key)

    def sign(self, tree_log: TamperEvidentLog) -> StoredHead | None:
        """Sign and store a head over the log as it is now (None when it is empty or
        already has a head of this size)."""
        size = tree_log.size()
        if size == 0:
            return tree_log.heads(limit=1)[0] if tree_log.heads(limit=1) else None
        existing = tree_log.head(size)
        if existing is not None:
            return existing
        root_hex = tree_log.root(size).hex()
        signed_at = datetime.now(UTC).isoformat(timespec="seconds")
        message = signed_bytes(tree_log.name, size, tree_log.alg.value, root_hex, signed_at, self.key_id)
        signature = base64.b64encode(self.private_key.sign(message)).decode()
        head = StoredHead(size, bytes.fromhex(root_hex), tree_log.alg.value, signed_at, self.key_id, signature, False)
        tree_log.store_head(head)
        return tree_log.head(size)


def _write_development_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    try:
        tmp.rename(path) if not path.exists() else tmp.unlink()
    except FileExistsError:  # another service process wrote it first
        tmp.unlink(missing_ok=True)


class TreeHeadWorker(threading.Thread):
    """Every TREE_HEAD_INTERVAL_S: a signed head for each log that grew, then every head
    not yet published sent to the tree-heads topic (retried on the next round)."""

    def __init__(self, settings: Settings, signer: HeadSigner, logs: Iterable[TamperEvidentLog]) -> None:
        super().__init__(name=f"tree-heads-{settings.service_name}", daemon=True)
        self.settings = settings
        self.signer = signer
        self.logs = list(logs)
        self.stopping = threading.Event()
        self.last_error: str | None = None
        self.published = 0
        self._producer: KafkaProducer | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:  # broker or database down: the next round tries again
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("tree heads: %s", self.last_error)
                self._close_producer()
            self.stopping.wait(self.settings.tree_head_interval_s)
        self._close_producer()

    def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception as exc:  # closing flushes; a dead broker makes that raise
                log.debug("tree heads: closing the producer: %s", exc)
            self._producer = None

    def tick(self) -> None:
        unpublished: list[tuple[str, TamperEvidentLog, StoredHead]] = []
        for tree_log in self.logs:
            self.signer.sign(tree_log)
            unpublished += [(tree_log.name, tree_log, h) for h in tree_log.heads(limit=100) if not h.published]
        if not unpublished:
            return
        ensure_topic(self.settings, self.settings.tree_heads_topic, 1)
        self._producer = self._producer or make_producer(self.settings)
        for name, tree_log, head in sorted(unpublished, key=lambda u: u[2].tree_size):
            value = json.dumps(head_view(name, head), sort_keys=True).encode()
            self._producer.send(self.settings.tree_heads_topic, key=name.encode(), value=value).get(timeout=15)
            tree_log.mark_published(head.tree_size)
            self.published += 1
