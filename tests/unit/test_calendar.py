"""Day counting on the official calendar (services/common/calendar.py), DOMAIN.md §1.

The 2026 schedule as the installed chinesecalendar holds it (国务院办公厅关于2026年部分节假日
安排的通知), from which every expected date below was worked out by hand:

    元旦    Jan 1 (Thu) - Jan 3 (Sat) off;   Jan 4 (Sun) worked
    春节    Feb 15 (Sun) - Feb 23 (Mon) off;  Feb 14 (Sat) and Feb 28 (Sat) worked
    清明节  Apr 4 (Sat) - Apr 6 (Mon) off
    劳动节  May 1 (Fri) - May 5 (Tue) off;    May 9 (Sat) worked
    端午节  Jun 19 (Fri) - Jun 21 (Sun) off
    中秋节  Sep 25 (Fri) - Sep 27 (Sun) off;  Sep 20 (Sun) worked
    国庆节  Oct 1 (Thu) - Oct 7 (Wed) off;    Oct 10 (Sat) worked

2027 is not in chinesecalendar 1.11.0. The 2027 list below is this test's own data (not
the official schedule, which is not published yet): Jan 1-3 and Feb 6-14 off, Feb 20 (Sat)
worked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from services.common.calendar import CalendarError, Counting, OfficialCalendar, add_hours

CHINA = ZoneInfo("Asia/Shanghai")
BEFORE = "working_days_before"
# The repository's catalogue (services.common.rules.DEFAULT_RULES_DIR).
DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

TEST_2027 = """\
year: 2027
source: test data only, not the official 2027 schedule
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-06, to: 2027-02-14}
make_up_working_days:
  - {date: 2027-02-20, name: 春节}
"""


@pytest.fixture(scope="module")
def shipped() -> OfficialCalendar:
    """The calendar of the repository's rules/calendar/ (2026 in the package, no 2027)."""
    return OfficialCalendar.from_dir(DEFAULT_RULES_DIR / "calendar")


@pytest.fixture
def with_2027(tmp_path: Path) -> OfficialCalendar:
    directory = tmp_path / "calendar"
    directory.mkdir()
    (directory / "2027.yaml").write_text(TEST_2027, encoding="utf-8")
    return OfficialCalendar.from_dir(directory)


