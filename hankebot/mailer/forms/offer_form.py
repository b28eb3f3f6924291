"""Reads an offer form ("Lisa 2 pakkumuse vorm"): bidder, registry code, parts, trainers and
the two texts the expert grades (materials, methods).

Every format is first turned into rows of cells in document order: a .docx table row is a row
of its cells (the main document XML, so content controls and merged cells are included once), a
paragraph is a one-cell row; .odt the same via odfpy; a PDF (pypdf) or legacy .doc (antiword or
LibreOffice when installed) gives one row per text line. Then one parser finds label cells
("Pakkuja nimi", "Registrikood", "Koolitaja(d)", ...) and takes the value from the cells to the
right, or from the rows that follow until the next label. Materials and methods are kept in
full.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from hankebot.core.models import OFFER_FIELDS
from hankebot.core.problems import Problem
from hankebot.mailer.forms.document_rows import Row, Unsupported, offer_rows
from hankebot.mailer.forms.offer_labels import LABELS, match_label, nfc as _nfc
from hankebot.mailer.forms.safety import check_zip, too_large
from hankebot.mailer.forms.text import is_fatal, sniff

__all__ = ["FIELDS", "LABELS", "OfferReading", "match_label", "offer_rows", "parse_parts", "read_offer_form"]

FIELDS = OFFER_FIELDS

_STOP_LINES = re.compile(
    r"^\s*(kuupäev|allkiri|allkirjastatud digitaalselt|/allkirjastatud digitaalselt/|"
    r"digitaalselt allkirjastatud|pakkumus on jõus|lugupidamisega)\b",
    re.IGNORECASE,
)


@dataclass
class OfferReading:
    """What an offer form says. Missing fields are None / empty, with a Problem each."""

    bidder_name: str | None = None
    registry_code: str | None = None  # 8-digit registrikood or 11-digit isikukood (digits only when found)
    parts: list[int] = field(default_factory=list)
    trainers: list[str] = field(default_factory=list)
    materials: str = ""
    methods: str = ""
    full_text: str = ""
    problems: list[Problem] = field(default_factory=list)


# --- parsing -----------------------------------------------------------------------------


def _unique(cells: list[str]) -> list[str]:
    out: list[str] = []
    for c in cells:
        c = c.strip()
        if c and (not out or out[-1] != c):
            out.append(c)
    return out


def _parse_rows(rows: list[Row]) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    current: str | None = None
    for row in rows:
        cells = [_nfc(c) for c in row.cells]
        first = next((c for c in cells if c.strip()), "")
        hit = match_label(first, loose=row.kind == "line") if first else None
        if hit:
            fld, inline = hit
            if fld in values and any(v.strip() for v in values[fld]):
                hit = None  # field already answered: this is text that looks like a label
        if hit:
            fld, inline = hit
            rest_cells = _unique(cells[cells.index(first) + 1:]) if row.kind == "table" else []
            value_parts = ([inline] if inline else []) + rest_cells
            values[fld] = value_parts
            # table label with an answer beside it: done; otherwise the answer follows
            current = None if (row.kind == "table" and value_parts) else fld
            continue
        if current is None:
            continue
        text = "\n".join(_unique(cells))
        if not text:
            if row.kind == "line":
                values[current].append("")
            continue
        if _STOP_LINES.match(text):
            current = None
            continue
        values[current].append(text)
    return {k: "\n".join(v).strip() for k, v in values.items()}


_ROMAN = {"i": 1, "v": 5, "x": 10}


def _roman(s: str) -> int | None:
    s = s.lower()
    if not s or any(ch not in _ROMAN for ch in s) or len(s) > 6:
        return None
    total = 0
    for i, ch in enumerate(s):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    return total


def _num(tok: str) -> int | None:
    tok = tok.strip().rstrip(".")
    if tok.isdigit():
        return int(tok)
    return _roman(tok)


_TOKEN = r"(?:\d{1,2}|[ivxIVX]{1,5})"
_LIST = rf"{_TOKEN}\.?(?:\s*(?:,|;|&|\bja\b|\bning\b|-|–|—)\s*{_TOKEN}\.?)*"
_WORD = r"(?:osa(?:d|de|le|s|st)?|moodul(?:i|id|ite|is|ile|ist)?)"
_AFTER = re.compile(rf"\b{_WORD}\b\s*(?:nr\.?|number)?\s*(?P<list>{_LIST})(?![\w])", re.IGNORECASE)
_BEFORE = re.compile(rf"(?<![\w.])(?P<list>{_LIST})\s*{_WORD}\b", re.IGNORECASE)
MAX_PART = 50


def parse_parts(text: str) -> list[int]:
    """Part numbers named in `text`: "OSA 2", "II moodul", "2. osa", "osad 1, 3 ja 5", "1-3"."""
    found: set[int] = set()
    text = _nfc(text)
    for rx in (_AFTER, _BEFORE):
        for m in rx.finditer(text):
            seq = m.group("list")
            tokens = re.split(r"\s*(,|;|&|\bja\b|\bning\b|-|–|—)\s*", seq, flags=re.IGNORECASE)
            nums: list[int | str] = []
            for t in tokens:
                if t in ("-", "–", "—"):
                    nums.append("-")
                elif t and t.lower() not in (",", ";", "&", "ja", "ning"):
                    n = _num(t)
                    if n is not None:
                        nums.append(n)
            i = 0
            while i < len(nums):
                n = nums[i]
                if isinstance(n, int):
                    if i + 2 < len(nums) and nums[i + 1] == "-" and isinstance(nums[i + 2], int) and n <= nums[i + 2] <= MAX_PART:
                        found.update(range(n, nums[i + 2] + 1))  # type: ignore[arg-type]
                        i += 3
                        continue
                    found.add(n)
                i += 1
    return sorted(n for n in found if 1 <= n <= MAX_PART)


def _split_trainers(text: str) -> list[str]:
    names: list[str] = []
    for line in re.split(r"[\n;]", text):
        line = re.sub(r"^\s*(?:[-•*·–]|\d{1,2}[.)])\s*", "", line).strip()
        if not line:
            continue
        pieces = [p.strip() for p in re.split(r",|\s+ja\s+", line) if p.strip()]
        if len(pieces) > 1 and all(re.fullmatch(r"(?:[A-ZÕÄÖÜŠŽ][\w'-]*\.?\s+){1,3}[A-ZÕÄÖÜŠŽ][\w'-]*", p) for p in pieces):
            names.extend(pieces)
        else:
            names.append(line)
    return names


def _registry_code(value: str) -> str | None:
    m = re.search(r"(?<!\d)(\d{11}|\d{8})(?!\d)", re.sub(r"(?<=\d)[ \u00a0](?=\d)", "", value))
    return m.group(1) if m else None


_MISSING = {
    "bidder_name": ("missing_bidder_name", "Pakkumuse vormist ei leitud pakkuja nime."),
    "registry_code": ("missing_registry_code", "Pakkumuse vormist ei leitud pakkuja registrikoodi ega isikukoodi."),
    "parts": ("missing_parts", "Pakkumuse vormist ei selgu, millisele hanke osale (moodulile) pakkumus esitati."),
    "trainers": ("missing_trainers", "Pakkumuse vormist ei leitud koolitaja(te) nimesid."),
    "materials": ("missing_materials", "Pakkumuse vormis on õppevahendite ja -materjalide kirjeldus puudu või tühi."),
    "methods": ("missing_methods", "Pakkumuse vormis on õppemeetodite ja valiku põhjenduste kirjeldus puudu või tühi."),
}


def _reading_from_rows(rows: list[Row]) -> OfferReading:
    full_text = "\n".join("\t".join(c for c in r.cells if c.strip()) for r in rows).strip()
    values = _parse_rows(rows)
    reading = OfferReading(full_text=full_text)
    reading.bidder_name = values.get("bidder_name") or None
    if reading.bidder_name:
        reading.bidder_name = re.sub(r"\s+", " ", reading.bidder_name).strip()
    raw_code = values.get("registry_code", "")
    if raw_code:
        code = _registry_code(raw_code)
        reading.registry_code = code or raw_code.strip()
        if code is None:
            reading.problems.append(Problem(
                "invalid_registry_code",
                f"Pakkumuse vormi registrikood/isikukood „{raw_code.strip()[:60]}“ ei ole 8- ega 11-kohaline number. "
                "Palun kontrollige.",
            ))
    reading.parts = parse_parts(values["parts"]) if values.get("parts") else []
    if not reading.parts and "parts" not in values:
        reading.parts = parse_parts(full_text)
    reading.trainers = _split_trainers(values.get("trainers", ""))
    reading.materials = values.get("materials", "")
    reading.methods = values.get("methods", "")
    present = {
        "bidder_name": bool(reading.bidder_name),
        "registry_code": bool(reading.registry_code),
        "parts": bool(reading.parts),
        "trainers": bool(reading.trainers),
        "materials": bool(reading.materials.strip()),
        "methods": bool(reading.methods.strip()),
    }
    for fld in FIELDS:
        if not present[fld]:
            reading.problems.append(Problem(*_MISSING[fld]))
    return reading


def read_offer_form(data: bytes, filename: str, labels: tuple = ()) -> OfferReading:
    """Read an offer form (.docx, .odt, .pdf, .doc best effort); never raises. `labels`: the procurement's
    template labels (`template.template_labels`): the bidder's rows are aligned to them first."""
    try:
        big = too_large(data)
        if big:
            return OfferReading(problems=[big])
        kind = sniff(data, filename)
        if kind in ("docx", "odt"):
            problem = check_zip(data)
            if problem is not None:
                if problem.code == "unreadable_zip":
                    return OfferReading(problems=[_unreadable()])
                return OfferReading(problems=[problem])
        if kind not in ("docx", "odt", "pdf", "doc"):
            return OfferReading(problems=[_unsupported(filename)])
        try:
            rows = offer_rows(data, filename)
        except Unsupported:
            return OfferReading(problems=[_unsupported(filename)])
        if labels:
            from hankebot.mailer.forms.template import align

            rows = align(rows, labels)
        return _reading_from_rows(rows)
    except BaseException as exc:  # noqa: BLE001 - bad input never crashes the pipeline
        if is_fatal(exc):
            raise
        return OfferReading(problems=[_unreadable()])


def _unreadable() -> Problem:
    return Problem(
        "unreadable_offer_form",
        "Pakkumuse vormi ei õnnestunud avada (fail on rikutud või loetamatu). Palun avage fail ise ja kontrollige.",
    )


def _unsupported(filename: str) -> Problem:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "doc":
        msg = (
            "Pakkumuse vorm on vanas Wordi .doc-vormingus, mida ei saa selles serveris automaatselt lugeda "
            "(antiword ega LibreOffice pole paigaldatud). Palun avage fail ise või paluge pakkujalt "
            ".docx- või PDF-faili."
        )
    else:
        msg = (
            f"Pakkumuse vormi failivormingut{' (.' + ext + ')' if ext else ''} ei toetata; loetakse .docx, .odt, "
            ".pdf ja .doc faile. Palun avage fail ise."
        )
    return Problem("unsupported_format", msg)
