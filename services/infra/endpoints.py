"""What the routes of every service share: the request headers and parameters every
command or list takes, and the headers of a command's answer. HTTP only; the routes pass
what they read here down to their application."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Response

from services.infra.errors import InvalidInput

# The one definition of the retry key every command accepts: a retry with the same key
# gets the first result. An empty or blank key is refused rather than treated as a key.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key (visible ASCII): a retry with the same key gets the first result",
    ),
]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The case version you last saw, e.g. "3"')]
# A page of a list: how many items, and where the previous page ended.
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=500)]


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names (``"3"``, ``W/"3"``), or None for none or ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise InvalidInput("If-Match", "etag", 'expected a case version, e.g. "3"', where="header") from None


def answered(response: Response, location: str, replayed: bool, version: int | None = None) -> None:
    """The headers of a command's answer: where the resource is, its version (ETag), and
    whether this is the first answer replayed for a retry."""
    if version is not None:
        response.headers["ETag"] = f'"{version}"'
    response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
