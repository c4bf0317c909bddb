"""The wire formats of dates and times every service shares (no domain rule): a request's
calendar date is an ISO 8601 ``YYYY-MM-DD`` string and nothing else (pydantic alone also
reads ``0`` or ``"0"`` as 1970-01-01, a Unix timestamp), and every instant answered is
RFC 3339 with its offset (SQLite hands stored times back without one)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected a calendar date as YYYY-MM-DD")
    return date.fromisoformat(value)  # a date, which strict validation accepts as it is


_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time with its offset, e.g. 2026-09-01T08:00:00+08:00")
    return datetime.fromisoformat(value.upper())  # a datetime, which strict validation accepts as it is


# A calendar date in a request (body or query): YYYY-MM-DD only.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _calendar_date(value: str) -> str:
    date.fromisoformat(value)  # ValueError (a 422) for a day that does not exist: 2026-02-30
    return value


# A calendar date a request gives that is recorded as it was given (in an event, as text):
# YYYY-MM-DD, and a day that exists.
IsoDateText = Annotated[str, StringConstraints(pattern=_ISO_DATE.pattern), AfterValidator(_calendar_date)]
# A point in time in a request: RFC 3339 with its offset only (pydantic alone also reads
# ``0.5`` as a Unix timestamp).
IsoInstant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
# An instant in an answer: RFC 3339 with its UTC offset.
Instant = AwareDatetime


def utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (stored times are UTC; SQLite hands them back
    naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
