"""Shared helpers of the bot handlers: the service context, replies that fit Telegram's limits,
choosing a procurement, staff identity and calling service functions off the event loop."""
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from hankebot.bot.gate import actor_of, staff_member
from hankebot.bot.texts import MAX_CAPTION, MAX_PARTS_AS_MESSAGES, esc, split_html, strip_html
from hankebot.core.sealing import is_sealed, opening_time
from hankebot.service.context import Context

MAX_CALLBACK = 64  # bytes of callback_data


def get_ctx(tg: ContextTypes.DEFAULT_TYPE) -> Context:
    return tg.application.bot_data["ctx"]


def cb(*parts: object) -> str:
    """callback_data from parts joined by ':' (checked against Telegram's 64-byte limit)."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode("utf-8")) > MAX_CALLBACK:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline keyboard from rows of (label, callback_data)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows])


async def reply(update: Update, tg: ContextTypes.DEFAULT_TYPE, text: str,
                markup: InlineKeyboardMarkup | None = None) -> None:
    """Send HTML to the update's chat: one message, several split on lines, or a .txt document when long.
    The keyboard goes on the last message."""
    chat_id = update.effective_chat.id
    chunks = split_html(text)
    if chunks is None or len(chunks) > MAX_PARTS_AS_MESSAGES:
        plain = strip_html(text)
        first = esc(plain.split("\n", 1)[0][:200])
        await tg.bot.send_document(chat_id, InputFile(plain.encode("utf-8"), filename="vastus.txt"),
                                   caption=(first + "\n(Pikk vastus, vaata faili.)")[:MAX_CAPTION],
                                   parse_mode=ParseMode.HTML, reply_markup=markup)
        return
    for i, c in enumerate(chunks):
        await tg.bot.send_message(chat_id, c, parse_mode=ParseMode.HTML,
                                  reply_markup=markup if i == len(chunks) - 1 else None)


def actor(update: Update) -> str:
    """Audit actor: "telegram:<user id>"."""
    return actor_of(update.effective_user.id)


def grader_name(ctx: Context, update: Update) -> str:
    """Who grades or decides, as the protocol shows it: the staff member's configured name."""
    m = staff_member(ctx, update.effective_user.id)
    return m.name if m else actor(update)


async def call_service(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Await an async service function; run a sync one in a worker thread (SMTP, reports)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kw)
    res = await asyncio.to_thread(fn, *args, **kw)
    if inspect.isawaitable(res):
        return await res
    return res


def procurement_keys(ctx: Context) -> list[str]:
    return [p.key for p in ctx.settings.procurements]


def proc_id(ctx: Context, key: str) -> int | None:
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        return p.id if p else None


def proc_key_of(ctx: Context, pid: int) -> str | None:
    with ctx.uow() as uow:
        p = uow.repo.procurement_by_id(pid)
        return p.key if p else None


def sealed_info(ctx: Context, key: str) -> tuple[bool, Any]:
    """(sealed now?, local opening time) from the database row (the deadline may have been extended)."""
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        return (is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes),
                ctx.local(opening_time(p.deadline, p.opening_delay_minutes)))


async def resolve_procurement(update: Update, tg: ContextTypes.DEFAULT_TYPE, cmd: str, key: str | None,
                              args: list[str] | None) -> tuple[str | None, list[str]]:
    """A command's procurement: the one already chosen (from the keyboard), else picked from the command's
    own arguments (see pick_procurement; None means a keyboard was sent)."""
    if key is not None:
        return key, list(args or [])
    return await pick_procurement(update, tg, cmd, list(tg.args or []))


async def pick_procurement(update: Update, tg: ContextTypes.DEFAULT_TYPE, cmd: str,
                           args: list[str]) -> tuple[str | None, list[str]]:
    """The procurement a command is about: the first argument when it names one, the only one when
    there is one; otherwise a keyboard is sent ("p:<cmd>:<id>") and (None, args) returned."""
    ctx = get_ctx(tg)
    keys = procurement_keys(ctx)
    if args:
        for ps in ctx.settings.procurements:
            if args[0] in (ps.key, ps.reference):
                return ps.key, args[1:]
    if len(keys) == 1:
        return keys[0], args
    if not keys:
        await reply(update, tg, "Ühtegi hanget pole seadistatud.")
        return None, args
    rows = []
    for k in keys:
        pid = proc_id(ctx, k)
        if pid is not None:
            rows.append([(f"Hange {k}", cb("p", cmd, pid))])
    await reply(update, tg, "Millise hanke kohta?", keyboard(rows))
    return None, args


async def abort_step(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """/stop (and /cancel alone): drop the step in progress (a typed justification, a clarification)."""
    had = tg.user_data.pop("awaiting", None) or tg.user_data.pop("clarify", None)
    await reply(update, tg, "Katkestatud." if had else "Pooleli tegevust polnud.")


async def drop_keyboard(update: Update) -> None:
    """Remove the buttons of the pressed message, so a confirmation cannot be pressed twice."""
    q = update.callback_query
    if q is not None and q.message is not None:
        try:
            await q.edit_message_reply_markup(None)
        except TelegramError:
            pass
