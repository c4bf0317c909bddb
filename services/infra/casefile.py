"""The verifiable case file (案卷) and its offline verifier.

An archive (zip) of one aggregate's events as stored, with what proves them:

    events.jsonl    one line per event: position, notification id, originator id and
                    version, topic, the stored state (base64), its leaf hash and its
                    RFC 9162 inclusion path to the head below
    head.json       the signed tree head the proofs rest on
    summary.md      a readable summary (written by the service)
    documents.json  the documents the events record, with the event and its hash
    public-key.pem  the service's tree-head key (for convenience: check it out of band)
    manifest.json   SHA-256 of every file above, signed with the same key

The verifier needs only the archive and the service's public key (``--public-key``; the
embedded one otherwise, with a warning) and checks: the manifest's signature and every
file's hash, the head's signature, and for each event the leaf recomputed from its
stored bytes and its inclusion in the head. One changed byte anywhere fails one of them.

    python -m services.infra.casefile verify case-file.zip --public-key case-tree-head.pem
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.infra.chain import TamperEvidentLog, leaf_data
from services.infra.merkle import HashAlgorithm, inclusion_proof, verify_inclusion
from services.infra.tree_heads import HeadSigner, check_signature, head_view, load_public_key, public_key_pem

FILES = ("events.jsonl", "head.json", "summary.md", "documents.json", "public-key.pem")


class CaseFileError(ValueError):
    pass


def build_archive(
    tree_log: TamperEvidentLog,
    signer: HeadSigner,
    originator_id: Any,
    summary: str,
    documents: list[dict[str, Any]],
) -> bytes:
    """The case file of ``originator_id``'s events, proven against a head signed now
    (or the existing head of the log's current size)."""
    head = signer.sign(tree_log)
    if head is None:
        raise CaseFileError("the log is empty")
    leaves = tree_log.leaf_hashes(head.tree_size)
    lines = []
    for row, stored in tree_log.entries_of(originator_id):
        if stored is None or row.position >= head.tree_size:
            raise CaseFileError(f"event at position {row.position} cannot be proven (verify the log)")
        lines.append(
            json.dumps(
                {
                    "position": row.position,
                    "notification_id": stored.notification_id,
                    "originator_id": row.originator_id,
                    "originator_version": stored.originator_version,
                    "topic": stored.topic,
                    "state": base64.b64encode(stored.state).decode(),
                    "leaf_hash": row.leaf_hash.hex(),
                    "path": [h.hex() for h in inclusion_proof(tree_log.alg, leaves, row.position)],
                },
                sort_keys=True,
            )
        )
    files = {
        "events.jsonl": "\n".join(lines) + "\n",
        "head.json": json.dumps(head_view(tree_log.name, head), indent=2, sort_keys=True),
        "summary.md": summary,
        "documents.json": json.dumps(documents, ensure_ascii=False, indent=2, sort_keys=True),
        "public-key.pem": public_key_pem(signer.public_key),
    }
    manifest: dict[str, Any] = {
        "format": "caseledger-case-file/v1",
        "log": tree_log.name,
        "originator_id": str(originator_id),
        "key_id": signer.key_id,
        "files": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()},
    }
    manifest["signature"] = base64.b64encode(signer.private_key.sign(_manifest_bytes(manifest))).decode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in {**files, "manifest.json": json.dumps(manifest, indent=2, sort_keys=True)}.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def verify_archive(data: bytes, public_key: Ed25519PublicKey | None = None) -> dict[str, Any]:
    """Check a case file offline. Returns {"ok", "events", "problems", "key"}."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            contents = {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error) as exc:  # a changed byte often lands here
        return {"ok": False, "events": 0, "problems": [f"not a readable archive: {exc}"], "key": None}
    missing = [name for name in (*FILES, "manifest.json") if name not in contents]
    if missing:
        return {"ok": False, "events": 0, "problems": [f"missing {', '.join(missing)}"], "key": None}
    key_source = "given"
    if public_key is None:
        public_key, key_source = load_public_key(contents["public-key.pem"]), "embedded (check it out of band)"
    try:
        manifest = json.loads(contents["manifest.json"])
        public_key.verify(base64.b64decode(manifest["signature"]), _manifest_bytes(manifest))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        problems.append("manifest.json: the signature does not verify")
        manifest = {"files": {}}
    for name in FILES:
        if hashlib.sha256(contents[name]).hexdigest() != manifest["files"].get(name):
            problems.append(f"{name}: its hash is not the one the manifest signs")
    try:
        head = json.loads(contents["head.json"])
        events = [json.loads(line) for line in contents["events.jsonl"].decode().splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        return {"ok": False, "events": 0, "problems": [*problems, f"unreadable: {exc}"], "key": key_source}
    problem = check_signature(head, public_key)
    if problem:
        problems.append(f"head.json: {problem}")
    alg, root_hash, size = HashAlgorithm(head["algorithm"]), bytes.fromhex(head["root_hash"]), int(head["tree_size"])
    count = len(events)
    for entry in events:
        data_ = leaf_data(
            entry["notification_id"],
            entry["originator_id"],
            entry["originator_version"],
            entry["topic"],
            base64.b64decode(entry["state"]),
        )
        leaf = alg.leaf_hash(data_)
        path = [bytes.fromhex(h) for h in entry["path"]]
        if not verify_inclusion(alg, leaf, entry["position"], size, path, root_hash):
            problems.append(f"event at position {entry['position']}: not included in the signed head")
    return {"ok": not problems and count > 0, "events": count, "problems": problems, "key": key_source}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.infra.casefile", description="Verify a case file offline")
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("archive")
    parser.add_argument("--public-key", help="the service's tree-head key (PEM), from GET /v1/logs/events/public-key")
    args = parser.parse_args(argv)
    with open(args.archive, "rb") as f:
        data = f.read()
    key = None
    if args.public_key:
        with open(args.public_key, "rb") as f:
            key = load_public_key(f.read())
    report = verify_archive(data, key)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
