"""Staff notifications go through an outbox: `enqueue` stores rows (one per staff chat) in the caller's
transaction; the notification worker (bot/outbox_worker.py) sends them. Chat 0 stands for the console
(no bot token configured, e.g. the demo)."""
from __future__ import annotations

from hankebot.service.context import Context
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Notification

CONSOLE_CHAT = 0


def staff_chats(ctx: Context) -> list[int]:
    chats = [m.chat for m in ctx.settings.telegram.staff]
    return sorted(set(chats)) or [CONSOLE_CHAT]


def enqueue(
    ctx: Context,
    repo: Repository,
    kind: str,
    text: str,
    event_key: str,
    procurement_id: int | None = None,
    quiet: bool = False,
    payload: dict | None = None,
    chats: list[int] | None = None,
) -> list[Notification]:
    """Idempotent per (event_key, chat): a replayed event never notifies twice."""
    rows = []
    for chat in chats if chats is not None else staff_chats(ctx):
        key = f"{event_key}@{chat}"
        if repo.notification_by_key(key) is not None:
            continue
        row = Notification(dedupe_key=key, chat_id=chat, kind=kind, procurement_id=procurement_id, text=text,
                           payload=payload or {}, quiet=quiet, state="pending")
        repo.s.add(row)
        rows.append(row)
    repo.s.flush()
    return rows
