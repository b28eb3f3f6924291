"""Reads the price from a cost form ("Lisa 3 maksumuse vorm").

Spreadsheets (.xlsx, .xlsm, .xls, .ods) are read with python-calamine (values only: macros
are never run). Whether a price cell is a formula matters only when it reads as empty or zero;
then, for .xlsx/.xlsm, the cell's element in the sheet XML says so (`<f>`), and openpyxl is asked
instead whenever that XML is anything but plain (shared/array formulas, text cells, rows or cells
without a reference...). The `formulas` package evaluates a formula whose cached value is missing.
A cost form sent as PDF is read from its text (pypdf).

Which basis: the spec lists one price cell per basis (sheet + cell). A cell counts as
"filled" when it holds a non-zero number, a typed (non-formula) zero, text, or a formula
that could not be evaluated. A zero computed by a formula (the blank template's SUM) is
not filled. Exactly one filled cell decides the basis; two -> "ambiguous_price"; none ->
"missing_price".

Numbers from the reader are floats; they become Decimal by this rule:
``d = Decimal(repr(round(x, 10)))`` (rounding away binary noise such as
0.1 + 0.2 = 0.30000000000000004), then ``d.quantize(Decimal("0.01"))`` when that is exact
(so 12500.5 -> Decimal("12500.50")); otherwise d is kept as is (sub-cent values are shown,
not rounded). Text is read with `parse_amount`.

A PriceReading with problems needs a human; `price` is still set when a number was read
(e.g. an implausible price), so the expert sees what the form says.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from hankebot.core.amounts import format_amount_et, parse_amount
from hankebot.core.models import CostFormSpec, PriceBasis, PriceCell, PriceReading
from hankebot.core.problems import Problem
from hankebot.mailer.forms.safety import check_zip, too_large
from hankebot.mailer.forms.text import SPREADSHEET_TYPES, is_fatal, norm, pdf_text, sniff

CENT = Decimal("0.01")
MAX_FORMULAS_TO_EVALUATE = 2000  # larger workbooks are not evaluated (time bound)

BASIS_ET = {
    PriceBasis.NATURAL_TOTAL: "füüsilise isiku kogukulu",
    PriceBasis.LEGAL_WITH_VAT: "juriidilise isiku kogukulu km-ga",
}


def _unreadable(detail: str = "") -> Problem:
    extra = f" ({detail})" if detail else ""
    return Problem(
        "unreadable_cost_form",
        f"Maksumuse vormi ei õnnestunud avada{extra}. Palun avage fail ise ja sisestage hind käsitsi.",
    )


def float_to_decimal(x: float | int) -> Decimal | None:
    """A spreadsheet number as Decimal (rule in the module docstring); None for inf/nan."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return Decimal(x).quantize(CENT)
    if not math.isfinite(x):
        return None
    d = Decimal(repr(round(x, 10)))
    try:
        q = d.quantize(CENT)
    except InvalidOperation:
        return d
    return q if q == d else d


@dataclass
class _Cell:
    """What one price cell holds."""

    spec: PriceCell
    state: str  # "empty" | "number" | "text" | "unevaluated" | "no_sheet"
    value: Decimal | None = None
    text: str = ""
    is_formula: bool | None = None  # None: unknown (xls)
    sheet_name: str | None = None  # as spelled in the file

    @property
    def filled(self) -> bool:
        if self.state in ("text", "unevaluated"):
            return True
        if self.state != "number" or self.value is None:
            return False
        if self.value == 0:
            # a typed zero is a (bad) answer; a zero computed by a formula is a blank form
            return self.is_formula is False or (self.is_formula is None and self.text != "")
        return True


