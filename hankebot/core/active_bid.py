"""Which of one bidder's bids for one part is in force: a pure rule, the same whatever order the bids
were processed in (the database's partial unique index then holds that there is at most one).

- Only bids matched to an invited bidder take part; a bid from an unmatched sender (or a From: that
  could not be read) never replaces, and is never replaced by, anyone's bid.
- Late bids are not opened and take no part.
- A bid is trusted unless its sender is unverified (Authentication-Results failed, or missing where
  required) or it came from another address on the bidder's domain; the expert's acceptance makes it
  trusted. The latest trusted bid by server receive time (INTERNALDATE; then arrival order) is in
  force; with no trusted bid, the latest bid is. An untrusted bid newer than the one in force is
  'held' for the expert (accept makes it the bid in force, reject keeps the earlier one)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

#: problem codes that make a bid untrusted until the expert accepts it
UNTRUSTED_CODES = frozenset({"unverified_sender", "not_invited_address"})


@dataclass(frozen=True)
class BidFacts:
    id: int
    received_at: datetime
    arrival: int  # the inbound message's row id (store order, which is UID order within a folder)
    untrusted: bool
    decision: str  # none | accepted | rejected


def trusted(b: BidFacts) -> bool:
    return b.decision == "accepted" or not b.untrusted


def statuses(bids: Iterable[BidFacts]) -> dict[int, tuple[str, int | None]]:
    """bid id -> (status, superseded_by) for one bidder's on-time bids for one part."""
    bids = list(bids)
    if not bids:
        return {}
    order = lambda b: (b.received_at, b.arrival, b.id)  # noqa: E731
    pool = [b for b in bids if trusted(b)] or bids
    winner = max(pool, key=order)
    out: dict[int, tuple[str, int | None]] = {}
    for b in bids:
        if b.id == winner.id:
            out[b.id] = ("active", None)
        elif not trusted(b) and order(b) > order(winner):
            out[b.id] = ("held", None)
        else:
            out[b.id] = ("superseded", winner.id)
    return out
