"""The offer form's labels: the spellings of each field's label (`LABELS`) and `match_label`, which says
whether a cell or line is such a label and what follows it. Shared by the offer form reader, the
procurement's own template (template.py) and form recognition."""
from __future__ import annotations

import functools
import re
import unicodedata

# Label spellings per field (matched case-insensitively, longest first, optional numbering,
# an optional "(...)" explanation and a trailing ":" or "*").
LABELS: dict[str, tuple[str, ...]] = {
    "bidder_name": (
        "pakkuja nimi / ärinimi", "pakkuja nimi/ärinimi", "pakkuja ärinimi", "pakkuja nimi",
        "pakkuja (nimi)", "pakkuja", "ärinimi", "ettevõtte nimi", "koolitusasutuse nimi",
    ),
    "registry_code": (
        "registrikood / isikukood", "registrikood/isikukood", "registrikood või isikukood",
        "registri- või isikukood", "registri-/isikukood", "isikukood / registrikood",
        "isikukood/registrikood", "registrikood", "isikukood", "registreerimiskood",
        "registrinumber", "reg. kood", "reg kood", "reg.kood", "reg. nr", "reg nr",
    ),
    "parts": (
        "hanke osa(d), millele pakkumus esitatakse", "hanke osa, millele pakkumus esitatakse",
        "osa(d), millele pakkumus esitatakse", "hanke osa(d)", "hanke osad", "hanke osa",
        "pakutav(ad) osa(d)", "pakutavad osad", "pakutav osa", "pakutav moodul", "moodul(id)",
        "osa(d)", "osa nr", "osa", "moodul", "mooduli nr",
    ),
    "trainers": (
        "koolitaja(te) nimi", "koolitaja(te) nimed", "koolitajate nimed", "koolitaja nimi",
        "koolitaja(d)", "koolitajad", "koolitaja", "koolitajate andmed",
    ),
    "materials": (
        "õppevahendid ja -materjalid", "õppevahendid ja materjalid", "õppevahendid- ja materjalid",
        "õppevahendid ja õppematerjalid", "õppevahendid- ja -materjalid", "õppematerjalid",
        "õppevahendid",
    ),
    "methods": (
        "kasutatavad õppemeetodid ja valiku põhjendused", "õppemeetodid ja valiku põhjendused",
        "õppemeetodid ja nende valiku põhjendused", "õppemeetodid ja valiku põhjendus",
        "kasutatavad õppemeetodid", "õppemeetodid", "metoodika",
    ),
}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").replace("\u00a0", " ")


def _alias_regex(alias: str) -> str:
    parts = [re.escape(p) for p in alias.split()]
    return r"\s*".join(parts) if "/" in alias else r"\s+".join(parts)


_LABEL_RES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = []
for _field, _aliases in LABELS.items():
    for _alias in _aliases:
        _core = r"^\s*(?:\d{1,2}[.)]\s*)?(?i:" + _alias_regex(_alias) + r")\s*(?:\([^)]{0,120}\))?\s*"
        _LABEL_RES.append((
            _field,
            re.compile(_core + r"(?:[:*]+\s*(?P<rest>.*))?$", re.DOTALL),
            # a label without a colon, the answer starting with a capital or digit ("Pakkuja nimi Koolitus OÜ")
            re.compile(_core + r"(?P<rest>[A-ZÕÄÖÜŠŽ0-9].*)$", re.DOTALL),
        ))
_LABEL_RES.sort(key=lambda t: -len(t[1].pattern))


def match_label(text: str, loose: bool) -> tuple[str, str] | None:
    """(field, inline value) when `text` is a label cell/line; `loose` allows no colon. A pure function of
    its arguments: a short text's answer is remembered (the template's labels come in every bid, each
    matched by recognition, the reader and the template alignment)."""
    if type(text) is str and len(text) <= MATCH_MEMO_LEN:
        return _match_label_memo(text, bool(loose))
    return _match_label(text, loose)


MATCH_MEMO_LEN = 200  # texts up to this long are remembered (at most 8192 of them)


@functools.lru_cache(maxsize=8192)
def _match_label_memo(text: str, loose: bool) -> tuple[str, str] | None:
    return _match_label(text, loose)


def _match_label(text: str, loose: bool) -> tuple[str, str] | None:
    s = nfc(text).strip()
    if not s or len(s) > 4000:
        return None
    for fld, strict_re, loose_re in _LABEL_RES:
        m = strict_re.match(s)
        if m:
            return fld, (m.group("rest") or "").strip()
    if loose:
        for fld, _strict_re, loose_re in _LABEL_RES:
            m = loose_re.match(s)
            if m:
                return fld, (m.group("rest") or "").strip()
    return None
