"""Business time: agencies act on China Standard Time dates.

The clock can be moved for tests and rehearsals, never in production: ``CLOCK_TODAY``
(YYYY-MM-DD) fixes "today", else ``CLOCK_OFFSET_DAYS`` (an integer, may be negative)
shifts it. Both are read from the environment on every call, so a test that sets them
in-process takes effect at once; a service process reads what it was started with.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
TODAY_VARIABLE = "CLOCK_TODAY"
OFFSET_VARIABLE = "CLOCK_OFFSET_DAYS"


class ClockSettingError(ValueError):
    """CLOCK_TODAY or CLOCK_OFFSET_DAYS is not what it must be."""


def clock_offset() -> timedelta:
    """How far business time is moved from the wall clock (zero unless configured)."""
    fixed = os.environ.get(TODAY_VARIABLE, "").strip()
    if fixed:
        try:
            wanted = date.fromisoformat(fixed)
        except ValueError:
            raise ClockSettingError(f"{TODAY_VARIABLE}={fixed!r} is not a date (YYYY-MM-DD)") from None
        return timedelta(days=(wanted - datetime.now(CHINA).date()).days)
    offset = os.environ.get(OFFSET_VARIABLE, "").strip()
    if not offset:
        return timedelta(0)
    try:
        return timedelta(days=int(offset))
    except ValueError:
        raise ClockSettingError(f"{OFFSET_VARIABLE}={offset!r} is not a whole number of days") from None


def now_in_china() -> datetime:
    return datetime.now(CHINA) + clock_offset()


def today_in_china() -> date:
    return now_in_china().date()
