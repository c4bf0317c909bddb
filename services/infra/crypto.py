"""Field-level encryption for personal data: AES-256-GCM with a key ring, so keys can be
rotated (the first key encrypts, every key decrypts). Which fields are personal data is
the domain's call; this module only seals and opens strings.

A sealed string reads ``v1:<key id>:<base64url(nonce || ciphertext || tag)>``. The
associated data names the field (e.g. "party.code"), so a sealed value cannot be moved
to another field and still open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1"


class SealError(ValueError):
    pass


class FieldCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise SealError("no personal-data key configured (PII_KEYS)")
        for kid, key in keys:
            if len(key) != 32 or ":" in kid or not kid:
                raise SealError(f"personal-data key '{kid}' must be 32 bytes with an id without ':'")
        self.current_kid = keys[0][0]
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        # Lookup digests use a key derived from the oldest key, so they survive rotation
        # for as long as that key is kept in the ring.
        self._lookup_key = hmac.new(keys[-1][1], b"caseledger lookup digest", hashlib.sha256).digest()

    @classmethod
    def from_spec(cls, spec: str) -> FieldCipher:
        """``kid:base64key[,kid:base64key...]``, the first one encrypting."""
        keys = []
        for part in spec.split(","):
            kid, _, encoded = part.strip().partition(":")
            try:
                keys.append((kid, base64.b64decode(encoded, validate=True)))
            except ValueError as exc:
                raise SealError(f"personal-data key '{kid}' is not base64") from exc
        return cls(keys)

    @classmethod
    def from_settings(cls, pii_keys: str | None, data_dir: Path) -> FieldCipher:
        """The configured key ring, else the development key `make run` wrote."""
        if pii_keys:
            return cls.from_spec(pii_keys)
        dev = data_dir / "auth" / "pii-keys"
        if dev.exists():
            return cls.from_spec(dev.read_text())
        raise SealError(f"set PII_KEYS (or run the launcher, which writes {dev})")

    def digest(self, value: str) -> str:
        """A keyed digest (HMAC-SHA256) for finding a sealed value by equality."""
        return "h:" + hmac.new(self._lookup_key, value.encode(), hashlib.sha256).hexdigest()[:40]

    def seal(self, plaintext: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.current_kid].encrypt(nonce, plaintext.encode(), field.encode())
        return f"{PREFIX}:{self.current_kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, field: str) -> str:
        prefix, kid, encoded = [*sealed.split(":", 2), "", ""][:3]
        if prefix != PREFIX or kid not in self._keys:
            raise SealError(f"cannot open a value sealed with key '{kid}'")
        raw = base64.urlsafe_b64decode(encoded.encode())
        try:
            return self._keys[kid].decrypt(raw[:12], raw[12:], field.encode()).decode()
        except InvalidTag as exc:
            raise SealError("the sealed value does not verify (wrong key or field)") from exc


def is_sealed(value: Any) -> bool:
    """A sealed field as recorded: {"masked": ..., "sealed": "v1:..."}."""
    return isinstance(value, dict) and "sealed" in value and "masked" in value


def masked_copy(value: Any) -> Any:
    """``value`` with every sealed field ({"masked", "sealed"}) replaced by its masked form:
    what leaves the system for callers without the key (webhooks, masked views)."""
    if is_sealed(value):
        return value["masked"]
    if isinstance(value, dict):
        return {k: masked_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_copy(v) for v in value]
    return value


def revealed_copy(value: Any, cipher: FieldCipher, path: str) -> Any:
    """``value`` with every sealed field opened; ``path`` names where ``value`` sits
    (e.g. "party"), since each value was sealed with its field's path."""
    if is_sealed(value):
        return cipher.open(value["sealed"], path)
    if isinstance(value, dict):
        return {k: revealed_copy(v, cipher, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [revealed_copy(v, cipher, path) for v in value]
    return value
