"""Day counting on the official calendar (shared/DOMAIN.md §1): the one calendar every
service counts its periods on.

- A period starts the day after its trigger: 3 days from Monday end on Thursday.
- A calendar-day or calendar-month period whose last day is a rest day ends on the next
  working day instead (``roll_forward``; off for the end of an effect such as a
  publication period, which must not grow past its maximum).
- A working-day period counts working days only: 3 working days from Friday end on
  Wednesday.
- An hour period counts hours from the trigger instant: 24 hours from 16:30 end at
  16:30 the next day, whatever that day is.
- A month period ends on the same day of the month N months later, or on the last day
  of a shorter month (31 January + 1 month = 28 February).

Working days follow the official holiday calendar with its make-up working weekends
(调休上班): the ``chinesecalendar`` package for the years it knows, else an operator's
holiday list ``<calendar dir>/<year>.yaml`` (added without a code change, see
:class:`YearCalendar`), else Monday to Friday, and every date counted on that guess is
*provisional*. :meth:`OfficialCalendar.provisional_years` says which years are guessed.
"""

from __future__ import annotations

import calendar as _gregorian
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CalendarSource = Literal["chinese_calendar", "operator_list", "weekdays"]


class CalendarError(ValueError):
    """An operator's holiday list that cannot be used; the message names the file."""

    def __init__(self, file: Path, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file


class Counting(StrEnum):
    """How a period counts (the catalogue's ``counting`` field)."""

    CALENDAR_DAYS = "calendar_days"  # N days; a last day on a rest day moves to the next working day
    CALENDAR_DAYS_EXACT = "calendar_days_exact"  # N days, the last day stays where it falls
    WORKING_DAYS = "working_days"  # the Nth working day after the trigger
    HOURS = "hours"  # N hours from the trigger instant
    CALENDAR_MONTHS = "calendar_months"  # N months (clamped); a rest day moves to the next working day
    CALENDAR_MONTHS_EXACT = "calendar_months_exact"  # N months (clamped), the last day stays


@dataclass(frozen=True, slots=True)
class CountedDay:
    """A counted date, and the years whose working days were guessed (Monday to Friday)
    on the way: non-empty means the date is provisional."""

    day: date
    provisional_years: tuple[int, ...] = ()

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)


# -- an operator's holiday list ---------------------------------------------------------


class HolidaySpan(BaseModel):
    """One holiday as the State Council's notice states it: the rest days from ``from``
    to ``to`` inclusive (weekends inside the span included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    first: date = Field(alias="from")
    last: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> HolidaySpan:
        if self.last < self.first:
            raise ValueError(f"holiday {self.name}: 'to' {self.last} is before 'from' {self.first}")
        return self

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


class MakeUpWorkingDay(BaseModel):
    """A weekend day worked instead of a holiday (调休上班)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: date
    name: str = Field(min_length=1)


class YearCalendar(BaseModel):
    """``<calendar dir>/<year>.yaml``: one year's official holidays and make-up working
    days. A day is a working day if it is a make-up working day, or a Monday to Friday
    outside every holiday span."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=1949, le=2999)
    source: str = Field(min_length=1)  # the notice, e.g. 国务院办公厅关于2027年部分节假日安排的通知
    holidays: tuple[HolidaySpan, ...]
    make_up_working_days: tuple[MakeUpWorkingDay, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> YearCalendar:
        rest = self.rest_days()
        for span in self.holidays:
            if span.first.year != self.year or span.last.year != self.year:
                raise ValueError(f"holiday {span.name} ({span.first} to {span.last}) is not within {self.year}")
        for extra in self.make_up_working_days:
            if extra.date.year != self.year:
                raise ValueError(f"make-up working day {extra.date} is not in {self.year}")
            if extra.date.weekday() < 5:
                raise ValueError(f"make-up working day {extra.date} is a weekday: only a weekend day can be one")
            if extra.date in rest:
                raise ValueError(f"{extra.date} is both a holiday and a make-up working day")
        return self

    def rest_days(self) -> frozenset[date]:
        return frozenset(day for span in self.holidays for day in span.days())

    def working_days_set(self) -> frozenset[date]:
        return frozenset(extra.date for extra in self.make_up_working_days)

    def working_day_test(self) -> _WorkingDayTest:
        """A fast test for this year's days (the sets built once)."""
        return _WorkingDayTest(self.rest_days(), self.working_days_set())


