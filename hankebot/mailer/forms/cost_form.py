"""Reads the price from a cost form ("Lisa 3 maksumuse vorm").

Spreadsheets (.xlsx, .xlsm, .xls, .ods) are read with python-calamine (values only: macros
are never run). Whether a price cell is a formula matters only when it reads as empty or zero;
then, for .xlsx/.xlsm, the cell's element in the sheet XML says so (`<f>`), and openpyxl is asked
instead whenever that XML is anything but plain (shared/array formulas, text cells, rows or cells
without a reference...). The `formulas` package evaluates a formula whose cached value is missing.
A cost form sent as PDF is read from its text (pypdf; cost_pdf.py). Formula detection and evaluation
live in cost_formulas.py.

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

from dataclasses import dataclass
from decimal import Decimal

from hankebot.core.amounts import format_amount_et, parse_amount
from hankebot.core.models import CostFormSpec, PriceCell, PriceReading
from hankebot.core.problems import Problem
from hankebot.mailer.forms.cost_formulas import (
    cell_index, evaluate_xlsx, ods_formulas, xlsx_formulas, xlsx_formulas_quick,
)
from hankebot.mailer.forms.cost_pdf import read_pdf
from hankebot.mailer.forms.price_checks import float_to_decimal, plausibility
from hankebot.mailer.forms.safety import check_zip, too_large
from hankebot.mailer.forms.text import SPREADSHEET_TYPES, is_fatal, norm, sniff
from hankebot.mailer.forms.workbook import workbook_of

def _unreadable(detail: str = "") -> Problem:
    extra = f" ({detail})" if detail else ""
    return Problem(
        "unreadable_cost_form",
        f"Maksumuse vormi ei õnnestunud avada{extra}. Palun avage fail ise ja sisestage hind käsitsi.",
    )


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


# --- spreadsheet reading -----------------------------------------------------------------


def _read_spreadsheet(data: bytes, kind: str, spec: CostFormSpec) -> tuple[list[_Cell], list[Problem]]:
    wb = workbook_of(data)
    names = list(wb.sheet_names)
    cells: list[_Cell] = []
    for pcell in spec.cells:
        sheet = _find_sheet(names, pcell.sheet)
        if sheet is None:
            cells.append(_Cell(pcell, "no_sheet"))
            continue
        row, col = cell_index(pcell.cell)
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
            formulas = xlsx_formulas_quick(data, targets)
        except Exception:  # noqa: BLE001 - anything unusual: openpyxl decides, as before
            formulas = xlsx_formulas(data, targets)
    elif kind == "ods":
        formulas = ods_formulas(data, [(c.sheet_name, c.spec.cell) for c in present])
    for c in present:
        if kind in ("xlsx", "xlsm", "ods"):
            c.is_formula = formulas.get((c.sheet_name, c.spec.cell)) is not None
    unevaluated = [c for c in present if c.is_formula and c.state == "empty"]
    if unevaluated:
        evaluated: dict[tuple[str, str], Decimal] = {}
        if kind in ("xlsx", "xlsm"):
            try:
                evaluated = evaluate_xlsx(data, [(c.sheet_name, c.spec.cell) for c in unevaluated])
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


# --- decisions ---------------------------------------------------------------------------



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
    reading.problems.extend(plausibility(c.value, spec))
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
                return read_pdf(data, spec)
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
