"""The evaluation protocol ("Hindamise protokoll") as xlsx (openpyxl), PDF (reportlab) and a PNG chart.

xlsx layout (fixed, so other code and tests can rely on it):

Sheet "Kokkuvõte": A1 title; rows 2-8 label in A, value in B (viitenumber, nimetus, hankija,
tähtaeg, koostatud, koostaja, hindajad); A9 rounding line; A10 tie-break rule; row 12 header
(Osa, Nimetus, Hinnatud pakkumusi, Parim pakkuja, Koondpunktid, Hind, Kõrvale jäetud,
Hindamata); one row per part from row 13.

Sheet "Osalejad ja otsused" (second): invitees, problem-bid decisions, successful bids, impartiality
declaration and signature lines (see service.protocol_signed).

Sheet "Osa N" per part: A1 title, A2 procurement, A3 rounding line, A4 tie-break rule, row 6
header (Koht, Pakkuja, Hind, <criteria…>, Kokku), ranked bids from row 7. Below, sections whose
title is in column A: "Hindamiskriteeriumid", "Punktide selgitused", "Kõrvale jäetud
pakkumused", "Hindamata pakkumused", "Märkused" — each followed by its header row and rows.
Prices and points are numeric cells with number formats, never strings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import matplotlib
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from hankebot.core.evaluation import PartResult, ProtocolData, ScoredBid, ScoringRules
from hankebot.core.scoring import (
    format_eur,
    format_number,
    formula_description,
    rounding_description,
    tie_break_description,
)
from hankebot.service import protocol_signed as signed
from hankebot.service.chart import totals_bar_chart
from hankebot.service.evaluation import LATE_REASON  # a late bid: never opened, no price

TALLINN = ZoneInfo("Europe/Tallinn")
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
PRICE_FORMAT = '#,##0.00 "€"'
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


@dataclass(frozen=True)
class ProtocolFiles:
    xlsx: Path
    pdf: Path
    chart_png: Path


# ---------------------------------------------------------------- shared helpers


def format_datetime(value: datetime | None) -> str:
    """Estonian date-time in Tallinn time: "19.01.2026 kell 15.00" (naive = already local)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(TALLINN)
    return value.strftime("%d.%m.%Y kell %H.%M")


def _graders(data: ProtocolData) -> list[str]:
    if data.graded_by:
        return list(data.graded_by)
    names: set[str] = set()
    for part in data.parts:
        for s in part.ranked + part.pending:
            names.update(g.graded_by for g in s.bid.grades.values() if g.graded_by)
    return sorted(names)


def _points_format(rules: ScoringRules) -> str:
    return "0" if rules.rounding_places <= 0 else "0." + "0" * rules.rounding_places


def _price_text(price: Decimal | None) -> str:
    return format_eur(price) if price is not None else "—"


def _file_stem(ref: str) -> str:
    safe = re.sub(r"[^0-9A-Za-z_-]+", "_", ref).strip("_") or "hange"
    return f"hindamise_protokoll_{safe}"


def _grade_rows(part: PartResult, s: ScoredBid) -> list[dict]:
    """One row per criterion score of a bid, with the grade details for graded criteria."""
    rows = []
    names = {c.key: c for c in part.criteria}
    for cs in s.scores:
        c = names.get(cs.criterion_key)
        grade = s.bid.grades.get(cs.criterion_key) if c is not None and c.kind == "graded" else None
        level = c.level_for(grade.points) if grade is not None and c is not None else None
        rows.append(
            {
                "bidder": s.bid.bidder_name,
                "criterion": c.name if c else cs.criterion_key,
                "points": cs.points,
                "explanation": cs.explanation,
                "level": (level.name if level else grade.level_name) if grade else "",
                "justification": grade.justification if grade else "",
                "graded_by": grade.graded_by if grade else "",
                "graded_at": format_datetime(grade.graded_at) if grade else "",
            }
        )
    return rows


