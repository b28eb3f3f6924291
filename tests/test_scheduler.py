"""DeadlineScheduler on a real AsyncIOScheduler and a real SQLite file: the close job fires and closes;
a restart plans the same jobs; an extension or a config edit re-plans; a deadline missed while the
service was down closes at start. Waits are bounded (a few seconds)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from hankebot.service.config import load_config
from hankebot.service.context import open_context, utc_now
from hankebot.service.deadline import close_if_due, extend_deadline, warn_deadline
from hankebot.service.scheduler import DeadlineScheduler, current_plan
from hankebot.service.sync import sync_config
from hankebot.storage.tables import Notification
from tests.helpers import PROC_KEY, TALLINN, Clock, get_state, make_config, make_ctx, set_state

CLOSE = f"{PROC_KEY}:close"


async def _wait_for(pred, timeout: float = 5.0) -> bool:
    end = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


def _notes(ctx, kind: str) -> list[Notification]:
    from helpers import with_text

    with ctx.uow() as uow:
        out = uow.repo.notifications(kind=kind)
        for n in out:
            uow.repo.s.expunge(n)
    return with_text(ctx, out)


def _audit(ctx, action: str) -> list:
    with ctx.uow() as uow:
        return list(uow.repo.audit_rows(action=action))


async def test_close_job_fires_and_closes(tmp_path):
    deadline = (utc_now() + timedelta(seconds=1.5)).replace(microsecond=0) + timedelta(seconds=1)
    ctx = make_ctx(tmp_path, deadline=deadline)
    set_state(ctx, "open")
    sched = DeadlineScheduler(ctx)
    sched.start()
    try:
        jobs = sched.jobs()
        assert jobs == {CLOSE: deadline}  # every warning lies in the past
        assert get_state(ctx) == "open"
        assert await _wait_for(lambda: get_state(ctx) == "closed", timeout=6)
        assert await _wait_for(lambda: CLOSE not in sched.jobs(), timeout=2)
    finally:
        sched.shutdown()
    notes = _notes(ctx, "deadline_passed")
    assert [n.chat_id for n in notes] == [100001]
    assert notes[0].state == "pending" and "302834" in notes[0].text
    with ctx.uow() as uow:
        p = uow.repo.procurement(PROC_KEY)
        assert p.closed_at is not None and p.closed_at >= deadline
    assert len(_audit(ctx, "closed")) == 1


def _future_config(tmp_path, days: float = 10, **kw):
    deadline = (utc_now() + timedelta(days=days)).astimezone(TALLINN).replace(second=0, microsecond=0)
    return deadline, make_config(tmp_path, deadline=deadline, opening_delay_minutes=30,
                                 reminders={"working_days_before": [2], "min_clarification_working_days": 3}, **kw)


async def test_restart_plans_the_same_jobs(tmp_path):
    deadline, path = _future_config(tmp_path)
    ctx1 = open_context(load_config(path))
    set_state(ctx1, "open")
    s1 = DeadlineScheduler(ctx1)
    s1.start()
    jobs1 = s1.jobs()
    s1.shutdown()
    ctx1.engine.dispose()

    ctx2 = open_context(load_config(path))  # the same database file: a restarted service
    s2 = DeadlineScheduler(ctx2)
    s2.start()
    try:
        jobs2 = s2.jobs()
    finally:
        s2.shutdown()
    assert jobs1 == jobs2
    assert jobs1[CLOSE] == deadline
    assert jobs1[f"{PROC_KEY}:open_prices"] == _utc(deadline) + timedelta(minutes=30)
    assert {f"{PROC_KEY}:warn:3wd", f"{PROC_KEY}:warn:1d", f"{PROC_KEY}:warn:2h", f"{PROC_KEY}:remind:2wd"} <= set(jobs1)
    assert jobs1[f"{PROC_KEY}:warn:2h"] == _utc(deadline) - timedelta(hours=2)


async def test_extend_deadline_replans(tmp_path):
    deadline, path = _future_config(tmp_path)
    ctx = open_context(load_config(path))
    set_state(ctx, "open")
    sched = DeadlineScheduler(ctx)
    sched.start()
    try:
        assert sched.jobs()[CLOSE] == deadline
        new = deadline + timedelta(days=2, hours=1)
        got = extend_deadline(ctx, PROC_KEY, new, actor="telegram:100001")
        assert got == new.astimezone(timezone.utc)
        jobs = sched.jobs()
        assert jobs[CLOSE] == new
        assert jobs[f"{PROC_KEY}:warn:2h"] == _utc(new) - timedelta(hours=2)
        assert jobs[f"{PROC_KEY}:open_prices"] == _utc(new) + timedelta(minutes=30)
    finally:
        sched.shutdown()
    assert len(_notes(ctx, "deadline_extended")) == 1
    (row,) = _audit(ctx, "deadline_extended")
    assert row.actor == "telegram:100001"


async def test_config_edit_of_deadline_replans(tmp_path):
    deadline, path = _future_config(tmp_path)
    ctx = open_context(load_config(path))
    set_state(ctx, "open")
    sched = DeadlineScheduler(ctx)
    sched.start()
    try:
        assert sched.jobs()[CLOSE] == deadline
        new = deadline + timedelta(days=1)
        make_config(tmp_path, deadline=new, opening_delay_minutes=30,
                    reminders={"working_days_before": [2], "min_clarification_working_days": 3})
        ctx.cfg = load_config(path)
        changes = sync_config(ctx)
        ctx.emit("config_reloaded")
        assert any("deadline" in c for c in changes)
        assert sched.jobs()[CLOSE] == new
    finally:
        sched.shutdown()
    assert len(_audit(ctx, "deadline_changed")) == 1


async def test_config_extension_reopens_a_closed_procurement(tmp_path):
    past = (utc_now() - timedelta(hours=1)).replace(microsecond=0)
    path = make_config(tmp_path, deadline=past)
    ctx = open_context(load_config(path))
    set_state(ctx, "open")
    assert close_if_due(ctx, PROC_KEY)
    assert get_state(ctx) == "closed"
    sched = DeadlineScheduler(ctx)
    sched.start()
    try:
        assert CLOSE not in sched.jobs()
        new = (utc_now() + timedelta(days=5)).replace(microsecond=0)
        make_config(tmp_path, deadline=new)
        ctx.cfg = load_config(path)
        sync_config(ctx)
        ctx.emit("config_reloaded")
        assert get_state(ctx) == "open"
        assert sched.jobs()[CLOSE] == new
    finally:
        sched.shutdown()
    assert len(_audit(ctx, "reopened_by_deadline_change")) == 1


async def test_deadline_passed_while_down_closes_at_start(tmp_path):
    past = (utc_now() - timedelta(hours=3)).replace(microsecond=0)
    path = make_config(tmp_path, deadline=past)
    ctx = open_context(load_config(path))
    set_state(ctx, "open")
    sched = DeadlineScheduler(ctx)
    sched.start()
    try:
        assert await _wait_for(lambda: get_state(ctx) == "closed", timeout=5)
    finally:
        sched.shutdown()
    assert len(_notes(ctx, "deadline_passed")) == 1
    ctx.engine.dispose()

    # another restart: nothing left to do, no second notice
    ctx2 = open_context(load_config(path))
    s2 = DeadlineScheduler(ctx2)
    s2.start()
    try:
        assert s2.jobs() == {}  # the plan is empty: nothing can run (start() plans synchronously), no pause needed
    finally:
        s2.shutdown()
    assert len(_notes(ctx2, "deadline_passed")) == 1


def test_close_and_warn_are_idempotent(tmp_path):
    clock = Clock(datetime(2026, 1, 19, 12, 0, tzinfo=TALLINN))
    ctx = make_ctx(tmp_path, clock=clock)
    set_state(ctx, "open")
    assert warn_deadline(ctx, PROC_KEY, "2h")
    assert not warn_deadline(ctx, PROC_KEY, "2h")  # a replayed job never notifies twice
    assert len(_notes(ctx, "deadline_warning")) == 1
    assert not close_if_due(ctx, PROC_KEY)  # too early
    assert get_state(ctx) == "open"
    clock.set(datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN))  # exactly at the deadline
    assert close_if_due(ctx, PROC_KEY)
    assert not close_if_due(ctx, PROC_KEY)
    assert not warn_deadline(ctx, PROC_KEY, "1d")  # closed: no more warnings
    assert len(_notes(ctx, "deadline_passed")) == 1


def test_draft_is_not_closed_by_the_scheduler(tmp_path):
    clock = Clock(datetime(2026, 1, 20, 9, 0, tzinfo=TALLINN))
    ctx = make_ctx(tmp_path, clock=clock)
    assert get_state(ctx) == "draft"
    assert current_plan(ctx) == []
    assert not close_if_due(ctx, PROC_KEY)


def test_plan_keeps_local_wall_clock_across_dst(tmp_path):
    # deadline Tue 31.03.2026 15.00 EEST; DST began Sun 29.03: the 3-working-day warning is Thu 26.03 15.00 EET
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=TALLINN))
    ctx = make_ctx(tmp_path, clock=clock, deadline=datetime(2026, 3, 31, 15, 0))
    set_state(ctx, "open")
    plan = {j.job_id: j.at for j in current_plan(ctx)}
    assert plan[f"{PROC_KEY}:warn:3wd"] == datetime(2026, 3, 26, 15, 0, tzinfo=TALLINN)
    assert plan[CLOSE] == datetime(2026, 3, 31, 15, 0, tzinfo=TALLINN)


def test_plan_counts_working_days_on_local_dates(tmp_path):
    # deadline Mon 02.03.2026 00.30 Tallinn (Sun 22.30 UTC): 3 working days before is Wed 25.02 00.30 local
    # (Fri 27, Thu 26, Wed 25), not Thu 26.02 00.30 as counting on the UTC date would give
    clock = Clock(datetime(2026, 2, 2, 9, 0, tzinfo=TALLINN))
    ctx = make_ctx(tmp_path, clock=clock, deadline=datetime(2026, 3, 2, 0, 30))
    set_state(ctx, "open")
    plan = {j.job_id: j.at for j in current_plan(ctx)}
    assert plan[f"{PROC_KEY}:warn:3wd"] == datetime(2026, 2, 25, 0, 30, tzinfo=TALLINN)


async def test_extension_survives_a_restart(tmp_path):
    """extend_deadline changes the database only; a restart with the unchanged config.toml must keep it."""
    deadline, path = _future_config(tmp_path)
    ctx = open_context(load_config(path))
    set_state(ctx, "open")
    new = deadline + timedelta(days=1)
    extend_deadline(ctx, PROC_KEY, new, actor="cli")
    s1 = DeadlineScheduler(ctx)
    s1.start()
    jobs1 = s1.jobs()
    s1.shutdown()
    ctx.engine.dispose()
    assert jobs1[CLOSE] == new

    ctx2 = open_context(load_config(path))
    s2 = DeadlineScheduler(ctx2)
    s2.start()
    try:
        assert s2.jobs() == jobs1
    finally:
        s2.shutdown()
    with ctx2.uow() as uow:
        assert uow.repo.procurement(PROC_KEY).deadline == new
    assert _audit(ctx2, "deadline_changed") == []


def test_config_deadline_change_is_ignored_once_evaluated(tmp_path):
    clock = Clock(datetime(2026, 1, 20, 9, 0, tzinfo=TALLINN))
    path = make_config(tmp_path)
    ctx = open_context(load_config(path), clock=clock)
    set_state(ctx, "evaluated")
    make_config(tmp_path, deadline=datetime(2026, 1, 26, 15, 0))
    ctx.cfg = load_config(path)
    changes = sync_config(ctx)
    assert any("ignored" in c for c in changes)
    with ctx.uow() as uow:
        p = uow.repo.procurement(PROC_KEY)
        assert (p.state, p.deadline) == ("evaluated", datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN))