# (trigger, counting, amount, expected last day, provisional) on the shipped calendar.
CASES_2026 = [
    # 元旦: Jan 1-3 off; Jan 4 (Sun, make-up)=1, Jan 5=2, Jan 6=3
    (date(2025, 12, 31), Counting.WORKING_DAYS, 3, date(2026, 1, 6)),
    # Dec 24 + 10 days = Jan 3 (Sat, 元旦 holiday) -> next working day Jan 4, the make-up Sunday
    (date(2025, 12, 24), Counting.CALENDAR_DAYS, 10, date(2026, 1, 4)),
    # 春节: Feb 13=1, Feb 14 (Sat, make-up)=2, Feb 15-23 off, 24=3, 25=4, 26=5, 27=6, Feb 28 (Sat, make-up)=7
    (date(2026, 2, 12), Counting.WORKING_DAYS, 7, date(2026, 2, 28)),
    # 90-day decision: Mar 1 + 90 days (Mar 30 + Apr 30 + May 30) = May 30 (Sat) -> Mon Jun 1, not a weekend
    (date(2026, 3, 1), Counting.CALENDAR_DAYS, 90, date(2026, 6, 1)),
    # referral head decision: Apr 2 + 3 days = Apr 5 (Sun, 清明) -> Apr 6 (Mon, 清明) -> Tue Apr 7
    (date(2026, 4, 2), Counting.CALENDAR_DAYS, 3, date(2026, 4, 7)),
    # 劳动节: Apr 30=1, May 1-5 off, 6=2, 7=3, 8=4, May 9 (Sat, make-up)=5, 10 (Sun) off, 11=6, 12=7
    (date(2026, 4, 29), Counting.WORKING_DAYS, 7, date(2026, 5, 12)),
    # 90-day decision ending on a holiday: Jul 3 + 90 (28 + 31 + 30 + 1) = Oct 1 (国庆) -> Oct 1-7 off -> Thu Oct 8
    (date(2026, 7, 3), Counting.CALENDAR_DAYS, 90, date(2026, 10, 8)),
    # reconsideration 60 days: Jul 27 + 60 (4 + 31 + 25) = Sep 25 (Fri, 中秋) -> 26, 27 off -> Mon Sep 28
    (date(2026, 7, 27), Counting.CALENDAR_DAYS, 60, date(2026, 9, 28)),
    # make-up Sunday: Sep 19 (Sat) off, Sep 20 (Sun, make-up)=1, 21=2, 22=3 (Sep 23 without the make-up day)
    (date(2026, 9, 18), Counting.WORKING_DAYS, 3, date(2026, 9, 22)),
    # 7-working-day publication across 中秋 and 国庆: Sep 28=1, 29=2, 30=3, Oct 8=4, 9=5, Oct 10 (Sat, make-up)=6, 12=7
    (date(2026, 9, 24), Counting.WORKING_DAYS, 7, date(2026, 10, 12)),
    # hearing notice 7 working days before Mon Oct 12: Oct 10 (Sat, make-up)=1, 9=2, 8=3, Sep 30=4, 29=5, 28=6, 24=7
    (date(2026, 10, 12), BEFORE, 7, date(2026, 9, 24)),
    # month clamped: Jan 31 + 1 month = Feb 28 (clamped), a make-up Saturday, so a working day: it stays
    (date(2026, 1, 31), Counting.CALENDAR_MONTHS, 1, date(2026, 2, 28)),
    # Jul 31 + 3 months = Oct 31 (Sat) -> Nov 1 (Sun) -> Mon Nov 2
    (date(2026, 7, 31), Counting.CALENDAR_MONTHS, 3, date(2026, 11, 2)),
    # end of an effect (publication): Apr 1 + 6 months = Oct 1, a holiday, and it stays there (no roll)
    (date(2026, 4, 1), Counting.CALENDAR_MONTHS_EXACT, 6, date(2026, 10, 1)),
    # payment 15 days: Sep 16 + 15 = Oct 1 (国庆) -> Oct 8
    (date(2026, 9, 16), Counting.CALENDAR_DAYS, 15, date(2026, 10, 8)),
]

# Across into 2027: (trigger, counting, amount, expected without a 2027 list [provisional],
# expected with the test's 2027 list [not provisional]).
CASES_2027 = [
    # Dec 17 + 15 days = Jan 1 2027 (Fri). Without a list: Mon-Fri says working -> Jan 1, provisional.
    # With the list: Jan 1-3 off -> Mon Jan 4
    (date(2026, 12, 17), Counting.CALENDAR_DAYS, 15, date(2027, 1, 1), date(2027, 1, 4)),
    # Dec 29=1, 30=2, 31=3; without a list Jan 1 (Fri)=4, 4=5, 5=6, 6=7; with it Jan 1-3 off, 4=4, 5=5, 6=6, 7=7
    (date(2026, 12, 28), Counting.WORKING_DAYS, 7, date(2027, 1, 6), date(2027, 1, 7)),
    # Without a list Feb 8-12 = 1-5, Mon Feb 15=6; with it Feb 6-14 off, 15-19 = 1-5, Feb 20 (Sat, make-up)=6
    (date(2027, 2, 5), Counting.WORKING_DAYS, 6, date(2027, 2, 15), date(2027, 2, 20)),
]


def _count(calendar: OfficialCalendar, trigger: date, how: Counting | str, amount: int) -> tuple[date, bool]:
    if how == BEFORE:
        counted = calendar.working_days_before(trigger, amount)
    else:
        assert isinstance(how, Counting)
        counted = calendar.count(trigger, amount, how)
    return counted.day, counted.provisional


@pytest.mark.parametrize(("trigger", "how", "amount", "expected"), CASES_2026)
def test_day_counting_across_the_2026_holidays(
    shipped: OfficialCalendar, trigger: date, how: Counting | str, amount: int, expected: date
) -> None:
    assert _count(shipped, trigger, how, amount) == (expected, False)


