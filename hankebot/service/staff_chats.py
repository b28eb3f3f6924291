"""check-config's look at the staff chats: a chat that is a group or channel shows every notification and
reply to all of its members. Negative ids are groups or channels; with a bot token the Bot API's getChat
tells the type for sure."""
from __future__ import annotations

import json
import urllib.parse
import urllib.request

from hankebot.service.config import LoadedConfig
from hankebot.service.notify import is_group_chat

DEFAULT_BASE = "https://api.telegram.org/bot"


def chat_type(base_url: str | None, token: str, chat_id: int, timeout: float = 10.0) -> str:
    """The chat's type from getChat ('private', 'group', 'supergroup', 'channel'); raises on failure."""
    url = f"{base_url or DEFAULT_BASE}{token}/getChat?" + urllib.parse.urlencode({"chat_id": chat_id})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (the configured Bot API)
            data = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        data = json.loads(e.read().decode("utf-8", "replace") or "{}")
    if not data.get("ok"):
        raise RuntimeError(data.get("description") or "getChat failed")
    return str(data["result"]["type"])


def staff_chat_warnings(cfg: LoadedConfig, ask_telegram: bool = True) -> list[str]:
    t = cfg.settings.telegram
    token = cfg.secret(t.token_secret) if ask_telegram else None
    out = []
    for i, m in enumerate(t.staff):
        where = f"telegram.staff[{i}] ({m.name}) chat {m.chat}"
        kind = None
        if token:
            try:
                kind = chat_type(t.base_url, token, m.chat)
            except Exception as e:  # noqa: BLE001 - a note, not a failure of check-config
                out.append(f"{where}: could not ask Telegram for its type ({type(e).__name__}: {e})")
        if kind is None and is_group_chat(m.chat):
            kind = "group or channel"
        if kind and kind != "private":
            detail = ("sealed bid detail IS sent there (telegram.sealed_detail_in_groups = true)"
                      if t.sealed_detail_in_groups else "before the opening it gets only 'a bid arrived'")
            out.append(f"warning: {where} is a {kind}: every notification and reply goes to all its members; {detail}")
    return out
