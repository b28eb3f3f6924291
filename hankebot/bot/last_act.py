"""The last act from the phone: the decision and the cancellation, always after a preview and a button.

/decide [hange] [pakkumuse nr põhjendus…] -> preview (successful bid per part, letters to send)
    + [Kinnita otsus ja saada kirjad] ("dc:<pid>") -> service.decision.decide_part, then the letters.
/cancel <hange> <põhjus…> -> preview + [Tühista hange] ("cx:<pid>") -> cancel_procurement, then letters.
/cancel alone (or /stop) aborts the step in progress, as every prompt says ("Katkestamiseks /cancel").
The deadline question (no admissible bids) carries [Tühista hange] ("nc:<pid>": cancelled at once with
the standard reason) and [Pikenda tähtaega] ("ne:<pid>": asks for the new date, then the /extend flow).
"""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from hankebot.bot.common import abort_step, actor, call_service, cb, drop_keyboard, get_ctx, keyboard, proc_id, proc_key_of, reply, resolve_procurement
from hankebot.bot.errors import et_error
from hankebot.bot.texts import esc


def _opts(tg: ContextTypes.DEFAULT_TYPE, update: Update):
    import dataclasses

    from hankebot.service.send_engine import OutboundOptions

    base = tg.application.bot_data.get("outbound_opts") or OutboundOptions()
    return dataclasses.replace(base, actor=actor(update))


async def cmd_decide(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                     args: list[str] | None = None) -> None:
    from hankebot.service.decision import preview_decision

    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "decide", key, args)
    if key is None:
        return
    bid_id, why = None, None
    if args and args[0].lstrip("#").isdigit():
        bid_id, why = int(args[0].lstrip("#")), " ".join(args[1:]).strip() or None
    try:
        prev = await call_service(preview_decision, ctx, key, None, bid_id, why)
    except Exception as e:  # DecisionError: the reason, in Estonian
        await reply(update, tg, f"Otsust ei saa teha: {et_error(e)}")
        return
    pid = proc_id(ctx, key)
    tg.user_data["decide_choice"] = {"pid": pid, "bid": bid_id, "why": why}
    await reply(update, tg, esc(prev.format_et()) + "\n\nPärast kinnitamist saab iga pakkuja otsuse kirja. Kinnitad?",
                keyboard([[("Kinnita otsus ja saada kirjad", cb("dc", pid)), ("Loobu", "x")]]))


async def _confirmation(update: Update, tg: ContextTypes.DEFAULT_TYPE, slot: str, command: str):
    """A confirm button "<code>:<pid>": drops the keyboard and returns (ctx, key, what was prepared in
    user_data[slot]), or None after saying the confirmation is stale (another procurement, or none prepared)."""
    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    ctx = get_ctx(tg)
    try:
        pid = int((q.data or "").split(":")[1])
    except (IndexError, ValueError):
        return None
    key = proc_key_of(ctx, pid)
    prepared = tg.user_data.pop(slot, None) or {}
    if key is None or prepared.get("pid") != pid:
        await reply(update, tg, f"See kinnitus on aegunud: alusta uuesti {command}.")
        return None
    return ctx, key, prepared


async def on_decide_confirm(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    from hankebot.service.decision import decide_part
    from hankebot.service.decision_letters import send_decision_letters

    confirmed = await _confirmation(update, tg, "decide_choice", "/decide")
    if confirmed is None:
        return
    ctx, key, choice = confirmed
    try:
        await call_service(decide_part, ctx, key, None, choice.get("bid"), choice.get("why"), actor=actor(update))
    except Exception as e:
        await reply(update, tg, f"Otsust ei salvestatud: {et_error(e)}")
        return
    rep = await send_decision_letters(ctx, key, opts=_opts(tg, update))
    await reply(update, tg, "✅ Otsus on salvestatud.\n" + esc(rep.format_et()))


async def cmd_cancel_or_stop(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel with a procurement and a reason: cancel the procurement (after a button). Alone: abort the step."""
    if not tg.args:
        await abort_step(update, tg)
        return
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "cancel", None, list(tg.args))
    if key is None:
        return
    why = " ".join(args).strip()
    if not why:
        await reply(update, tg, "Kirjuta tühistamise põhjus: <code>/cancel " + esc(key) + " põhjus…</code>")
        return
    from hankebot.service.decision_letters import send_cancellation_letters

    dry = await send_cancellation_letters(ctx, key, dry_run=True, out_dir=ctx.cfg.data_dir / "dry-run" / key / "cancel",
                                          preview_reason=why)
    pid = proc_id(ctx, key)
    tg.user_data["cancel_reason"] = {"pid": pid, "why": why}
    await reply(update, tg, f"Tühistad hanke {esc(key)}?\nPõhjus: {esc(why)}\nKiri läheb {len(dry.eml_paths)} kutsutule.",
                keyboard([[("Tühista hange", cb("cx", pid)), ("Loobu", "x")]]))


async def _cancel(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, why: str) -> None:
    from hankebot.service.decision import cancel_procurement
    from hankebot.service.decision_letters import send_cancellation_letters

    ctx = get_ctx(tg)
    try:
        await call_service(cancel_procurement, ctx, key, why, actor=actor(update))
    except Exception as e:
        await reply(update, tg, f"Hanget ei tühistatud: {et_error(e)}")
        return
    rep = await send_cancellation_letters(ctx, key, opts=_opts(tg, update))
    await reply(update, tg, f"✅ Hange {esc(key)} on tühistatud.\n" + esc(rep.format_et()))


async def on_cancel_confirm(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    confirmed = await _confirmation(update, tg, "cancel_reason", "/cancel")
    if confirmed is None:
        return
    _ctx, key, pending = confirmed
    await _cancel(update, tg, key, pending["why"])


async def on_no_bids_button(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """The deadline question's buttons: "nc:<pid>" cancels with the standard reason, "ne:<pid>" asks the date."""
    from hankebot.service.decision import NO_BIDS_REASON

    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    ctx = get_ctx(tg)
    try:
        what, pid = (q.data or "").split(":")
        key = proc_key_of(ctx, int(pid))
    except ValueError:
        return
    if key is None:
        return
    if what == "nc":
        await _cancel(update, tg, key, NO_BIDS_REASON)
        return
    tg.user_data["awaiting"] = {"kind": "extend", "pid": int(pid)}
    await reply(update, tg, "Kirjuta uus tähtaeg kujul <code>26.01.2026 15:00</code>. Katkestamiseks /cancel.")
