"""Staff commands: /help /status /bids /missing /questions /results /protocol /held /cancel, the
procurement chooser ("p:<cmd>:<id>"), the free-text router for pending questions, and `register(app)`
which wires every handler (grading.py and actions.py hold the longer flows)."""
from __future__ import annotations

import logging
from pathlib import Path

from telegram import InputFile, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

import difflib

from hankebot.bot import actions, decisions, grading, last_act
from hankebot.bot.bid_list import do_bids
from hankebot.bot.common import abort_step, actor, call_service, cb, drop_keyboard, get_ctx, keyboard, pick_procurement, reply, sealed_info
from hankebot.bot.outbox_worker import release_held
from hankebot.bot.replies import HELP, missing_text, results_text, status_text
from hankebot.bot.texts import clip, esc
from hankebot.core.et_format import datetime_et
from hankebot.service.status import procurement_status

log = logging.getLogger(__name__)


async def cmd_help(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, tg, HELP)


def _with_proc(cmd: str, fn):
    """A command handler that resolves the procurement (argument, the only one, or a keyboard)."""

    async def handler(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
        key, args = await pick_procurement(update, tg, cmd, list(tg.args or []))
        if key is None:
            return
        if args:  # a reference that names no procurement: say so, never answer about another one
            await reply(update, tg, unknown_procurement(get_ctx(tg), args[0]))
            return
        await fn(update, tg, key, args)

    return handler


def unknown_procurement(ctx, arg: str) -> str:
    refs = ", ".join(p.reference for p in ctx.settings.procurements) or "—"
    return f"Hanget „{esc(clip(arg, 60))}“ pole. Hanked: {esc(refs)}."


async def do_status(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    st = procurement_status(get_ctx(tg), key)
    await reply(update, tg, status_text(st))


async def do_missing(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    await reply(update, tg, missing_text(procurement_status(get_ctx(tg), key)))


def _inbound_lines(tg: ContextTypes.DEFAULT_TYPE, key: str, kind: str, heading: str, empty: str,
                   excerpts: bool) -> tuple[list[str], int, bool]:
    """The procurement's inbound messages of one kind as reply lines; also its id and whether any exist."""
    ctx = get_ctx(tg)
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        bidders = uow.repo.bidders(p.id, active_only=False)
        names = {b.id: b.name for b in bidders}
        by_email = {(b.email or "").lower(): b.name for b in bidders}
        rows = uow.repo.inbound_for(p.id, kind)
        lines = [f"{heading} · hange {esc(p.reference)}</b>"]
        if not rows:
            lines.append(empty)
        for m in rows:
            who = names.get(m.bidder_id) or by_email.get((m.sender or "").lower()) or m.sender or "?"
            lines.append(f"• {datetime_et(ctx.local(m.received_at))} {esc(who)}: {esc(clip(m.subject or '', 200))}")
            excerpt = (m.summary or {}).get("excerpt") if excerpts else None
            if excerpt:
                lines.append(f"  <i>{esc(clip(str(excerpt), 500))}</i>")
        return lines, p.id, bool(rows)


async def do_questions(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    lines, pid, any_ = _inbound_lines(tg, key, "question", "❓ <b>Küsimused", "Küsimusi pole.", excerpts=True)
    markup = keyboard([[("Vasta kõigile", cb("cl", pid))]]) if any_ else None
    await reply(update, tg, "\n".join(lines), markup)


async def do_auto(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    """Auto-replies (out-of-office and the like) are never pushed; this lists them on request."""
    lines, _, _ = _inbound_lines(tg, key, "auto_reply", "🤖 <b>Automaatsed vastused", "Automaatseid vastuseid pole.",
                                 excerpts=False)
    await reply(update, tg, "\n".join(lines))


async def cmd_other(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Mail that is no procurement's event (colleagues, newsletters, notices, other procurements' mail) is
    stored but never pushed; this lists the newest on request."""
    ctx = get_ctx(tg)
    with ctx.uow() as uow:
        total, rows = uow.repo.inbound_other(limit=20)
        lines = [f"✉️ <b>Muud kirjad</b> (hanke sündmused need ei ole): {total}"]
        if not rows:
            lines.append("Muid kirju pole.")
        for m in rows:
            lines.append(f"• {datetime_et(ctx.local(m.received_at))} {esc(m.sender or '?')}: "
                         f"{esc(clip(m.subject or '', 120))}")
        if total > len(rows):
            lines.append(f"… ja veel {total - len(rows)} vanemat.")
    await reply(update, tg, "\n".join(lines))


async def do_results(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    ctx = get_ctx(tg)
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, f"🔒 Pakkumused on suletud kuni {datetime_et(opens)}; tulemusi veel pole.")
        return
    from hankebot.service import evaluation

    try:
        res = await call_service(evaluation.results, ctx, key)
    except evaluation.Sealed as e:
        await reply(update, tg, f"🔒 Pakkumused on suletud kuni {datetime_et(e.opens_at)}; tulemusi veel pole.")
        return
    await reply(update, tg, results_text(ctx.proc_settings(key).reference, res))


async def do_protocol(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, args: list[str]) -> None:
    ctx = get_ctx(tg)
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, f"🔒 Pakkumused on suletud kuni {datetime_et(opens)}; protokolli veel pole.")
        return
    from hankebot.service import evaluation, report

    await tg.bot.send_chat_action(update.effective_chat.id, "upload_document")
    try:
        files = await call_service(report.write_report, ctx, key, actor=actor(update))
    except evaluation.Sealed as e:
        await reply(update, tg, f"🔒 Pakkumused on suletud kuni {datetime_et(e.opens_at)}.")
        return
    chat = update.effective_chat.id
    for path in (files.xlsx, files.pdf):
        p = Path(path)
        await tg.bot.send_document(chat, InputFile(p.read_bytes(), filename=p.name),
                                   caption=f"Hindamise protokoll · hange {esc(key)}")
    chart = getattr(files, "chart_png", None) or getattr(files, "chart", None)
    if chart and Path(chart).is_file():
        await tg.bot.send_photo(chat, InputFile(Path(chart).read_bytes(), filename=Path(chart).name),
                                caption="Koondpunktid")


async def cmd_held(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Notifications whose delivery is unknown (interrupted or timed out): list, offer to resend."""
    ctx = get_ctx(tg)
    with ctx.uow() as uow:
        rows = uow.repo.notifications(state="held")
    if not rows:
        await reply(update, tg, "Teadmata saatusega teateid pole.")
        return
    lines = ["Need teated võisid kohale jõuda või mitte (saatmine katkes):"]
    for r in rows[:30]:
        first = clip(r.text.split("\n", 1)[0], 120)
        lines.append(f"• #{r.id} {datetime_et(ctx.local(r.created_at))}: {esc(first)}")
    await reply(update, tg, "\n".join(lines), keyboard([[("Saada kõik uuesti", "hr:all"), ("Jäta", "x")]]))


async def on_held_resend(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    n = release_held(get_ctx(tg))
    await reply(update, tg, f"Uuesti saatmiseks järjekorras: {n} teadet.")


COMMANDS = {
    "status": do_status,
    "bids": do_bids,
    "missing": do_missing,
    "questions": do_questions,
    "auto": do_auto,
    "results": do_results,
    "protocol": do_protocol,
    "grade": grading.cmd_grade,
    "remind": actions.cmd_remind,
    "clarify": actions.cmd_clarify,
    "extend": actions.cmd_extend,
    "decide": last_act.cmd_decide,
}


async def on_pick(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """The procurement chooser: "p:<cmd>:<procurement id>" (also p:accept / p:reject)."""
    q = update.callback_query
    await q.answer()
    ctx = get_ctx(tg)
    try:
        _, cmd, pid = (q.data or "").split(":")
        from hankebot.bot.common import proc_key_of

        key = proc_key_of(ctx, int(pid))
    except ValueError:
        return
    if key is None:
        return
    if cmd in ("accept", "reject"):
        await decisions.list_problem_bids(update, tg, key, cmd == "accept")
    elif cmd in COMMANDS:
        await COMMANDS[cmd](update, tg, key, [])


async def on_text(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text answers what the bot asked last (justification, reason, clarification, date)."""
    state = tg.user_data.get("awaiting")
    if not state:
        await reply(update, tg, "Ma ei oodanud praegu teksti. Käsud: /help")
        return
    handler = {"grade": grading.on_grade_text, "decide": decisions.on_decide_text,
               "clarify": actions.on_clarify_text, "extend": actions.on_extend_text}.get(state.get("kind"))
    if handler is None:
        tg.user_data.pop("awaiting", None)
        return
    await handler(update, tg, state)


async def on_error(update: object, tg: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("bot handler failed: %s", tg.error, exc_info=tg.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await tg.bot.send_message(update.effective_chat.id, "Midagi läks valesti; viga on logitud. Proovi uuesti.")
        except Exception:  # the error path must not raise
            pass


async def on_unknown_command(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Any command no handler took: the closest known one and /help."""
    word = (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    known = [c for c, _ in BOT_COMMANDS] + ["start"]
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    hint = f" Kas mõtlesid /{close[0]}?" if close else ""
    await reply(update, tg, f"Käsku /{esc(clip(word, 40))} pole.{hint} Kõik käsud: /help")


BOT_COMMANDS = [
    ("status", "ülevaade"), ("bids", "pakkumused"), ("bid", "pakkumuse kaart"), ("missing", "puudu"), ("questions", "küsimused"), ("auto", "automaatsed vastused"),
    ("other", "muud kirjad"),
    ("grade", "hindamine"), ("accept", "probleemiga pakkumus vastu"), ("reject", "probleemiga pakkumus tagasi"),
    ("results", "tulemused"), ("protocol", "protokoll"), ("remind", "meeldetuletus"), ("clarify", "selgitus kõigile"),
    ("extend", "tähtaja pikendamine"), ("held", "teadmata saatusega teated"), ("decide", "otsus ja kirjad pakkujatele"), ("cancel", "katkesta samm; /cancel HANGE PÕHJUS tühistab hanke"), ("stop", "katkesta samm"), ("help", "abi"),
]


def register(app: Application) -> None:
    """Add every staff handler (the gate is installed separately, in group -1)."""
    app.add_handler(CommandHandler(["help", "start"], cmd_help))
    app.add_handler(CommandHandler("cancel", last_act.cmd_cancel_or_stop))  # with arguments: the procurement
    app.add_handler(CommandHandler("stop", abort_step))
    app.add_handler(CommandHandler("other", cmd_other))
    for name, fn in COMMANDS.items():
        if name in ("grade", "remind", "clarify", "extend", "decide"):
            app.add_handler(CommandHandler(name, fn))  # they pick the procurement themselves
        else:
            app.add_handler(CommandHandler(name, _with_proc(name, fn)))
    app.add_handler(CommandHandler("accept", decisions.cmd_accept))
    app.add_handler(CommandHandler("reject", decisions.cmd_reject))
    app.add_handler(CommandHandler("bid", grading.cmd_bid))
    app.add_handler(CommandHandler("held", cmd_held))
    app.add_handler(CallbackQueryHandler(on_pick, pattern=r"^p:"))
    app.add_handler(CallbackQueryHandler(grading.on_grade_callback, pattern=r"^(gb|gc|ga|g):"))
    app.add_handler(CallbackQueryHandler(decisions.on_decide_callback, pattern=r"^(da|dr):"))
    app.add_handler(CallbackQueryHandler(actions.on_remind_confirm, pattern=r"^rm:"))
    app.add_handler(CallbackQueryHandler(actions.on_clarify_start, pattern=r"^cl:"))
    app.add_handler(CallbackQueryHandler(actions.on_clarify_confirm, pattern=r"^cs:"))
    app.add_handler(CallbackQueryHandler(actions.on_extend_confirm, pattern=r"^ex:"))
    app.add_handler(CallbackQueryHandler(on_held_resend, pattern=r"^hr:"))
    app.add_handler(CallbackQueryHandler(last_act.on_decide_confirm, pattern=r"^dc:"))
    app.add_handler(CallbackQueryHandler(last_act.on_cancel_confirm, pattern=r"^cx:"))
    app.add_handler(CallbackQueryHandler(last_act.on_no_bids_button, pattern=r"^(nc|ne):"))
    app.add_handler(CallbackQueryHandler(actions.on_cancel_button, pattern=r"^x$"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(filters.COMMAND, on_unknown_command))
    app.add_error_handler(on_error)
