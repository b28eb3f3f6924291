"""read_cost_form: every format and case gives the right Decimal + basis or the right problem."""
from __future__ import annotations

import io
import unicodedata
from decimal import Decimal

import openpyxl
import pytest

from hankebot.core.models import CostFormSpec, PriceBasis, PriceCell
from hankebot.devstack.sample_forms import (
    LEGAL_SHEET,
    NATURAL_SHEET,
    blank_cost_form,
    cost_form_spec_302834,
    make_cost_form,
    make_offer_form,
    text_pdf,
)
from hankebot.mailer.forms.cost_form import float_to_decimal, read_cost_form

SPEC = cost_form_spec_302834()
SPREADSHEETS = ["xlsx", "xlsm", "xls", "ods"]
ALL = SPREADSHEETS + ["pdf"]
CELL = {PriceBasis.NATURAL_TOTAL: (NATURAL_SHEET, "B15"), PriceBasis.LEGAL_WITH_VAT: (LEGAL_SHEET, "D2")}


def codes(reading) -> list[str]:
    return [p.code for p in reading.problems]


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("basis", list(PriceBasis))
@pytest.mark.parametrize("price", ["12500.50", "987.65", "4321"])
def test_filled_form_gives_price_and_basis(fmt: str, basis: PriceBasis, price: str) -> None:
    reading = read_cost_form(make_cost_form(basis, price, fmt=fmt), f"Lisa 3 maksumuse vorm.{fmt}", SPEC)
    assert codes(reading) == []
    assert reading.price == Decimal(price)
    assert isinstance(reading.price, Decimal)
    assert reading.basis is basis
    assert reading.sheet == CELL[basis][0]
    if fmt != "pdf":
        assert reading.cell == CELL[basis][1]


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm"])
@pytest.mark.parametrize("basis", list(PriceBasis))
def test_formulas_without_cached_values_are_evaluated(fmt: str, basis: PriceBasis) -> None:
    data = make_cost_form(basis, "10999.99", fmt=fmt, cached_values=False)
    reading = read_cost_form(data, f"x.{fmt}", SPEC)
    assert codes(reading) == []
    assert (reading.price, reading.basis) == (Decimal("10999.99"), basis)


def test_formula_that_cannot_be_evaluated_is_a_problem_not_a_zero() -> None:
    data = make_cost_form(PriceBasis.NATURAL_TOTAL, "500", fmt="ods", cached_values=False)
    reading = read_cost_form(data, "x.ods", SPEC)
    assert reading.price is None
    assert "formula_not_evaluated" in codes(reading)
    assert all(p.message for p in reading.problems)


def test_unknown_function_without_cached_value_is_formula_not_evaluated() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = NATURAL_SHEET
    ws["B15"] = "=NOSUCHFUNCTION(B2:B14)"
    wb.create_sheet(LEGAL_SHEET)
    buf = io.BytesIO()
    wb.save(buf)
    reading = read_cost_form(buf.getvalue(), "x.xlsx", SPEC)
    assert reading.price is None
    assert codes(reading) == ["formula_not_evaluated"]
    assert "B15" in reading.problems[0].message


@pytest.mark.parametrize("fmt", SPREADSHEETS)
@pytest.mark.parametrize("cached", [True, False])
def test_blank_form_is_missing_price(fmt: str, cached: bool) -> None:
    if fmt == "ods" and not cached:
        pytest.skip("ods without cached values cannot be evaluated (tested above)")
    reading = read_cost_form(make_cost_form(None, None, fmt=fmt, cached_values=cached), f"x.{fmt}", SPEC)
    assert reading.price is None
    assert codes(reading) == ["missing_price"]


def test_shipped_blank_template_reads_as_missing_price() -> None:
    assert codes(read_cost_form(blank_cost_form(), "Lisa 3 maksumuse vorm.xlsx", SPEC)) == ["missing_price"]