def _notes(part: PartResult) -> list[tuple[str, str]]:
    notes = []
    for s in part.ranked + part.pending:
        if s.tie_note:
            notes.append((s.bid.bidder_name, s.tie_note))
        for line in s.bid.signatures:
            notes.append((s.bid.bidder_name, f"Digiallkiri: {line}"))
        for p in s.bid.problems:
            notes.append((s.bid.bidder_name, p))
    return notes


# ---------------------------------------------------------------- xlsx


def _bold_row(ws, row: int, n: int) -> None:
    for col in range(1, n + 1):
        cell = ws.cell(row, col)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _section(ws, row: int, title: str, header: list[str]) -> int:
    ws.cell(row, 1, title).font = Font(bold=True, size=12)
    for i, h in enumerate(header, start=1):
        ws.cell(row + 1, i, h)
    _bold_row(ws, row + 1, len(header))
    return row + 2


def _write_part_sheet(wb: Workbook, data: ProtocolData, part: PartResult) -> None:
    ws = wb.create_sheet(f"Osa {part.part_no}")
    pts_fmt = _points_format(part.rules)
    ws["A1"] = f"Hindamise protokoll – Osa {part.part_no}: {part.part_name}"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = f"Hange {data.procurement_ref}: {data.title}"
    ws["A3"] = rounding_description(part.rules)
    ws["A4"] = tie_break_description(part.rules)

    header = ["Koht", "Pakkuja", "Hind"] + [f"{c.name} ({format_number(c.weight)} p)" for c in part.criteria] + ["Kokku"]
    for i, h in enumerate(header, start=1):
        ws.cell(6, i, h)
    _bold_row(ws, 6, len(header))
    row = 7
    for s in part.ranked:
        ws.cell(row, 1, s.rank)
        ws.cell(row, 2, s.bid.bidder_name)
        if s.bid.price is not None:
            ws.cell(row, 3, s.bid.price).number_format = PRICE_FORMAT
        for j, c in enumerate(part.criteria, start=4):
            cs = s.score_for(c.key)
            if cs is not None:
                ws.cell(row, j, cs.points).number_format = pts_fmt
        total = ws.cell(row, len(header), s.total)
        total.number_format = pts_fmt
        total.font = Font(bold=True)
        row += 1
    if not part.ranked:
        ws.cell(row, 2, "Hinnatud pakkumusi pole")
        row += 1

    row = _section(ws, row + 1, "Hindamiskriteeriumid", ["Kriteerium", "Osakaal", "Hindamise viis"])
    for c in part.criteria:
        ws.cell(row, 1, c.name)
        ws.cell(row, 2, c.weight).number_format = "0.##"
        ws.cell(row, 3, formula_description(c))
        row += 1

    row = _section(
        ws, row + 1, "Punktide selgitused",
        ["Pakkuja", "Kriteerium", "Punktid", "Arvutus / selgitus", "Tase", "Põhjendus", "Hindaja", "Hinnatud"],
    )
    for s in part.ranked + part.pending:
        for r in _grade_rows(part, s):
            ws.cell(row, 1, r["bidder"])
            ws.cell(row, 2, r["criterion"])
            ws.cell(row, 3, r["points"]).number_format = pts_fmt
            ws.cell(row, 4, r["explanation"])
            ws.cell(row, 5, r["level"])
            ws.cell(row, 6, r["justification"])
            ws.cell(row, 7, r["graded_by"])
            ws.cell(row, 8, r["graded_at"])
            row += 1

    row = _section(ws, row + 1, "Kõrvale jäetud pakkumused", ["Pakkuja", "Hind", "Põhjus", "Laekunud"])
    for b in part.excluded:
        ws.cell(row, 1, b.bidder_name)
        if b.exclusion_reason == LATE_REASON:
            ws.cell(row, 2, signed.NOT_OPENED)
        elif b.price is not None:
            ws.cell(row, 2, b.price).number_format = PRICE_FORMAT
        ws.cell(row, 3, b.exclusion_reason or "")
        ws.cell(row, 4, format_datetime(b.received_at))
        row += 1

    row = _section(ws, row + 1, "Hindamata pakkumused", ["Pakkuja", "Hind", "Puudu", "Laekunud"])
    for s in part.pending:
        ws.cell(row, 1, s.bid.bidder_name)
        if s.bid.price is not None:
            ws.cell(row, 2, s.bid.price).number_format = PRICE_FORMAT
        ws.cell(row, 3, "; ".join(s.missing))
        ws.cell(row, 4, format_datetime(s.bid.received_at))
        row += 1

    notes = _notes(part)
    if notes:
        row = _section(ws, row + 1, "Märkused", ["Pakkuja", "Märkus"])
        for bidder, note in notes:
            ws.cell(row, 1, bidder)
            ws.cell(row, 2, note)
            row += 1

    widths = {1: 30, 2: 30, 3: 16, 4: 40}
    for col in range(1, max(len(header), 8) + 1):
        ws.column_dimensions[get_column_letter(col)].width = widths.get(col, 20)


