"""Staff actions that reach bidders or move the deadline, always after an explicit confirmation button.

/remind  -> list of silent invitees + [Saada] ("rm:<pid>") -> service.reminders.send_reminders(ctx, key, batch_label)
/clarify -> text -> preview + [Saada kõigile] ("cs:<pid>") -> service.clarifications.send_clarification(ctx, key, text, attachments=[])
           (also started by the "Vasta kõigile" button of a question notification: "cl:<pid>")
/extend  -> "/extend [key] 26.01.2026 15:00" (or the date as text) -> [Kinnita] ("ex:<pid>:<epoch>")
           -> service.deadline.extend_deadline(ctx, key, new_deadline, actor)
"x" cancels any pending confirmation.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

from telegram import Update
from telegram.ext import ContextTypes

from hankebot.bot.common import (
    actor,
    call_service,
    cb,
    drop_keyboard,
    get_ctx,
    keyboard,
    resolve_procurement,
    proc_id,
    proc_key_of,
    reply,
)
from hankebot.bot.errors import et_error
from hankebot.bot.texts import clip, esc
from hankebot.core.et_format import datetime_et
from hankebot.service.status import procurement_status

_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(?:kell\s+)?(\d{1,2})[.:](\d{2}))?\s*$")


def _outbound_opts(update: Update, tg: ContextTypes.DEFAULT_TYPE):
    """OutboundOptions with the staff member as actor (bot_data["outbound_opts"] may hold a base, e.g. the demo's)."""
    from hankebot.service.send_engine import OutboundOptions

    base = tg.application.bot_data.get("outbound_opts")
    return dataclasses.replace(base, actor=actor(update)) if base is not None else OutboundOptions(actor=actor(update))


def report_text(res: object, done: str) -> str:
    """A SendReport (or anything) as a short HTML reply."""
    fmt = getattr(res, "format_et", None)
    if callable(fmt):
        ok = getattr(res, "ok", True)
        try:
            text = fmt(with_state=False)  # the procurement's state is /status's business, not this reply's
        except TypeError:
            text = fmt()
        return ("✅ " if ok else "⚠️ ") + esc(text)
    return "✅ " + esc(done)


async def _service_missing(update: Update, tg: ContextTypes.DEFAULT_TYPE, what: str) -> None:
    await reply(update, tg, f"See tegevus ({esc(what)}) pole selles paigalduses veel saadaval.")


# ---------------------------------------------------------------- /remind


async def cmd_remind(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                     args: list[str] | None = None) -> None:
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "remind", key, args)
    if key is None:
        return
    st = procurement_status(ctx, key)
    if st.state not in ("invited", "open") or st.time_left.total_seconds() <= 0:
        await reply(update, tg, "Meeldetuletust ei saa saata: pakkumusi enam ei oodata.")
        return
    silent = st.silent
    if not silent:
        await reply(update, tg, "Kõik kutsutud on vastanud; meeldetuletust pole vaja.")
        return
    lines = [f"📨 Meeldetuletus hankes {esc(st.reference)} läheb neile, kes pole vastanud ({len(silent)}):"]
    lines += [f"• {esc(b.name)} ({esc(b.email)})" for b in silent]
    lines.append(f"Tähtaeg: {datetime_et(st.deadline)}. Kas saadan?")
    pid = proc_id(ctx, key)
    await reply(update, tg, "\n".join(lines), keyboard([[("Saada meeldetuletus", cb("rm", pid)), ("Loobu", "x")]]))


