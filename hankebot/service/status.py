"""Where a procurement stands, safe to show at any time: before the opening only counts and names,
never a price, score or form content (core.sealing decides)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from hankebot.core.sealing import is_sealed

if TYPE_CHECKING:  # the status read view (service/status_view.py) builds these values without the context
    from hankebot.service.context import Context


@dataclass
class BidderStatus:
    key: str
    name: str
    email: str
    invited: bool  # an invitation was sent
    answer: str  # "bid" | "declined" | "question" | "silent" | "bounced"
    bid_parts: list[int] = field(default_factory=list)
    missing_forms: list[str] = field(default_factory=list)  # form titles
    late: bool = False


@dataclass
class ProcurementStatus:
    key: str
    reference: str
    title: str
    state: str
    deadline: datetime  # local time
    now: datetime
    sealed: bool
    invitations_sent: int
    bidders: list[BidderStatus]
    bids: int
    late_bids: int
    declines: int
    questions: int
    bounces: int
    unknown_senders: int
    problems: int

    @property
    def silent(self) -> list[BidderStatus]:
        return [b for b in self.bidders if b.answer == "silent"]

    @property
    def time_left(self):
        return self.deadline - self.now


def procurement_status(ctx: Context, key: str) -> ProcurementStatus:
    ps = ctx.proc_settings(key)
    titles = {f.key: f.title for f in ps.forms}
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        if p is None:
            raise KeyError(key)
        sent = {o.bidder_id for o in repo.outbound(p.id, kind="invitation") if o.state == "sent"}
        bounced_rcpts = set()
        inbound = repo.inbound_for(p.id)
        for m in inbound:
            if m.kind == "bounce":
                for r in (m.summary or {}).get("bounce", {}).get("failed_recipients", []):
                    bounced_rcpts.add(r.lower())
        bids = repo.bids(p.id)
        bidders = []
        for b in repo.bidders(p.id):
            mine = [x for x in bids if x.bidder_id == b.id]
            kinds = {m.kind for m in inbound if m.bidder_id == b.id}
            if mine:
                answer = "bid"
            elif "decline" in kinds:
                answer = "declined"
            elif b.email.lower() in bounced_rcpts:
                answer = "bounced"
            elif "question" in kinds:
                answer = "question"
            else:
                answer = "silent"
            missing = sorted({titles.get(k, k) for x in mine for k in x.missing_forms})
            bidders.append(BidderStatus(b.key, b.name, b.email, b.id in sent, answer,
                                        sorted({x.part_no for x in mine}), missing, any(x.late for x in mine)))
        st = ProcurementStatus(
            key=p.key, reference=p.reference, title=p.title, state=p.state,
            deadline=ctx.local(p.deadline), now=ctx.local(ctx.now()),
            sealed=is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes),
            invitations_sent=len(sent), bidders=bidders, bids=len(bids),
            late_bids=sum(1 for x in bids if x.late),
            declines=sum(1 for m in inbound if m.kind == "decline"),
            questions=sum(1 for m in inbound if m.kind == "question"),
            bounces=sum(1 for m in inbound if m.kind == "bounce"),
            unknown_senders=sum(1 for m in inbound if m.bidder_id is None and m.kind in ("bid", "question", "decline")),
            problems=sum(1 for x in bids if x.problems and x.decision == "none"),
        )
    return st
