"""Data retention: `hankebot purge PROC` removes the raw messages (and so their attachments) of a decided or
cancelled procurement once they are older than its retention period. The protocol files, the database rows
(what was received, when, from whom, what was found) and the audit log stay."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hankebot.core.lifecycle import State
from hankebot.service.context import Context


@dataclass
class PurgeReport:
    proc_key: str
    removed: int = 0
    kept_shared: int = 0
    bytes_freed: int = 0
    refused: str | None = None
    dry_run: bool = False
    paths: list[str] = field(default_factory=list)

    def format(self) -> str:
        if self.refused:
            return f"purge refused: {self.refused}"
        verb = "would remove" if self.dry_run else "removed"
        return (f"{self.proc_key}: {verb} {self.removed} raw message(s), {self.bytes_freed} bytes; "
                f"{self.kept_shared} kept because another procurement still holds the same message")


def purge(ctx: Context, proc_key: str, older_than_days: int | None = None, dry_run: bool = False) -> PurgeReport:
    ps = ctx.proc_settings(proc_key)
    days = ps.retention_days if older_than_days is None else older_than_days
    rep = PurgeReport(ps.key, dry_run=dry_run)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        if p.state not in (State.DECIDED.value, State.CANCELLED.value):
            rep.refused = f"procurement {ps.key} is {p.state}; only a decided or cancelled procurement can be purged"
            return rep
        cutoff = ctx.now() - timedelta(days=days)
        from sqlmodel import select

        from hankebot.storage.tables import InboundMessage

        for m in repo.inbound_for(p.id):
            if not m.raw_path or m.received_at > cutoff:
                continue
            others = repo.s.exec(select(InboundMessage).where(InboundMessage.raw_path == m.raw_path,
                                                              InboundMessage.id != m.id)).all()
            if any(o.procurement_id != p.id and o.raw_path for o in others):
                rep.kept_shared += 1
                continue
            rep.removed += 1
            rep.bytes_freed += m.size
            rep.paths.append(m.raw_path)
            if not dry_run:
                ctx.raw.delete(m.raw_path)
                m.raw_path = ""
                m.summary = {**(m.summary or {}), "purged_at": ctx.now().isoformat()}
                repo.s.add(m)
        if not dry_run:
            repo.audit("cli", "purged", p.id, removed=rep.removed, bytes=rep.bytes_freed, older_than_days=days)
            uow.commit()
    return rep
