"""Notifications for chat 0 (no bot token, e.g. the demo): printed to stdout as plain text."""
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

    def print_notification(self, kind: str, text: str, payload: dict, at: datetime | None = None) -> None:
        out = self._out()
        stamp = at.strftime("%H:%M") if at else ""
        out.write(f"--- Hankebot teade [{kind}] {stamp}\n{strip_html(text)}\n")
        for key, label in (("documents", "Fail"), ("document", "Fail"), ("photo", "Pilt")):
            v = payload.get(key)
            for path in (v if isinstance(v, list) else [v] if v else []):
                out.write(f"{label}: {path}\n")
        for row in payload.get("buttons") or []:
            out.write("Nupud: " + " | ".join(str(b.get("text")) for b in row) + "\n")
        out.flush()
