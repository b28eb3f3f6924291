"""read_offer_form: bidder, registry code, parts, trainers and full texts from docx/odt/pdf."""
from __future__ import annotations

import io
import shutil

import docx
import pytest

from hankebot.devstack.sample_forms import blank_offer_form, make_offer_form, text_pdf
from hankebot.mailer.forms.offer_form import OfferReading, parse_parts, read_offer_form

MATERIALS = (
    "Töövihik „Lapse õigused praktikas“ (40 lk), slaidid ja juhtumikirjeldused.\n"
    "Iseseisev töö: juhtumianalüüs oma asutuse näitel (viidatud APA järgi).\n"
    "Viited: UNICEF 2019; Sotsiaalkindlustusamet 2024."
)
METHODS = (
    "Interaktiivne loeng, grupiarutelu, juhtumianalüüs ja protsessi läbimäng.\n"
    "Põhjendus: aktiivõppe meetodid toetavad teooria praktilist kinnitamist ja kogemuste jagamist."
)


def codes(reading: OfferReading) -> list[str]:
    return [p.code for p in reading.problems]


@pytest.mark.parametrize("fmt", ["docx", "odt", "pdf"])
def test_filled_offer_form_is_read_completely(fmt: str) -> None:
    data = make_offer_form("Koolituskeskus Mõttelaud OÜ", "12345678", [2, 5], ["Mari Maasikas", "Jaan Tamm"],
                           MATERIALS, METHODS, fmt=fmt)
    r = read_offer_form(data, f"Lisa 2 pakkumuse vorm.{fmt}")
    assert codes(r) == []
    assert r.bidder_name == "Koolituskeskus Mõttelaud OÜ"
    assert r.registry_code == "12345678"
    assert r.parts == [2, 5]
    assert r.trainers == ["Mari Maasikas", "Jaan Tamm"]
    assert r.materials == MATERIALS  # kept in full for the expert
    assert r.methods == METHODS
    assert "Mõttelaud" in r.full_text and "protsessi läbimäng" in r.full_text


@pytest.mark.parametrize(
    "written, parts",
    [
        ("OSA 2", [2]),
        ("II moodul", [2]),
        ("2. osa", [2]),
        ("osad 1, 3 ja 5", [1, 3, 5]),
        ("IV ja VI moodul", [4, 6]),
        ("OSA 7 – VII MOODUL", [7]),
        ("moodulid 1-3", [1, 2, 3]),
        ("Osa nr 4", [4]),
    ],
)
@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_parts_in_various_spellings(written: str, parts: list[int], fmt: str) -> None:
    data = make_offer_form("A OÜ", "12345678", written, ["Mari Maasikas"], "m", "n", fmt=fmt)
    assert read_offer_form(data, f"x.{fmt}").parts == parts


@pytest.mark.parametrize("text", ["10 osalejat", "mooduli sisu", "", "osaliselt"])
def test_parse_parts_ignores_lookalikes(text: str) -> None:
    assert parse_parts(text) == []


def test_isikukood_accepted_as_registry_code() -> None:
    data = make_offer_form("Mari Maasikas FIE", "isikukood 48001010000", [1], ["Mari Maasikas"], "m", "n")
    r = read_offer_form(data, "x.docx")
    assert r.registry_code == "48001010000"
    assert "invalid_registry_code" not in codes(r)


def test_bad_registry_code_is_a_problem() -> None:
    r = read_offer_form(make_offer_form("A OÜ", "puudub", [1], ["A B"], "m", "n"), "x.docx")
    assert r.registry_code == "puudub"
    assert codes(r) == ["invalid_registry_code"]


def test_blank_form_reports_every_missing_field() -> None:
    r = read_offer_form(blank_offer_form(), "Lisa 2 pakkumuse vorm.docx")
    assert codes(r) == ["missing_bidder_name", "missing_registry_code", "missing_parts",
                        "missing_trainers", "missing_materials", "missing_methods"]
    assert all(p.message.startswith("Pakkumuse vorm") for p in r.problems)