def _write_summary_sheet(wb: Workbook, data: ProtocolData) -> None:
    ws = wb.active
    ws.title = "Kokkuvõte"
    ws["A1"] = "Hindamise protokoll"
    ws["A1"].font = Font(bold=True, size=14)
    info = [
        ("Hanke viitenumber", data.procurement_ref),
        ("Hanke nimetus", data.title),
        ("Hankija", data.procurer_name),
        ("Pakkumuste esitamise tähtaeg", format_datetime(data.deadline)),
        ("Protokoll koostatud", format_datetime(data.generated_at)),
        ("Koostaja", data.prepared_by or ""),
        ("Hindajad", ", ".join(_graders(data))),
    ]
    for i, (label, value) in enumerate(info, start=2):
        ws.cell(i, 1, label).font = Font(bold=True)
        ws.cell(i, 2, value)
    ws["A9"] = rounding_description(data.rules)
    ws["A10"] = tie_break_description(data.rules)
    header = ["Osa", "Nimetus", "Hinnatud pakkumusi", "Parim pakkuja", "Koondpunktid", "Hind", "Kõrvale jäetud", "Hindamata"]
    for i, h in enumerate(header, start=1):
        ws.cell(12, i, h)
    _bold_row(ws, 12, len(header))
    for row, part in enumerate(data.parts, start=13):
        ws.cell(row, 1, part.part_no)
        ws.cell(row, 2, part.part_name)
        ws.cell(row, 3, len(part.ranked))
        if part.ranked:
            best = part.ranked[0]
            ws.cell(row, 4, best.bid.bidder_name)
            ws.cell(row, 5, best.total).number_format = _points_format(part.rules)
            if best.bid.price is not None:
                ws.cell(row, 6, best.bid.price).number_format = PRICE_FORMAT
        ws.cell(row, 7, len(part.excluded))
        ws.cell(row, 8, len(part.pending))
    for col, width in zip("ABCDEFGH", (30, 50, 18, 30, 14, 16, 14, 12)):
        ws.column_dimensions[col].width = width


def write_protocol_xlsx(data: ProtocolData, path: Path) -> Path:
    """Write the protocol workbook: a "Kokkuvõte" sheet and one "Osa N" sheet per part."""
    wb = Workbook()
    _write_summary_sheet(wb, data)
    signed.write_sheet(wb, data)
    for part in data.parts:
        _write_part_sheet(wb, data, part)
    wb.save(path)
    return path


# ---------------------------------------------------------------- pdf


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=10.5, alignment=TA_LEFT)
    return {
        "body": base,
        "num": ParagraphStyle("num", parent=base, alignment=TA_RIGHT),
        "bold": ParagraphStyle("bold", parent=base, fontName=FONT_BOLD),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=18, leading=22, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontName=FONT_BOLD, fontSize=13, leading=16, spaceBefore=4, spaceAfter=4),
        "h3": ParagraphStyle("h3", parent=base, fontName=FONT_BOLD, fontSize=10, leading=13, spaceBefore=8, spaceAfter=3),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(rows: list[list], widths: list[float], st: dict, right: tuple[int, ...] = ()) -> Table:
    """A grid table of wrapped paragraphs; columns in `right` (numbers) are right-aligned."""
    cells = [[_p(c, st["bold"]) for c in rows[0]]]
    cells += [[_p(c, st["num"] if i in right else st["body"]) for i, c in enumerate(r)] for r in rows[1:]]
    t = Table(cells, colWidths=widths, repeatRows=1, splitInRow=1)  # very long texts split across pages
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDE6F0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    t.setStyle(TableStyle(style))
    return t


