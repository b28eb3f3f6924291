"""The notification outbox worker: sends due `Notification` rows to Telegram (chat 0: the console).

Guarantee (at most once, never silently lost):
- A row is claimed (state 'sending', committed) before its first API call and marked 'sent' (committed)
  right after the last one. A long row is sent in steps (text chunks, files); the number of finished
  steps is committed after each step, so a retry continues where it stopped and never repeats a step.
- A failure where Telegram certainly did not take the message (429, an HTTP error answer, connection
  refused, connect/pool timeout) puts the row back to 'pending' with `next_attempt_at`: now + retry_after
  for 429, exponential back-off (5 s doubling, at most 2 min) otherwise. Other due rows are held back to the
  same moment so order is kept and a down API is not hammered. Rows wait through outages and restarts.
- An outcome that cannot be known (read timeout, connection dropped mid-request, a crash between the
  API call and the commit: rows found in 'sending' at start-up) puts the row in 'held' rather than risk
  a duplicate. Staff see held rows with /held and can send them again (`release_held`).
- A permanent refusal (400 other than an HTML parse error, 403 bot blocked) marks the row 'failed'.
  An HTML parse error is retried once as plain text.
Quiet rows (auto-replies) are never pushed (repository.due_notifications skips them).
"""
from __future__ import annotations

import asyncio
import html
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from hankebot.bot.console import ConsoleSender
from hankebot.bot.render import render
from hankebot.bot.texts import MAX_CAPTION, MAX_PARTS_AS_MESSAGES, clip, split_html, strip_html
from hankebot.service.context import Context
from hankebot.service.notify import CONSOLE_CHAT, outbox_wake
from hankebot.storage.tables import Notification
from hankebot.storage.uow import NOTIFICATIONS, announce

log = logging.getLogger(__name__)

BACKOFF_FIRST = 5.0
BACKOFF_MAX = 120.0


@dataclass
class Step:
    """One API call of a notification."""

    kind: str  # "text" | "textdoc" | "document" | "photo"
    text: str = ""  # message text or caption (HTML)
    path: str | None = None  # file for document/photo
    data: bytes | None = None  # content for textdoc
    filename: str | None = None
    buttons: list | None = None


def plan_steps(text: str, payload: dict) -> list[Step]:
    """The API calls a notification needs: text chunks (or one .txt document when long), then files.
    Buttons from payload["buttons"] ([[{"text", "data"}]]) go on the last text message."""
    steps: list[Step] = []
    chunks = split_html(text) if text.strip() else []
    buttons = payload.get("buttons") or None
    if chunks is None or len(chunks) > MAX_PARTS_AS_MESSAGES:
        plain = strip_html(text)
        first = clip(plain.split("\n", 1)[0], 200)
        steps.append(Step("textdoc", text=f"{html.escape(first)}\n(Pikk teade, vaata faili.)",
                          data=plain.encode("utf-8"), filename="teade.txt", buttons=buttons))
    else:
        for i, c in enumerate(chunks):
            steps.append(Step("text", text=c, buttons=buttons if i == len(chunks) - 1 else None))
    for key in ("documents", "document"):
        v = payload.get(key)
        for p in v if isinstance(v, list) else [v] if v else []:
            steps.append(Step("document", text=str(payload.get("caption") or ""), path=str(p)))
    if payload.get("photo"):
        steps.append(Step("photo", text=str(payload.get("photo_caption") or ""), path=str(payload["photo"])))
    if not steps:
        steps.append(Step("text", text="(tühi teade)"))
    return steps


def _markup(buttons: list | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row]
                                 for row in buttons])


class TelegramSender:
    """Performs one Step with a PTB Bot. Exceptions are PTB's; the worker classifies them."""

    def __init__(self, bot: Bot):
        self.bot = bot

    async def send_step(self, chat_id: int, step: Step, plain: bool = False) -> None:
        mode = None if plain else ParseMode.HTML
        text = strip_html(step.text) if plain else step.text
        markup = _markup(step.buttons)
        if step.kind == "text":
            await self.bot.send_message(chat_id, text, parse_mode=mode, reply_markup=markup)
        elif step.kind == "textdoc":
            await self.bot.send_document(chat_id, InputFile(step.data or b"", filename=step.filename),
                                         caption=text[:MAX_CAPTION], parse_mode=mode, reply_markup=markup)
        else:
            path = Path(step.path or "")
            data = path.read_bytes()  # OSError: the file is gone -> permanent failure
            caption = (text or None) and text[:MAX_CAPTION]
            if step.kind == "photo":
                await self.bot.send_photo(chat_id, InputFile(data, filename=path.name), caption=caption, parse_mode=mode)
            else:
                await self.bot.send_document(chat_id, InputFile(data, filename=path.name), caption=caption,
                                             parse_mode=mode)


class _Outcome:
    RETRY = "retry"
    AMBIGUOUS = "ambiguous"
    PERMANENT = "permanent"
    PARSE = "parse"


