"""PTB persistence in our own database (storage.tables.BotState): user data, chat data and conversation
states as JSON rows, so a flow in progress (e.g. a justification being typed) survives a restart. bot_data
holds the service context and is never stored; callback data is plain strings, so nothing to keep there.
Writes go straight to the database (PTB calls update_* after each update, within `update_interval`);
handlers that start a flow call `save_now` so a crash right after the tap cannot lose it."""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from sqlmodel import select
from telegram.ext import BasePersistence, ContextTypes, PersistenceInput

from hankebot.storage.tables import BotState, utcnow

log = logging.getLogger(__name__)


def _plain(data: Any) -> Any:
    """A JSON-safe copy (anything odd becomes its string form, never a failed write)."""
    return json.loads(json.dumps(data, default=str))


class DbPersistence(BasePersistence):
    def __init__(self, engine, update_interval: float = 1.0):
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=True, user_data=True,
                                                     callback_data=False), update_interval=update_interval)
        self.engine = engine

    # ------------------------------------------------------------ rows
    def _rows(self, kind: str) -> dict[str, dict]:
        from sqlmodel import Session

        with Session(self.engine) as s:
            return {r.key: dict(r.data or {}) for r in s.exec(select(BotState).where(BotState.kind == kind))}

    def _put(self, kind: str, key: str, data: dict | None) -> None:
        from sqlmodel import Session

        with Session(self.engine) as s:
            row = s.exec(select(BotState).where(BotState.kind == kind, BotState.key == key)).first()
            if data is None or (not data and row is None):
                if row is not None:
                    s.delete(row)
                    s.commit()
                return
            if row is None:
                row = BotState(kind=kind, key=key, data=_plain(data))
            else:
                row.data, row.updated_at = _plain(data), utcnow()
            s.add(row)
            s.commit()

    # ------------------------------------------------------------ user / chat data
    async def get_user_data(self) -> dict[int, dict]:
        return defaultdict(dict, {int(k): v for k, v in self._rows("user").items()})

    async def get_chat_data(self) -> dict[int, dict]:
        return defaultdict(dict, {int(k): v for k, v in self._rows("chat").items()})

    async def update_user_data(self, user_id: int, data: dict) -> None:
        self._put("user", str(user_id), data)

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        self._put("chat", str(chat_id), data)

    async def drop_user_data(self, user_id: int) -> None:
        self._put("user", str(user_id), None)

    async def drop_chat_data(self, chat_id: int) -> None:
        self._put("chat", str(chat_id), None)

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        pass

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        pass

    # ------------------------------------------------------------ conversations (ConversationHandler)
    async def get_conversations(self, name: str) -> dict:
        raw = self._rows("conversation").get(name, {})
        return {tuple(json.loads(k)): v for k, v in raw.items()}

    async def update_conversation(self, name: str, key: tuple, new_state: object | None) -> None:
        raw = self._rows("conversation").get(name, {})
        k = json.dumps(list(key))
        if new_state is None:
            raw.pop(k, None)
        else:
            raw[k] = new_state
        self._put("conversation", name, raw)

    # ------------------------------------------------------------ not stored
    async def get_bot_data(self) -> dict:
        return {}

    async def update_bot_data(self, data: dict) -> None:
        pass

    async def refresh_bot_data(self, bot_data: dict) -> None:
        pass

    async def get_callback_data(self):
        return None

    async def update_callback_data(self, data) -> None:
        pass

    async def flush(self) -> None:
        pass


async def save_now(update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Write the user's data at once (a flow just started); a no-op without persistence."""
    p = tg.application.persistence
    user = getattr(update, "effective_user", None)
    if isinstance(p, DbPersistence) and user is not None:
        await p.update_user_data(user.id, tg.user_data)
