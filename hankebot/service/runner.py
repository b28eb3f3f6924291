"""`hankebot run`: one asyncio process with the IMAP listener, the scheduler, the notification worker,
the Telegram bot and a config watcher. Start-up first finishes what a previous run left: stored but
unprocessed messages, unsent outgoing mail, deadlines that passed while the service was down."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Awaitable, Callable

from hankebot.mailer.imap_listener import FetchedMessage, ImapEndpoint, ImapListener
from hankebot.service.config import ConfigError, LoadedConfig, load_config
from hankebot.service.context import Context
from hankebot.service.ingest import process_pending, store_raw
from hankebot.service.last_good import load_config_or_last_good, save_last_good, saved_at
from hankebot.core.events import ConfigRejected
from hankebot.service.notify import publish
from hankebot.service.scheduler import DeadlineScheduler
from hankebot.service.sync import sync_config

log = logging.getLogger(__name__)

# The staff-facing side (the Telegram bot and its outbox worker, or the console): bot/ provides it and the
# program's entry point (hankebot.app) hands it in, so this package never imports bot/.
Frontend = Callable[[Context, asyncio.Event], Awaitable[None]]


def imap_endpoint(cfg: LoadedConfig) -> ImapEndpoint | None:
    from hankebot.service.mail_auth import imap_endpoint as endpoint

    return endpoint(cfg)


def make_listener(ctx: Context) -> ImapListener | None:
    ep = imap_endpoint(ctx.cfg)
    if ep is None:
        return None
    im = ctx.settings.mail.imap

    def store(m: FetchedMessage) -> None:
        store_raw(ctx, m.folder, m.uidvalidity, m.uid, m.raw, m.internaldate)

    def checkpoint(folder: str):
        with ctx.uow() as uow:
            cp = uow.repo.checkpoint(folder)
            return (cp.uidvalidity, cp.last_uid) if cp else None

    return ImapListener(ep, store, checkpoint, after_batch=lambda: process_pending(ctx), idle=im.idle,
                        poll_seconds=im.poll_seconds, since=lambda: first_read_since(ctx))


def first_read_since(ctx: Context) -> date:
    """Where a first start reads the mailbox from: the earliest invitation date (the first invitation
    sent, else the configured invitation_date) of the procurements, a day early for time zones; today
    (a day early) when none is known. Older mail is never a procurement's, so it is not read unless asked
    (`hankebot fetch --since DATE`)."""
    with ctx.uow() as uow:
        sent = uow.repo.first_invitation_sent()
        sent_by_key = {p.key: sent[p.id] for p in uow.repo.procurements() if p.id in sent}
    days: list[date] = []
    for ps in ctx.settings.procurements:  # the first invitation really sent, else the planned date
        if ps.key in sent_by_key:
            days.append(sent_by_key[ps.key].astimezone(ctx.cfg.tz).date())
        elif ps.invitation_date is not None:
            days.append(ps.invitation_date)
    first = min(days) if days else datetime.now(ctx.cfg.tz).date()
    return first - timedelta(days=1)


@dataclass
class ConfigWatcher:
    """Reloads config.toml when it changes. An invalid edit keeps the last good config and tells staff."""

    ctx: Context
    interval: float = 2.0
    last_error: str | None = None
    _mtime: float = field(default=0.0)

    def __post_init__(self):
        self._mtime = self._stat()

    def _stat(self) -> float:
        try:
            return self.ctx.cfg.path.stat().st_mtime
        except OSError:
            return 0.0

    def check(self) -> bool:
        """Returns True when a new config was taken into use."""
        m = self._stat()
        if m == self._mtime:
            return False
        self._mtime = m
        try:
            new = load_config(self.ctx.cfg.path)
        except ConfigError as e:
            msg = str(e)
            if msg != self.last_error:
                self.last_error = msg
                log.error("config change rejected, keeping the last good config:\n%s", msg)
                with self.ctx.uow() as uow:
                    publish(self.ctx, uow.repo, "config_error", ConfigRejected(error=msg), f"config_error:{m}")
                    uow.repo.audit("config", "config_rejected", None, error=msg[:4000])
                    uow.commit()
            return False
        if new.text_sha256 == self.ctx.cfg.text_sha256:
            return False
        self.last_error = None
        self.ctx.cfg = new
        save_last_good(new)
        changes = sync_config(self.ctx)
        with self.ctx.uow() as uow:
            uow.repo.audit("config", "config_reloaded", None, changes=changes)
            uow.commit()
        self.ctx.emit("config_reloaded")
        log.info("config reloaded: %s", "; ".join(changes) or "no changes to procurements")
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            try:
                self.check()
            except Exception:
                log.exception("config watcher")


def owed_receipts(ctx: Context) -> list[tuple[int, list[str]]]:
    """(inbound id, file names) of processed bids and questions whose receipt was never queued: the
    'receipt_due' event lives in memory, so a crash after processing but before queueing lost it."""
    from sqlmodel import select

    from hankebot.storage.tables import InboundMessage, OutboundMessage

    out = []
    with ctx.uow() as uow:
        s = uow.repo.s
        keys = {p.id: p.key for p in uow.repo.procurements()}
        queued = set(s.exec(select(OutboundMessage.dedupe_key).where(OutboundMessage.kind == "receipt")).all())
        refused = {a.details.get("inbound_id") for a in uow.repo.audit_rows(action="receipt_refused")}
        rows = s.exec(select(InboundMessage).where(InboundMessage.state == "processed",
                                                    InboundMessage.kind.in_(["bid", "question"]),
                                                    InboundMessage.procurement_id.is_not(None))
                      .order_by(InboundMessage.id)).all()
        for m in rows:
            key = keys.get(m.procurement_id)
            if key is None or f"receipt:{key}:{m.id}" in queued or m.id in refused:
                continue
            try:
                if not ctx.proc_settings(key).receipts:
                    continue
            except KeyError:
                continue
            files = [str(a.get("path", "")).rsplit("/", 1)[-1] for a in (m.summary or {}).get("attachments", [])]
            out.append((m.id, files))
    return out


async def _receipts(ctx: Context, queue: asyncio.Queue, stop: asyncio.Event) -> None:
    from hankebot.service import receipts

    while not stop.is_set():
        try:
            inbound_id, files = await asyncio.wait_for(queue.get(), 1.0)
        except asyncio.TimeoutError:
            continue
        try:
            await receipts.send_receipt(ctx, inbound_id, files)
        except Exception:
            log.exception("receipt for message %s", inbound_id)


async def _resume_periodically(ctx: Context, stop: asyncio.Event, every: float = 300.0) -> None:
    """Mail left unsent by another process that died (a CLI batch) is picked up without a restart."""
    from hankebot.service.send_resume import resume_unsent

    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except asyncio.TimeoutError:
            pass
        try:
            await resume_unsent(ctx)
        except Exception:
            log.exception("periodic resume of unsent mail")


async def run_service(ctx: Context, stop: asyncio.Event, frontend: Frontend | None = None, with_imap: bool = True,
                      config_error: str | None = None) -> None:
    """Run until `stop` is set. `frontend` delivers the notifications (None: they wait in the outbox).
    `config_error`: the config file's problems when the service started on the last good copy (the
    watcher reports the file again only when it changes)."""
    from hankebot.service.send_resume import resume_unsent

    loop = asyncio.get_running_loop()
    receipts: asyncio.Queue = asyncio.Queue()

    def on_event(ev: str, **kw) -> None:  # called from the IMAP worker thread too: hand over thread-safely
        if ev == "receipt_due":
            loop.call_soon_threadsafe(receipts.put_nowait, (kw["inbound_id"], kw["files"]))

    ctx.listeners.append(on_event)

    await asyncio.to_thread(process_pending, ctx)
    for owed in await asyncio.to_thread(owed_receipts, ctx):
        receipts.put_nowait(owed)
    try:
        await resume_unsent(ctx)
    except Exception:
        log.exception("resuming unsent mail")
    sched = DeadlineScheduler(ctx)
    sched.start()
    tasks = [asyncio.create_task(ConfigWatcher(ctx, last_error=config_error).run(stop), name="config"),
             asyncio.create_task(_receipts(ctx, receipts, stop), name="receipts"),
             asyncio.create_task(_resume_periodically(ctx, stop), name="resume")]
    listener = make_listener(ctx) if with_imap else None
    if listener is not None:
        tasks.append(asyncio.create_task(listener.run(), name="imap"))
    if frontend is not None:
        tasks.append(asyncio.create_task(frontend(ctx, stop), name="bot"))
    log.info("hankebot running: config %s, %d procurement(s)", ctx.cfg.path, len(ctx.settings.procurements))
    try:
        await stop.wait()
    finally:
        if listener is not None:
            listener.stop()
        sched.shutdown()
        for t in tasks:
            if t.get_name() != "imap":
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _report_started_on_last_good(ctx: Context, bad: ConfigError, copy: Path | None) -> None:
    msg = str(bad)
    when = saved_at(copy, ctx.cfg.tz) if copy is not None else "?"
    log.error("config file %s is invalid; serving on the last good config (%s, saved %s) until it is "
              "fixed:\n%s", bad.path, copy, when, msg)
    with ctx.uow() as uow:
        publish(ctx, uow.repo, "config_error", ConfigRejected(error=msg, last_good_saved=str(when)),
                f"config_error:start:{hashlib.sha256(msg.encode()).hexdigest()[:16]}")  # once per bad file
        uow.repo.audit("config", "config_rejected_at_start", None, error=msg[:4000], last_good=str(copy))
        uow.commit()


def run_forever(config_path: Path, loaded: tuple[LoadedConfig, ConfigError | None, Path | None] | None = None,
                frontend: Frontend | None = None) -> int:
    """Run until SIGINT/SIGTERM. A broken config file with a last good copy in the data dir: serve on the
    copy, say so in the log and to staff (`loaded`: load_config_or_last_good's answer, when the caller
    has it already). No copy: the file's ConfigError is raised."""
    from hankebot.service.context import open_context

    cfg, bad, copy = loaded or load_config_or_last_good(config_path)
    ctx = open_context(cfg)
    if bad is None:
        save_last_good(cfg)
    else:
        _report_started_on_last_good(ctx, bad, copy)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_service(ctx, stop, frontend, config_error=None if bad is None else str(bad))

    asyncio.run(main())
    return 0