def classify(exc: BaseException) -> tuple[str, float | None]:
    """(outcome, retry_after seconds or None) for an exception raised while sending one step."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
            warnings.simplefilter("ignore")
            ra = exc.retry_after
        return _Outcome.RETRY, float(ra.total_seconds() if isinstance(ra, timedelta) else ra)
    if isinstance(exc, BadRequest):
        if "parse entities" in str(exc).lower():
            return _Outcome.PARSE, None
        return _Outcome.PERMANENT, None
    if isinstance(exc, (Forbidden, InvalidToken, OSError)):
        return _Outcome.PERMANENT, None
    if isinstance(exc, TimedOut):
        cause = exc.__cause__
        if isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout)) or "pool timeout" in str(exc).lower():
            return _Outcome.RETRY, None
        return _Outcome.AMBIGUOUS, None
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        if cause is None or not isinstance(cause, httpx.HTTPError):
            return _Outcome.RETRY, None  # the server answered with an HTTP error: not taken
        if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)):
            return _Outcome.RETRY, None
        return _Outcome.AMBIGUOUS, None  # dropped mid-request: it may have been delivered
    if isinstance(exc, TelegramError):  # e.g. "Invalid server response": the server answered oddly
        return _Outcome.RETRY, None
    return _Outcome.AMBIGUOUS, None


def backoff(attempts: int) -> float:
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def recover_interrupted(ctx: Context) -> int:
    """Rows left in 'sending' by a crash: their delivery is unknown, so they go to 'held' (never resent
    automatically). Call once before a worker starts. Returns how many."""
    with ctx.uow() as uow:
        rows = list(uow.session.exec(select(Notification).where(Notification.state == "sending")))
        for r in rows:
            r.state = "held"
            r.last_error = "saatmine katkes (taaskäivitus); võib olla kohale jõudnud"
            uow.session.add(r)
        uow.commit()
    return len(rows)


def release_held(ctx: Context, ids: list[int] | None = None) -> int:
    """Put held rows (all, or these ids) back to pending: staff decided to send them again."""
    with ctx.uow() as uow:
        q = update(Notification).where(Notification.state == "held")
        if ids is not None:
            q = q.where(col(Notification.id).in_(ids))
        n = uow.session.exec(q.values(state="pending", next_attempt_at=None)).rowcount  # type: ignore[call-overload]
        if n:
            announce(uow.session, NOTIFICATIONS)  # wakes this process's worker
        uow.commit()
    return int(n or 0)


def _claim(ctx: Context, nid: int) -> Notification | None:
    with ctx.uow() as uow:
        res = uow.session.exec(  # type: ignore[call-overload]
            update(Notification).where(Notification.id == nid, Notification.state == "pending").values(state="sending"))
        if res.rowcount != 1:
            return None
        uow.commit()
        return uow.session.get(Notification, nid)


def _finish(ctx: Context, nid: int, **values: Any) -> None:
    with ctx.uow() as uow:
        row = uow.session.get(Notification, nid)
        assert row is not None
        for k, v in values.items():
            setattr(row, k, v)
        uow.session.add(row)
        uow.commit()


def _save_progress(ctx: Context, nid: int, done: int) -> None:
    with ctx.uow() as uow:
        row = uow.session.get(Notification, nid)
        assert row is not None
        row.payload = {**(row.payload or {}), "_done": done}
        uow.session.add(row)
        uow.commit()


def _defer_due(ctx: Context, until: datetime) -> None:
    """Hold back every other due pending row to `until` (keeps order; no hammering a down API)."""
    now = ctx.now()
    with ctx.uow() as uow:
        uow.session.exec(  # type: ignore[call-overload]
            update(Notification)
            .where(Notification.state == "pending", Notification.quiet == False)  # noqa: E712
            .where((Notification.next_attempt_at == None) | (Notification.next_attempt_at < until))  # noqa: E711
            .where((Notification.next_attempt_at == None) | (Notification.next_attempt_at <= now))  # noqa: E711
            .values(next_attempt_at=until))
        uow.commit()


async def drain_once(ctx: Context, sender: TelegramSender | None, console: ConsoleSender | None = None,
                     limit: int = 50, console_all: bool = False) -> int:
    """Send the due pending rows once, oldest first. Returns how many rows were marked 'sent'.

    `sender` None: no bot. With `console_all` (no bot token configured) EVERY row is printed by `console`
    (stdout by default), staff chats' rows too; without it (a bot that cannot run, e.g. a refused token)
    only chat-0 rows are selected and printed, the rest stay pending until a bot runs. Either way the
    query selects only rows this call delivers. Stops at the first transient failure (see the module doc)."""
    console = console or ConsoleSender()
    chats = [CONSOLE_CHAT] if sender is None and not console_all else None
    with ctx.uow() as uow:
        due = [(n.id, n.chat_id) for n in uow.repo.due_notifications(ctx.now(), limit=limit, chat_ids=chats)]
    sent = 0
    for nid, chat in due:
        row = _claim(ctx, nid)
        if row is None:
            continue
        try:  # the event becomes text now, with the procurement as it is now (sealed or not)
            text, payload = render(ctx, row)
        except Exception as e:  # an event this version cannot render: kept, marked, never a crash
            log.exception("notification %s: cannot render %s", nid, (row.facts or {}).get("event"))
            _finish(ctx, nid, state="failed", attempts=row.attempts + 1, last_error=f"render: {type(e).__name__}: {e}"[:2000])
            continue
        if not row.text:
            _finish(ctx, nid, text=text)  # what is (being) sent: a resumed multi-part row sends the same text
        if chat == CONSOLE_CHAT or sender is None:
            console.print_notification(row.kind, text, payload, ctx.local(ctx.now()),
                                       chat=None if chat == CONSOLE_CHAT else chat)
            _finish(ctx, nid, state="sent", sent_at=ctx.now(), attempts=row.attempts + 1, last_error=None)
            sent += 1
            continue
        assert sender is not None
        steps = plan_steps(text, payload)
        done = int((row.payload or {}).get("_done", 0))
        attempts = row.attempts + 1
        stop = False
        while done < len(steps):
            try:
                try:
                    await sender.send_step(chat, steps[done])
                except BadRequest as e:
                    if classify(e)[0] != _Outcome.PARSE:
                        raise
                    log.warning("notification %s: HTML rejected (%s); sending as plain text", nid, e)
                    await sender.send_step(chat, steps[done], plain=True)
            except Exception as e:  # classified below; nothing escapes the worker
                outcome, retry_after = classify(e)
                err = f"{type(e).__name__}: {e}"[:2000]
                if outcome == _Outcome.RETRY:
                    wait = retry_after if retry_after is not None else backoff(attempts)
                    until = ctx.now() + timedelta(seconds=wait)
                    _finish(ctx, nid, state="pending", attempts=attempts, next_attempt_at=until, last_error=err)
                    _defer_due(ctx, until)
                    log.info("notification %s: %s; retry at %s", nid, err, until.isoformat())
                    stop = True
                elif outcome == _Outcome.AMBIGUOUS:
                    _finish(ctx, nid, state="held", attempts=attempts, last_error="tundmatu tulemus: " + err)
                    log.warning("notification %s held (delivery unknown): %s", nid, err)
                else:
                    _finish(ctx, nid, state="failed", attempts=attempts, last_error=err)
                    log.error("notification %s failed for good: %s", nid, err)
                break
            done += 1
            if done < len(steps):
                _save_progress(ctx, nid, done)
        else:
            _finish(ctx, nid, state="sent", sent_at=ctx.now(), attempts=attempts, last_error=None)
            sent += 1
        if stop:
            break
    return sent


async def _sleep(stop_event: asyncio.Event, woken: asyncio.Event, seconds: float) -> None:
    """Until `stop_event` or `woken` is set, or `seconds` pass."""
    if seconds <= 0 or stop_event.is_set() or woken.is_set():
        return
    waits = [asyncio.ensure_future(stop_event.wait()), asyncio.ensure_future(woken.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _next_wait(ctx: Context, poll_seconds: float) -> float:
    """Seconds until the next drain without a wake: the poll, or sooner when a held-back row falls due."""
    now = ctx.now()
    with ctx.uow() as uow:
        due = uow.repo.next_notification_retry(now)
    return poll_seconds if due is None else max(0.0, min(poll_seconds, (due - now).total_seconds()))


async def run_outbox(ctx: Context, sender: TelegramSender | None, stop_event: asyncio.Event,
                     poll_seconds: float = 5.0, console: ConsoleSender | None = None,
                     console_all: bool = False, limit: int = 50) -> None:
    """Drain the outbox until `stop_event` is set (`console_all`: see drain_once). Rows interrupted by a
    crash go to 'held' first.

    The worker is woken when a unit of work in this process commits notification rows (service.notify.
    outbox_wake), so a new event is sent at once; a row held back for a retry is drained when it falls due.
    `poll_seconds` is only the fallback for rows another process added (a CLI command)."""
    n = recover_interrupted(ctx)
    if n:
        log.warning("%d notification(s) were being sent at the last stop; held for staff review (/held)", n)
    with outbox_wake(ctx) as woken:
        while not stop_event.is_set():
            woken.clear()  # before reading the due rows: a commit from now on wakes the next round
            sent = 0
            try:
                sent = await drain_once(ctx, sender, console, limit=limit, console_all=console_all)
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox worker: drain failed")
            if sent >= limit:
                continue  # a full batch: more may be due
            try:
                wait = _next_wait(ctx, poll_seconds)
            except Exception:
                log.exception("outbox worker: next due time")
                wait = poll_seconds
            await _sleep(stop_event, woken, wait)