def _cell_index(ref: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*([A-Za-z]{1,3})(\d{1,7})\s*", ref)
    if not m:
        raise ValueError(f"bad cell reference {ref!r}")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + (ord(ch) - 64)
    return int(m.group(2)) - 1, col - 1


def _find_sheet(names: list[str], wanted: str) -> str | None:
    key = norm(wanted)
    for name in names:
        if norm(name) == key:
            return name
    return None


def _classify(raw: object) -> tuple[str, Decimal | None, str]:
    if raw is None:
        return "empty", None, ""
    if isinstance(raw, bool):
        return "text", None, str(raw)
    if isinstance(raw, (int, float)):
        d = float_to_decimal(raw)
        return ("number", d, "") if d is not None else ("text", None, str(raw))
    if isinstance(raw, str):
        s = raw.strip()
        if not s:
            return "empty", None, ""
        d = parse_amount(s)
        return ("number", d, s) if d is not None else ("text", None, s)
    return "text", None, str(raw)


# --- formula detection -------------------------------------------------------------------


def _xlsx_formulas(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Formula text (or None) of each (sheet, A1) in an xlsx/xlsm, via openpyxl read-only."""
    import openpyxl

    out: dict[tuple[str, str], str | None] = {}
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_vba=False)
    try:
        for sheet, ref in cells:
            row, col = _cell_index(ref)
            value = None
            for r in wb[sheet].iter_rows(min_row=row + 1, max_row=row + 1, min_col=col + 1, max_col=col + 1):
                for c in r:
                    value = c.value
            out[(sheet, ref)] = value if isinstance(value, str) and value.startswith("=") else None
    finally:
        wb.close()
    return out


_X_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_X_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_WORKSHEET_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
_OFFICE_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_COORD = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class _NotSure(Exception):
    """The quick formula check met something unusual: ask openpyxl instead."""


def _xlsx_sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part path, from the workbook's own relationships (names unique)."""
    root_rels = ElementTree.fromstring(zf.read("_rels/.rels"))
    office = [r.get("Target", "").lstrip("/") for r in root_rels.iter(f"{_PKG_REL}Relationship")
              if r.get("Type") == _OFFICE_DOC_REL]
    if office != ["xl/workbook.xml"]:
        raise _NotSure()
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets: dict[str, str] = {}
    for r in rels.iter(f"{_PKG_REL}Relationship"):
        if r.get("Type") == _WORKSHEET_REL and r.get("TargetMode") != "External":
            t = r.get("Target", "")
            targets[r.get("Id", "")] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    paths: dict[str, str] = {}
    for sheet in ElementTree.fromstring(zf.read("xl/workbook.xml")).iter(f"{_X_MAIN}sheet"):
        name, rid = sheet.get("name"), sheet.get(f"{_X_REL}id")
        if name is None or name in paths or rid not in targets:
            raise _NotSure()
        paths[name] = targets[rid]
    return paths


def _openpyxl_could_open(zf: zipfile.ZipFile) -> None:
    """Raises where openpyxl's loader would fail early: an XML part that is not well-formed (its own
    parser) or no workbook part in the manifest. (The reader answered "unreadable" for such files before
    the quick check existed, and still does.)"""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.reader.excel import _find_workbook_part
    from openpyxl.xml.functions import fromstring

    for name in zf.namelist():
        if name.endswith((".xml", ".rels", ".vml")):
            fromstring(zf.read(name))
    manifest = Manifest.from_tree(fromstring(zf.read("[Content_Types].xml")))
    if _find_workbook_part(manifest).PartName != "/xl/workbook.xml":
        raise _NotSure()


def _xlsx_cell_formula(zf: zipfile.ZipFile, path: str, ref: str) -> str | None:
    """What openpyxl (read-only, data_only=False) reports for one cell: its formula text or None.
    Raises _NotSure on anything but plain rows/cells (then openpyxl decides)."""
    row_no, col_no = _cell_index(ref)
    row_no += 1
    col = ref.strip().upper().rstrip("0123456789")
    found = None
    with zf.open(path) as fh:
        for _event, el in ElementTree.iterparse(fh, events=("end",)):
            if el.tag != f"{_X_MAIN}row":
                continue
            r = el.get("r", "")
            if not r.isdigit():
                raise _NotSure()
            idx = int(r)
            if idx > row_no:
                break
            for c in el:
                m = _COORD.fullmatch(c.get("r", "")) if c.tag == f"{_X_MAIN}c" else None
                if m is None:
                    raise _NotSure()
                if idx == row_no and m.group(1) == col:
                    found = c  # the last cell of that column wins, as in openpyxl
            if idx == row_no:
                break  # openpyxl reads the first row element with this number only
            el.clear()
    if found is None:
        return None
    f = found.find(f"{_X_MAIN}f")
    if f is not None:
        if f.get("t") in ("shared", "array") or f.attrib.keys() - {"ca", "aca", "bx", "dt2D", "dtr"}:
            raise _NotSure()  # openpyxl rewrites these formulas; only "is a formula" is needed, but be exact
        return "=" + (f.text or "")
    t = found.get("t", "n")
    v = found.findtext(f"{_X_MAIN}v", None) or None
    if t == "n" and (v is None or _NUMBER.fullmatch(v.strip())):
        return None
    raise _NotSure()  # text cells may start with "=" (openpyxl would call that a formula)


def _xlsx_formulas_quick(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """`_xlsx_formulas` without loading the workbook: the sheet XML of the wanted cells only."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    _openpyxl_could_open(zf)
    paths = _xlsx_sheet_paths(zf)
    out: dict[tuple[str, str], str | None] = {}
    for sheet, ref in cells:
        if sheet not in paths or paths[sheet] not in zf.NameToInfo:
            raise _NotSure()
        out[(sheet, ref)] = _xlsx_cell_formula(zf, paths[sheet], ref)
    return out


_ODS_NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
}


def _ods_formulas(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Formula attribute (or None) of each (sheet, A1) in an ods content.xml."""
    t = "{%s}" % _ODS_NS["table"]
    wanted: dict[str, list[tuple[int, int, str]]] = {}
    for sheet, ref in cells:
        r, c = _cell_index(ref)
        wanted.setdefault(sheet, []).append((r, c, ref))
    out: dict[tuple[str, str], str | None] = {(s, ref): None for s, ref in cells}
    root = ElementTree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("content.xml"))
    for table in root.iter(f"{t}table"):
        name = table.get(f"{t}name", "")
        if name not in wanted:
            continue
        row_i = 0
        for row in table.iter(f"{t}table-row"):
            repeat_r = min(int(row.get(f"{t}number-rows-repeated", "1") or 1), 1_048_576)
            col_i = 0
            for cell in row:
                if cell.tag not in (f"{t}table-cell", f"{t}covered-table-cell"):
                    continue
                repeat_c = min(int(cell.get(f"{t}number-columns-repeated", "1") or 1), 16_384)
                formula = cell.get(f"{t}formula")
                for r, c, ref in wanted[name]:
                    if row_i <= r < row_i + repeat_r and col_i <= c < col_i + repeat_c:
                        out[(name, ref)] = formula
                col_i += repeat_c
            row_i += repeat_r
    return out


def _evaluate_xlsx(data: bytes, targets: list[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """Evaluate formula cells of an xlsx with the `formulas` package. Missing keys: failed."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_vba=False)
    try:
        count = 0
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                count += sum(1 for v in row if isinstance(v, str) and v.startswith("="))
                if count > MAX_FORMULAS_TO_EVALUATE:
                    return {}
    finally:
        wb.close()

    import formulas

    results: dict[tuple[str, str], Decimal] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "costform.xlsx")
        with open(path, "wb") as fh:
            fh.write(data)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            model = formulas.ExcelModel().loads(path).finish()
            solution = model.calculate()
    by_key = {}
    for key, value in solution.items():
        m = re.fullmatch(r"'?\[[^\]]*\](.*?)'?!([A-Z]+\d+)", str(key))
        if m:
            by_key[(norm(m.group(1)), m.group(2))] = value
    for sheet, ref in targets:
        value = by_key.get((norm(sheet), ref.upper()))
        if value is None:
            continue
        raw = getattr(value, "value", value)
        try:
            raw = raw[0][0] if hasattr(raw, "__getitem__") and not isinstance(raw, str) else raw
            x = float(raw)
        except (TypeError, ValueError, IndexError):
            continue
        d = float_to_decimal(x)
        if d is not None:
            results[(sheet, ref)] = d
    return results


# --- spreadsheet reading -----------------------------------------------------------------


def _read_spreadsheet(data: bytes, kind: str, spec: CostFormSpec) -> tuple[list[_Cell], list[Problem]]:
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    names = list(wb.sheet_names)
    cells: list[_Cell] = []
    for pcell in spec.cells:
        sheet = _find_sheet(names, pcell.sheet)
        if sheet is None:
            cells.append(_Cell(pcell, "no_sheet"))
            continue
        row, col = _cell_index(pcell.cell)
        rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=row + 1)
        raw = rows[row][col] if row < len(rows) and col < len(rows[row]) else None
        state, value, text = _classify(raw)
        cells.append(_Cell(pcell, state, value, text, sheet_name=sheet))

    problems: list[Problem] = []
    present = [c for c in cells if c.sheet_name is not None]
    # Whether a cell is a formula matters only when it reads as empty (a formula without a cached
    # result) or as zero (a computed zero is a blank form, a typed zero an answer): see _Cell.filled.
    targets = [(c.sheet_name, c.spec.cell) for c in present
               if c.state == "empty" or (c.state == "number" and c.value == 0)]
    formulas: dict[tuple[str, str], str | None] = {}
    if kind in ("xlsx", "xlsm"):
        try:
            formulas = _xlsx_formulas_quick(data, targets)
        except Exception:  # noqa: BLE001 - anything unusual: openpyxl decides, as before
            formulas = _xlsx_formulas(data, targets)
    elif kind == "ods":
        formulas = _ods_formulas(data, [(c.sheet_name, c.spec.cell) for c in present])
    for c in present:
        if kind in ("xlsx", "xlsm", "ods"):
            c.is_formula = formulas.get((c.sheet_name, c.spec.cell)) is not None
    unevaluated = [c for c in present if c.is_formula and c.state == "empty"]
    if unevaluated:
        evaluated: dict[tuple[str, str], Decimal] = {}
        if kind in ("xlsx", "xlsm"):
            try:
                evaluated = _evaluate_xlsx(data, [(c.sheet_name, c.spec.cell) for c in unevaluated])
            except BaseException as exc:  # noqa: BLE001 - any failure: ask the expert instead
                if is_fatal(exc):
                    raise
                evaluated = {}
        for c in unevaluated:
            key = (c.sheet_name, c.spec.cell)
            if key in evaluated:
                c.state, c.value = "number", evaluated[key]
            else:
                c.state = "unevaluated"
                c.text = formulas.get(key) or ""
    return cells, problems


# --- PDF ---------------------------------------------------------------------------------

_AMOUNT_TOKEN = re.compile(
    r"(?:€\s?|eur\s)?[-\u2212]?\d[\d\s.,'\u00a0\u202f\u2009]*(?:[.,]-|\d)(?:\s?(?:€|eurot|eur))?",
    re.IGNORECASE,
)


_COLUMN_AMOUNT = re.compile(r"(?<![\d,.])\d{1,3}(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d{2})(?![\d])|(?<![\d,.])\d+[.,]\d{2}(?!\d)")
_PERCENT = re.compile(r"[-\u2212]?\d+(?:[.,]\d+)?\s*%")


def _amount_in(text: str, last: bool = False) -> Decimal | None:
    """The amount in a bit of PDF text; percentages ("sotsiaalmaks 33%", "Käibemaks 24%") are never amounts.
    `last`: the last amount of the line (a table row whose last column is the total)."""
    text = _PERCENT.sub(" ", text).strip().lstrip(":=").strip()
    if not text:
        return None
    d = parse_amount(text)
    if d is not None:
        return d
    found = [d for d in (parse_amount(m.group(0).strip()) for m in _AMOUNT_TOKEN.finditer(text)) if d is not None]
    if not found or last:  # a row of columns "2 000,00 480,00 2 480,00": amounts with decimals, one by one
        cols = [d for d in (parse_amount(m.group(0)) for m in _COLUMN_AMOUNT.finditer(text)) if d is not None]
        found = cols or found
    if not found:
        return None
    return found[-1] if last else found[0]


_LEGAL_TOTAL = re.compile(r"kogukulu\s*\(?\s*(?:koos\s+(?:km|käibemaks\w*)|(?:km|käibemaksu)[\s-]*ga)\b\s*\)?")
_NATURAL_TOTAL = re.compile(r"kogukulu\b(?!\s*\(?\s*(?:km|käibemaks|koos))(?:\s*\((?:eurot?|eur|€)\))?")


def _pdf_basis(line: str) -> tuple[PriceBasis | None, str]:
    """The basis a PDF text line is the labelled total of ("kogukulu km-ga" / "kogukulu"), and the text
    after the label. A header row naming other columns first ("Maksumus km-ta  Käibemaks 24%  kogukulu
    km-ga") is the legal total's label too."""
    key = norm(line)
    m = _LEGAL_TOTAL.search(key)
    if m:
        return PriceBasis.LEGAL_WITH_VAT, key[m.end():]
    m = _NATURAL_TOTAL.search(key)
    if m and "käibemaks" not in key[m.start():]:
        return PriceBasis.NATURAL_TOTAL, key[m.end():]
    return None, ""


def _read_pdf(data: bytes, spec: CostFormSpec) -> PriceReading:
    text = pdf_text(data)
    lines = [ln for ln in text.splitlines()]
    found: dict[PriceBasis, set[Decimal]] = {}
    for i, line in enumerate(lines):
        basis, rest = _pdf_basis(line)
        if basis is None:
            continue
        amount = _amount_in(rest)
        if amount is None and i + 1 < len(lines) and _pdf_basis(lines[i + 1])[0] is None:
            # the label ends its line (a column header or a label cell): the total is the next line's last amount
            amount = _amount_in(lines[i + 1], last=True)
        if amount is not None and amount != 0:
            found.setdefault(basis, set()).add(amount)
    sheets = {c.basis: c.sheet for c in spec.cells}
    manual = Problem(
        "price_needs_manual_entry",
        "Maksumuse vorm on PDF-failina ja hinda ei õnnestunud sellest üheselt välja lugeda. "
        "Palun avage fail ja sisestage hind käsitsi.",
    )
    if len(found) > 1:
        shown = "; ".join(f"{BASIS_ET[b]} {', '.join(format_amount_et(v) for v in sorted(vs))}" for b, vs in found.items())
        return PriceReading(problems=[Problem(
            "ambiguous_price",
            f"Maksumuse vormis (PDF) on täidetud nii füüsilise kui ka juriidilise isiku maksumus ({shown}). "
            "Palun kontrollige, kumba hinda pakkuja mõtleb.",
        )])
    if len(found) == 1:
        basis, values = next(iter(found.items()))
        if len(values) == 1:
            price = next(iter(values))
            reading = PriceReading(price=price, basis=basis, sheet=sheets.get(basis))
            reading.problems.extend(_plausibility(price, spec))
            return reading
    return PriceReading(problems=[manual])


# --- decisions ---------------------------------------------------------------------------


def _plausibility(price: Decimal, spec: CostFormSpec) -> list[Problem]:
    shown = format_amount_et(price)
    if price <= 0:
        return [Problem("implausible_price", f"Maksumuse vormi hind on {shown} (null või negatiivne). Palun kontrollige.")]
    if spec.min_price is not None and price < spec.min_price:
        return [Problem(
            "implausible_price",
            f"Maksumuse vormi hind {shown} on väiksem kui oodatav alampiir {format_amount_et(spec.min_price)}. "
            "Palun kontrollige.",
        )]
    if spec.max_price is not None and price > spec.max_price:
        return [Problem(
            "implausible_price",
            f"Maksumuse vormi hind {shown} on suurem kui oodatav ülempiir {format_amount_et(spec.max_price)}. "
            "Palun kontrollige.",
        )]
    return []


def _where(c: _Cell) -> str:
    return f"leht „{c.sheet_name or c.spec.sheet}“, lahter {c.spec.cell}"


def _decide(cells: list[_Cell], spec: CostFormSpec) -> PriceReading:
    if cells and all(c.state == "no_sheet" for c in cells):
        wanted = ", ".join(f"„{c.spec.sheet}“" for c in cells)
        return PriceReading(problems=[Problem(
            "missing_price",
            f"Maksumuse vormis ei leitud hinnalehte ({wanted}). Palun kontrollige faili ja sisestage hind käsitsi.",
        )])
    filled = [c for c in cells if c.filled]
    known = [c for c in filled if c.state != "unevaluated"]
    unevaluated = [c for c in filled if c.state == "unevaluated"]
    if len(known) > 1:
        shown = "; ".join(
            f"{_where(c)}: {format_amount_et(c.value) if c.value is not None else '„' + c.text + '“'}" for c in known
        )
        return PriceReading(problems=[Problem(
            "ambiguous_price",
            f"Maksumuse vormis on täidetud mitu hinnalahtrit ({shown}). "
            "Palun kontrollige, kas pakkuja on füüsiline või juriidiline isik ja milline hind kehtib.",
        )])
    not_evaluated = [
        Problem(
            "formula_not_evaluated",
            f"Maksumuse vormi valemit ei õnnestunud arvutada ({_where(c)}"
            f"{', valem ' + c.text if c.text else ''}); failis puudub salvestatud tulemus. "
            "Palun avage fail ja kontrollige hinda.",
        )
        for c in unevaluated
    ]
    if not known:
        if not_evaluated:
            return PriceReading(problems=not_evaluated)
        return PriceReading(problems=[Problem(
            "missing_price",
            "Maksumuse vormis ei ole hinda: nii füüsilise isiku kogukulu kui ka juriidilise isiku "
            "kogukulu km-ga on tühjad (või 0). Palun kontrollige faili.",
        )])
    c = known[0]
    reading = PriceReading(basis=c.spec.basis, sheet=c.sheet_name or c.spec.sheet, cell=c.spec.cell)
    if c.state == "text":
        reading.problems.append(Problem(
            "price_needs_manual_entry",
            f"Maksumuse vormi hinnalahtris ({_where(c)}) on tekst „{c.text[:200]}“, mida ei saa summana lugeda. "
            "Palun sisestage hind käsitsi.",
        ))
        reading.problems.extend(not_evaluated)
        return reading
    reading.price = c.value
    reading.problems.extend(_plausibility(c.value, spec))
    reading.problems.extend(not_evaluated)
    return reading


def read_cost_form(data: bytes, filename: str, spec: CostFormSpec) -> PriceReading:
    """Read the price and its basis from a cost form; never raises (problems instead)."""
    try:
        big = too_large(data)
        if big:
            return PriceReading(problems=[big])
        kind = sniff(data, filename)
        if kind == "pdf":
            try:
                return _read_pdf(data, spec)
            except BaseException as exc:  # noqa: BLE001
                if is_fatal(exc):
                    raise
                return PriceReading(problems=[_unreadable("PDF-faili ei saanud lugeda")])
        if kind not in SPREADSHEET_TYPES:
            if kind in ("docx", "odt", "doc"):
                return PriceReading(problems=[Problem(
                    "price_needs_manual_entry",
                    "Maksumuse vorm on saadetud tekstidokumendina, mitte tabelina. "
                    "Palun avage fail ja sisestage hind käsitsi.",
                )])
            return PriceReading(problems=[_unreadable("tundmatu failivorming")])
        if kind in ("xlsx", "xlsm", "ods"):
            problem = check_zip(data)
            if problem is not None:
                if problem.code == "unreadable_zip":
                    return PriceReading(problems=[_unreadable("rikutud fail")])
                return PriceReading(problems=[problem])
        cells, problems = _read_spreadsheet(data, kind, spec)
        reading = _decide(cells, spec)
        reading.problems[:0] = problems
        return reading
    except BaseException as exc:  # noqa: BLE001 - bad input never crashes the pipeline
        if is_fatal(exc):
            raise
        return PriceReading(problems=[_unreadable()])
