"""Bring the database in line with config.toml: procurements, parts, bidders. Deadline changes are audited."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from hankebot.core.lifecycle import State
from hankebot.storage.tables import Bidder, Part, Procurement, utcnow
from hankebot.storage.uow import UnitOfWork


class SyncTarget(Protocol):
    """What syncing needs of the service context (`service.context.Context` is one): `open_context` calls
    `sync_config`, so this module names only the shape, not the class."""

    @property
    def settings(self) -> Any: ...

    def uow(self) -> UnitOfWork: ...

    def deadline(self, ps: Any) -> datetime: ...

    def now(self) -> datetime: ...


def sync_config(ctx: SyncTarget) -> list[str]:
    """Returns human-readable changes (for logs and staff notices)."""
    changes: list[str] = []
    with ctx.uow() as uow:
        repo = uow.repo
        for ps in ctx.settings.procurements:
            deadline = ctx.deadline(ps)
            p = repo.procurement(ps.key)
            snapshot = ps.model_dump(mode="json")
            if p is None:
                p = repo.add(Procurement(key=ps.key, reference=ps.reference, title=ps.title, deadline=deadline,
                                         opening_delay_minutes=ps.opening_delay_minutes, settings=snapshot, updated_at=utcnow()))
                repo.audit("config", "procurement_added", p.id, key=ps.key, deadline=deadline)
                changes.append(f"procurement {ps.key} added")
            else:
                # a deadline extended by the bot/CLI lives in the database until config.toml is edited: apply
                # the config's deadline only when the config's own value changed since it was last loaded
                config_edited = (p.settings or {}).get("deadline") != snapshot.get("deadline")
                if p.deadline != deadline and config_edited:
                    movable = State(p.state) in (State.DRAFT, State.INVITED, State.OPEN) or (
                        State(p.state) == State.CLOSED and deadline > ctx.now())
                    if movable:
                        repo.audit("config", "deadline_changed", p.id, old=p.deadline, new=deadline)
                        changes.append(f"procurement {ps.key}: deadline {p.deadline.isoformat()} -> {deadline.isoformat()}")
                        p.deadline = deadline
                        if State(p.state) == State.CLOSED and deadline > ctx.now():
                            # the admin extended a deadline that had passed: bids are accepted again
                            p.state = State.OPEN.value
                            p.closed_at = None
                            repo.audit("config", "reopened_by_deadline_change", p.id)
                    else:
                        # evaluated/decided/cancelled (or closed with a past date): the bids stay opened
                        changes.append(f"procurement {ps.key}: deadline change ignored (state {p.state})")
                p.reference, p.title = ps.reference, ps.title
                p.opening_delay_minutes = ps.opening_delay_minutes
                p.settings = snapshot
                p.updated_at = utcnow()
            if ps.cancelled and p.state not in (State.CANCELLED.value, State.DECIDED.value):
                p.state = State.CANCELLED.value
                repo.audit("config", "cancelled", p.id)
                changes.append(f"procurement {ps.key} cancelled")
            repo.s.add(p)
            repo.s.flush()
            have_parts = {x.number: x for x in repo.parts(p.id)}
            for part in ps.parts:
                row = have_parts.get(part.number) or Part(procurement_id=p.id, number=part.number, name=part.name)
                row.name, row.invited = part.name, part.invited
                repo.s.add(row)
            have = {b.key: b for b in repo.bidders(p.id, active_only=False)}
            for bs in ps.bidders:
                b = have.pop(bs.key, None)
                if b is None:
                    b = Bidder(procurement_id=p.id, key=bs.key, name=bs.name, email=bs.email, person_type=bs.person_type.value)
                    changes.append(f"procurement {ps.key}: bidder {bs.key} added")
                b.name, b.email, b.person_type, b.active = bs.name, bs.email, bs.person_type.value, True
                repo.s.add(b)
            for gone in have.values():
                if gone.active:
                    gone.active = False
                    repo.s.add(gone)
                    changes.append(f"procurement {ps.key}: bidder {gone.key} removed from config (history kept)")
        uow.commit()
    return changes
