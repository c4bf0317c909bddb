"""Development keys and tokens. Production gets its tokens from the real identity
provider and its keys from a secret store (README); this is for `make run`, `make demo`,
`make token` and the tests.

    python -m devtools.tokens --role officer --agency 11430281MB1234567L --region 430281

prints a bearer token signed with the development key under ``var/auth/``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEV_ISSUER = "caseledger-dev"
DEV_AUDIENCE = "caseledger"
KEY_ID = "caseledger-dev-1"


def auth_dir(data_dir: Path) -> Path:
    path = data_dir / "auth"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_dev_keys(data_dir: Path) -> dict[str, Path]:
    """Create (once) an ES256 signing key with its JWKS, and a personal-data key."""
    directory = auth_dir(data_dir)
    private = directory / "dev-signing-key.pem"
    jwks = directory / "jwks.json"
    pii = directory / "pii-keys"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(private, pem)
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        public_jwk.update({"kid": KEY_ID, "use": "sig", "alg": "ES256"})
        jwks.write_text(json.dumps({"keys": [public_jwk]}, indent=2))
    if not pii.exists():
        _write_secret(pii, f"dev1:{base64.b64encode(secrets.token_bytes(32)).decode()}".encode())
    return {"private_key": private, "jwks": jwks, "pii_keys": pii}


def _write_secret(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def mint(
    data_dir: Path,
    *,
    roles: list[str],
    agency_code: str,
    region_code: str,
    subject: str | None = None,
    subject_type: str = "person",
    on_behalf_of: str | None = None,
    ttl_s: int = 8 * 3600,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    private_key_pem: bytes | None = None,
    kid: str = KEY_ID,
    agency_name: str | None = None,
    **extra: Any,
) -> str:
    """A signed bearer token for the given roles and agency."""
    pem = private_key_pem or ensure_dev_keys(data_dir)["private_key"].read_bytes()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject or f"{roles[0] if roles else 'nobody'}@{agency_code}",
        "sub_type": subject_type,
        "agency": {"code": agency_code, "region_code": region_code, **({"name": agency_name} if agency_name else {})},
        "roles": roles,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        **extra,
    }
    if on_behalf_of:
        claims["on_behalf_of"] = on_behalf_of
    key = serialization.load_pem_private_key(pem, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("ES256 signs with an elliptic-curve key")
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def main() -> None:
    parser = argparse.ArgumentParser(description="Mint a development bearer token")
    parser.add_argument("--role", required=True, help="officer, legal_reviewer, agency_head, public_security, ...")
    parser.add_argument("--agency", default="11430281MB1234567L", help="the agency's unified social credit code")
    parser.add_argument("--region", default="430281", help="the agency's 6-digit region code")
    parser.add_argument(
        "--agency-name", default=None, help="the agency's name (the case service files with it, issue 16)"
    )
    parser.add_argument("--subject", default=None)
    parser.add_argument("--system", action="store_true", help="the caller is a system, not a person")
    parser.add_argument("--on-behalf-of", default=None)
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="seconds until it expires")
    parser.add_argument("--data-dir", default="var", type=Path)
    args = parser.parse_args()
    print(
        mint(
            args.data_dir,
            roles=[r.strip() for r in args.role.split(",") if r.strip()],
            agency_code=args.agency,
            region_code=args.region,
            agency_name=args.agency_name,
            subject=args.subject,
            subject_type="system" if args.system else "person",
            on_behalf_of=args.on_behalf_of,
            ttl_s=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
