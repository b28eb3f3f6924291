"""Deadline events: closing at the deadline, warnings before it, and extending it."""
from __future__ import annotations

from datetime import datetime, timezone

from hankebot.core import lifecycle
from hankebot.core.events import DeadlineApproaching, DeadlineExtended, DeadlinePassed
from hankebot.core.lifecycle import State
from hankebot.service.context import Context
from hankebot.service.notify import publish
from hankebot.storage.tables import utcnow


def close_if_due(ctx: Context, proc_key: str) -> bool:
    """Close a procurement whose deadline has passed; notify staff with a summary. Idempotent."""
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(proc_key)
        if p is None or p.state not in (State.INVITED.value, State.OPEN.value):
            return False
        if ctx.now() < p.deadline:
            return False
        p.state = lifecycle.close(State(p.state), ctx.now(), p.deadline).value
        p.closed_at = utcnow()
        repo.s.add(p)
        repo.audit("system", "closed", p.id, deadline=p.deadline)
        uow.commit()
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        publish(ctx, uow.repo, "deadline_passed", DeadlinePassed(procurement_id=p.id, proc_key=p.key), f"closed:{p.key}:{p.deadline.isoformat()}", p.id)
        from hankebot.service.decision import admissible_bids, ask_no_bids

        if not admissible_bids(uow.repo, p):
            ask_no_bids(ctx, uow.repo, p, "Tähtajaks ei laekunud ühtegi pakkumust.")
        uow.commit()
    ctx.emit("closed", proc_key=proc_key)
    return True


def warn_deadline(ctx: Context, proc_key: str, label: str) -> bool:
    from hankebot.service.status import procurement_status

    st = procurement_status(ctx, proc_key)
    if st.state not in (State.INVITED.value, State.OPEN.value):
        return False
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        rows = publish(ctx, uow.repo, "deadline_warning", DeadlineApproaching(procurement_id=p.id, proc_key=p.key, label=label),
                       f"warn:{p.key}:{p.deadline.isoformat()}:{label}", p.id)
        uow.commit()
    return bool(rows)


def extend_deadline(ctx: Context, proc_key: str, new_deadline: datetime, actor: str) -> datetime:
    """Move the deadline (in the database; the admin should also update config.toml, which is said in the
    notice). The scheduler re-plans through the 'deadline_changed' event."""
    if new_deadline.tzinfo is None:
        new_deadline = new_deadline.replace(tzinfo=ctx.cfg.tz)
    new_utc = new_deadline.astimezone(timezone.utc)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(proc_key)
        if p is None:
            raise KeyError(proc_key)
        if p.state == State.CLOSED.value:  # only when nothing admissible came: the deadline question's button
            from hankebot.service.decision import admissible_bids

            if admissible_bids(repo, p):
                raise lifecycle.LifecycleError("bids have arrived: the deadline of a closed procurement cannot move")
            p.state = lifecycle.reopen_for_bids(State(p.state), ctx.now(), p.deadline, new_utc).value
            p.closed_at = None
        else:
            lifecycle.extend_deadline(State(p.state), ctx.now(), p.deadline, new_utc)
        old = p.deadline
        p.deadline = new_utc
        p.updated_at = utcnow()
        repo.s.add(p)
        repo.audit(actor, "deadline_extended", p.id, old=old, new=new_utc)
        publish(ctx, repo, "deadline_extended",
                DeadlineExtended(procurement_id=p.id, reference=p.reference, old=old, new=new_utc, actor=actor),
                f"extended:{p.key}:{new_utc.isoformat()}", p.id)
        uow.commit()
    ctx.emit("deadline_changed", proc_key=proc_key)
    return new_utc
