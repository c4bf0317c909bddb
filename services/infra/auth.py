"""Authentication: bearer JWTs from trusted issuers, verified with PyJWT against a JWKS
(a file or a URL). Who may do what is not decided here but in ``services.access``.

Claims caseledger reads (besides iss, aud, exp, iat, sub):
- ``sub_type``: "person" (an officer, reviewer, auditor ...) or "system" (another
  agency's system, a subscriber);
- ``agency``: {"code": unified social credit code, "region_code": 6-digit 行政区划代码,
  "name": optional};
- ``roles``: list of caseledger roles (see ``services.access.Role``);
- ``on_behalf_of``: for system callers, the person the system acts for (optional);
- ``name``: display name (optional).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt

from services.infra.identity import Principal
from services.infra.problems import Problem

log = logging.getLogger(__name__)
ALGORITHMS = ["ES256", "RS256", "EdDSA"]
# A verified token is answered from memory until it expires, for at most this long (so a
# key withdrawn from a JWKS URL stops being trusted as soon as the key set is read again,
# which PyJWKClient does every 300 s), ...
VERIFIED_TOKEN_TTL_S = 300
# ... and for this many tokens at most (the least recently used go first).
VERIFIED_TOKENS_MAX = 4096
# How often a kept token's answer looks whether the JWKS file was rotated.
ROTATION_CHECK_S = 1.0


def unauthorized(detail: str, error: str = "invalid_token") -> Problem:
    """401 with the RFC 6750 challenge; the detail says what was wrong with the token,
    never anything about the resource."""
    challenge = f'Bearer realm="caseledger", error="{error}"' if error else 'Bearer realm="caseledger"'
    return Problem(401, "unauthorized", "Authentication required", detail, headers={"WWW-Authenticate": challenge})


class TokenVerifier:
    """Checks signature, expiry, not-before, audience and issuer, and reads the claims.

    A client sends the same token with every request until it expires: the signature
    check (an elliptic-curve verification, the most expensive step of an authorized
    request) is done once per token, and the principal kept until the token's expiry, at
    most ``VERIFIED_TOKEN_TTL_S``; a rotated JWKS file forgets every kept token (within
    ``ROTATION_CHECK_S``)."""

    def __init__(
        self,
        *,
        audience: str,
        issuers: list[str],
        jwks_file: Path | None = None,
        jwks_url: str | None = None,
        leeway_s: int = 30,
    ) -> None:
        self.audience = audience
        self.issuers = issuers
        self.jwks_file = jwks_file
        self.leeway_s = leeway_s
        self._jwks_client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._file_keys: jwt.PyJWKSet | None = None
        self._file_mtime = 0.0
        # token -> (kept until, on the time.time() clock; the principal)
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._rotation_checked = 0.0

    def _signing_key(self, token: str) -> Any:
        if self._jwks_client is not None:
            return self._jwks_client.get_signing_key_from_jwt(token).key
        if self.jwks_file is None or not self.jwks_file.exists():
            raise unauthorized("no trusted signing keys are configured on this service")
        mtime = self.jwks_file.stat().st_mtime
        if self._file_keys is None or mtime != self._file_mtime:  # re-read after key rotation
            self._file_keys = jwt.PyJWKSet.from_dict(json.loads(self.jwks_file.read_text()))
            self._file_mtime = mtime
            with self._verified_lock:
                self._verified.clear()
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._file_keys.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise unauthorized("the token is signed with an unknown key")

    def verify(self, token: str) -> Principal:
        now = time.time()
        with self._verified_lock:
            kept = self._verified.get(token)
            if kept is not None and now < kept[0]:
                self._verified.move_to_end(token)
            else:
                kept = None
        if kept is not None and not self._keys_rotated():
            return kept[1]
        principal = self._verify(token)
        until = min(float(principal.claims["exp"]), now + VERIFIED_TOKEN_TTL_S)
        with self._verified_lock:
            self._verified[token] = (until, principal)
            self._verified.move_to_end(token)
            while len(self._verified) > VERIFIED_TOKENS_MAX:
                self._verified.popitem(last=False)
        return principal

    def _keys_rotated(self) -> bool:
        """The JWKS file changed since its keys were read (then nothing kept is trusted);
        looked at once a second at most."""
        if self.jwks_file is None:
            return False
        now = time.monotonic()
        if now - self._rotation_checked < ROTATION_CHECK_S:
            return False
        self._rotation_checked = now
        try:
            return self.jwks_file.stat().st_mtime != self._file_mtime
        except OSError:
            return True

    def _verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuers,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized(f"the token is not meant for this audience (expected '{self.audience}')") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("the token's issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("the token's signature does not verify") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise unauthorized(f"the token is not valid: {exc}") from None
        agency = claims.get("agency")
        roles = claims.get("roles")
        if not isinstance(agency, dict) or not agency.get("code") or not agency.get("region_code"):
            raise unauthorized("the token has no agency claim with code and region_code")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise unauthorized("the token's roles claim must be a list of role names")
        return Principal(
            subject=str(claims["sub"]),
            subject_type="system" if claims.get("sub_type") == "system" else "person",
            agency_code=str(agency["code"]),
            region_code=str(agency["region_code"]),
            agency_name=str(agency.get("name", "")),
            roles=frozenset(roles),
            name=str(claims.get("name", "")),
            on_behalf_of=claims.get("on_behalf_of"),
            claims=claims,
        )
