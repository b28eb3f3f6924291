"""plan_jobs: what the scheduler must do, from state, deadline and now only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hankebot.core.lifecycle import State
from hankebot.core.schedule import PlannedJob, plan_jobs
from tests.helpers import TALLINN

DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)  # Monday
INVITED_AT = datetime(2026, 1, 5, 10, 0, tzinfo=TALLINN)


def _by_id(jobs: list[PlannedJob]) -> dict[str, tuple[str, datetime, str]]:
    return {j.job_id: (j.kind, j.at, j.label) for j in jobs}


@pytest.mark.parametrize("state", [State.INVITED, State.OPEN])
def test_open_before_deadline(state):
    jobs = plan_jobs("302834", state, DEADLINE, INVITED_AT)
    assert _by_id(jobs) == {
        "302834:warn:3wd": ("warn", datetime(2026, 1, 14, 15, 0, tzinfo=TALLINN), "3wd"),
        "302834:warn:1d": ("warn", datetime(2026, 1, 18, 15, 0, tzinfo=TALLINN), "1d"),
        "302834:warn:2h": ("warn", datetime(2026, 1, 19, 13, 0, tzinfo=TALLINN), "2h"),
        "302834:close": ("close", DEADLINE, "deadline"),
    }
    assert [j.at for j in jobs] == sorted(j.at for j in jobs)
    assert jobs[-1].kind == "close"


def test_reminders_and_opening_delay():
    jobs = plan_jobs("302834", State.OPEN, DEADLINE, INVITED_AT, reminder_working_days=[2, 5, 2], opening_delay_minutes=30)
    got = _by_id(jobs)
    assert got["302834:remind:2wd"] == ("remind", datetime(2026, 1, 15, 15, 0, tzinfo=TALLINN), "reminder-2wd")
    assert got["302834:remind:5wd"] == ("remind", datetime(2026, 1, 12, 15, 0, tzinfo=TALLINN), "reminder-5wd")
    assert got["302834:open_prices"] == ("open_prices", DEADLINE + timedelta(minutes=30), "opening")
    assert len(jobs) == 7  # 3 warnings, 2 reminders (2 given twice), close, opening
    assert jobs[-1].kind == "open_prices"


def test_no_reminders_by_default_and_no_opening_job_without_delay():
    kinds = {j.kind for j in plan_jobs("k", State.OPEN, DEADLINE, INVITED_AT)}
    assert kinds == {"warn", "close"}


def test_past_warnings_are_dropped():
    now = datetime(2026, 1, 19, 12, 0, tzinfo=TALLINN)
    assert set(_by_id(plan_jobs("k", State.OPEN, DEADLINE, now, [2]))) == {"k:warn:2h", "k:close"}
    now = datetime(2026, 1, 19, 13, 0, tzinfo=TALLINN)  # exactly at the 2 h warning: already passed
    assert set(_by_id(plan_jobs("k", State.OPEN, DEADLINE, now))) == {"k:close"}
    now = datetime(2026, 1, 16, 9, 0, tzinfo=TALLINN)  # the reminder 2wd before (15.01) has passed
    assert set(_by_id(plan_jobs("k", State.OPEN, DEADLINE, now, [2]))) == {"k:warn:1d", "k:warn:2h", "k:close"}


def test_deadline_passed_while_down_closes_now():
    now = datetime(2026, 1, 20, 8, 0, tzinfo=TALLINN)
    jobs = plan_jobs("k", State.OPEN, DEADLINE, now, [2], opening_delay_minutes=30)
    assert _by_id(jobs) == {"k:close": ("close", now, "deadline")}


def test_closed_state_has_no_close_job():
    now = DEADLINE + timedelta(minutes=1)
    assert plan_jobs("k", State.CLOSED, DEADLINE, now) == []
    jobs = plan_jobs("k", State.CLOSED, DEADLINE, now, opening_delay_minutes=30)
    assert _by_id(jobs) == {"k:open_prices": ("open_prices", DEADLINE + timedelta(minutes=30), "opening")}


@pytest.mark.parametrize("state", [State.DRAFT, State.EVALUATED, State.DECIDED, State.CANCELLED])
def test_other_states_plan_nothing(state):
    assert plan_jobs("k", state, DEADLINE, INVITED_AT, [2], opening_delay_minutes=30) == []


def test_warnings_around_holidays_and_weekend():
    # Thu 26.02.2026 10.00: 3 working days before skips Independence Day (Tue 24.02) and the weekend
    deadline = datetime(2026, 2, 26, 10, 0, tzinfo=TALLINN)
    jobs = _by_id(plan_jobs("k", State.OPEN, deadline, datetime(2026, 2, 1, tzinfo=TALLINN), [1]))
    assert jobs["k:warn:3wd"][1] == datetime(2026, 2, 20, 10, 0, tzinfo=TALLINN)
    assert jobs["k:remind:1wd"][1] == datetime(2026, 2, 25, 10, 0, tzinfo=TALLINN)
    # Mon 28.12.2026: Christmas 24-26.12 -> 3 working days before is Mon 21.12
    deadline = datetime(2026, 12, 28, 12, 0, tzinfo=TALLINN)
    jobs = _by_id(plan_jobs("k", State.OPEN, deadline, datetime(2026, 12, 1, tzinfo=TALLINN)))
    assert jobs["k:warn:3wd"][1] == datetime(2026, 12, 21, 12, 0, tzinfo=TALLINN)
    assert jobs["k:warn:1d"][1] == datetime(2026, 12, 27, 12, 0, tzinfo=TALLINN)  # a calendar day


def test_utc_and_local_deadline_give_the_same_instants_for_ordinary_times():
    utc = DEADLINE.astimezone(timezone.utc)
    a = plan_jobs("k", State.OPEN, DEADLINE, INVITED_AT)
    b = plan_jobs("k", State.OPEN, utc, INVITED_AT)
    assert [(j.job_id, j.at) for j in a] == [(j.job_id, j.at) for j in b]


def test_plan_is_deterministic():
    assert plan_jobs("k", State.OPEN, DEADLINE, INVITED_AT, [3, 1], 15) == plan_jobs("k", State.OPEN, DEADLINE, INVITED_AT, [1, 3], 15)


def test_elapsed_offsets_are_real_time_across_dst():
    # DST begins Sun 29.03.2026 03.00 -> 04.00; a deadline at 04.30 EEST (01.30 UTC)
    deadline = datetime(2026, 3, 29, 4, 30, tzinfo=TALLINN)
    jobs = {j.job_id: j.at for j in plan_jobs("k", State.OPEN, deadline, datetime(2026, 3, 1, tzinfo=TALLINN),
                                              opening_delay_minutes=120)}
    utc = timezone.utc
    assert deadline.astimezone(utc) - jobs["k:warn:2h"].astimezone(utc) == timedelta(hours=2)
    assert jobs["k:warn:2h"] == datetime(2026, 3, 29, 1, 30, tzinfo=TALLINN)
    assert jobs["k:open_prices"].astimezone(utc) - deadline.astimezone(utc) == timedelta(hours=2)
    assert jobs["k:warn:1d"] == datetime(2026, 3, 28, 4, 30, tzinfo=TALLINN)  # the same wall-clock time a day before
    # DST ends Sun 25.10.2026 04.00 -> 03.00
    deadline = datetime(2026, 10, 25, 5, 0, tzinfo=TALLINN)
    jobs = {j.job_id: j.at for j in plan_jobs("k", State.OPEN, deadline, datetime(2026, 10, 1, tzinfo=TALLINN))}
    assert deadline.astimezone(utc) - jobs["k:warn:2h"].astimezone(utc) == timedelta(hours=2)
