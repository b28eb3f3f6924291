"""The decision on one part: which admitted bid is successful ("edukas pakkumus").

By default the top-ranked admitted bid; another ranked bid only with a written reason. Pure: no I/O."""
from __future__ import annotations

from dataclasses import dataclass

from hankebot.core.evaluation import PartResult, ScoredBid


class DecisionError(ValueError):
    """Why the decision cannot be recorded (Estonian text for the expert)."""


@dataclass(frozen=True)
class Choice:
    part_no: int
    bid: ScoredBid
    default: bool  # True: the top-ranked bid
    reason: str | None


def choose(result: PartResult, bid_id: str | None = None, why: str | None = None) -> Choice:
    """The successful bid of `result`: `bid_id` (a ranked bid) or, when None, the top-ranked one."""
    if result.pending:
        names = ", ".join(s.bid.bidder_name for s in result.pending)
        raise DecisionError(f"Osa {result.part_no}: hindamine on pooleli ({names}).")
    if not result.ranked:
        raise DecisionError(f"Osa {result.part_no}: vastuvõetud pakkumusi ei ole, edukat pakkumust ei saa valida.")
    top = result.ranked[0]
    if bid_id is None or str(bid_id) == top.bid.bid_id:
        return Choice(result.part_no, top, True, (why or "").strip() or None)
    chosen = next((s for s in result.ranked if s.bid.bid_id == str(bid_id)), None)
    if chosen is None:
        raise DecisionError(f"Osa {result.part_no}: pakkumus nr {bid_id} ei ole järjestatud vastuvõetud pakkumuste hulgas.")
    if not (why or "").strip():
        raise DecisionError(f"Osa {result.part_no}: pingereas esimese ({top.bid.bidder_name}) asemel teise pakkumuse "
                            "valimiseks on vaja kirjalikku põhjendust (--why).")
    return Choice(result.part_no, chosen, False, why.strip())
