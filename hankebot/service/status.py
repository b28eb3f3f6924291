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


@dataclass(frozen=True)
class Rows:
    """What a procurement's status is made of, as plain values (from the ORM or from the status read view)."""

    key: str
    reference: str
    title: str
    state: str
    deadline: datetime  # UTC
    opening_delay_minutes: int
    sent: set  # bidder ids (None included) of invitations sent
    inbound: list  # (kind, bidder_id, summary) of the procurement's inbound messages
    bids: list  # (bidder_id, part_no, late, missing_forms, problems, decision) of its active bids
    bidders: list  # (key, name, email, id) of its active bidders, by id


def assemble(rows: Rows, titles: dict[str, str], now: datetime, tz) -> ProcurementStatus:
    """The status from its rows: each bidder's answer (bid, declined, bounced, question, silent) and the counts."""
    inbound, bids = rows.inbound, rows.bids
    bounced_rcpts = {r.lower() for kind, _, summary in inbound if kind == "bounce"
                     for r in (summary or {}).get("bounce", {}).get("failed_recipients", [])}
    bidders = []
    for bid_key, name, email, bidder_id in rows.bidders:
        mine = [x for x in bids if x[0] == bidder_id]
        kinds = {k for k, b, _ in inbound if b == bidder_id}
        if mine:
            answer = "bid"
        elif "decline" in kinds:
            answer = "declined"
        elif email.lower() in bounced_rcpts:
            answer = "bounced"
        elif "question" in kinds:
            answer = "question"
        else:
            answer = "silent"
        missing = sorted({titles.get(k, k) for x in mine for k in x[3]})
        bidders.append(BidderStatus(bid_key, name, email, bidder_id in rows.sent, answer,
                                    sorted({x[1] for x in mine}), missing, any(x[2] for x in mine)))
    return ProcurementStatus(
        key=rows.key, reference=rows.reference, title=rows.title, state=rows.state,
        deadline=rows.deadline.astimezone(tz), now=now.astimezone(tz),
        sealed=is_sealed(now, rows.deadline, rows.opening_delay_minutes),
        invitations_sent=len(rows.sent), bidders=bidders, bids=len(bids),
        late_bids=sum(1 for x in bids if x[2]),
        declines=sum(1 for k, _, _ in inbound if k == "decline"),
        questions=sum(1 for k, _, _ in inbound if k == "question"),
        bounces=sum(1 for k, _, _ in inbound if k == "bounce"),
        unknown_senders=sum(1 for k, b, _ in inbound if b is None and k in ("bid", "question", "decline")),
        problems=sum(1 for x in bids if x[4] and x[5] == "none"),
    )


def procurement_status(ctx: Context, key: str) -> ProcurementStatus:
    ps = ctx.proc_settings(key)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        if p is None:
            raise KeyError(key)
        rows = Rows(
            p.key, p.reference, p.title, p.state, p.deadline, p.opening_delay_minutes,
            sent={o.bidder_id for o in repo.outbound(p.id, kind="invitation") if o.state == "sent"},
            inbound=[(m.kind, m.bidder_id, m.summary) for m in repo.inbound_for(p.id)],
            bids=[(b.bidder_id, b.part_no, b.late, b.missing_forms, b.problems, b.decision) for b in repo.bids(p.id)],
            bidders=[(b.key, b.name, b.email, b.id) for b in repo.bidders(p.id)])
    return assemble(rows, {f.key: f.title for f in ps.forms}, ctx.now(), ctx.cfg.tz)