async def on_remind_confirm(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    ctx = get_ctx(tg)
    key = proc_key_of(ctx, int((q.data or "rm:0").split(":")[1] or 0))
    if key is None:
        return
    try:
        from hankebot.service.reminders import send_reminders
    except ImportError:
        await _service_missing(update, tg, "meeldetuletus")
        return
    label = "telegram-" + ctx.local(ctx.now()).strftime("%Y%m%d-%H%M")
    try:
        res = await call_service(send_reminders, ctx, key, label, opts=_outbound_opts(update, tg))
    except Exception as e:  # the service says why (lifecycle, SMTP); the expert sees it
        await reply(update, tg, f"Meeldetuletust ei saadetud: {et_error(e)}")
        return
    await reply(update, tg, report_text(res, "Meeldetuletus saadetud."))


# ---------------------------------------------------------------- /clarify


async def cmd_clarify(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                      args: list[str] | None = None, question: int | None = None) -> None:
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "clarify", key, args)
    if key is None:
        return
    pid = proc_id(ctx, key)
    text = " ".join(args or []).strip()
    if text:
        await _clarify_preview(update, tg, pid, key, text, question)
        return
    tg.user_data["awaiting"] = {"kind": "clarify", "pid": pid, "question": question}
    await reply(update, tg, f"✍️ Selgitus hankes {esc(key)}: kirjuta tekst. See läheb kõigile kutsutud pakkujatele "
                            "ühtemoodi (küsija nime ei avaldata). Katkestamiseks /cancel.")


