"""The letters register ("dokumendiregister"): one row per message sent or received, the way agencies
enter letters (reference, date, type "Kiri VÄLJA" / "Kiri SISSE", counterpart, title, access
restriction). Natural persons are shown by initials. Pure: no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OUT, IN = "VÄLJA", "SISSE"
PUBLIC = "Avalik"
RESTRICTED_BID = "AK – pakkumus (kuni otsuseni)"

OUT_KINDS = {"invitation": "Pakkumuskutse", "clarification": "Selgitus", "reminder": "Meeldetuletus",
             "receipt": "Kättesaamise kinnitus", "decision": "Otsuse teade", "cancellation": "Tühistamise teade"}
IN_KINDS = {"bid": "Pakkumus", "decline": "Loobumine", "question": "Küsimus", "auto_reply": "Automaatvastus",
            "bounce": "Tagastusteade", "other": "Muu kiri"}


def initials(name: str) -> str:
    """'Mari-Liis Õunapuu' -> 'M. Õ.'; words without a letter (numbers) are left out."""
    out = []
    for word in name.replace("-", " ").split():
        first = next((ch for ch in word if ch.isalpha()), None)
        if first is not None:
            out.append(first.upper() + ".")
    return " ".join(out) or "–"


def counterpart(name: str | None, address: str | None, natural: bool) -> str:
    if name:
        return initials(name) if natural else name
    if address and "@" in address:  # an unknown sender: its domain only (the address may name a person)
        return "saatja @" + address.rsplit("@", 1)[1]
    return "–"


def access(direction: str, kind: str, decided: bool) -> str:
    if direction == IN and kind == "bid" and not decided:
        return RESTRICTED_BID
    return PUBLIC


@dataclass(frozen=True)
class RegisterRow:
    reference: str
    at: datetime
    direction: str
    counterpart: str
    subject: str
    kind: str
    access: str

    @property
    def type_et(self) -> str:
        return f"Kiri {self.direction}"


HEADERS = ("Viit", "Registreeritud", "Liik", "Suund", "Adressaat / saatja", "Pealkiri", "Dokumendi liik",
           "Juurdepääsupiirang")
