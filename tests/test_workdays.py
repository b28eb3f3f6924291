"""Estonian working days: weekends and public holidays (Independence Day, Easter, Midsummer, Christmas)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from hankebot.core.workdays import holiday_name, is_working_day, within_office_hours, working_days_before, working_days_between
from tests.helpers import TALLINN


@pytest.mark.parametrize("d", [
    date(2026, 1, 1),    # New Year's Day
    date(2026, 2, 24),   # Independence Day (Tuesday)
    date(2026, 4, 3),    # Good Friday
    date(2026, 5, 1),
    date(2026, 6, 23), date(2026, 6, 24),  # Victory Day, Midsummer
    date(2026, 8, 20),
    date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26),  # Christmas
])
def test_holidays_are_not_working_days(d):
    assert not is_working_day(d)
    assert holiday_name(d)


@pytest.mark.parametrize("d", [date(2026, 2, 23), date(2026, 4, 6), date(2026, 12, 23), date(2026, 12, 31), date(2026, 1, 19)])
def test_ordinary_weekdays_are_working_days(d):
    # Easter Monday is not a holiday in Estonia; days before holidays are shortened, not free
    assert is_working_day(d)
    assert holiday_name(d) is None


def test_weekend():
    assert not is_working_day(date(2026, 1, 17)) and not is_working_day(date(2026, 1, 18))
    assert holiday_name(date(2026, 1, 17)) is None


def _local(*a):
    return datetime(*a, tzinfo=TALLINN)


@pytest.mark.parametrize("moment,n,expected", [
    # the reference deadline: Mon 19.01.2026 15.00 -> 3 working days before is Wed 14.01 15.00
    (_local(2026, 1, 19, 15), 3, _local(2026, 1, 14, 15)),
    (_local(2026, 1, 19, 15), 1, _local(2026, 1, 16, 15)),  # over the weekend
    # Thu 26.02: Wed 25, (Tue 24 Independence Day), Mon 23, (weekend), Fri 20
    (_local(2026, 2, 26, 15), 3, _local(2026, 2, 20, 15)),
    (_local(2026, 2, 25, 10), 1, _local(2026, 2, 23, 10)),
    # Mon 28.12: (Sun 27, Sat 26, Fri 25, Thu 24) Wed 23, Tue 22, Mon 21
    (_local(2026, 12, 28, 12), 1, _local(2026, 12, 23, 12)),
    (_local(2026, 12, 28, 12), 3, _local(2026, 12, 21, 12)),
    # Tue 07.04: Mon 06 (Easter Monday is a working day), (Good Friday 03), Thu 02
    (_local(2026, 4, 7, 9), 2, _local(2026, 4, 2, 9)),
    # Thu 25.06: (Wed 24 Midsummer, Tue 23 Victory Day) Mon 22
    (_local(2026, 6, 25, 15), 1, _local(2026, 6, 22, 15)),
    # across the year and New Year's Day: Fri 02.01.2026 -> Wed 31.12.2025
    (_local(2026, 1, 2, 15), 1, _local(2025, 12, 31, 15)),
])
def test_working_days_before(moment, n, expected):
    got = working_days_before(moment, n)
    assert got == expected
    assert (got.hour, got.minute) == (moment.hour, moment.minute)


def test_working_days_before_keeps_wall_clock_across_dst():
    # DST starts Sun 29.03.2026: the deadline is in EEST (+3), the warning falls in EET (+2)
    got = working_days_before(_local(2026, 3, 31, 15), 3)
    assert got == _local(2026, 3, 26, 15)
    assert got.utcoffset() == timedelta(hours=2)
    assert _local(2026, 3, 31, 15).utcoffset() == timedelta(hours=3)


def test_working_days_before_naive():
    assert working_days_before(datetime(2026, 2, 25, 10), 1) == datetime(2026, 2, 23, 10)


def test_working_days_between():
    assert working_days_between(_local(2026, 12, 23, 9), _local(2026, 12, 28, 9)) == 1
    assert working_days_between(_local(2026, 1, 5, 9), _local(2026, 1, 19, 15)) == 10
    assert working_days_between(_local(2026, 2, 20, 9), _local(2026, 2, 26, 9)) == 3  # 23, 25, 26
    assert working_days_between(_local(2026, 1, 19, 15), _local(2026, 1, 19, 9)) == 0
    assert working_days_between(_local(2026, 1, 16, 9), _local(2026, 1, 18, 9)) == 0  # Fri -> Sun


def test_office_hours():
    assert within_office_hours(_local(2026, 1, 19, 9))
    assert within_office_hours(_local(2026, 1, 19, 17))
    assert not within_office_hours(_local(2026, 1, 19, 17, 1))
    assert not within_office_hours(_local(2026, 1, 19, 8, 59), start=time(9))
