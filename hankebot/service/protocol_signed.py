"""The parts of the protocol an agency signs (used by service.protocol for both the XLSX and the PDF):
the invitees with their answers and each bid's arrival time and price basis (late bids: not opened, no
price), who accepted or rejected each problem bid (when, why), the successful-bid statement per part,
the cancellation when there is one, the impartiality declaration and the evaluators' signature lines.

XLSX: sheet "Osalejad ja otsused", sections titled in column A: "Kutsutud pakkujad", "Probleemsete
pakkumuste otsused", "Edukad pakkumused", "Erapooletuse kinnitus", "Allkirjad"; each followed by a
header row (where tabular) and its rows."""
from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from hankebot.core.evaluation import ProtocolData
from hankebot.core.scoring import format_number

ANSWER_ET = {"bid": "esitas pakkumuse", "declined": "loobus", "silent": "ei vastanud", "bounced": "kiri ei jõudnud kohale"}
IMPARTIALITY = ("Kinnitan, et mul ei ole huvide konflikti ühegi pakkujaga, hindasin pakkumusi erapooletult ja "
                "ainult hanke alusdokumentides avaldatud kriteeriumide alusel ning hoian pakkumuste sisu konfidentsiaalsena.")
NOT_OPENED = "hilinenud, avamata"


def _dt(v) -> str:
    return v.strftime("%d.%m.%Y %H.%M") if v else "—"


def participant_rows(data: ProtocolData) -> list[list[str]]:
    rows = []
    for p in data.participants:
        bids = "; ".join(f"osa {b.part_no}: {_dt(b.received_at)}" + (f" ({NOT_OPENED})" if b.late else "")
                         for b in p.bids) or "—"
        basis = "; ".join(f"osa {b.part_no}: {NOT_OPENED if b.late else (b.price_basis or '—')}" for b in p.bids) or "—"
        rows.append([p.name, _dt(p.invited_at), ANSWER_ET.get(p.answer, p.answer),
                     _dt(p.answered_at) if p.answer != "bid" else "—", bids, basis])
    return rows


PARTICIPANT_HEADER = ["Pakkuja", "Kutse saadetud", "Vastus", "Vastuse aeg", "Pakkumus laekus", "Hinna alus"]
VERDICT_HEADER = ["Pakkuja", "Osa", "Probleem", "Otsus", "Põhjendus", "Otsustaja", "Aeg"]


def verdict_rows(data: ProtocolData) -> list[list[str]]:
    return [[v.bidder_name, str(v.part_no), "; ".join(v.problems) or "—", "vastu võetud" if v.accepted else "tagasi lükatud",
             v.reason, v.decided_by, _dt(v.decided_at)] for v in data.bid_verdicts]


def decision_statements(data: ProtocolData) -> list[str]:
    out = []
    places = data.rules.rounding_places
    for v in data.part_verdicts:
        how = ("pingereas esimene" if v.top_ranked else f"pingereas esimese asemel; põhjendus: {v.reason}")
        out.append(f"Osa {v.part_no}: edukaks tunnistati pakkuja {v.bidder_name} pakkumus "
                   f"({format_number(v.total, places) if v.total is not None else '—'} punkti, {how}). "
                   f"Otsustas {v.decided_by} {_dt(v.decided_at)}.")
    if data.cancelled:
        reason, by, at = data.cancelled
        out.append(f"Hange tühistati {_dt(at)} ({by}). Põhjus: {reason}")
    if not out:
        out.append("Otsust ei ole veel tehtud.")
    return out


def signers(data: ProtocolData) -> list[str]:
    names = list(dict.fromkeys(([data.prepared_by] if data.prepared_by else []) + list(data.graded_by)))
    return names or ["", ""]


def write_sheet(wb: Workbook, data: ProtocolData) -> None:
    ws = wb.create_sheet("Osalejad ja otsused", 1)
    ws["A1"] = f"Hange {data.procurement_ref}: {data.title}"
    ws["A1"].font = Font(bold=True, size=13)
    row = 3

    def section(title: str, header: list[str] | None) -> None:
        nonlocal row
        ws.cell(row, 1, title).font = Font(bold=True, size=12)
        row += 1
        if header:
            for i, h in enumerate(header, 1):
                ws.cell(row, i, h).font = Font(bold=True)
            row += 1

    def put(values: list) -> None:
        nonlocal row
        for i, v in enumerate(values, 1):
            ws.cell(row, i, v).alignment = Alignment(wrap_text=True, vertical="top")
        row += 1

    section("Kutsutud pakkujad", PARTICIPANT_HEADER)
    for r in participant_rows(data):
        put(r)
    row += 1
    section("Probleemsete pakkumuste otsused", VERDICT_HEADER)
    for r in verdict_rows(data) or [["Puuduvad."]]:
        put(r)
    row += 1
    section("Edukad pakkumused", None)
    for s in decision_statements(data):
        put([s])
    row += 1
    section("Erapooletuse kinnitus", None)
    put([IMPARTIALITY])
    row += 1
    section("Allkirjad", ["Nimi", "Roll", "Allkiri", "Kuupäev"])
    for name in signers(data):
        put([name, "hindaja", "", ""])
    for col, w in zip("ABCDEFG", (30, 16, 18, 16, 34, 30, 16)):
        ws.column_dimensions[col].width = w


def first_page_flowables(data: ProtocolData, st: dict, width: float, p, table, mm: float) -> list:
    """Participants, problem-bid verdicts and the successful-bid statements, right after the summary."""
    out = [p("Edukad pakkumused", st["h3"])]
    out += [p(s, st["body"]) for s in decision_statements(data)]
    out.append(p("Kutsutud pakkujad", st["h3"]))
    rows = [PARTICIPANT_HEADER] + (participant_rows(data) or [["—"] * 6])
    out.append(table(rows, [52 * mm, 30 * mm, 32 * mm, 30 * mm, width - 214 * mm, 70 * mm], st))
    from reportlab.platypus import KeepTogether

    head = p("Probleemsete pakkumuste otsused", st["h3"])
    if data.bid_verdicts:
        body = table([VERDICT_HEADER] + verdict_rows(data),
                     [44 * mm, 12 * mm, 50 * mm, 26 * mm, width - 198 * mm, 36 * mm, 30 * mm], st)
    else:
        body = p("Puuduvad.", st["body"])
    out.append(KeepTogether([head, body]))  # the heading never alone at the foot of page 1
    return out


def signature_flowables(data: ProtocolData, st: dict, width: float, p, mm: float) -> list:
    from reportlab.lib import colors
    from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

    rows = [[p("Nimi", st["bold"]), p("Allkiri", st["bold"]), p("Kuupäev", st["bold"])]]
    rows += [[p(n or " ", st["body"]), "", ""] for n in signers(data)]
    t = Table(rows, colWidths=[80 * mm, 90 * mm, 40 * mm], rowHeights=[None] + [14 * mm] * (len(rows) - 1), hAlign="LEFT")
    t.setStyle(TableStyle([("LINEBELOW", (1, 1), (-1, -1), 0.6, colors.black), ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    return [KeepTogether([p("Erapooletuse kinnitus ja allkirjad", st["h2"]), p(IMPARTIALITY, st["body"]),
                          Spacer(1, 4 * mm), t])]
