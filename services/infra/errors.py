"""The refusals every command and query can end in, as generic classes: the one set the
domains raise and the app factory answers (``services.infra.problems`` maps each to one
RFC 9457 problem, once, for every service).

No rule lives here: which rule was broken, and why, is the raising domain's to say.
``kind`` names the refusal (it becomes the problem type ``/problems/<kind>``); ``facts``
are what the caller needs to act on it (the current state, the allowed actions ...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A command or query refused. Subclasses say which kind of refusal."""

    kind: ClassVar[str] = "refused"
    title: str = "The request was refused"

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class RuleViolation(DomainError):
    """Input that breaks a rule: names the field (a JSON pointer into the command) and
    the rule it broke."""

    kind = "rule-violation"
    title = "The command breaks a rule"

    def __init__(self, pointer: str, rule: str, detail: str, *, where: str = "body") -> None:
        super().__init__(detail, errors=[{"pointer": pointer, "in": where, "rule": rule, "detail": detail}])
        self.pointer = pointer
        self.rule = rule


class InvalidInput(RuleViolation):
    """A parameter that is not what the API accepts (a foreign cursor, an empty date
    range): the same answer as a request that fails validation."""

    kind = "invalid-request"
    title = "The request is not valid"

    def __init__(self, pointer: str, rule: str, detail: str, *, where: str = "body") -> None:
        super().__init__(pointer, rule, detail, where=where)
        self.detail = f"Invalid field(s): {pointer}: {detail}"


class IllegalInCurrentState(DomainError):
    """A command the target's current state does not allow."""

    kind = "illegal-in-current-state"
    title = "Not allowed in the current state"


class NotYetKnown(DomainError):
    """What the command names is not known here, perhaps not yet: a service that learns it
    from the events of another may learn it in a moment. Answered 409 with Retry-After, so
    a client can tell "try again shortly" from a refused input."""

    kind = "not-yet-known"
    title = "Not known yet"
    retry_after_s: ClassVar[int] = 2


class StaleVersion(DomainError):
    """The caller named a version (If-Match) that is not the current one."""

    kind = "stale-version"

    def __init__(self, what: str, expected: int, current: int) -> None:
        super().__init__(f"the {what} is at version {current}, not {expected}", current_version=current)
        self.title = f"The {what} has changed since you read it"
        self.expected = expected
        self.current = current


class NotFound(DomainError):
    """Not there, or not visible to the caller: the two are answered alike."""

    kind = "not-found"
    title = "Not found"


class Gone(DomainError):
    """It existed, and is no more (a deactivated subscription): answered 410 with when and
    by whom, rather than as if it were still there."""

    kind = "gone"
    title = "Gone"


class IdempotencyConflict(DomainError):
    """The same Idempotency-Key was sent with a different request."""

    kind = "idempotency-key-reused"
    title = "Idempotency-Key reused"


class Forbidden(DomainError):
    """The caller sees the target but may not do this to it."""

    kind = "forbidden"
    title = "Not permitted"
