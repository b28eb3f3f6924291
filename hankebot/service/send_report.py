"""What a send command did, for the console, the bot and the tests (`SendReport.format_et`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hankebot.core.lifecycle import state_et
from hankebot.core.problems import Problem


@dataclass
class SendReport:
    """What a send command did. `sent`/`already_sent` are recipient addresses; `failed` and `skipped`
    are (recipient or bidder, reason) pairs; `eml_paths` are the dry-run files."""

    proc_key: str
    kind: str
    batch: str = ""
    dry_run: bool = False
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # 'sending' rows found in the mailbox at resume
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    eml_paths: list[Path] = field(default_factory=list)
    state: str | None = None  # the procurement's state afterwards

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def merge(self, other: "SendReport") -> None:
        for name in ("errors", "warnings", "sent", "already_sent", "confirmed", "failed", "skipped", "eml_paths"):
            getattr(self, name).extend(getattr(other, name))
        self.state = other.state or self.state

    def format_et(self, with_state: bool = True) -> str:
        what = {"invitation": "Kutsed", "clarification": "Selgitus", "reminder": "Meeldetuletused",
                "receipt": "Kättesaamise kinnitus", "resume": "Pooleli saatmised",
                "decision": "Otsuse kirjad", "cancellation": "Tühistamise kirjad"}.get(self.kind, self.kind)
        lines = [f"{what} – hange {self.proc_key}" + (" (proovisaatmine, midagi ei saadetud)" if self.dry_run else "")]
        if self.errors:
            tail = ", midagi ei saadetud:" if not (self.sent or self.confirmed) else ":"
            lines.append(f"Vead ({len(self.errors)}){tail}")
            lines += [f"  ✗ {p.message}" for p in self.errors]
        if self.warnings:
            lines.append(f"Hoiatused ({len(self.warnings)}):")
            lines += [f"  ! {p.message}" for p in self.warnings]
        if self.sent:
            lines.append(f"Saadetud ({len(self.sent)}): " + ", ".join(self.sent))
        if self.confirmed:
            lines.append(f"Saatmine kinnitatud postkasti koopia järgi ({len(self.confirmed)}): " + ", ".join(self.confirmed))
        if self.already_sent:
            lines.append(f"Juba varem saadetud ({len(self.already_sent)}): " + ", ".join(self.already_sent))
        for who, why in self.failed:
            lines.append(f"  ✗ ebaõnnestus: {who}: {why}")
        for who, why in self.skipped:
            lines.append(f"  – vahele jäetud: {who}: {why}")
        if self.eml_paths:
            lines.append(f"Kirjad failidena ({len(self.eml_paths)}): {self.eml_paths[0].parent}")
        if self.state and with_state:
            lines.append(f"Hanke olek: {state_et(self.state)}")
        return "\n".join(lines)

    format = format_et

