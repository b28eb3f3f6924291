"""Apply core.active_bid to the database: after a bid is added or decided, settle which of that bidder's
bids for the part is in force. Two flushes (everyone out of 'active', then the winner in), so the partial
unique index `uq_bid_one_active` never sees two active rows, in any flush order."""
from __future__ import annotations

from sqlmodel import select

from hankebot.core.active_bid import UNTRUSTED_CODES, BidFacts, statuses
from hankebot.storage.tables import Bid


def facts(b: Bid) -> BidFacts:
    codes = {p.get("code") for p in (b.problems or [])}
    return BidFacts(b.id, b.received_at, b.inbound_message_id, bool(codes & UNTRUSTED_CODES), b.decision)


def settle(repo, procurement_id: int, part_no: int, bidder_id: int | None, actor: str = "system") -> int | None:
    """Set status and superseded_by of the bidder's on-time bids for the part; returns the id in force (None
    for an unmatched sender, whose bids are left as they are: each its own). Audits every change."""
    if bidder_id is None:
        return None
    q = select(Bid).where(Bid.procurement_id == procurement_id, Bid.part_no == part_no, Bid.bidder_id == bidder_id,
                          Bid.late == False)  # noqa: E712
    bids = list(repo.s.exec(q))
    want = statuses(facts(b) for b in bids)
    winner = next((i for i, (st, _) in want.items() if st == "active"), None)
    changed = [b for b in bids if (b.status, b.superseded_by) != want[b.id]]
    if not changed:
        return winner
    before = {b.id: b.status for b in changed}
    for b in changed:
        if b.status == "active":
            b.status = "superseded"  # out of the index first
            repo.s.add(b)
    repo.s.flush()
    for b in changed:
        old = before[b.id]
        b.status, b.superseded_by = want[b.id]
        repo.s.add(b)
        if b.status != "active" and old != "new":
            repo.audit(actor, "bid_superseded" if b.status == "superseded" else "bid_held", procurement_id,
                       old_bid=b.id, new_bid=winner, previous=old)
    repo.s.flush()
    return winner