@dataclass(frozen=True, slots=True)
class _WorkingDayTest:
    rest: frozenset[date]
    make_up: frozenset[date]

    def __call__(self, day: date) -> bool:
        if day in self.make_up:
            return True
        return day.weekday() < 5 and day not in self.rest


def _package_years() -> range:
    """The years the installed chinesecalendar has data for (it refuses any other)."""
    years = {day.year for day in chinese_calendar.constants.holidays}
    return range(min(years), max(years) + 1)


def _package_is_working_day(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


def load_year_calendar(file: Path) -> YearCalendar:
    """One operator file; its name must be ``<year>.yaml`` and agree with its ``year``."""
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CalendarError(file, f"cannot be read as YAML: {error}") from error
    try:
        year_calendar = YearCalendar.model_validate(raw)
    except ValidationError as error:
        raise CalendarError(file, f"invalid holiday list: {_short(error)}") from error
    if file.stem != str(year_calendar.year):
        raise CalendarError(file, f"holds year {year_calendar.year}; name the file {year_calendar.year}.yaml")
    return year_calendar


def _short(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(file)'}: {item['msg']}" for item in error.errors()
    )


# -- the calendar -----------------------------------------------------------------------


class OfficialCalendar:
    """Working days: chinesecalendar for the years it knows, the operator's lists for
    others, Monday to Friday (provisional) for the rest."""

    def __init__(self, operator_years: Mapping[int, YearCalendar] | None = None) -> None:
        self._package_years = _package_years()
        self._operator_years: dict[int, YearCalendar] = dict(operator_years or {})
        self._operator_tests = {year: listed.working_day_test() for year, listed in self._operator_years.items()}

    @classmethod
    def from_dir(cls, directory: Path | None) -> OfficialCalendar:
        """Load every ``<year>.yaml`` under ``directory`` (a missing directory is no
        list). A list for a year chinesecalendar knows must agree with it day by day:
        the package is the official data, and a differing list is a typing mistake."""
        years: dict[int, YearCalendar] = {}
        if directory is not None and directory.is_dir():
            package_years = _package_years()
            for file in sorted(directory.glob("*.yaml")):
                year_calendar = load_year_calendar(file)
                if year_calendar.year in package_years:
                    _check_against_package(file, year_calendar)
                years[year_calendar.year] = year_calendar
        return cls(years)

    def source(self, year: int) -> CalendarSource:
        if year in self._package_years:
            return "chinese_calendar"
        if year in self._operator_years:
            return "operator_list"
        return "weekdays"

    def is_provisional_year(self, year: int) -> bool:
        return self.source(year) == "weekdays"

    def provisional_years(self, first: int, last: int) -> list[int]:
        """The years from ``first`` to ``last`` (inclusive) counted on Monday to Friday
        for want of data: a deadline falling there is provisional (/readyz warns)."""
        return [year for year in range(first, last + 1) if self.is_provisional_year(year)]

    def is_working_day(self, day: date) -> bool:
        match self.source(day.year):
            case "chinese_calendar":
                return _package_is_working_day(day)
            case "operator_list":
                return self._operator_tests[day.year](day)
            case "weekdays":
                return day.weekday() < 5

    # -- counting -----------------------------------------------------------------------

    def next_working_day(self, day: date) -> CountedDay:
        """``day`` itself if it is a working day, else the first working day after it."""
        guessed: set[int] = set()
        while True:
            if self.is_provisional_year(day.year):
                guessed.add(day.year)
            if self.is_working_day(day):
                return CountedDay(day, tuple(sorted(guessed)))
            day += timedelta(days=1)

    def add_calendar_days(self, trigger: date, days: int, *, roll_forward: bool = True) -> CountedDay:
        """The ``days``-th day after ``trigger``; on a rest day, the next working day."""
        _non_negative(days)
        end = trigger + timedelta(days=days)
        return self.next_working_day(end) if roll_forward else CountedDay(end)

    def add_working_days(self, trigger: date, days: int) -> CountedDay:
        """The ``days``-th working day after ``trigger`` (0: ``trigger`` itself)."""
        _non_negative(days)
        guessed: set[int] = set()
        day, counted = trigger, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_provisional_year(day.year):
                guessed.add(day.year)
            if self.is_working_day(day):
                counted += 1
        return CountedDay(day, tuple(sorted(guessed)))

    def working_days_before(self, anchor: date, days: int) -> CountedDay:
        """The ``days``-th working day before ``anchor``: the latest day from which
        ``days`` working days still end by ``anchor`` ("at least 7 days before")."""
        _non_negative(days)
        guessed: set[int] = set()
        day, counted = anchor, 0
        while counted < days:
            day -= timedelta(days=1)
            if self.is_provisional_year(day.year):
                guessed.add(day.year)
            if self.is_working_day(day):
                counted += 1
        return CountedDay(day, tuple(sorted(guessed)))

    def add_months(self, trigger: date, months: int, *, roll_forward: bool = True) -> CountedDay:
        """The same day ``months`` calendar months later, or the last day of a shorter
        month; on a rest day, the next working day."""
        end = add_calendar_months(trigger, months)
        return self.next_working_day(end) if roll_forward else CountedDay(end)

    def count(self, trigger: date, amount: int, counting: Counting) -> CountedDay:
        """A period of ``amount`` units counted as ``counting`` says (not hours)."""
        match counting:
            case Counting.CALENDAR_DAYS:
                return self.add_calendar_days(trigger, amount)
            case Counting.CALENDAR_DAYS_EXACT:
                return self.add_calendar_days(trigger, amount, roll_forward=False)
            case Counting.WORKING_DAYS:
                return self.add_working_days(trigger, amount)
            case Counting.CALENDAR_MONTHS:
                return self.add_months(trigger, amount)
            case Counting.CALENDAR_MONTHS_EXACT:
                return self.add_months(trigger, amount, roll_forward=False)
            case Counting.HOURS:
                raise ValueError("an hour period counts from an instant: use add_hours")


def add_hours(trigger: datetime, hours: int) -> datetime:
    """``hours`` hours after ``trigger``, an aware instant (rest days do not matter)."""
    _non_negative(hours)
    if trigger.tzinfo is None or trigger.utcoffset() is None:
        raise ValueError("an hour period needs an aware datetime (e.g. Asia/Shanghai)")
    return trigger + timedelta(hours=hours)


def add_calendar_months(start: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    _non_negative(months)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, _gregorian.monthrange(year, month)[1]))


def _non_negative(amount: int) -> None:
    if amount < 0:
        raise ValueError(f"a period cannot be negative: {amount}")


def _check_against_package(file: Path, year_calendar: YearCalendar) -> None:
    listed = year_calendar.working_day_test()
    differing = [day for day in _days_of(year_calendar.year) if listed(day) != _package_is_working_day(day)]
    if differing:
        shown = ", ".join(
            f"{day} ({'working' if _package_is_working_day(day) else 'rest'} in chinesecalendar)"
            for day in differing[:5]
        )
        more = f" and {len(differing) - 5} more" if len(differing) > 5 else ""
        raise CalendarError(
            file,
            f"differs from the official calendar chinesecalendar holds for {year_calendar.year}: {shown}{more}",
        )


def _days_of(year: int) -> Iterable[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)
