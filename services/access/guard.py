"""The guard on every route: authenticate the bearer token, check the permission table,
and remember who is acting so the events the command records name them.

Each route declares exactly one rule, ``Depends(authorize(Permission.X))`` or
``Depends(public)``; tests/e2e/test_access.py fails on a route that declares none.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.access.policy import PERMISSIONS, Permission, Role, may
from services.infra.auth import TokenVerifier, unauthorized
from services.infra.errors import Forbidden
from services.infra.identity import Principal, set_current_actor
from services.infra.telemetry import current_trace_id

WRITE_PERMISSIONS = frozenset(
    {
        Permission.FILE_CASE,
        Permission.REVIEW_CASE,
        Permission.DECIDE_PENALTY,
        Permission.EXTEND_DEADLINE,
        Permission.REFER_CASE,
        Permission.MANAGE_SUBSCRIPTIONS,
    }
)
_bearer = HTTPBearer(auto_error=False, description="A JWT from a trusted issuer (see README: Security)")
Reason = Annotated[
    str | None,
    Header(
        alias="X-Reason",
        min_length=1,
        max_length=500,
        description="Why this step is taken, recorded with the event (e.g. the approval it rests on); "
        "percent-encoded UTF-8, since HTTP header values are ASCII (e.g. %E8%B4%9F%E8%B4%A3...)",
    ),
]


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
            set_current_actor(actor_of(principal, permission, unquote(reason) if reason else None))
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


__all__ = ["Permission", "Role", "access_rule_of", "actor_of", "authorize", "public"]
