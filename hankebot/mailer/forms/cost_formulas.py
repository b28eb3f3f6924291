"""Which price cells of a spreadsheet cost form are formulas, and what a formula without a cached value
evaluates to (used by cost_form.py only when a cell reads as empty or zero).

.xlsx/.xlsm: the cell's element in the sheet XML (`<f>`), or openpyxl (read-only) whenever that XML is
anything but plain; .ods: the cell's table:formula attribute; evaluation with the `formulas` package.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import zipfile
from decimal import Decimal
from xml.etree import ElementTree

from hankebot.mailer.forms.price_checks import float_to_decimal
from hankebot.mailer.forms.safety import open_zip
from hankebot.mailer.forms.text import norm

MAX_FORMULAS_TO_EVALUATE = 2000  # larger workbooks are not evaluated (time bound)


def cell_index(ref: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*([A-Za-z]{1,3})(\d{1,7})\s*", ref)
    if not m:
        raise ValueError(f"bad cell reference {ref!r}")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + (ord(ch) - 64)
    return int(m.group(2)) - 1, col - 1



def xlsx_formulas(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Formula text (or None) of each (sheet, A1) in an xlsx/xlsm, via openpyxl read-only."""
    import openpyxl

    out: dict[tuple[str, str], str | None] = {}
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_vba=False)
    try:
        for sheet, ref in cells:
            row, col = cell_index(ref)
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


_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_WORKBOOK_TYPES = frozenset({  # openpyxl.reader.excel._find_workbook_part's
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
})


# SHA-256 digests of XML parts (at least WELL_FORMED_MIN bytes) the check's parser took before: the
# template's theme, styles and manifest come again in every bid, and the same bytes parse the same.
# Process-wide, at most WELL_FORMED_KEEP digests (then started afresh).
WELL_FORMED_MIN = 512
WELL_FORMED_KEEP = 4096
_well_formed: dict[bytes, None] = {}


def _openpyxl_could_open(zf: zipfile.ZipFile) -> None:
    """Raises where openpyxl's loader would fail early: an XML part that is not well-formed (its own
    parser) or no workbook part in the manifest. (The reader answered "unreadable" for such files before
    the quick check existed, and still does.)

    Checked without importing openpyxl (a quarter of a second of a cold start, numpy included): with the
    parser openpyxl uses (lxml, entities not resolved), and a manifest of plain Default/Override entries
    naming exactly one workbook part, /xl/workbook.xml. Anything else raises, and openpyxl decides."""
    if os.environ.get("OPENPYXL_LXML", "True") != "True":
        raise _NotSure()  # openpyxl would parse with another parser
    from lxml.etree import XMLParser, fromstring

    parser = XMLParser(resolve_entities=False)
    for name in zf.namelist():
        if name.endswith((".xml", ".rels", ".vml")):
            part = zf.read(name)
            if len(part) < WELL_FORMED_MIN:
                fromstring(part, parser=parser)
                continue
            key = hashlib.sha256(part).digest()
            if key not in _well_formed:  # else: these very bytes parsed before
                fromstring(part, parser=parser)
                if len(_well_formed) >= WELL_FORMED_KEEP:
                    _well_formed.clear()
                _well_formed[key] = None
    types = fromstring(zf.read("[Content_Types].xml"), parser=parser)
    if types.tag != f"{_CT}Types":
        raise _NotSure()
    workbooks = []
    for el in types:
        if el.tag == f"{_CT}Override" and set(el.attrib) == {"PartName", "ContentType"}:
            if el.get("ContentType") in _WORKBOOK_TYPES:
                workbooks.append(el.get("PartName"))
        elif el.tag != f"{_CT}Default" or set(el.attrib) != {"Extension", "ContentType"}:
            raise _NotSure()  # a comment, another element, other attributes: openpyxl's own reading decides
    if workbooks != ["/xl/workbook.xml"]:
        raise _NotSure()


def _xlsx_cell_formula(zf: zipfile.ZipFile, path: str, ref: str) -> str | None:
    """What openpyxl (read-only, data_only=False) reports for one cell: its formula text or None.
    Raises _NotSure on anything but plain rows/cells (then openpyxl decides)."""
    row_no, col_no = cell_index(ref)
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


def xlsx_formulas_quick(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """`xlsx_formulas` without loading the workbook: the sheet XML of the wanted cells only."""
    zf = open_zip(data)
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


def ods_formulas(data: bytes, cells: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Formula attribute (or None) of each (sheet, A1) in an ods content.xml."""
    t = "{%s}" % _ODS_NS["table"]
    wanted: dict[str, list[tuple[int, int, str]]] = {}
    for sheet, ref in cells:
        r, c = cell_index(ref)
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


def evaluate_xlsx(data: bytes, targets: list[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
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
