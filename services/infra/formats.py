"""The wire formats of dates and times every service shares (no domain rule): a request's
calendar date is an ISO 8601 ``YYYY-MM-DD`` string and nothing else (pydantic alone also
reads ``0`` or ``"0"`` as 1970-01-01, a Unix timestamp), and every instant answered is
RFC 3339 with its offset (SQLite hands stored times back without one)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected a calendar date as YYYY-MM-DD")
    return date.fromisoformat(value)  # a date, which strict validation accepts as it is


# A calendar date in a request (body or query): YYYY-MM-DD only.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
# An instant in an answer: RFC 3339 with its UTC offset.
Instant = AwareDatetime


def utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (stored times are UTC; SQLite hands them back
    naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
