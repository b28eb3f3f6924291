"""APScheduler drives the deadline jobs. The plan comes from core.schedule.plan_jobs on stored state and
config, so `replan` after a restart, a config edit or an extension always yields the right jobs."""
from __future__ import annotations

import logging
from datetime import timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from hankebot.core.lifecycle import State
from hankebot.core.schedule import PlannedJob, plan_jobs
from hankebot.service.context import Context

log = logging.getLogger(__name__)
JOB_PREFIX = "hb:"


def current_plan(ctx: Context) -> list[PlannedJob]:
    plan: list[PlannedJob] = []
    with ctx.uow() as uow:
        for p in uow.repo.procurements():
            try:
                ps = ctx.proc_settings(p.key)
            except KeyError:
                continue
            # local time: working days and wall-clock warning times follow Tallinn dates and DST, not UTC
            plan += plan_jobs(p.key, State(p.state), ctx.local(p.deadline), ctx.now(),
                              ps.reminders.working_days_before, p.opening_delay_minutes)
    return plan


async def run_job(ctx: Context, job: PlannedJob) -> None:
    from hankebot.service import deadline

    proc_key = job.job_id.split(":", 1)[0]
    try:
        if job.kind == "close":
            deadline.close_if_due(ctx, proc_key)
        elif job.kind == "warn":
            deadline.warn_deadline(ctx, proc_key, job.label)
        elif job.kind == "remind":
            from hankebot.service.reminders import send_reminders

            await send_reminders(ctx, proc_key, job.label)
        elif job.kind == "open_prices":
            from hankebot.core.events import PricesOpened
            from hankebot.service.notify import publish

            with ctx.uow() as uow:
                p = uow.repo.procurement(proc_key)
                publish(ctx, uow.repo, "opened", PricesOpened(procurement_id=p.id, reference=p.reference),
                        f"opened:{p.key}:{p.deadline.isoformat()}", p.id)
                uow.commit()
    except Exception:  # a failing job must not kill the scheduler; it is logged and retried on replan
        log.exception("scheduled job %s failed", job.job_id)


class DeadlineScheduler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc)
        ctx.listeners.append(self._on_event)

    def start(self) -> None:
        self.scheduler.start()
        self.replan()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _on_event(self, event: str, **kw) -> None:
        if event in ("deadline_changed", "config_reloaded", "closed", "invited"):
            self.replan()

    def replan(self) -> list[PlannedJob]:
        plan = current_plan(self.ctx)
        wanted = {JOB_PREFIX + j.job_id: j for j in plan}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                job.remove()
        for jid, pj in wanted.items():
            self.scheduler.add_job(run_job, DateTrigger(run_date=pj.at), args=[self.ctx, pj], id=jid,
                                   replace_existing=True, misfire_grace_time=None, coalesce=True)
        return plan

    def jobs(self) -> dict[str, object]:
        return {j.id[len(JOB_PREFIX):]: j.trigger.run_date for j in self.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX)}
