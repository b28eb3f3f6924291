"""Builders of sample procurement forms (cost form "Lisa 3", offer form "Lisa 2").

Used by tests, the demo and benchmarks. The layout follows the real procurement 302834 forms:

* cost form: sheet "füüsilise isiku maksumus" with cost lines in A2:B14 and the total
  ("kogukulu") in B15 = SUM(B2:B14); sheet "juriidilise isiku maksumus" with one service row:
  B2 price without VAT, C2 VAT, D2 = B2+C2 ("kogukulu km-ga").
* offer form: a table of label cells ("Pakkuja nimi", "Registrikood", "Hanke osa(d)",
  "Koolitaja(d)", "Õppevahendid ja -materjalid", "Õppemeetodid ja valiku põhjendused")
  with the answers in the cell to the right.

How cached formula values are produced ("LibreOffice-saved" xlsx): openpyxl writes formulas
as ``<c r="B15"><f>SUM(B2:B14)</f><v></v></c>`` with no cached result, like a file produced
by a script. With ``cached_values=True`` the builder rewrites the sheet XML inside the zip so
that every formula cell also carries its cached ``<v>result</v>`` (computed here with Decimal),
which is what LibreOffice and Excel store. With ``cached_values=False`` the formulas are left
without cached values, so a reader must evaluate them itself.

Formats: xlsx/xlsm (openpyxl + XML post-processing; xlsm also gets the macro-enabled content
type and a dummy ``xl/vbaProject.bin``), xls (xlwt; plain values, since xlwt cannot store
cached formula results), ods (odfpy; formulas with ``office:value`` when cached_values=True),
pdf (reportlab; the printed text of both sheets).
"""
from __future__ import annotations

import io
import re
import zipfile
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from hankebot.core.amounts import format_amount_et
from hankebot.core.models import PriceBasis

NATURAL_SHEET = "füüsilise isiku maksumus"
LEGAL_SHEET = "juriidilise isiku maksumus"
VAT_RATE = Decimal("0.24")
CENT = Decimal("0.01")

_NATURAL_LINES = [
    "Koolitaja tasu (bruto)",
    "Sotsiaalmaks 33%",
    "Töötuskindlustusmakse (tööandja) 0,8%",
    "Ruumide rent",
    "Toitlustus",
    "Õppematerjalid",
    "Transport",
    "Majutus",
    "Muud kulud",
    "",
    "",
    "",
    "",
]  # rows 2..14

OFFER_LABELS = {
    "bidder_name": "Pakkuja nimi",
    "registry_code": "Registrikood / isikukood",
    "parts": "Hanke osa(d), millele pakkumus esitatakse",
    "trainers": "Koolitaja(d)",
    "materials": "Õppevahendid ja -materjalid",
    "methods": "Õppemeetodid ja valiku põhjendused",
}


def _dec(price: Decimal | str | None) -> Decimal | None:
    if price is None:
        return None
    return Decimal(str(price))


def _natural_lines(total: Decimal) -> list[Decimal | None]:
    """Split a natural person's total into plausible cost lines that add up exactly."""
    values: list[Decimal | None] = [None] * 13
    if total <= 0:
        values[0] = total
        return values
    fee = (total / Decimal("1.338")).quantize(CENT, rounding=ROUND_DOWN)
    social = (fee * Decimal("0.33")).quantize(CENT, rounding=ROUND_DOWN)
    unemployment = (fee * Decimal("0.008")).quantize(CENT, rounding=ROUND_DOWN)
    values[0], values[1], values[2] = fee, social, unemployment
    rest = total - fee - social - unemployment
    if rest:
        values[8] = rest
    return values


def _legal_row(total: Decimal) -> tuple[Decimal, Decimal]:
    """Net price and VAT that add up exactly to `total`."""
    net = (total / (1 + VAT_RATE)).quantize(CENT)
    return net, total - net