@pytest.mark.parametrize("fmt", ALL)
def test_both_sheets_filled_is_ambiguous(fmt: str) -> None:
    data = make_cost_form(PriceBasis.NATURAL_TOTAL, "800", fmt=fmt, both_filled=True)
    reading = read_cost_form(data, f"x.{fmt}", SPEC)
    assert reading.price is None and reading.basis is None
    assert codes(reading) == ["ambiguous_price"]


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("basis", list(PriceBasis))
@pytest.mark.parametrize("text, expected", [("12 500,00 €", "12500.00"), ("7500.-", "7500.00"), ("1.234,50 EUR", "1234.50")])
def test_price_typed_as_text(fmt: str, basis: PriceBasis, text: str, expected: str) -> None:
    reading = read_cost_form(make_cost_form(basis, None, fmt=fmt, as_text=text), f"x.{fmt}", SPEC)
    assert codes(reading) == []
    assert (reading.price, reading.basis) == (Decimal(expected), basis)


@pytest.mark.parametrize("fmt", SPREADSHEETS)
def test_unparseable_text_needs_manual_entry(fmt: str) -> None:
    reading = read_cost_form(make_cost_form(PriceBasis.LEGAL_WITH_VAT, None, fmt=fmt, as_text="kokkuleppel"), "x", SPEC)
    assert reading.price is None
    assert reading.basis is PriceBasis.LEGAL_WITH_VAT
    assert codes(reading) == ["price_needs_manual_entry"]
    assert "kokkuleppel" in reading.problems[0].message


@pytest.mark.parametrize("fmt", ALL)
def test_negative_price_is_implausible(fmt: str) -> None:
    reading = read_cost_form(make_cost_form(PriceBasis.LEGAL_WITH_VAT, "-250", fmt=fmt), f"x.{fmt}", SPEC)
    assert codes(reading) == ["implausible_price"]
    assert reading.price == Decimal("-250")


@pytest.mark.parametrize("fmt", SPREADSHEETS)
def test_typed_zero_is_implausible(fmt: str) -> None:
    reading = read_cost_form(make_cost_form(PriceBasis.NATURAL_TOTAL, None, fmt=fmt, as_text="0,00"), "x", SPEC)
    assert codes(reading) == ["implausible_price"]


@pytest.mark.parametrize(
    "price, low, high, bad",
    [("12500", "1000", "10000", True), ("500", "1000", "10000", True), ("5000", "1000", "10000", False)],
)
def test_price_outside_spec_range_is_implausible(price: str, low: str, high: str, bad: bool) -> None:
    spec = cost_form_spec_302834(min_price=Decimal(low), max_price=Decimal(high))
    reading = read_cost_form(make_cost_form(PriceBasis.NATURAL_TOTAL, price, fmt="xlsx"), "x.xlsx", spec)
    assert reading.price == Decimal(price)  # what the form says, for the expert to see
    assert codes(reading) == (["implausible_price"] if bad else [])


def _workbook_with_titles(natural: str, legal: str, value: float) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = natural
    wb.create_sheet(legal)["D2"] = value
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    "natural, legal",
    [
        ("  Füüsilise   isiku maksumus ", "JURIIDILISE ISIKU MAKSUMUS"),
        (unicodedata.normalize("NFD", "füüsilise isiku maksumus"), "juriidilise  isiku maksumus"),
    ],
)
def test_sheet_names_match_tolerantly(natural: str, legal: str) -> None:
    reading = read_cost_form(_workbook_with_titles(natural, legal, 3100.4), "x.xlsx", SPEC)
    assert codes(reading) == []
    assert (reading.price, reading.basis) == (Decimal("3100.40"), PriceBasis.LEGAL_WITH_VAT)
    assert reading.sheet == legal


def test_spec_sheet_in_nfd_matches_nfc_file() -> None:
    spec = CostFormSpec(cells=(PriceCell(PriceBasis.NATURAL_TOTAL, unicodedata.normalize("NFD", NATURAL_SHEET), "B15"),))
    reading = read_cost_form(make_cost_form(PriceBasis.NATURAL_TOTAL, "100", fmt="ods"), "x.ods", spec)
    assert (reading.price, reading.basis) == (Decimal("100.00"), PriceBasis.NATURAL_TOTAL)


def test_workbook_without_price_sheets_is_missing_price() -> None:
    wb = openpyxl.Workbook()
    wb.active["B15"] = 100
    buf = io.BytesIO()
    wb.save(buf)
    reading = read_cost_form(buf.getvalue(), "x.xlsx", SPEC)
    assert codes(reading) == ["missing_price"]
    assert "füüsilise isiku maksumus" in reading.problems[0].message


