"""The allow-list in front of every handler: only configured staff get answers.

`install_gate(app, ctx)` adds a TypeHandler in group -1. For a callback query the user who PRESSED the
button is checked (not the chat), so a stranger in a group cannot use a staff message's buttons.
A stranger gets a polite refusal, no data, and an audit row ("telegram:<uid>", "refused").
"""
from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from hankebot.bot.texts import REFUSAL
from hankebot.service.config_service import StaffMember
from hankebot.service.context import Context

log = logging.getLogger(__name__)


def staff_member(ctx: Context, user_id: int | None) -> StaffMember | None:
    """The configured staff member with this Telegram user id, else None."""
    if user_id is None:
        return None
    for m in ctx.settings.telegram.staff:
        if m.user_id == user_id:
            return m
    return None


def actor_of(user_id: int) -> str:
    return f"telegram:{user_id}"


def make_gate(ctx: Context):
    async def gate(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        member = staff_member(ctx, user.id if user else None)
        if member is not None:
            return
        if user is None:  # channel posts and the like: nobody to answer
            raise ApplicationHandlerStop
        uid = user.id
        what = "callback" if update.callback_query else "message" if update.effective_message else "other"
        with ctx.uow() as uow:
            uow.repo.audit(actor_of(uid), "refused",
                           chat_id=update.effective_chat.id if update.effective_chat else None, update=what)
            uow.commit()
        log.info("refused Telegram update from user %s (%s)", uid, what)
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(REFUSAL, show_alert=True)
            elif update.effective_message is not None and update.effective_chat is not None:
                await update.effective_message.reply_text(REFUSAL, do_quote=False)
        except TelegramError as e:  # a refusal that cannot be delivered is not worth a crash
            log.warning("could not deliver refusal: %s", e)
        raise ApplicationHandlerStop

    return gate


def install_gate(app: Application, ctx: Context) -> None:
    app.add_handler(TypeHandler(Update, make_gate(ctx)), group=-1)