@pytest.mark.parametrize(("trigger", "how", "amount", "guessed", "listed"), CASES_2027)
def test_a_2027_period_without_and_with_an_operator_holiday_list(
    shipped: OfficialCalendar,
    with_2027: OfficialCalendar,
    trigger: date,
    how: Counting,
    amount: int,
    guessed: date,
    listed: date,
) -> None:
    assert _count(shipped, trigger, how, amount) == (guessed, True)
    assert _count(with_2027, trigger, how, amount) == (listed, False)


def test_hour_periods_count_hours_across_midnight_and_holidays() -> None:
    # 24 hours from Sep 30 16:30 end Oct 1 16:30, a holiday: hours do not roll forward
    start = datetime(2026, 9, 30, 16, 30, tzinfo=CHINA)
    assert add_hours(start, 24) == datetime(2026, 10, 1, 16, 30, tzinfo=CHINA)
    # 23:15 + 24 h = 23:15 the next day (across midnight); the same instant given in UTC
    late = datetime(2026, 3, 10, 15, 15, tzinfo=UTC)  # 23:15 in Beijing
    assert add_hours(late, 24).astimezone(CHINA) == datetime(2026, 3, 11, 23, 15, tzinfo=CHINA)
    with pytest.raises(ValueError, match="aware"):
        add_hours(datetime(2026, 3, 10, 23, 15), 24)


def test_a_period_starts_the_day_after_its_trigger(shipped: OfficialCalendar) -> None:
    assert shipped.add_calendar_days(date(2026, 3, 2), 3).day == date(2026, 3, 5)  # Mon + 3 = Thu
    assert shipped.add_working_days(date(2026, 3, 6), 3).day == date(2026, 3, 11)  # Fri + 3 working = Wed
    assert shipped.add_working_days(date(2026, 3, 6), 0).day == date(2026, 3, 6)


def test_which_years_are_provisional(shipped: OfficialCalendar, with_2027: OfficialCalendar) -> None:
    assert shipped.source(2026) == "chinese_calendar"
    assert shipped.provisional_years(2026, 2027) == [2027]
    assert with_2027.source(2027) == "operator_list"
    assert with_2027.provisional_years(2026, 2028) == [2028]


def test_the_installed_chinesecalendar_knows_2026_and_not_2027() -> None:
    assert chinese_calendar.is_workday(date(2026, 2, 28))  # Saturday, make-up working day
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / name
    file.write_text(text, encoding="utf-8")
    return file


def test_a_list_that_contradicts_chinesecalendar_is_refused(tmp_path: Path) -> None:
    wrong = (DEFAULT_RULES_DIR / "calendar" / "2026.yaml").read_text(encoding="utf-8")
    wrong = wrong.replace("{date: 2026-02-28, name: 春节}", "{date: 2026-03-07, name: 春节}")
    _write(tmp_path, "2026.yaml", wrong)
    with pytest.raises(CalendarError, match=r"2026\.yaml.*2026-02-28 \(working in chinesecalendar\)"):
        OfficialCalendar.from_dir(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TEST_2027.replace("2027-02-20", "2027-02-22"), "is a weekday"),
        (TEST_2027.replace("from: 2027-02-06", "from: 2027-02-16"), "is before"),
        (TEST_2027.replace("to: 2027-01-03", "to: 2028-01-03"), "is not within 2027"),
        (TEST_2027.replace("make_up_working_days", "makeup_days"), "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_holiday_list_is_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, "2027.yaml", text)
    with pytest.raises(CalendarError, match=rf"2027\.yaml: .*{message}"):
        OfficialCalendar.from_dir(tmp_path)


def test_a_list_under_the_wrong_file_name_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "2028.yaml", TEST_2027)
    with pytest.raises(CalendarError, match=r"2028\.yaml: holds year 2027"):
        OfficialCalendar.from_dir(tmp_path)


def test_every_day_of_2026_agrees_with_chinesecalendar(shipped: OfficialCalendar) -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert shipped.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