def _part_flowables(part: PartResult, st: dict, width: float) -> list:
    places = part.rules.rounding_places
    out: list = [_p(f"Osa {part.part_no}: {part.part_name}", st["h2"])]
    out.append(_p(rounding_description(part.rules), st["body"]))
    out.append(_p(tie_break_description(part.rules), st["body"]))
    out.append(Spacer(1, 3 * mm))

    header = ["Koht", "Pakkuja", "Hind"] + [f"{c.name} ({format_number(c.weight)} p)" for c in part.criteria] + ["Kokku"]
    rows = [header]
    for s in part.ranked:
        crit = []
        for c in part.criteria:
            cs = s.score_for(c.key)
            crit.append(format_number(cs.points, places) if cs else "—")
        rows.append([s.rank, s.bid.bidder_name, _price_text(s.bid.price)] + crit + [format_number(s.total, places)])
    if not part.ranked:
        rows.append(["", "Hinnatud pakkumusi pole", ""] + [""] * len(part.criteria) + [""])
    fixed = 14 * mm + 26 * mm + 20 * mm
    crit_w = (width - fixed - 60 * mm) / max(1, len(part.criteria))
    n = len(part.criteria)
    out.append(_table(rows, [14 * mm, 60 * mm, 26 * mm] + [crit_w] * n + [20 * mm], st, tuple(range(2, n + 4))))

    out.append(_p("Hindamiskriteeriumid", st["h3"]))
    rows = [["Kriteerium", "Osakaal", "Hindamise viis"]]
    rows += [[c.name, f"{format_number(c.weight)} p", formula_description(c)] for c in part.criteria]
    out.append(_table(rows, [70 * mm, 20 * mm, width - 90 * mm], st))

    expl = [["Pakkuja", "Kriteerium", "Punktid", "Arvutus / selgitus", "Tase ja põhjendus", "Hindaja, aeg"]]
    for s in part.ranked + part.pending:
        for r in _grade_rows(part, s):
            level = f"{r['level']}: {r['justification']}" if r["level"] else ""
            who = f"{r['graded_by']}, {r['graded_at']}" if r["graded_by"] else ""
            expl.append([r["bidder"], r["criterion"], format_number(r["points"], places), r["explanation"], level, who])
    if len(expl) > 1:
        out.append(_p("Punktide selgitused", st["h3"]))
        out.append(_table(expl, [38 * mm, 40 * mm, 20 * mm, 62 * mm, width - 200 * mm, 40 * mm], st, (2,)))

    out.append(_p("Kõrvale jäetud pakkumused", st["h3"]))
    if part.excluded:
        rows = [["Pakkuja", "Hind", "Põhjus", "Laekunud"]]
        rows += [[b.bidder_name, signed.NOT_OPENED if b.exclusion_reason == LATE_REASON else _price_text(b.price),
                  b.exclusion_reason or "", format_datetime(b.received_at)] for b in part.excluded]
        out.append(_table(rows, [60 * mm, 28 * mm, width - 128 * mm, 40 * mm], st, (1,)))
    else:
        out.append(_p("Puuduvad.", st["body"]))

    out.append(_p("Hindamata pakkumused", st["h3"]))
    if part.pending:
        rows = [["Pakkuja", "Hind", "Puudu", "Laekunud"]]
        rows += [[s.bid.bidder_name, _price_text(s.bid.price), "; ".join(s.missing), format_datetime(s.bid.received_at)] for s in part.pending]
        out.append(_table(rows, [60 * mm, 28 * mm, width - 128 * mm, 40 * mm], st, (1,)))
    else:
        out.append(_p("Puuduvad.", st["body"]))

    notes = _notes(part)
    if notes:
        out.append(_p("Märkused", st["h3"]))
        out.append(_table([["Pakkuja", "Märkus"]] + [list(n) for n in notes], [60 * mm, width - 60 * mm], st))
    return out


