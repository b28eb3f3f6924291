"""/bids: the procurement's bids, one line each (sealed: no prices or problems), with a card button per bid
after the opening."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from hankebot.bot.common import cb, get_ctx, keyboard, reply, sealed_info
from hankebot.bot.replies import BidLine, bids_text
from hankebot.bot.texts import MAX_BUTTON


async def do_bids(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    ctx = get_ctx(tg)
    sealed, opens = sealed_info(ctx, key)
    titles = {f.key: f.title for f in ctx.proc_settings(key).forms}
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        names = {b.id: b.name for b in uow.repo.bidders(p.id, active_only=False)}
        lines = []
        for b in uow.repo.bids(p.id):
            lines.append(BidLine(
                bid_id=b.id, part_no=b.part_no, bidder_name=names.get(b.bidder_id, b.sender),
                received_at=ctx.local(b.received_at), late=b.late,
                # sealed: the price never leaves this function
                price=None if sealed or b.late else b.price, price_basis=None if sealed else b.price_basis,
                missing_forms=[titles.get(k, k) for k in b.missing_forms],
                # the missing forms are listed once, by title; their problem rows would repeat them
                problems=[] if sealed else [pr.get("message", "") for pr in (b.problems or [])
                                            if not (b.missing_forms and pr.get("code") == "missing_form")],
                decision=b.decision))
    markup = None
    if not sealed and lines:
        markup = keyboard([[(_bid_label(x), cb("gb", x.bid_id))] for x in lines])
    text = bids_text(p.reference, lines, sealed, opens)
    if markup is not None:
        text += "\n\nPakkumuse kaardi (tekstid, failid, hindamine) avamiseks vajuta nupule või /bid &lt;number&gt;."
    await reply(update, tg, text, markup)


def _bid_label(x: BidLine) -> str:
    full = f"#{x.bid_id} {x.bidder_name} (osa {x.part_no})"
    return full if len(full) <= MAX_BUTTON else f"Pakkumus #{x.bid_id} (osa {x.part_no})"
