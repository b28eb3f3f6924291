"""Staff notifications go through an outbox of domain events: `publish` stores one row per event and staff
chat (deduplicated per event key and chat) in the caller's transaction, as the event's kind and JSON facts
(core/events.py); the notification worker (bot/outbox_worker.py) renders each row into Estonian when it
delivers it, reading the procurement's state at that moment (bot/render.py), and sends it. Chat 0 stands
for the console (no bot token configured, e.g. the demo). There is no way to store a caller's ready text:
every notice is an event (a `Rendered` fixed text only for the group notice below and rows made before
events existed).

The worker does not poll for new rows: `outbox_wake` gives it an event that is set as soon as a unit of work
in this process has committed new (or re-queued) rows, whatever thread committed them (the IMAP listener
and pipeline run in a worker thread)."""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

from hankebot.core.events import Event, Rendered
from hankebot.service.context import Context
from hankebot.storage.pg_wake import PgNotifyListener, supports_notify
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Notification
from hankebot.storage.uow import NOTIFICATIONS

CONSOLE_CHAT = 0
#: notifications whose text is a bid's detail (who bid, with what files and problems): sealed until the opening
SEALED_DETAIL_KINDS = frozenset({"new_bid", "late_bid", "unknown_sender", "not_invited_address"})
GROUP_NOTICE = ("📥 Hankele saabus uus kiri. Üksikasjad on avamiseni nähtavad ainult isiklikus vestluses "
                "(see vestlus on grupp).")


def is_group_chat(chat: int) -> bool:
    """Telegram groups, supergroups and channels have negative ids; users' private chats positive ones."""
    return chat < 0


def _sealed(ctx: Context, repo: Repository, procurement_id: int | None) -> bool:
    from hankebot.core.sealing import is_sealed

    p = repo.procurement_by_id(procurement_id) if procurement_id else None
    return p is not None and is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes)


def staff_chats(ctx: Context) -> list[int]:
    chats = [m.chat for m in ctx.settings.telegram.staff]
    return sorted(set(chats)) or [CONSOLE_CHAT]


def publish(
    ctx: Context,
    repo: Repository,
    kind: str,
    event: Event,
    event_key: str,
    procurement_id: int | None = None,
    quiet: bool = False,
    payload: dict | None = None,
    chats: list[int] | None = None,
) -> list[Notification]:
    """Record `event` for every staff chat (`kind`: the notification's category, e.g. "new_bid").
    Idempotent per (event_key, chat): a replayed event never notifies twice."""
    rows = []
    pid = procurement_id if procurement_id is not None else event.procurement_id
    for chat in chats if chats is not None else staff_chats(ctx):
        key = f"{event_key}@{chat}"
        if repo.notification_by_key(key) is not None:
            continue
        ev, extra = event, payload or {}
        if (kind in SEALED_DETAIL_KINDS and is_group_chat(chat) and not ctx.settings.telegram.sealed_detail_in_groups
                and _sealed(ctx, repo, pid)):
            ev, extra = Rendered(procurement_id=pid, text=GROUP_NOTICE), {}  # every member of a group reads it
        row = Notification(dedupe_key=key, chat_id=chat, kind=kind, procurement_id=pid, facts=ev.to_facts(), text="",
                           payload=extra, quiet=quiet, state="pending")
        repo.s.add(row)
        rows.append(row)
    repo.s.flush()
    return rows


@contextmanager
def outbox_wake(ctx: Context) -> Iterator[asyncio.Event]:
    """An asyncio.Event of the running loop, set right after any unit of work on `ctx` commits notification
    rows (storage.uow.NOTIFICATIONS), from any thread. The worker clears it before it reads the due rows,
    so a commit during a drain wakes it again. On PostgreSQL a commit in another process (a CLI command)
    wakes it too, through LISTEN/NOTIFY; on SQLite the worker keeps a slow poll for those."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def hook(topics: frozenset[str]) -> None:
        if NOTIFICATIONS in topics:
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass

    def notified() -> None:
        try:
            loop.call_soon_threadsafe(woken.set)
        except RuntimeError:
            pass

    listener = PgNotifyListener(ctx.engine, notified) if supports_notify(ctx.engine) else None
    ctx.commit_hooks.append(hook)
    if listener is not None:
        listener.start()
    try:
        yield woken
    finally:
        ctx.commit_hooks.remove(hook)
        if listener is not None:
            listener.stop()  # not joined: the loop must not block; the thread ends on its own
