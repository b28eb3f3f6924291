"""Staff notifications go through an outbox of domain events: `publish` stores one row per event and staff
chat (deduplicated per event key and chat) in the caller's transaction, as the event's kind and JSON facts
(core/events.py); the notification worker (bot/outbox_worker.py) renders each row into Estonian when it
delivers it, reading the procurement's state at that moment (bot/render.py), and sends it. Chat 0 stands
for the console (no bot token configured, e.g. the demo)."""
from __future__ import annotations

from hankebot.core.events import Event, Rendered
from hankebot.service.context import Context
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Notification

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
    """A notice whose text is made by the caller (no domain event for it yet): stored as a `Rendered`
    event. Never for anything that may carry a sealed bid's content: use `publish` with an event."""
    return publish(ctx, repo, kind, Rendered(procurement_id=procurement_id, text=text), event_key,
                   procurement_id, quiet, payload, chats)
