"""Estonian working days: weekends and Estonian public holidays (the `holidays` package) excluded."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=16)
def _ee(year: int):
    return holidays.country_holidays("EE", years=[year])


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _ee(d.year)


def holiday_name(d: date) -> str | None:
    return _ee(d.year).get(d)


def working_days_before(moment: datetime, n: int) -> datetime:
    """The same wall-clock time n working days before `moment` (n >= 1)."""
    d = moment.date()
    count = 0
    while count < n:
        d -= timedelta(days=1)
        if is_working_day(d):
            count += 1
    return datetime.combine(d, moment.timetz()) if moment.tzinfo else datetime.combine(d, moment.time())


def working_days_between(start: datetime, end: datetime) -> int:
    """Whole working days strictly after start's date up to and including end's date."""
    if end <= start:
        return 0
    d, n = start.date(), 0
    while d < end.date():
        d += timedelta(days=1)
        if is_working_day(d):
            n += 1
    return n


def within_office_hours(moment: datetime, start: time = time(9), end: time = time(17)) -> bool:
    return start <= moment.time() <= end
