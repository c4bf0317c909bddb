"""Who is acting: the verified caller of a request (``Principal``) and the actor each event
records. Plain data, no HTTP: the access guard fills them in from a bearer token
(``services.access.guard``), the applications and aggregates read them."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict


@dataclass(frozen=True)
class Principal:
    """The verified caller of one request."""

    subject: str
    subject_type: str  # "person" | "system"
    agency_code: str
    region_code: str
    roles: frozenset[str]
    agency_name: str = ""
    name: str = ""
    on_behalf_of: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Actor(TypedDict):
    """Who caused an event: the authenticated caller, or the service itself for events a
    policy or worker records (subject_type "system"), with the agency it acted for."""

    subject: str
    subject_type: str
    name: str | None
    agency_code: str
    region_code: str
    role: str | None
    on_behalf_of: str | None
    reason: str | None
    trace_id: str | None


def system_actor(service: str, agency_code: str, region_code: str, reason: str) -> dict[str, Any]:
    """The actor for events a service records on its own (a policy, a worker)."""
    return {
        "subject": f"service:{service}",
        "subject_type": "system",
        "name": None,
        "agency_code": agency_code,
        "region_code": region_code,
        "role": "system",
        "on_behalf_of": None,
        "reason": reason,
        "trace_id": None,
    }


# The actor of the command being handled, read by the aggregates when they record events.
_current_actor: ContextVar[dict[str, Any] | None] = ContextVar("caseledger_actor", default=None)


def set_current_actor(actor: dict[str, Any] | None) -> Token[dict[str, Any] | None]:
    return _current_actor.set(actor)


def reset_current_actor(token: Token[dict[str, Any] | None]) -> None:
    _current_actor.reset(token)


def current_actor() -> dict[str, Any] | None:
    return _current_actor.get()
