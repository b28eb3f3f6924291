"""Which procurement form an attachment is: by content first, then by file name.

Content: a spreadsheet with a sheet named like a configured price sheet is the cost form
(whatever its file name); a document with at least two offer-form labels ("Pakkuja nimi",
"Koolitaja(d)", ...) is the offer form; a document whose text speaks of "kogukulu" or
"maksumus" is the cost form. File name: "Lisa 3", "maksumus", "hinnapakkumus" -> cost form;
"Lisa 2", "pakkumuse vorm" -> offer form; a spec's own title in the name wins over both.
"""
from __future__ import annotations

import re

from hankebot.core.models import FormKind, FormSpec
from hankebot.mailer.forms.document_rows import offer_rows
from hankebot.mailer.forms.offer_labels import match_label
from hankebot.mailer.forms.safety import check_zip, too_large
from hankebot.mailer.forms.text import SPREADSHEET_TYPES, is_fatal, norm, sniff
from hankebot.mailer.forms.workbook import workbook_of

_COST_NAME = re.compile(
    r"\blisa\s*(?:nr\s*)?3\b|maksumus|hinnapakkumus|hinnavorm|hinnatabel|hinnapakkumine|kogukulu", re.IGNORECASE
)
_OFFER_NAME = re.compile(
    r"\blisa\s*(?:nr\s*)?2\b|pakkumuse\s*vorm|pakkumus\s*vorm|pakkumise\s*vorm|pakkumusvorm|pakkumisvorm",
    re.IGNORECASE,
)
_COST_TEXT = re.compile(r"kogukulu|maksumus", re.IGNORECASE)


def _first_of(kind: FormKind, specs: list[FormSpec]) -> FormSpec | None:
    return next((s for s in specs if s.kind is kind), None)


def _name_key(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return norm(re.sub(r"[_\-.+()\[\]]+", " ", stem))


def _by_name(filename: str, specs: list[FormSpec]) -> FormSpec | None:
    key = _name_key(filename)
    if not key:
        return None
    for spec in sorted(specs, key=lambda s: -len(s.title)):
        title = _name_key(spec.title + ".x")
        if title and title in key:
            return spec
    if _COST_NAME.search(key):
        return _first_of(FormKind.COST, specs)
    if _OFFER_NAME.search(key):
        return _first_of(FormKind.OFFER, specs)
    return None


def _sheet_names(data: bytes) -> list[str]:
    return list(workbook_of(data).sheet_names)


def _by_content(data: bytes, filename: str, specs: list[FormSpec]) -> FormSpec | None:
    if too_large(data):
        return None
    kind = sniff(data, filename)
    if kind in ("xlsx", "xlsm", "ods", "docx", "odt") and check_zip(data) is not None:
        return None
    if kind in SPREADSHEET_TYPES:
        names = {norm(n) for n in _sheet_names(data)}
        for spec in specs:
            if spec.kind is FormKind.COST and spec.cost is not None:
                if any(norm(c.sheet) in names for c in spec.cost.cells):
                    return spec
        return None
    if kind in ("docx", "odt", "pdf", "doc"):
        rows = offer_rows(data, filename)
        fields = set()
        for row in rows:
            first = next((c for c in row.cells if c.strip()), "")
            hit = match_label(first, loose=False) if first else None
            if hit:
                fields.add(hit[0])
        if len(fields) >= 2:
            return _first_of(FormKind.OFFER, specs)
        text = "\n".join(c for r in rows for c in r.cells)
        if _COST_TEXT.search(text):
            return _first_of(FormKind.COST, specs)
    return None


def recognize_form(data: bytes, filename: str, specs: list[FormSpec]) -> FormSpec | None:
    """The spec this attachment fills, or None (not a form of this procurement). Never raises."""
    try:
        found = _by_content(data, filename, specs)
    except BaseException as exc:  # noqa: BLE001 - unreadable content: fall back to the name
        if is_fatal(exc):
            raise
        found = None
    if found is not None:
        return found
    try:
        return _by_name(filename or "", specs)
    except Exception:  # noqa: BLE001
        return None


def missing_forms(found: list[FormSpec], specs: list[FormSpec]) -> list[FormSpec]:
    """Required specs (in `specs` order) whose key is not among `found`."""
    have = {s.key for s in found if s is not None}
    return [s for s in specs if s.required and s.key not in have]
