"""A real python-telegram-bot Application polling the Telegram stand-in."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from hankebot.devstack.telegram_api import FakeTelegramAPI

CHAT = 7001


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(CHAT, first_name="Mari")
        yield server


def build_app(api: FakeTelegramAPI) -> Application:
    return (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .connect_timeout(1.0)
        .read_timeout(2.0)
        .get_updates_connect_timeout(1.0)
        .get_updates_read_timeout(2.0)
        .build()
    )


@asynccontextmanager
async def polling(app: Application):
    """Run the app with short long-polls and stop it cleanly."""
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_start_command_gets_a_reply(api):
    app = build_app(api)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_html(f"Tere, <b>{update.effective_user.first_name}</b>!", do_quote=True)

    app.add_handler(CommandHandler("start", start))
    async with polling(app):
        api.user_sends(CHAT, CHAT, "/start")
        reply = await api.wait_for_message(CHAT, timeout=5)
    assert reply["text"] == "Tere, Mari!"
    assert reply["entities"] == [{"type": "bold", "offset": 6, "length": 4}]
    assert reply["reply_to_message"]["text"] == "/start"
    # the update was confirmed with an offset: nothing is left pending
    assert api.pending_updates() == []
    assert api.requests_for("deleteWebhook"), "start_polling bootstraps with deleteWebhook"


async def test_callback_press_reaches_handler_and_is_answered(api):
    app = build_app(api)
    seen: list[str] = []

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Kinnita", callback_data="confirm:302834")]])
        await update.message.reply_text("Kas saadan kutse?", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.callback_query.data)
        await update.callback_query.answer("Saadetud")
        await update.callback_query.edit_message_text("Kutse saadetud.")

    app.add_handler(CommandHandler("kutse", ask))
    app.add_handler(CallbackQueryHandler(pressed))
    async with polling(app):
        api.user_sends(CHAT, CHAT, "/kutse")
        question = await api.wait_for_message(CHAT, timeout=5)
        query_id = api.user_presses(CHAT, CHAT, question["message_id"], "confirm:302834")
        await api.wait_until(lambda: api.callback_answers, timeout=5)
        edited = await api.wait_until(
            lambda: [m for m in api.sent_messages(CHAT) if m["edit_count"]], timeout=5)
    assert seen == ["confirm:302834"]
    assert api.callback_answers[0]["callback_query_id"] == query_id
    assert api.callback_answers[0]["text"] == "Saadetud"
    assert edited[0]["text"] == "Kutse saadetud." and "reply_markup" not in edited[0]


async def test_pressing_a_missing_button_is_a_test_error(api):
    app = build_app(api)
    async with app:
        msg = await app.bot.send_message(CHAT, "ilma nuputa")
        with pytest.raises(ValueError):
            api.user_presses(CHAT, CHAT, msg.message_id, "nope")
        # an unknown query id is rejected like the real API
        with pytest.raises(BadRequest, match="Query is too old"):
            await app.bot.answer_callback_query("12345")


async def test_polling_survives_an_outage(api):
    app = build_app(api)
    errors: list[BaseException] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"vastus: {update.message.text}")

    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1, error_callback=errors.append)
        try:
            api.user_sends(CHAT, CHAT, "/start 1")
            assert (await api.wait_for_message(CHAT, timeout=5))["text"] == "vastus: /start 1"
            await api.go_down()
            api.user_sends(CHAT, CHAT, "/start 2")  # arrives while the bot cannot reach the server
            await asyncio.sleep(0.5)
            await api.come_up()
            # PTB backs off after network errors (up to 30 s in theory; ~1-2 s here)
            assert (await api.wait_for_message(CHAT, timeout=15))["text"] == "vastus: /start 2"
            assert errors, "the outage must have been seen by the polling loop"
            assert all(type(e).__name__ in ("NetworkError", "TimedOut") for e in errors), errors
        finally:
            await app.updater.stop()
            await app.stop()