async def on_clarify_start(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """The "Vasta kõigile" button of a question notification ("cl:<pid>")."""
    q = update.callback_query
    await q.answer()
    ctx = get_ctx(tg)
    parts = (q.data or "").split(":")
    try:
        key = proc_key_of(ctx, int(parts[1]))
        question = int(parts[2]) if len(parts) > 2 else None
    except (IndexError, ValueError):
        return
    if key is None:
        return
    await cmd_clarify(update, tg, key, [], question)


async def _clarify_preview(update: Update, tg: ContextTypes.DEFAULT_TYPE, pid: int, key: str, text: str,
                           question: int | None = None) -> None:
    tg.user_data.pop("awaiting", None)
    tg.user_data["clarify"] = {"pid": pid, "text": text, "question": question}
    warn = _short_deadline_warning(get_ctx(tg), key)
    await reply(update, tg, f"Selgitus hankes {esc(key)} kõigile pakkujatele:\n\n<i>{esc(clip(text, 3000))}</i>\n\n"
                + (f"⚠️ {esc(warn)}\n\n" if warn else "") + "Kas saadan?",
                keyboard([[("Saada kõigile", cb("cs", pid)), ("Loobu", "x")]]))


def _short_deadline_warning(ctx, key: str) -> str | None:
    """The clarification-too-late warning, in the preview (before she confirms), not only after sending."""
    from hankebot.core.workdays import working_days_between

    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        deadline = p.deadline if p else None
    if deadline is None or ctx.now() >= deadline:
        return None
    min_days = ctx.proc_settings(key).reminders.min_clarification_working_days
    left = working_days_between(ctx.local(ctx.now()), ctx.local(deadline))
    if left >= min_days:
        return None
    return (f"Tähtajani on jäänud {left} tööpäeva (soovitatav vähemalt {min_days}): kaaluge enne saatmist tähtaja "
            "pikendamist (/extend).")


async def on_clarify_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    ctx = get_ctx(tg)
    text = (update.effective_message.text or "").strip()
    key = proc_key_of(ctx, state["pid"])
    if not text or key is None:
        return
    await _clarify_preview(update, tg, state["pid"], key, text, state.get("question"))


async def on_clarify_confirm(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    ctx = get_ctx(tg)
    pid = int((q.data or "cs:0").split(":")[1] or 0)
    pending = tg.user_data.get("clarify")
    if not pending or pending["pid"] != pid:
        await reply(update, tg, "Selgituse tekst on kadunud; alusta uuesti: /clarify")
        return
    key = proc_key_of(ctx, pid)
    try:
        from hankebot.service.clarifications import send_clarification
    except ImportError:
        await _service_missing(update, tg, "selgitus")
        return
    kw = {"answers_inbound_id": pending["question"]} if pending.get("question") else {}
    try:
        res = await call_service(send_clarification, ctx, key, pending["text"], attachments=[],
                                 opts=_outbound_opts(update, tg), **kw)
    except Exception as e:  # shown to the expert; nothing was confirmed as sent
        await reply(update, tg, f"Selgitust ei saadetud: {et_error(e)}")
        return
    tg.user_data.pop("clarify", None)
    await reply(update, tg, report_text(res, "Selgitus saadetud."))


# ---------------------------------------------------------------- /extend


def parse_local_datetime(text: str, tz, default_hour: int, default_minute: int) -> datetime | None:
    """'26.01.2026 15:00', '26.01.2026 kell 15.00' or '26.01.2026' (then the current deadline's time)."""
    m = _DATE.match(text or "")
    if not m:
        return None
    d, mo, y, h, mi = m.groups()
    try:
        return datetime(int(y), int(mo), int(d), int(h) if h else default_hour, int(mi) if mi else default_minute,
                        tzinfo=tz)
    except ValueError:
        return None


async def cmd_extend(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                     args: list[str] | None = None) -> None:
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "extend", key, args)
    if key is None:
        return
    pid = proc_id(ctx, key)
    text = " ".join(args or []).strip()
    if not text:
        tg.user_data["awaiting"] = {"kind": "extend", "pid": pid}
        await reply(update, tg, "Kirjuta uus tähtaeg kujul <code>26.01.2026 15:00</code>. Katkestamiseks /cancel.")
        return
    await _extend_preview(update, tg, pid, key, text)


async def _extend_preview(update: Update, tg: ContextTypes.DEFAULT_TYPE, pid: int, key: str, text: str) -> None:
    ctx = get_ctx(tg)
    with ctx.uow() as uow:
        old = ctx.local(uow.repo.procurement(key).deadline)
    new = parse_local_datetime(text, ctx.cfg.tz, old.hour, old.minute)
    if new is None:
        tg.user_data["awaiting"] = {"kind": "extend", "pid": pid}
        await reply(update, tg, "Ei saanud kuupäevast aru. Kirjuta kujul <code>26.01.2026 15:00</code>.")
        return
    tg.user_data.pop("awaiting", None)
    if new <= old:
        await reply(update, tg, f"Uus tähtaeg peab olema hilisem kui praegune ({datetime_et(old)}).")
        return
    epoch = int(new.astimezone(timezone.utc).timestamp())
    await reply(update, tg, f"Hanke {esc(key)} tähtaeg: {datetime_et(old)} → <b>{datetime_et(new)}</b>. Kinnitad?",
                keyboard([[("Kinnita", cb("ex", pid, epoch)), ("Loobu", "x")]]))


async def on_extend_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    ctx = get_ctx(tg)
    key = proc_key_of(ctx, state["pid"])
    if key is None:
        return
    await _extend_preview(update, tg, state["pid"], key, update.effective_message.text or "")


async def on_extend_confirm(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    await drop_keyboard(update)
    ctx = get_ctx(tg)
    try:
        _, pid, epoch = (q.data or "").split(":")
        key = proc_key_of(ctx, int(pid))
        new = datetime.fromtimestamp(int(epoch), tz=timezone.utc).astimezone(ctx.cfg.tz)
    except ValueError:
        return
    if key is None:
        return
    from hankebot.service.deadline import extend_deadline

    try:
        res = await call_service(extend_deadline, ctx, key, new, actor(update))
    except Exception as e:  # LifecycleError etc.: the reason goes to the expert
        await reply(update, tg, f"Tähtaega ei muudetud: {et_error(e)}")
        return
    when = ctx.local(res) if isinstance(res, datetime) else new
    await reply(update, tg, f"✅ Hanke {esc(key)} uus tähtaeg on {datetime_et(when)}.")


async def on_cancel_button(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer("Katkestatud")
    await drop_keyboard(update)
    tg.user_data.pop("clarify", None)
    tg.user_data.pop("awaiting", None)
