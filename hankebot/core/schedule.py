"""What the scheduler must do for a procurement, derived from its state and config only.

`plan_jobs` is pure, so a restart or a changed deadline re-plans the same way: the scheduler replaces
its jobs with this plan. Jobs whose time has passed are dropped, except closing, which is due at once
(a deadline that passed while the service was down is handled at start)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hankebot.core.lifecycle import State
from hankebot.core.workdays import working_days_before


@dataclass(frozen=True)
class PlannedJob:
    job_id: str
    kind: str  # "close" | "warn" | "remind" | "open_prices"
    at: datetime
    label: str  # "3wd", "1d", "2h", "reminder-2wd", ...


def plan_jobs(
    proc_key: str,
    state: State,
    deadline: datetime,
    now: datetime,
    reminder_working_days: list[int] = (),
    opening_delay_minutes: int = 0,
) -> list[PlannedJob]:
    jobs: list[PlannedJob] = []
    # working days and "1d" follow the deadline's wall clock (pass it in local time); "2h" and the opening
    # delay are elapsed time, so they are computed in UTC (a DST change between them must not shift them)
    exact = deadline.astimezone(timezone.utc) if deadline.tzinfo else deadline
    if state in (State.INVITED, State.OPEN):
        # a deadline that passed while the service was down: close at once
        jobs.append(PlannedJob(f"{proc_key}:close", "close", max(deadline, now), "deadline"))
        warns = [
            ("3wd", working_days_before(deadline, 3)),
            ("1d", deadline - timedelta(days=1)),
            ("2h", exact - timedelta(hours=2)),
        ]
        for label, at in warns:
            if at > now:
                jobs.append(PlannedJob(f"{proc_key}:warn:{label}", "warn", at, label))
        for n in sorted(set(reminder_working_days)):
            at = working_days_before(deadline, n)
            if at > now:
                jobs.append(PlannedJob(f"{proc_key}:remind:{n}wd", "remind", at, f"reminder-{n}wd"))
    if state in (State.INVITED, State.OPEN, State.CLOSED) and opening_delay_minutes > 0:
        at = exact + timedelta(minutes=opening_delay_minutes)
        if at > now:
            jobs.append(PlannedJob(f"{proc_key}:open_prices", "open_prices", at, "opening"))
    return sorted(jobs, key=lambda j: (j.at, j.job_id))
