"""The evaluation protocol: xlsx checked cell by cell, PDF text, chart PNG."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from hankebot.core.evaluation import BidForScoring, Criterion, Grade, Level, ProtocolData, ScoringRules
from hankebot.core.scoring import score_part
from hankebot.service.chart import totals_bar_chart
from hankebot.service.protocol import PRICE_FORMAT, format_datetime, write_protocol

TLL = ZoneInfo("Europe/Tallinn")
T0 = datetime(2026, 1, 15, 9, 0, tzinfo=TLL)
GRADED_AT = datetime(2026, 1, 20, 8, 30, tzinfo=timezone.utc)  # 10.30 in Tallinn
LEVELS = (
    Level(D(30), "vastab täielikult", ""),
    Level(D(15), "vastab osaliselt", ""),
    Level(D(5), "ei vasta või vastab vähesel määral", ""),
)
CRITERIA = (
    Criterion("price", "Ühe koolitusgrupi maksumus", D(40), "price", "seed"),
    Criterion("materials", "Õppevahendid- ja materjalid", D(30), "graded", None, LEVELS),
    Criterion("methods", "Kasutatavad õppemeetodid ja valiku põhjendused", D(30), "graded", None, LEVELS),
)


def grades(materials=None, methods=None) -> dict:
    out = {}
    for key, pts in (("materials", materials), ("methods", methods)):
        if pts is not None:
            out[key] = Grade(D(pts), "", f"Põhjendus {key} {pts}: õppematerjalid on šablooniga ühtlustatud", "Mari Maasikas", GRADED_AT)
    return out


def bid(name, price, minutes, g=None, **kw) -> BidForScoring:
    return BidForScoring(f"id-{name}", name.lower(), name, None if price is None else D(price), T0 + timedelta(minutes=minutes), g or {}, **kw)


@pytest.fixture(scope="module")
def data() -> ProtocolData:
    rules = ScoringRules()
    # Part 1: lowest 1000, highest 1500 (excluded 900 does not count, pending 1100 does)
    # Žürii 1200: 40 − 200/1500×40 = 34,67; + 30 + 30 = 94,67 -> 1
    # Mari Tamm 1500: 40 − 500/1500×40 = 26,67; + 30 + 15 = 71,67 -> 2
    # Õnnelik 1000: 40; + 15 + 15 = 70,00 -> 3
    # Pooleli 1100: 40 − 100/1500×40 = 37,33; methods not graded -> pending
    p1 = score_part(
        CRITERIA,
        [
            bid("Õnnelik Šokolaad OÜ", "1000", 0, grades(15, 15)),
            bid("Žürii Koolitus MTÜ", "1200", 5, grades(30, 30)),
            bid("Mari Tamm", "1500", 10, grades(30, 15)),
            bid("Hiline Pakkuja OÜ", "900", 400, excluded=True, exclusion_reason="Pakkumus laekus pärast tähtaega"),
            bid("Pooleli Koolitus OÜ", "1100", 20, grades(15)),
        ],
        rules,
        part_no=1,
        part_name="I moodul – Sissejuhatus",
    )
    # Part 2: single bid -> full 40 + 30 + 30 = 100
    p2 = score_part(CRITERIA, [bid("Žürii Koolitus MTÜ", "2500", 6, grades(30, 30))], rules, 2, "II moodul – Lapse areng ja arengukeskkonna mõju")
    # Part 3: only a pending bid
    p3 = score_part(CRITERIA, [bid("Mari Tamm", "800", 11)], rules, 3, "III moodul")
    return ProtocolData(
        procurement_ref="302834",
        title="Kõrge abivajadusega ja riskikäitumisega laste ja noortega töötavate spetsialistide baaskoolitused",
        procurer_name="Sotsiaalkindlustusamet",
        deadline=datetime(2026, 1, 19, 15, 0, tzinfo=TLL),
        generated_at=datetime(2026, 1, 21, 12, 5, tzinfo=TLL),
        parts=[p1, p2, p3],
        rules=rules,
        prepared_by="Kätlin Põder",
    )


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    return write_protocol(data, tmp_path_factory.mktemp("protocol"))


def num(cell) -> D:
    assert cell.data_type == "n" and isinstance(cell.value, (int, float)), f"{cell.coordinate} not numeric: {cell.value!r}"
    return D(str(cell.value))


def find_row(ws, title: str) -> int:
    for (cell,) in ws.iter_rows(min_col=1, max_col=1):
        if cell.value == title:
            return cell.row
    raise AssertionError(f"section {title!r} not found")


def test_files_written(files):
    assert files.xlsx.name == "hindamise_protokoll_302834.xlsx"
    assert files.xlsx.exists() and files.pdf.exists() and files.chart_png.exists()


def test_summary_sheet(files):
    wb = load_workbook(files.xlsx)
    assert wb.sheetnames == ["Kokkuvõte", "Osalejad ja otsused", "Osa 1", "Osa 2", "Osa 3"]
    ws = wb["Kokkuvõte"]
    assert ws["A1"].value == "Hindamise protokoll"
    assert ws["B2"].value == "302834"
    assert ws["B4"].value == "Sotsiaalkindlustusamet"
    assert ws["B5"].value == "19.01.2026 kell 15.00"
    assert ws["B6"].value == "21.01.2026 kell 12.05"
    assert ws["B7"].value == "Kätlin Põder"
    assert ws["B8"].value == "Mari Maasikas"  # derived from the grades
    assert ws["A9"].value == "Ümardamine: 2 komakohta, pooled ülespoole"
    assert ws["A10"].value == "Võrdsete koondpunktide korral eelistatakse varem laekunud pakkumust."
    assert [c.value for c in ws[12]] == ["Osa", "Nimetus", "Hinnatud pakkumusi", "Parim pakkuja", "Koondpunktid", "Hind", "Kõrvale jäetud", "Hindamata"]
    assert ws["A13"].value == 1 and ws["C13"].value == 3
    assert ws["D13"].value == "Žürii Koolitus MTÜ"
    assert num(ws["E13"]) == D("94.67")
    assert num(ws["F13"]) == D("1200") and ws["F13"].number_format == PRICE_FORMAT
    assert ws["G13"].value == 1 and ws["H13"].value == 1
    assert ws["D14"].value == "Žürii Koolitus MTÜ" and num(ws["E14"]) == D("100")
    assert ws["A15"].value == 3 and ws["C15"].value == 0 and ws["D15"].value is None and ws["H15"].value == 1


def test_part_sheet_main_table(files):
    ws = load_workbook(files.xlsx)["Osa 1"]
    assert ws["A1"].value == "Hindamise protokoll – Osa 1: I moodul – Sissejuhatus"
    assert ws["A3"].value == "Ümardamine: 2 komakohta, pooled ülespoole"
    assert [c.value for c in ws[6]][:7] == [
        "Koht", "Pakkuja", "Hind",
        "Ühe koolitusgrupi maksumus (40 p)",
        "Õppevahendid- ja materjalid (30 p)",
        "Kasutatavad õppemeetodid ja valiku põhjendused (30 p)",
        "Kokku",
    ]
    expected = [
        (1, "Žürii Koolitus MTÜ", "1200", "34.67", "30", "30", "94.67"),
        (2, "Mari Tamm", "1500", "26.67", "30", "15", "71.67"),
        (3, "Õnnelik Šokolaad OÜ", "1000", "40", "15", "15", "70"),
    ]
    for row, (rank, name, price, p, m1, m2, total) in enumerate(expected, start=7):
        assert ws.cell(row, 1).value == rank
        assert ws.cell(row, 2).value == name
        assert num(ws.cell(row, 3)) == D(price) and ws.cell(row, 3).number_format == PRICE_FORMAT
        assert num(ws.cell(row, 4)) == D(p) and ws.cell(row, 4).number_format == "0.00"
        assert num(ws.cell(row, 5)) == D(m1)
        assert num(ws.cell(row, 6)) == D(m2)
        assert num(ws.cell(row, 7)) == D(total)
    assert ws["B10"].value is None  # only the three ranked bids in the main table


def test_part_sheet_explanations_excluded_pending(files):
    ws = load_workbook(files.xlsx)["Osa 1"]
    r = find_row(ws, "Punktide selgitused")
    assert [c.value for c in ws[r + 1]][:8] == ["Pakkuja", "Kriteerium", "Punktid", "Arvutus / selgitus", "Tase", "Põhjendus", "Hindaja", "Hinnatud"]
    rows = [[c.value for c in ws[i]][:8] for i in range(r + 2, r + 2 + 12)]
    assert ["Žürii Koolitus MTÜ", "Ühe koolitusgrupi maksumus", 34.67, "40 − (1200,00 − 1000,00) / 1500,00 × 40 = 34,67", None, None, None, None] in rows
    mari_methods = next(x for x in rows if x[0] == "Mari Tamm" and x[1].startswith("Kasutatavad"))
    assert mari_methods[2] == 15
    assert mari_methods[4] == "vastab osaliselt"
    assert mari_methods[5] == "Põhjendus methods 15: õppematerjalid on šablooniga ühtlustatud"
    assert mari_methods[6] == "Mari Maasikas"
    assert mari_methods[7] == "20.01.2026 kell 10.30"
    # the pending bid's price score is still shown: 40 − 100/1500×40 = 37,33
    assert ["Pooleli Koolitus OÜ", "Ühe koolitusgrupi maksumus", 37.33, "40 − (1100,00 − 1000,00) / 1500,00 × 40 = 37,33", None, None, None, None] in rows

    e = find_row(ws, "Kõrvale jäetud pakkumused")
    assert [c.value for c in ws[e + 1]][:4] == ["Pakkuja", "Hind", "Põhjus", "Laekunud"]
    assert ws.cell(e + 2, 1).value == "Hiline Pakkuja OÜ"
    assert num(ws.cell(e + 2, 2)) == D("900")
    assert ws.cell(e + 2, 3).value == "Pakkumus laekus pärast tähtaega"
    assert ws.cell(e + 2, 4).value == "15.01.2026 kell 15.40"

    p = find_row(ws, "Hindamata pakkumused")
    assert ws.cell(p + 2, 1).value == "Pooleli Koolitus OÜ"
    assert num(ws.cell(p + 2, 2)) == D("1100")
    assert ws.cell(p + 2, 3).value == "Hindamata: Kasutatavad õppemeetodid ja valiku põhjendused"

    c = find_row(ws, "Hindamiskriteeriumid")
    assert ws.cell(c + 2, 1).value == "Ühe koolitusgrupi maksumus"
    assert "suurim väärtus" in ws.cell(c + 2, 3).value


def test_pdf_text(files):
    reader = PdfReader(files.pdf)
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    for needle in [
        "Hindamise protokoll",
        "Sotsiaalkindlustusamet",
        "19.01.2026 kell 15.00",
        "Ümardamine: 2 komakohta, pooled ülespoole",
        "Žürii Koolitus MTÜ",
        "Õnnelik Šokolaad OÜ",
        "Kätlin Põder",
        "94,67",
        "71,67",
        "70,00",
        "100,00",
        "1 200,00 €",
        "1 500,00 €",
        "34,67",
        "Pakkumus laekus pärast tähtaega",
        "Hiline Pakkuja OÜ",
        "Pooleli Koolitus OÜ",
        "vastab osaliselt",
        "Mari Maasikas",
    ]:
        assert needle in flat, needle
    # the chart is embedded as an image
    assert sum(len(page.images) for page in reader.pages) >= 1


def test_chart_png(files):
    raw = files.chart_png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(files.chart_png) as im:
        im.verify()
    with Image.open(files.chart_png) as im:
        w, h = im.size
    assert w >= 800 and h >= 300


def test_chart_with_no_parts_and_empty_part(tmp_path):
    out = totals_bar_chart([], tmp_path / "sub" / "empty.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    empty = score_part(CRITERIA, [], ScoringRules(), 1, "Tühi osa")
    assert totals_bar_chart([empty], tmp_path / "one.png").stat().st_size > 1000


def test_protocol_with_half_even_rule_prints_it(tmp_path, data):
    rules = ScoringRules(1, "half_even", "quality_first")
    part = score_part(CRITERIA, [bid("A & B OÜ <test>", "1000", 0, grades(5, 5))], rules, 1, "Osa")
    d = ProtocolData("X/1", "Hange", "Hankija", data.deadline, data.generated_at, [part], rules)
    files = write_protocol(d, tmp_path)
    assert files.xlsx.name == "hindamise_protokoll_X_1.xlsx"
    ws = load_workbook(files.xlsx)["Osa 1"]
    assert ws["A3"].value == "Ümardamine: 1 komakoht, pooled lähima paarisnumbrini"
    assert ws["D7"].number_format == "0.0"
    assert ws["B7"].value == "A & B OÜ <test>"
    flat = " ".join("\n".join(p.extract_text() for p in PdfReader(files.pdf).pages).split())
    assert "A & B OÜ <test>" in flat and "kvaliteedikriteeriumide" in flat


def test_format_datetime():
    assert format_datetime(datetime(2026, 1, 19, 13, 0, tzinfo=timezone.utc)) == "19.01.2026 kell 15.00"
    assert format_datetime(datetime(2026, 7, 1, 9, 5)) == "01.07.2026 kell 09.05"
    assert format_datetime(None) == ""


def test_very_long_texts_still_make_a_pdf(tmp_path, data):
    """A justification longer than a page splits across pages instead of failing the build."""
    g = {"materials": Grade(D(15), "", "Pikk põhjendus õppematerjalide kohta. " * 600, "Mari Maasikas", GRADED_AT)}
    crit = CRITERIA[:2]
    part = score_part(crit, [bid("Pikk Põhjendus OÜ", "1000", 0, g, problems=["märkus " * 400])], ScoringRules(), 1, "Osa")
    d = ProtocolData("302834", "Hange", "Hankija", data.deadline, data.generated_at, [part])
    files = write_protocol(d, tmp_path)
    reader = PdfReader(files.pdf)
    assert len(reader.pages) >= 4
    flat = " ".join("\n".join(p.extract_text() for p in reader.pages).split())
    # every sentence made it (lines of neighbouring cells may interleave in extraction)
    assert flat.count("materjalide kohta.") == 600