def test_float_noise_in_cached_value_is_rounded_away() -> None:
    data = _workbook_with_titles(NATURAL_SHEET, LEGAL_SHEET, 0.1 + 0.2 + 12499.7)
    reading = read_cost_form(data, "x.xlsx", SPEC)
    assert reading.price == Decimal("12500.00")


@pytest.mark.parametrize(
    "value, expected",
    [(12500.5, "12500.50"), (0.1 + 0.2, "0.30"), (12500, "12500.00"), (1 / 3, "0.3333333333"), (1e-12, "0.00")],
)
def test_float_to_decimal_rule(value: float, expected: str) -> None:
    result = float_to_decimal(value)
    assert result == Decimal(expected) and str(result) == expected


def test_float_to_decimal_rejects_nan_and_inf() -> None:
    assert float_to_decimal(float("nan")) is None
    assert float_to_decimal(float("inf")) is None


@pytest.mark.parametrize(
    "lines, price, basis",
    [
        (["Maksumuse vorm", "Kogukulu km-ga: 12 500,00 €"], "12500.00", PriceBasis.LEGAL_WITH_VAT),
        (["Kogukulu", "4 800,50"], "4800.50", PriceBasis.NATURAL_TOTAL),
        (["KOGUKULU (eurot) 3200.-", "Kogukulu km-ta 2580,65"], "3200.00", PriceBasis.NATURAL_TOTAL),
        (["kogukulu koos km-ga 1 240 EUR"], "1240.00", PriceBasis.LEGAL_WITH_VAT),
    ],
)
def test_pdf_cost_form_read_from_text(lines: list[str], price: str, basis: PriceBasis) -> None:
    reading = read_cost_form(text_pdf(lines), "maksumus.pdf", SPEC)
    assert codes(reading) == []
    assert (reading.price, reading.basis) == (Decimal(price), basis)


@pytest.mark.parametrize(
    "lines",
    [
        ["Maksumus: vt lisa"],
        ["kogukulu 1 000,00 €", "kogukulu 2 000,00 €"],  # two different totals
        ["Hinnapakkumus", "Summa 1500 eurot"],
    ],
)
def test_pdf_without_unambiguous_price_needs_manual_entry(lines: list[str]) -> None:
    reading = read_cost_form(text_pdf(lines), "maksumus.pdf", SPEC)
    assert reading.price is None
    assert codes(reading) == ["price_needs_manual_entry"]


@pytest.mark.parametrize(
    "data, name",
    [
        (b"", "x.xlsx"),
        (b"not a spreadsheet at all", "Lisa 3.xlsx"),
        (b"PK\x03\x04" + b"\0" * 100, "x.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600, "x.xls"),
        (b"%PDF-1.4\n%garbage", "x.pdf"),
    ],
)
def test_corrupt_file_is_unreadable(data: bytes, name: str) -> None:
    reading = read_cost_form(data, name, SPEC)
    assert reading.price is None
    assert codes(reading) == ["unreadable_cost_form"]


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_truncated_file_is_unreadable(fmt: str) -> None:
    data = make_cost_form(PriceBasis.NATURAL_TOTAL, "100", fmt=fmt)
    reading = read_cost_form(data[: len(data) // 2], f"x.{fmt}", SPEC)
    assert codes(reading) == ["unreadable_cost_form"]


def test_offer_document_sent_as_cost_form_needs_manual_entry() -> None:
    data = make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="docx")
    assert codes(read_cost_form(data, "Lisa 3.docx", SPEC)) == ["price_needs_manual_entry"]


def test_huge_attachment_is_refused_without_parsing() -> None:
    data = b"PK\x03\x04" + b"\0" * (31 * 1024 * 1024)
    assert codes(read_cost_form(data, "x.xlsx", SPEC)) == ["attachment_too_large"]


def test_problem_messages_are_estonian() -> None:
    reading = read_cost_form(make_cost_form(None, None), "x.xlsx", SPEC)
    assert "Maksumuse vormis ei ole hinda" in reading.problems[0].message
