"""The guard on every route: authenticate the bearer token, check the permission table,
and remember who is acting so the events the command records name them.

Each route declares exactly one rule, ``Depends(authorize(Permission.X))`` or
``Depends(public)``; tests/e2e/test_access.py fails on a route that declares none.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.access.policy import PERMISSIONS, Permission, Role, may
from services.common.identifiers import refuse_personal_identifiers
from services.infra.auth import TokenVerifier, unauthorized
from services.infra.errors import Forbidden, InvalidInput
from services.infra.identity import Principal, set_current_actor
from services.infra.log_routes import add_log_routes
from services.infra.telemetry import current_trace_id

WRITE_PERMISSIONS = frozenset(
    {
        Permission.FILE_CASE,
        Permission.REVIEW_CASE,
        Permission.DECIDE_PENALTY,
        Permission.EXTEND_DEADLINE,
        Permission.SERVE,
        Permission.RECORD_PAYMENT,
        Permission.ARRANGE_PAYMENT,
        Permission.RECORD_REMEDY,
        Permission.ENFORCE,
        Permission.CLOSE_CASE,
        Permission.ANNOTATE,
        Permission.INVESTIGATE,
        Permission.NOTIFY,
        Permission.HEAR,
        Permission.DISCUSS,
        Permission.DECIDE_ON_THE_SPOT,
        Permission.RECORD_REPAIR_APPLICATION,
        Permission.DECIDE_REPAIR,
        Permission.REFER_CASE,
        Permission.APPROVE_REFERRAL,
        Permission.ANSWER_REFERRAL,
        Permission.SUPERVISE_REFERRAL,
        Permission.RECORD_CRIMINAL_OUTCOME,
        Permission.MANAGE_SUBSCRIPTIONS,
    }
)
_bearer = HTTPBearer(auto_error=False, description="A JWT from a trusted issuer (see README: Security)")
REASON_MAX_CHARS = 500  # decoded characters
# Visible ASCII and spaces only; every "%" starts a %XX escape.
_PERCENT_ENCODED = re.compile(r"^(?:[\x20-\x24\x26-\x7e]|%[0-9A-Fa-f]{2})+$")
Reason = Annotated[
    str | None,
    Header(
        alias="X-Reason",
        min_length=1,
        max_length=REASON_MAX_CHARS * 9,  # 500 characters of up to 3 UTF-8 bytes, each %XX
        pattern=_PERCENT_ENCODED.pattern,
        description="Why this step is taken, recorded with the event (e.g. the approval it rests on): "
        f"percent-encoded UTF-8 (HTTP header values are ASCII), at most {REASON_MAX_CHARS} characters once "
        "decoded, e.g. %E8%B4%9F%E8%B4%A3%E4%BA%BA%E6%89%B9%E5%87%86 (负责人批准). Raw non-ASCII bytes, a bare "
        "or broken %-escape, escapes that are not UTF-8 and control characters are refused (422 "
        "percent-encoded-utf8); so is a resident ID or mobile number (422 no-personal-data-in-text): the "
        "reason is recorded in clear in the case's events, so personal identifiers belong in the party's fields",
    ),
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def reason_of(header: str | None) -> str | None:
    """The narrative an X-Reason header carries: strictly percent-decoded UTF-8, at most
    ``REASON_MAX_CHARS`` characters, and, like every narrative text, without personal
    identifiers (it is recorded in clear in the events, on the topic and in webhooks)."""
    if header is None:
        return None

    def refuse(detail: str) -> InvalidInput:
        return InvalidInput("X-Reason", "percent-encoded-utf8", detail, where="header")

    if not _PERCENT_ENCODED.match(header):
        raise refuse("send the reason percent-encoded (visible ASCII, each % followed by two hex digits)")
    try:
        reason = unquote_to_bytes(header).decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("the percent-decoded bytes are not UTF-8") from None
    if _CONTROL.search(reason) or not reason.strip():
        raise refuse("the reason must be text: no control characters, not blank")
    if len(reason) > REASON_MAX_CHARS:
        raise refuse(f"at most {REASON_MAX_CHARS} characters once decoded")
    refuse_personal_identifiers([("X-Reason", reason)], where="header")
    return reason


def actor_of(principal: Principal, permission: Permission, reason: str | None) -> dict[str, Any]:
    """Who acted, as recorded in each event (subject, agency, role, on whose behalf, why)."""
    acting_roles = sorted(principal.roles & {r.value for r in PERMISSIONS[permission]})
    return {
        "subject": principal.subject,
        "subject_type": principal.subject_type,
        "name": principal.name or None,
        "agency_code": principal.agency_code,
        "region_code": principal.region_code,
        "role": acting_roles[0] if acting_roles else None,
        "on_behalf_of": principal.on_behalf_of,
        "reason": reason,
        "trace_id": current_trace_id() or None,
    }


def refuse_personal_identifier_in_key(key: str | None) -> None:
    """An Idempotency-Key is stored with the command it keys (in clear): no personal
    identifier in it either."""
    if key:
        refuse_personal_identifiers([("Idempotency-Key", key)], where="header")


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise unauthorized("this service has no token verifier configured")
    return verifier


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        if request.headers.get("authorization"):
            raise unauthorized("the Authorization header must be 'Bearer <token>'", error="invalid_request")
        raise unauthorized("send a bearer token in the Authorization header", error="")
    return _verifier(request).verify(credentials.credentials)


def _check(principal: Principal, permission: Permission) -> None:
    if not may(principal, permission):
        allowed = ", ".join(sorted(r.value for r in PERMISSIONS[permission]))
        raise Forbidden(f"'{permission.value}' needs one of the roles: {allowed}")


def authorize(permission: Permission) -> Any:
    """A dependency that yields the verified caller, or answers 401/403."""
    if permission in WRITE_PERMISSIONS:

        async def guard(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            reason: Reason = None,
        ) -> Principal:
            principal = _authenticate(request, credentials)
            _check(principal, permission)
            set_current_actor(actor_of(principal, permission, reason_of(reason)))
            refuse_personal_identifier_in_key(request.headers.get("idempotency-key"))
            return principal

    else:

        async def guard(  # type: ignore[misc]
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> Principal:
            principal = _authenticate(request, credentials)
            _check(principal, permission)
            return principal

    guard.access_rule = permission  # type: ignore[attr-defined]
    return guard


async def public() -> None:
    """The route needs no token (the public disclosure feed)."""


public.access_rule = "public"  # type: ignore[attr-defined]


def access_rule_of(route: Any) -> Any:
    """The rule a route declared (a Permission, "public"), or None: for the access test."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        rule = getattr(dependant.call, "access_rule", None)
        if rule is not None:
            return rule
        stack.extend(dependant.dependencies)
    return None


def add_tamper_evidence_routes(router: Any) -> None:
    """The service's /v1/logs routes: heads and proofs for every caller, verification for
    auditors and administrators."""
    add_log_routes(router, authorize(Permission.READ_LOG), authorize(Permission.VERIFY_LOG))


__all__ = ["Permission", "Role", "access_rule_of", "actor_of", "add_tamper_evidence_routes", "authorize", "public"]
