"""recognize_form: content first, then file name; missing_forms."""
from __future__ import annotations

import pytest

from hankebot.core.models import FormKind, FormSpec, PriceBasis
from hankebot.devstack.sample_forms import (
    form_specs_302834,
    make_cost_form,
    make_offer_form,
    text_pdf,
)
from hankebot.mailer.forms.recognize import missing_forms, recognize_form

SPECS = form_specs_302834()
OFFER, COST = SPECS


def offer(fmt: str = "docx") -> bytes:
    return make_offer_form("A OÜ", "12345678", [2], ["Mari Maasikas"], "Slaidid", "Arutelu", fmt=fmt)


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm", "xls", "ods"])
def test_spreadsheet_with_price_sheet_is_cost_form_whatever_its_name(fmt: str) -> None:
    data = make_cost_form(PriceBasis.NATURAL_TOTAL, "100", fmt=fmt)
    assert recognize_form(data, f"pakkumus.{fmt}", SPECS) is COST
    assert recognize_form(data, f"Lisa 2 pakkumuse vorm.{fmt}", SPECS) is COST  # content beats name


@pytest.mark.parametrize("fmt", ["docx", "odt", "pdf"])
def test_document_with_offer_labels_is_offer_form_whatever_its_name(fmt: str) -> None:
    assert recognize_form(offer(fmt), f"Lisa 3 maksumuse vorm.{fmt}", SPECS) is OFFER
    assert recognize_form(offer(fmt), f"scan_0001.{fmt}", SPECS) is OFFER


def test_pdf_speaking_of_costs_is_cost_form() -> None:
    assert recognize_form(make_cost_form(PriceBasis.LEGAL_WITH_VAT, "100", fmt="pdf"), "dokument.pdf", SPECS) is COST
    assert recognize_form(text_pdf(["Koolituse maksumus: 900 eurot"]), "a.pdf", SPECS) is COST


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Lisa 3 maksumuse vorm.xlsx", "cost_form"),
        ("lisa3.xlsx", "cost_form"),
        ("LISA_3_Maksumus.pdf", "cost_form"),
        ("hinnapakkumus.pdf", "cost_form"),
        ("Lisa 2 pakkumuse vorm.docx", "offer_form"),
        ("lisa_2-pakkumuse_vorm.doc", "offer_form"),
        ("Pakkumuse vorm (allkirjastatud).pdf", "offer_form"),
        ("CV_Mari_Maasikas.pdf", None),
        ("Lisa 12.pdf", None),
        ("", None),
    ],
)
def test_unreadable_content_falls_back_to_file_name(name: str, expected: str | None) -> None:
    found = recognize_form(b"\x00garbage that no reader understands", name, SPECS)
    assert (found.key if found else None) == expected


def test_unrelated_spreadsheet_and_document_are_not_forms() -> None:
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "Osalejate nimekiri"
    buf = io.BytesIO()
    wb.save(buf)
    assert recognize_form(buf.getvalue(), "nimekiri.xlsx", SPECS) is None
    assert recognize_form(text_pdf(["Koolitaja CV", "Haridus: magister"]), "cv.pdf", SPECS) is None


def test_spec_title_in_name_wins() -> None:
    specs = SPECS + [FormSpec("consent", "Lisa 4 nõusolek", FormKind.OTHER, required=False)]
    assert recognize_form(b"???", "Lisa 4 nõusolek.pdf", specs).key == "consent"


def test_missing_forms() -> None:
    assert missing_forms([], SPECS) == [OFFER, COST]
    assert missing_forms([COST], SPECS) == [OFFER]
    assert missing_forms([OFFER, COST, COST], SPECS) == []
    optional = FormSpec("extra", "Lisa 5", FormKind.OTHER, required=False)
    assert missing_forms([OFFER, COST], SPECS + [optional]) == []


def test_shipped_templates_are_recognized_and_read_as_blank() -> None:
    from pathlib import Path

    from hankebot.mailer.forms.cost_form import read_cost_form
    from hankebot.mailer.forms.offer_form import read_offer_form

    folder = Path(__file__).resolve().parent.parent / "forms" / "302834"
    offer_data = (folder / "Lisa 2 pakkumuse vorm.docx").read_bytes()
    cost_data = (folder / "Lisa 3 maksumuse vorm.xlsx").read_bytes()
    assert recognize_form(offer_data, "vorm.docx", SPECS) is OFFER
    assert recognize_form(cost_data, "vorm.xlsx", SPECS) is COST
    assert [p.code for p in read_cost_form(cost_data, "x.xlsx", COST.cost).problems] == ["missing_price"]
    assert "missing_bidder_name" in [p.code for p in read_offer_form(offer_data, "x.docx").problems]