class _Layout:
    """Cell contents of both sheets: value, formula (without '='), or text."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, object]] = {NATURAL_SHEET: {}, LEGAL_SHEET: {}}
        self.formulas: dict[str, dict[str, tuple[str, Decimal]]] = {NATURAL_SHEET: {}, LEGAL_SHEET: {}}


def _layout(
    basis: PriceBasis | None, price: Decimal | None, both_filled: bool, as_text: str | None
) -> _Layout:
    lay = _Layout()
    nat, leg = lay.cells[NATURAL_SHEET], lay.cells[LEGAL_SHEET]
    nat["A1"], nat["B1"] = "Kulu liik", "Summa (eurot)"
    for i, label in enumerate(_NATURAL_LINES):
        if label:
            nat[f"A{i + 2}"] = label
    nat["A15"] = "kogukulu"
    leg["A1"], leg["B1"], leg["C1"], leg["D1"] = "Teenus", "Maksumus km-ta", "Käibemaks 24%", "kogukulu km-ga"
    leg["A2"] = "Ühe koolitusgrupi koolitus"

    fill_natural = basis is PriceBasis.NATURAL_TOTAL or (both_filled and basis is not None)
    fill_legal = basis is PriceBasis.LEGAL_WITH_VAT or (both_filled and basis is not None)

    nat_total = Decimal(0)
    if fill_natural and price is not None and not (as_text is not None and basis is PriceBasis.NATURAL_TOTAL):
        for i, v in enumerate(_natural_lines(price)):
            if v is not None:
                nat[f"B{i + 2}"] = v
                nat_total += v
    if as_text is not None and basis is PriceBasis.NATURAL_TOTAL:
        nat["B15"] = as_text
    else:
        lay.formulas[NATURAL_SHEET]["B15"] = ("SUM(B2:B14)", nat_total)

    leg_total = Decimal(0)
    if fill_legal and price is not None and not (as_text is not None and basis is PriceBasis.LEGAL_WITH_VAT):
        net, vat = _legal_row(price)
        leg["B2"], leg["C2"] = net, vat
        leg_total = net + vat
    if as_text is not None and basis is PriceBasis.LEGAL_WITH_VAT:
        leg["D2"] = as_text
    else:
        lay.formulas[LEGAL_SHEET]["D2"] = ("B2+C2", leg_total)
    return lay


def _plain(v: Decimal) -> str:
    """Decimal as the plain text a spreadsheet stores in <v>: no exponent, no trailing zeros."""
    s = format(v.normalize(), "f")
    return s


def _xlsx(lay: _Layout, cached_values: bool, macro: bool) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    first = wb.active
    first.title = NATURAL_SHEET
    wb.create_sheet(LEGAL_SHEET)
    for sheet, cells in lay.cells.items():
        ws = wb[sheet]
        for ref, value in cells.items():
            ws[ref] = value
        for ref, (formula, _) in lay.formulas[sheet].items():
            ws[ref] = "=" + formula
    ws_nat = wb[NATURAL_SHEET]
    ws_nat.column_dimensions["A"].width = 40
    ws_nat.column_dimensions["B"].width = 16
    buf = io.BytesIO()
    wb.save(buf)
    if not cached_values and not macro:
        return buf.getvalue()

    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    sheet_files = {NATURAL_SHEET: "xl/worksheets/sheet1.xml", LEGAL_SHEET: "xl/worksheets/sheet2.xml"}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            for sheet, path in sheet_files.items():
                if item.filename == path and cached_values:
                    text = data.decode("utf-8")
                    for ref, (_, value) in lay.formulas[sheet].items():
                        text = re.sub(
                            rf'(<c r="{ref}"[^>]*>\s*<f>[^<]*</f>)\s*(?:<v>[^<]*</v>|<v\s*/>)?',
                            lambda m, v=value: f"{m.group(1)}<v>{_plain(v)}</v>",
                            text,
                        )
                    data = text.encode("utf-8")
            if macro and item.filename == "[Content_Types].xml":
                text = data.decode("utf-8").replace(
                    "spreadsheetml.sheet.main+xml", "PLACEHOLDER"
                ).replace(
                    "application/vnd.openxmlformats-officedocument.PLACEHOLDER",
                    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
                text = text.replace(
                    "<Default Extension=\"xml\"",
                    '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                    "<Default Extension=\"xml\"",
                )
                data = text.encode("utf-8")
            if macro and item.filename == "xl/_rels/workbook.xml.rels":
                data = data.decode("utf-8").replace(
                    "</Relationships>",
                    '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject"'
                    ' Target="vbaProject.bin"/></Relationships>',
                ).encode("utf-8")
            dst.writestr(item, data)
        if macro:
            # Not a real VBA project: readers must never run or even need it.
            dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return out.getvalue()


def _xls(lay: _Layout) -> bytes:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    for sheet in (NATURAL_SHEET, LEGAL_SHEET):
        ws = wb.add_sheet(sheet)
        merged: dict[str, object] = dict(lay.cells[sheet])
        for ref, (_, value) in lay.formulas[sheet].items():
            merged.setdefault(ref, value)
        for ref, value in merged.items():
            col = ord(ref[0]) - ord("A")
            row = int(ref[1:]) - 1
            ws.write(row, col, float(value) if isinstance(value, Decimal) else value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ods(lay: _Layout, cached_values: bool) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for sheet in (NATURAL_SHEET, LEGAL_SHEET):
        table = Table(name=sheet)
        table.addElement(TableColumn(numbercolumnsrepeated=4))
        cells = lay.cells[sheet]
        formulas = lay.formulas[sheet]
        for row in range(1, 16):
            tr = TableRow()
            for col in "ABCD":
                ref = f"{col}{row}"
                if ref in formulas:
                    formula, value = formulas[ref]
                    odf_formula = "of:=" + re.sub(r"([A-Z]+\d+)", r"[.\1]", formula).replace("[.B2]:[.B14]", "[.B2:.B14]")
                    if cached_values:
                        tc = TableCell(valuetype="float", value=_plain(value), formula=odf_formula)
                        tc.addElement(P(text=_plain(value)))
                    else:
                        tc = TableCell(formula=odf_formula)
                elif ref in cells:
                    value = cells[ref]
                    if isinstance(value, Decimal):
                        tc = TableCell(valuetype="float", value=_plain(value))
                        tc.addElement(P(text=_plain(value)))
                    else:
                        tc = TableCell(valuetype="string")
                        tc.addElement(P(text=str(value)))
                else:
                    tc = TableCell()
                tr.addElement(tc)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def text_pdf(lines: list[str]) -> bytes:
    """A PDF whose pages show `lines` (for tests of PDF-only forms)."""
    return _pdf(lines)


def _pdf(lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    for candidate in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ):
        if Path(candidate).exists():
            try:
                pdfmetrics.registerFont(TTFont("FormSans", candidate))
                font = "FormSans"
                break
            except Exception:  # noqa: BLE001 - fall back to the built-in font
                pass
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    width, height = A4
    y = height - 60
    c.setFont(font, 10)
    for line in lines:
        for chunk in _wrap(line, 95):
            if y < 60:
                c.showPage()
                c.setFont(font, 10)
                y = height - 60
            c.drawString(50, y, chunk)
            y -= 14
    c.save()
    return buf.getvalue()


def _wrap(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        out.append(cur)
    return out


def _cost_pdf(lay: _Layout) -> bytes:
    def show(v: object) -> str:
        return format_amount_et(v) if isinstance(v, Decimal) else str(v)

    lines = ["Lisa 3 maksumuse vorm", "", NATURAL_SHEET.upper()]
    nat = lay.cells[NATURAL_SHEET]
    for row in range(2, 15):
        if f"A{row}" in nat:
            value = nat.get(f"B{row}")
            lines.append(f"{nat[f'A{row}']}: {show(value) if value is not None else ''}".rstrip())
    nat_total = nat.get("B15", lay.formulas[NATURAL_SHEET].get("B15", ("", Decimal(0)))[1])
    lines.append(f"kogukulu: {show(nat_total) if nat_total else ''}".rstrip())
    lines += ["", LEGAL_SHEET.upper()]
    leg = lay.cells[LEGAL_SHEET]
    for ref, label in (("B2", "Maksumus km-ta"), ("C2", "Käibemaks 24%")):
        lines.append(f"{label}: {show(leg[ref]) if ref in leg else ''}".rstrip())
    leg_total = leg.get("D2", lay.formulas[LEGAL_SHEET].get("D2", ("", Decimal(0)))[1])
    lines.append(f"kogukulu km-ga: {show(leg_total) if leg_total else ''}".rstrip())
    return _pdf(lines)


def make_cost_form(
    basis: PriceBasis | None,
    price: Decimal | str | None,
    fmt: str = "xlsx",
    cached_values: bool = True,
    both_filled: bool = False,
    as_text: str | None = None,
) -> bytes:
    """A filled "Lisa 3 maksumuse vorm" as bytes in `fmt` (xlsx, xlsm, xls, ods, pdf).

    `basis` picks the sheet that gets `price` (None: blank form). `both_filled` fills both
    sheets with the price. `as_text` writes that text (e.g. "12 500,00 €") into the price
    cell of `basis` instead of a number/formula. `cached_values=False` leaves formulas without
    cached results (xlsx/xlsm/ods; xls and pdf always hold plain values).
    """
    lay = _layout(basis, _dec(price), both_filled, as_text)
    if fmt == "xlsx":
        return _xlsx(lay, cached_values, macro=False)
    if fmt == "xlsm":
        return _xlsx(lay, cached_values, macro=True)
    if fmt == "xls":
        return _xls(lay)
    if fmt == "ods":
        return _ods(lay, cached_values)
    if fmt == "pdf":
        return _cost_pdf(lay)
    raise ValueError(f"unknown cost form format: {fmt}")


def make_offer_form(
    bidder_name: str,
    registry_code: str,
    parts: list[int] | str,
    trainers: list[str],
    materials: str,
    methods: str,
    fmt: str = "docx",
    labels: dict[str, str] | None = None,
) -> bytes:
    """A filled "Lisa 2 pakkumuse vorm" as bytes in `fmt` (docx, odt, pdf).

    `parts` as ints are written like the invitation does ("OSA 2 – II moodul"); a string is
    written verbatim (to test other spellings).
    """
    roman = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
    if isinstance(parts, str):
        parts_text = parts
    else:
        parts_text = ", ".join(f"OSA {p} – {roman[p] if p < len(roman) else p} moodul" for p in parts)
    values = {
        "bidder_name": bidder_name,
        "registry_code": registry_code,
        "parts": parts_text,
        "trainers": "\n".join(trainers),
        "materials": materials,
        "methods": methods,
    }
    title = "Lisa 2 PAKKUMUSE VORM"
    intro = (
        "Väikehange „Kõrge abivajadusega ja riskikäitumisega laste ja noortega töötavate "
        "spetsialistide baaskoolitused“ (viitenumber 302834)"
    )
    # `labels`: field -> the label the bidder's copy shows, in this order (reworded, reordered, numbered)
    shown = labels or OFFER_LABELS
    if fmt == "docx":
        return _offer_docx(title, intro, values, shown)
    if fmt == "odt":
        return _offer_odt(title, intro, values, shown)
    if fmt == "pdf":
        lines = [title, intro, ""]
        for key, label in shown.items():
            lines.append(f"{label}:")
            lines.extend(values[key].split("\n") if values[key] else [""])
            lines.append("")
        return _pdf(lines)
    raise ValueError(f"unknown offer form format: {fmt}")


def _offer_docx(title: str, intro: str, values: dict[str, str], shown: dict[str, str] = OFFER_LABELS) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    d.add_paragraph(intro)
    table = d.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, label in shown.items():
        row = table.add_row().cells
        row[0].text = label
        lines = values[key].split("\n")
        row[1].text = lines[0]
        for extra in lines[1:]:
            row[1].add_paragraph(extra)
    d.add_paragraph("Pakkumus on jõus 60 päeva pakkumuse esitamise tähtpäevast.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _offer_odt(title: str, intro: str, values: dict[str, str], shown: dict[str, str] = OFFER_LABELS) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text=title))
    doc.text.addElement(P(text=intro))
    table = Table(name="Pakkumus")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for key, label in shown.items():
        tr = TableRow()
        c1 = TableCell(valuetype="string")
        c1.addElement(P(text=label))
        c2 = TableCell(valuetype="string")
        for line in values[key].split("\n"):
            c2.addElement(P(text=line))
        tr.addElement(c1)
        tr.addElement(c2)
        table.addElement(tr)
    doc.text.addElement(table)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def blank_cost_form() -> bytes:
    """The blank "Lisa 3 maksumuse vorm" (xlsx, formulas with cached zero results)."""
    return make_cost_form(None, None, fmt="xlsx", cached_values=True)


def blank_offer_form() -> bytes:
    """The blank "Lisa 2 pakkumuse vorm" (docx)."""
    return make_offer_form("", "", "", [], "", "", fmt="docx")


def write_templates(folder: Path) -> list[Path]:
    """Write both blank templates into `folder` (e.g. forms/302834); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    offer = folder / "Lisa 2 pakkumuse vorm.docx"
    cost = folder / "Lisa 3 maksumuse vorm.xlsx"
    offer.write_bytes(blank_offer_form())
    cost.write_bytes(blank_cost_form())
    return [offer, cost]



def cost_form_spec_302834(min_price: Decimal | None = None, max_price: Decimal | None = None):
    """The cost-form spec of procurement 302834 (B15 natural total, D2 legal total with VAT)."""
    from hankebot.core.models import CostFormSpec, PriceCell

    return CostFormSpec(
        cells=(
            PriceCell(PriceBasis.NATURAL_TOTAL, NATURAL_SHEET, "B15"),
            PriceCell(PriceBasis.LEGAL_WITH_VAT, LEGAL_SHEET, "D2"),
        ),
        min_price=min_price,
        max_price=max_price,
    )


def form_specs_302834():
    """Both forms of procurement 302834 as FormSpecs (offer form, cost form)."""
    from hankebot.core.models import FormKind, FormSpec

    return [
        FormSpec("offer_form", "Lisa 2 pakkumuse vorm", FormKind.OFFER),
        FormSpec("cost_form", "Lisa 3 maksumuse vorm", FormKind.COST, cost=cost_form_spec_302834()),
    ]


if __name__ == "__main__":  # python -m hankebot.devstack.sample_forms [folder]
    import sys

    for p in write_templates(Path(sys.argv[1] if len(sys.argv) > 1 else "forms/302834")):
        print(p)