def write_protocol_pdf(data: ProtocolData, path: Path, chart_png: Path | None = None) -> Path:
    """Write the protocol PDF (A4 landscape, DejaVu Sans for Estonian letters), chart embedded."""
    _register_fonts()
    st = _styles()
    doc = SimpleDocTemplate(
        str(path), pagesize=landscape(A4), leftMargin=14 * mm, rightMargin=14 * mm,
        topMargin=14 * mm, bottomMargin=14 * mm,
        title=f"Hindamise protokoll {data.procurement_ref}", author=data.procurer_name,
    )
    width = doc.width
    story: list = [_p("Hindamise protokoll", st["title"])]
    info = [
        ["Hanke viitenumber", data.procurement_ref],
        ["Hanke nimetus", data.title],
        ["Hankija", data.procurer_name],
        ["Pakkumuste esitamise tähtaeg", format_datetime(data.deadline)],
        ["Protokoll koostatud", format_datetime(data.generated_at)],
    ]
    if data.prepared_by:
        info.append(["Koostaja", data.prepared_by])
    info.append(["Hindajad", ", ".join(_graders(data)) or "—"])
    info.append(["Viigi lahendamine", tie_break_description(data.rules)])
    t = Table([[_p(a, st["bold"]), _p(b, st["body"])] for a, b in info], colWidths=[60 * mm, width - 60 * mm], splitInRow=1)
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.lightgrey)]))
    story += [t, Spacer(1, 4 * mm), _p(rounding_description(data.rules), st["body"])]

    story.append(_p("Kokkuvõte", st["h2"]))
    rows = [["Osa", "Nimetus", "Parim pakkuja", "Koondpunktid", "Hind", "Hinnatud", "Kõrvale jäetud", "Hindamata"]]
    for part in data.parts:
        best = part.ranked[0] if part.ranked else None
        rows.append([
            part.part_no, part.part_name,
            best.bid.bidder_name if best else "—",
            format_number(best.total, part.rules.rounding_places) if best else "—",
            _price_text(best.bid.price) if best else "—",
            len(part.ranked), len(part.excluded), len(part.pending),
        ])
    widths = [12 * mm, width - 188 * mm, 50 * mm, 28 * mm, 28 * mm, 20 * mm, 26 * mm, 24 * mm]
    story.append(_table(rows, widths, st, (3, 4, 5, 6, 7)))
    story += signed.first_page_flowables(data, st, width, _p, _table, mm)

    if chart_png is not None and Path(chart_png).exists():
        from reportlab.lib.utils import ImageReader

        iw, ih = ImageReader(str(chart_png)).getSize()
        max_w, max_h = width, doc.height * 0.6  # flows after the first page's tables, no page of its own
        scale = min(max_w / iw, max_h / ih)
        story += [Spacer(1, 4 * mm), Image(str(chart_png), width=iw * scale, height=ih * scale)]

    for part in data.parts:
        story.append(PageBreak())
        story += _part_flowables(part, st, width)
    story += signed.signature_flowables(data, st, width, _p, mm)
    doc.build(story)
    return path


# ---------------------------------------------------------------- all three


def write_protocol(data: ProtocolData, out_dir: Path) -> ProtocolFiles:
    """Write the protocol as xlsx + pdf (with the chart embedded) + the chart PNG into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(data.procurement_ref)
    chart = totals_bar_chart(data.parts, out_dir / f"{stem}_koondpunktid.png")
    xlsx = write_protocol_xlsx(data, out_dir / f"{stem}.xlsx")
    pdf = write_protocol_pdf(data, out_dir / f"{stem}.pdf", chart)
    return ProtocolFiles(xlsx=xlsx, pdf=pdf, chart_png=chart)
