"""Decisions on problem bids (after the opening only): "/accept <bid> <reason>", or a keyboard of undecided
problem bids ("da:<bid>", "dr:<bid>", also on the bid card) then the reason as text ->
service.decision.decide_bid. An accepted bid's card follows, ready for grading."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from hankebot.bot.common import call_service, cb, drop_keyboard, get_ctx, grader_name, keyboard, pick_procurement, reply, sealed_info
from hankebot.bot.grading import sealed_reply as _sealed_reply, send_card, unknown_bid
from hankebot.bot.persistence import save_now
from hankebot.bot.errors import et_error
from hankebot.bot.texts import clip, esc
from hankebot.core.lifecycle import LifecycleError


def _bid_info(ctx, bid_id: int):
    """(bid, procurement key, bidder name) or None."""
    with ctx.uow() as uow:
        bid = uow.repo.bid(bid_id)
        if bid is None:
            return None
        p = uow.repo.procurement_by_id(bid.procurement_id)
        b = uow.repo.bidder(bid.bidder_id)
        return bid, p.key, (b.name if b else bid.sender)


# ---------------------------------------------------------------- accept / reject problem bids


async def _decide_start(update: Update, tg: ContextTypes.DEFAULT_TYPE, accept: bool) -> None:
    args = list(tg.args or [])
    cmd = "accept" if accept else "reject"
    if args and args[0].lstrip("#").isdigit():
        bid_id = int(args[0].lstrip("#"))
        reason = " ".join(args[1:]).strip()
        if reason:
            await _decide(update, tg, bid_id, accept, reason)
        else:
            await _ask_reason(update, tg, bid_id, accept)
        return
    key, _ = await pick_procurement(update, tg, cmd, args)
    if key is None:
        return
    await list_problem_bids(update, tg, key, accept)


async def list_problem_bids(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, accept: bool) -> None:
    ctx = get_ctx(tg)
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    from hankebot.service import evaluation

    bids = await call_service(evaluation.undecided, ctx, key)
    if not bids:
        await reply(update, tg, "Otsust ootavaid probleemiga pakkumusi pole.")
        return
    lines = ["Otsust ootavad pakkumused:"]
    rows = []
    with ctx.uow() as uow:
        names = {b.id: b.name for b in uow.repo.bidders(uow.repo.procurement(key).id, active_only=False)}
    for b in bids:
        name = names.get(b.bidder_id, b.sender)
        probs = "; ".join(p.get("message", "") for p in evaluation.blocking_problems(b))
        lines.append(f"• #{b.id} {esc(name)} (osa {b.part_no}): {esc(clip(probs, 300))}")
        rows.append([(_decide_label(b.id, name), cb("da" if accept else "dr", b.id))])
    lines.append("Vali pakkumus, siis kirjuta põhjendus.")
    await reply(update, tg, "\n".join(lines), keyboard(rows))


async def _ask_reason(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int, accept: bool) -> None:
    ctx = get_ctx(tg)
    info = _bid_info(ctx, bid_id)
    if info is None:
        await reply(update, tg, unknown_bid(bid_id))
        return
    sealed, opens = sealed_info(ctx, info[1])
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    tg.user_data["awaiting"] = {"kind": "decide", "bid_id": bid_id, "accept": accept}
    await save_now(update, tg)
    what = "vastu võtta" if accept else "tagasi lükata"
    await reply(update, tg, f"Pakkumus #{bid_id} ({esc(info[2])}): {what}.\nKirjuta põhjendus. Katkestamiseks /cancel.")


async def _decide(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int, accept: bool, reason: str) -> None:
    ctx = get_ctx(tg)
    from hankebot.service import decision, evaluation

    info = _bid_info(ctx, bid_id)
    if info is None:
        await reply(update, tg, unknown_bid(bid_id))
        return
    try:
        await call_service(decision.decide_bid, ctx, bid_id, accept, reason, grader_name(ctx, update))
    except evaluation.Sealed as e:
        await reply(update, tg, _sealed_reply(e.opens_at))
        return
    except KeyError:
        await reply(update, tg, unknown_bid(bid_id))
        return
    except (ValueError, LifecycleError) as e:
        await reply(update, tg, f"Otsust ei salvestatud: {et_error(e)}")
        return
    await reply(update, tg, f"✅ Pakkumus #{bid_id} ({esc(info[2])}) " + ("võeti vastu." if accept else "lükati tagasi.")
                + f"\nPõhjendus: {esc(reason)}")
    if accept:
        await send_card(update, tg, bid_id)


async def on_decide_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    text = (update.effective_message.text or "").strip()
    if not text:
        return
    tg.user_data.pop("awaiting", None)
    await _decide(update, tg, state["bid_id"], state["accept"], text)


async def cmd_accept(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    await _decide_start(update, tg, True)


async def cmd_reject(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    await _decide_start(update, tg, False)


async def on_decide_callback(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    kind, _, rest = (q.data or "").partition(":")
    if not rest.isdigit():
        return
    await drop_keyboard(update)  # the choice is made: its buttons go
    await _ask_reason(update, tg, int(rest), kind == "da")


def _decide_label(bid_id: int, name: str) -> str:
    full = f"#{bid_id} {name}"
    return full if len(full) <= 38 else f"Pakkumus #{bid_id}"
