"""Notifications printed to stdout as plain text: chat 0, and every row when there is no bot token (the demo)."""
from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from hankebot.bot.texts import strip_html


class ConsoleSender:
    """Prints a notification (HTML stripped); documents and photos as their file paths."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def print_notification(self, kind: str, text: str, payload: dict, at: datetime | None = None,
                           chat: int | None = None) -> None:
        """`chat`: the staff chat the row was addressed to (no bot token: it is printed instead)."""
        out = self._out()
        stamp = at.strftime("%H:%M") if at else ""
        to = f" → vestlus {chat}" if chat is not None else ""
        out.write(f"--- Hankebot teade [{kind}] {stamp}{to}\n{strip_html(text)}\n")
        for key, label in (("documents", "Fail"), ("document", "Fail"), ("photo", "Pilt")):
            v = payload.get(key)
            for path in (v if isinstance(v, list) else [v] if v else []):
                out.write(f"{label}: {path}\n")
        for row in payload.get("buttons") or []:
            out.write("Nupud: " + " | ".join(str(b.get("text")) for b in row) + "\n")
        out.flush()
