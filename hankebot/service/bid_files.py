"""The original files of a bid, read back from the raw store (after the opening only)."""
from __future__ import annotations

from dataclasses import dataclass

from hankebot.core.sealing import is_sealed, opening_time
from hankebot.mailer.mime import parse_message
from hankebot.service.context import Context


class BidSealed(Exception):
    def __init__(self, opens_at):
        self.opens_at = opens_at
        super().__init__(f"bids are sealed until {opens_at.isoformat()}")


@dataclass
class BidFile:
    filename: str
    data: bytes
    path: str  # where it sat in the message, e.g. "pakkumus.zip/Lisa 2.docx"


def bid_files(ctx: Context, bid_id: int) -> list[BidFile]:
    """The attachments of the message the bid came in. KeyError: no such bid; BidSealed before the opening;
    OSError when the raw message is no longer in the store (purged)."""
    with ctx.uow() as uow:
        bid = uow.repo.bid(bid_id)
        if bid is None:
            raise KeyError(bid_id)
        p = uow.repo.procurement_by_id(bid.procurement_id)
        if is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes):
            raise BidSealed(ctx.local(opening_time(p.deadline, p.opening_delay_minutes)))
        msg = uow.repo.inbound(bid.inbound_message_id)
        raw_path = msg.raw_path if msg else None
    if not raw_path or not ctx.raw.exists(raw_path):
        raise FileNotFoundError(raw_path or f"bid {bid_id}")
    parsed = parse_message(ctx.raw.get(raw_path))
    return [BidFile(a.filename, a.data, a.path) for a in parsed.attachments]
