"""The speed-ups of the form readers give exactly what the slow paths give: the per-message memo
(memo.read_once) and the quick formula check of cost_form (sheet XML instead of openpyxl)."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms import read_cost_form, read_offer_form, recognize_form
from hankebot.mailer.forms.cost_formulas import _NotSure, xlsx_formulas, xlsx_formulas_quick
from hankebot.mailer.forms.memo import read_once
from hankebot.mailer.forms.offer_form import offer_rows
from hankebot.mailer.forms.safety import check_zip

CELLS = [("füüsilise isiku maksumus", "B15"), ("juriidilise isiku maksumus", "D2"),
         ("füüsilise isiku maksumus", "B2"), ("juriidilise isiku maksumus", "B2"),
         ("juriidilise isiku maksumus", "Z99")]


def _typed_zero_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = "füüsilise isiku maksumus"
    wb.active["B15"] = 0
    ws = wb.create_sheet("juriidilise isiku maksumus")
    ws["D2"] = "=B2+C2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm"])
@pytest.mark.parametrize("cached", [True, False])
@pytest.mark.parametrize("basis", [None, PriceBasis.NATURAL_TOTAL, PriceBasis.LEGAL_WITH_VAT])
def test_quick_formula_check_agrees_with_openpyxl(fmt, cached, basis):
    data = sf.make_cost_form(basis, Decimal("4200") if basis else None, fmt=fmt, cached_values=cached)
    assert xlsx_formulas_quick(data, CELLS) == xlsx_formulas(data, CELLS)


def test_quick_formula_check_typed_zero_is_no_formula():
    data = _typed_zero_xlsx()
    quick = xlsx_formulas_quick(data, CELLS[:2])
    assert quick == xlsx_formulas(data, CELLS[:2])
    assert quick[CELLS[0]] is None and quick[CELLS[1]] == "=B2+C2"
    # and the reader still calls a typed zero next to a computed zero an implausible price
    reading = read_cost_form(data, "Lisa 3.xlsx", sf.cost_form_spec_302834())
    assert [p.code for p in reading.problems] == ["implausible_price"]


def _rewrite(data: bytes, name: str, content: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info.filename, content if info.filename == name else src.read(info.filename))
    return buf.getvalue()


def test_quick_check_defers_to_openpyxl_on_text_cells():
    data = sf.make_cost_form(PriceBasis.NATURAL_TOTAL, None, as_text="12 500,00 €")
    with pytest.raises(_NotSure):
        xlsx_formulas_quick(data, [("füüsilise isiku maksumus", "B15")])


def test_corrupt_styles_stay_unreadable_as_before():
    data = sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("1234.5"))
    broken = _rewrite(data, "xl/styles.xml", b"<styleSheet")  # not well-formed: openpyxl cannot load it
    with pytest.raises(Exception):
        xlsx_formulas_quick(broken, CELLS[:2])
    reading = read_cost_form(broken, "Lisa 3.xlsx", sf.cost_form_spec_302834())
    assert reading.price is None and [p.code for p in reading.problems] == ["unreadable_cost_form"]
    assert read_cost_form(data, "Lisa 3.xlsx", sf.cost_form_spec_302834()).price == Decimal("1234.50")


def test_read_once_parses_each_document_once_and_changes_nothing():
    offer = sf.make_offer_form("Koolitus OÜ", "12345678", [2], ["Mari Maasikas"], "Materjalid.", "Meetodid.")
    cost = sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4200"))
    specs = sf.form_specs_302834()
    cost_spec = next(s for s in specs if s.cost is not None).cost

    def run():
        return ([recognize_form(offer, "a.docx", specs).key, recognize_form(cost, "b.xlsx", specs).key],
                read_offer_form(offer, "a.docx"), read_cost_form(cost, "b.xlsx", cost_spec), check_zip(offer))

    fresh = run()
    assert offer_rows(offer, "a.docx") is not offer_rows(offer, "a.docx")  # no memo outside read_once
    with read_once():
        first = offer_rows(offer, "a.docx")
        assert offer_rows(offer, "a.docx") is first  # parsed once
        assert offer_rows(bytes(offer), "a.docx") is first  # keyed by content, not by object
        assert run() == fresh
    assert offer_rows(offer, "a.docx") is not first  # the memo ends with the block
    assert fresh[2].price == Decimal("4200.00") and fresh[1].bidder_name == "Koolitus OÜ"
