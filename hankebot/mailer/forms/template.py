"""Offer forms read through the procurement's own template (the blank form in `forms_dir`).

The template's label cells are read once (`template_labels`); each label gets the field it feeds
(bidder_name, ..., materials, methods): from the config's `labels` mapping when given, else from the
fixed spellings (`offer_labels.LABELS`). A bidder's copy is aligned to those labels row by row: the same
label, an inflection-tolerant match of the label's word stems ("Õppematerjalide kirjeldus" ~
"Õppevahendid ja -materjalid"), or, for a table row no label explains, the same position among the
template's label rows. The aligned rows are handed to the ordinary parser under the field's own
spelling, so the fixed list stays only the fallback for forms without a template.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

FIELD_SPELLING = {  # the spelling the row parser knows for each field
    "bidder_name": "Pakkuja nimi", "registry_code": "Registrikood / isikukood",
    "parts": "Hanke osa(d), millele pakkumus esitatakse", "trainers": "Koolitaja(d)",
    "materials": "Õppevahendid ja -materjalid", "methods": "Õppemeetodid ja valiku põhjendused",
}


@dataclass(frozen=True)
class TemplateLabel:
    text: str
    field: str
    position: int  # among the template's label rows
    stems: tuple[str, ...]


_STOP = {"ja", "ning", "või", "ehk", "nende", "selle", "kohta", "mille", "millele", "kus", "on", "the", "and", "of",
         "kirjeldus", "kirjeldused", "nimi", "nr", "andmed"}
# Estonian case and plural endings, longest first (a stem keeps at least 4 letters)
_ENDINGS = sorted(["dega", "tega", "dele", "tele", "desse", "sse", "dest", "test", "delt", "telt", "deks", "teks",
                   "dena", "tena", "deni", "teni", "ide", "ite", "ile", "ilt", "ist", "is", "id", "de", "te", "le",
                   "lt", "st", "ga", "ks", "na", "ni", "ta", "d", "t", "e", "i", "u"], key=len, reverse=True)


MEMO_LEN = 200  # _norm and stems remember the answers for texts up to this long (pure functions)


def _norm(text: str) -> str:
    if type(text) is str and len(text) <= MEMO_LEN:
        return _norm_memo(text)
    return _norm_text(text)


@lru_cache(maxsize=8192)
def _norm_memo(text: str) -> str:
    return _norm_text(text)


def _norm_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "").replace("\u00a0", " ").casefold()
    text = re.sub(r"^\s*(?:\d{1,2}|[ivx]{1,4})\s*[.)]\s*", "", text)  # "1.", "2)", "IV."
    text = re.sub(r"\([^)]{0,120}\)", " ", text)
    return " ".join(re.sub(r"[:*]+\s*$", "", text).split())


def _stem(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def stems(text: str) -> tuple[str, ...]:
    """Content-word stems of a label; "-materjalid" (Estonian shared compound part) counts as "materjal"."""
    if type(text) is str and len(text) <= MEMO_LEN:
        return _stems_memo(text)
    return _stems(text)


@lru_cache(maxsize=8192)
def _stems_memo(text: str) -> tuple[str, ...]:
    return _stems(text)


def _stems(text: str) -> tuple[str, ...]:
    words = re.findall(r"-?[^\W\d_]+", _norm(text))
    return tuple(_stem(w.lstrip("-")) for w in words if w.lstrip("-") not in _STOP and len(w.lstrip("-")) >= 3)


def stem_score(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """How many of `a`'s stems occur in `b` (one containing the other: compounds like õppe+materjal)."""
    return sum(1 for x in a if len(x) >= 4 and any(x in y or (len(y) >= 5 and y in x) for y in b))


def _template_rows(data: bytes, filename: str):
    from hankebot.mailer.forms.document_rows import offer_rows

    return offer_rows(data, filename)


def labels_from_rows(rows, mapping: Mapping[str, str] | None = None) -> list[TemplateLabel]:
    """The template's label rows: table rows whose first cell has text and whose other cells are blank."""
    from hankebot.mailer.forms.offer_labels import match_label

    by_label = {_norm(v): k for k, v in (mapping or {}).items()}
    out: list[TemplateLabel] = []
    for row in rows:
        if row.kind != "table" or not row.cells or not row.cells[0].strip():
            continue
        if any(c.strip() for c in row.cells[1:]):
            continue
        text = row.cells[0].strip()
        field = by_label.get(_norm(text))
        if field is None:
            hit = match_label(text, loose=False)
            field = hit[0] if hit else None
        if field is None:
            continue
        out.append(TemplateLabel(text, field, len(out), stems(text)))
    return out


@lru_cache(maxsize=32)
def _cached(path: str, mtime: float, mapping: tuple[tuple[str, str], ...]) -> tuple[TemplateLabel, ...]:
    with open(path, "rb") as f:
        data = f.read()
    return tuple(labels_from_rows(_template_rows(data, os.path.basename(path)), dict(mapping)))


def template_labels(path: str, mapping: Mapping[str, str] | None = None) -> tuple[TemplateLabel, ...]:
    """The label cells of the blank form at `path`, read once per file version. () when unreadable."""
    try:
        return _cached(path, os.path.getmtime(path), tuple(sorted((mapping or {}).items())))
    except Exception:  # noqa: BLE001 - a missing or broken template leaves the fixed spellings in charge
        return ()


def align(rows, labels: tuple[TemplateLabel, ...]):
    """The bidder's rows with each recognised label cell rewritten to its field's own spelling."""
    from hankebot.mailer.forms.document_rows import Row
    from hankebot.mailer.forms.offer_labels import match_label

    if not labels:
        return rows
    by_text = {_norm(t.text): t for t in labels}
    table_labels = [i for i, r in enumerate(rows) if r.kind == "table" and r.cells and r.cells[0].strip()]
    same_shape = len(table_labels) == len(labels)
    used: set[str] = set()
    out = []
    for i, row in enumerate(rows):
        first = row.cells[0] if row.cells else ""
        if not first.strip() or len(first) > 200:
            out.append(row)
            continue
        label = by_text.get(_norm(first))
        if label is None:
            own = stems(first.split(":", 1)[0] if row.kind == "line" else first)
            scored = sorted(((stem_score(t.stems, own) + stem_score(own, t.stems), t) for t in labels
                             if t.field not in used), key=lambda x: -x[0])
            if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[1][0] < scored[0][0]) and \
                    (row.kind == "table" or ":" in first):
                label = scored[0][1]
        if label is None and row.kind == "table" and same_shape and match_label(first, loose=False) is None:
            label = labels[table_labels.index(i)]
        if label is None or label.field in used:
            out.append(row)
            continue
        used.add(label.field)
        if row.kind == "line" and ":" in first:
            cells = [f"{FIELD_SPELLING[label.field]}: {first.split(':', 1)[1].strip()}"]
        else:
            cells = [FIELD_SPELLING[label.field], *row.cells[1:]]
        out.append(Row(cells, row.kind))
    return out
