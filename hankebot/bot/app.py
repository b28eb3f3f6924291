"""The Telegram application: build it, start and stop polling, and `run_bot` for `hankebot run`
(polling + the notification outbox worker; without a token only the console outbox worker)."""
from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults

from hankebot.bot.gate import install_gate
from hankebot.bot.handlers import BOT_COMMANDS, register
from hankebot.bot.outbox_worker import TelegramSender, run_outbox
from hankebot.bot.persistence import DbPersistence
from hankebot.service.context import Context

log = logging.getLogger(__name__)


def build_application(ctx: Context, token: str, base_url: str | None = None,
                      base_file_url: str | None = None, outbound_opts: object | None = None) -> Application:
    """A PTB Application with the staff gate (group -1) and every handler. User and chat data persist in
    our database (bot/persistence.py), so a flow in progress survives a restart; AIORateLimiter keeps
    bursts within Telegram's limits (429s still reach the caller: the outbox worker retries them).
    HTML is the default parse mode.
    `outbound_opts`: a service.send_engine.OutboundOptions base for /remind and /clarify (the demo's)."""
    builder = (ApplicationBuilder().token(token).defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=ctx.cfg.tz))
               .persistence(DbPersistence(ctx.engine)).rate_limiter(AIORateLimiter(max_retries=0)))
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    app = builder.build()
    app.bot_data["ctx"] = ctx
    if outbound_opts is not None:
        app.bot_data["outbound_opts"] = outbound_opts
    install_gate(app, ctx)
    register(app)
    return app


async def start_application(app: Application, poll_timeout: float = 10.0, poll_interval: float = 0.0) -> None:
    """initialize + start + long polling (pending updates are kept: a restart answers what came meanwhile)."""
    await app.initialize()
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in BOT_COMMANDS])
    except TelegramError as e:  # the command menu is a nicety
        log.warning("could not set the bot's command list: %s", e)
    await app.updater.start_polling(poll_interval=poll_interval, timeout=int(poll_timeout), drop_pending_updates=False)
    await app.start()


async def stop_application(app: Application) -> None:
    """Stop polling and the application (safe to call on a partly started one)."""
    try:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
    finally:
        await app.shutdown()


async def _wait(stop_event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop_event.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def run_bot(ctx: Context, stop_event: asyncio.Event, poll_timeout: float = 10.0,
                  outbox_poll_seconds: float = 1.0, start_retry_seconds: float = 2.0) -> None:
    """Run until `stop_event` is set (or the task is cancelled). With no token configured, only the
    console outbox worker runs (every row is printed, staff chats' too). A refused token prints chat-0 rows
    only; staff rows wait for a working token. If Telegram is
    unreachable at start, it keeps trying with back-off while the outbox rows stay pending."""
    tcfg = ctx.settings.telegram
    token = ctx.cfg.secret(tcfg.token_secret)
    if not token:
        log.info("no Telegram token configured: every notification is printed to the console")
        await run_outbox(ctx, None, stop_event, poll_seconds=outbox_poll_seconds, console_all=True)
        return
    delay = start_retry_seconds
    while not stop_event.is_set():
        app = build_application(ctx, token, tcfg.base_url, tcfg.base_file_url)
        try:
            await start_application(app, poll_timeout=poll_timeout)
        except InvalidToken:
            log.error("the Telegram token was refused; the bot does not start (notifications stay pending)")
            await app.shutdown()
            await run_outbox(ctx, None, stop_event, poll_seconds=outbox_poll_seconds)
            return
        except (NetworkError, OSError) as e:
            log.warning("Telegram unreachable at start (%s); retrying in %.0f s", e, delay)
            try:
                await stop_application(app)
            except Exception:  # noqa: BLE001 - best effort clean-up of a half-started app
                pass
            await _wait(stop_event, delay)
            delay = min(delay * 2, 120.0)
            continue
        try:
            await run_outbox(ctx, TelegramSender(app.bot), stop_event, poll_seconds=outbox_poll_seconds)
        finally:
            await stop_application(app)
        return


async def run_frontend(ctx: Context, stop_event: asyncio.Event) -> None:
    """What `hankebot run` and the demo start next to the service: the bot with its outbox worker; with no
    token, the console outbox worker printing every notification (staff chats' rows too). The worker is woken
    when this process commits an event; its 2 s poll only picks up rows another process (a CLI command) added."""
    await run_bot(ctx, stop_event, outbox_poll_seconds=2.0)