def _docx(build) -> bytes:
    d = docx.Document()
    build(d)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_paragraph_style_form_without_table() -> None:
    def build(d) -> None:
        d.add_paragraph("Pakkuja nimi: Tark Pea MTÜ")
        d.add_paragraph("Registrikood: 80012345")
        d.add_paragraph("Hanke osa: III moodul")
        d.add_paragraph("Koolitaja(d):")
        d.add_paragraph("Anu Saar")
        d.add_paragraph("Peeter Puu")
        d.add_paragraph("Õppevahendid ja -materjalid:")
        d.add_paragraph("Slaidid.")
        d.add_paragraph("Töölehed.")
        d.add_paragraph("Õppemeetodid ja valiku põhjendused: Arutelu, sest see kaasab.")
        d.add_paragraph("Kuupäev: 15.01.2026")

    r = read_offer_form(_docx(build), "pakkumus.docx")
    assert codes(r) == []
    assert (r.bidder_name, r.registry_code, r.parts) == ("Tark Pea MTÜ", "80012345", [3])
    assert r.trainers == ["Anu Saar", "Peeter Puu"]
    assert r.materials == "Slaidid.\nTöölehed."
    assert r.methods == "Arutelu, sest see kaasab."  # the date line after it is not part of it


def test_vertical_table_label_row_then_value_row_and_merged_cells() -> None:
    def build(d) -> None:
        t = d.add_table(rows=0, cols=3)
        for label, value in [("Pakkuja nimi", "Vertikaal OÜ"), ("Registrikood", "10000001"),
                             ("Hanke osa(d)", "OSA 1"), ("Koolitaja(d)", "Kati Karu, Mati Mets")]:
            row = t.add_row().cells
            row[0].text = label
            merged = row[1].merge(row[2])  # value spans two columns: read once
            merged.text = value
        for label, value in [("Õppevahendid ja -materjalid", "Käsiraamat"),
                             ("Õppemeetodid ja valiku põhjendused", "Rollimäng")]:
            t.add_row().cells[0].text = label
            merged = t.add_row().cells
            merged[0].merge(merged[2]).text = value

    r = read_offer_form(_docx(build), "x.docx")
    assert codes(r) == []
    assert r.bidder_name == "Vertikaal OÜ"
    assert r.trainers == ["Kati Karu", "Mati Mets"]
    assert (r.materials, r.methods) == ("Käsiraamat", "Rollimäng")


def test_trainer_with_description_is_not_split() -> None:
    data = make_offer_form("A OÜ", "12345678", [1], ["Mari Maasikas (psühholoog, MSc)"], "m", "n")
    assert read_offer_form(data, "x.docx").trainers == ["Mari Maasikas (psühholoog, MSc)"]


def test_pdf_from_a_table_layout_without_colons() -> None:
    lines = ["PAKKUMUSE VORM", "Pakkuja nimi Ühe Koolitaja FIE", "Registrikood 90000009", "Hanke osa VI moodul",
             "Koolitaja(d) Liis Lepp", "Õppevahendid ja -materjalid", "Slaidid ja töölehed.",
             "Õppemeetodid ja valiku põhjendused", "Juhtumiarutelu."]
    r = read_offer_form(text_pdf(lines), "Lisa 2.pdf")
    assert codes(r) == []
    assert (r.bidder_name, r.registry_code, r.parts, r.trainers) == ("Ühe Koolitaja FIE", "90000009", [6], ["Liis Lepp"])
    assert (r.materials, r.methods) == ("Slaidid ja töölehed.", "Juhtumiarutelu.")


def test_legacy_doc_without_converter_is_unsupported_format() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le") + b"\0" * 2000
    r = read_offer_form(data, "Lisa 2 pakkumuse vorm.doc")
    if shutil.which("antiword") or shutil.which("soffice") or shutil.which("libreoffice"):
        assert codes(r)  # converter present: garbage .doc still yields problems, never an exception
    else:
        assert codes(r) == ["unsupported_format"]
        assert ".doc" in r.problems[0].message


@pytest.mark.parametrize("name", ["pakkumus.rtf", "pakkumus.txt", "pakkumus"])
def test_other_formats_are_unsupported(name: str) -> None:
    assert codes(read_offer_form(b"{\\rtf1 Pakkuja nimi: A}", name)) == ["unsupported_format"]


@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_corrupt_document_is_unreadable(fmt: str) -> None:
    data = make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt=fmt)
    r = read_offer_form(data[: len(data) // 3], f"x.{fmt}")
    assert codes(r) == ["unreadable_offer_form"]
    assert r.bidder_name is None
