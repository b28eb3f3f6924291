"""The PDF cost form reader takes a total only from the labelled total of a filled sheet: the percentages
in the template's labels ("Sotsiaalmaks 33%", "Käibemaks 24%") are never totals, and the legal sheet's
header row ("... Käibemaks 24%  kogukulu km-ga") labels the total in the last column of the row below."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hankebot.core.models import CostFormSpec, PriceBasis, PriceCell
from hankebot.devstack.sample_forms import _pdf
from hankebot.mailer.forms.cost_form import read_cost_form

SPEC = CostFormSpec(cells=(PriceCell(PriceBasis.NATURAL_TOTAL, "füüsilise isiku maksumus", "B15"),
                           PriceCell(PriceBasis.LEGAL_WITH_VAT, "juriidilise isiku maksumus", "D2")))

NATURAL = ["füüsilise isiku maksumus", "Kulu liik Summa (eurot)", "Koolitaja tasu (bruto) {fee}",
           "Sotsiaalmaks 33% {tax}", "Töötuskindlustusmakse (tööandja) 0,8% {ui}", "Ruumide rent", "Toitlustus",
           "Õppematerjalid", "Transport", "Majutus", "Muud kulud", "kogukulu {total}"]
LEGAL = ["juriidilise isiku maksumus", "Teenus Maksumus km-ta Käibemaks 24% kogukulu km-ga",
         "Ühe koolitusgrupi koolitus {net} {vat} {total}"]


def _office_pdf(natural: dict | None, legal: dict | None) -> bytes:
    """The template's two sheets as a text PDF, the way office software exports them (one line per row)."""
    blank_n = {"fee": "", "tax": "", "ui": "", "total": "0,00"}
    blank_l = {"net": "", "vat": "", "total": "0,00"}
    lines = ["Lisa 3 maksumuse vorm"] + [ln.format(**(natural or blank_n)).rstrip() for ln in NATURAL]
    lines += [""] + [ln.format(**(legal or blank_l)).rstrip() for ln in LEGAL]
    return _pdf(lines)


def test_legal_sheet_filled_the_percentages_are_not_totals():
    r = read_cost_form(_office_pdf(None, {"net": "2 000,00", "vat": "480,00", "total": "2 480,00"}), "Lisa 3.pdf", SPEC)
    assert (r.price, r.basis) == (Decimal("2480.00"), PriceBasis.LEGAL_WITH_VAT)
    assert [p.code for p in r.problems] == []


def test_natural_sheet_filled():
    data = _office_pdf({"fee": "2 900,00", "tax": "957,00", "ui": "23,20", "total": "3 880,20"}, None)
    r = read_cost_form(data, "Lisa 3.pdf", SPEC)
    assert (r.price, r.basis) == (Decimal("3880.20"), PriceBasis.NATURAL_TOTAL)
    assert r.problems == []


def test_both_sheets_filled_is_still_ambiguous():
    data = _office_pdf({"fee": "2 900,00", "tax": "957,00", "ui": "23,20", "total": "3 880,20"},
                       {"net": "2 000,00", "vat": "480,00", "total": "2 480,00"})
    assert [p.code for p in read_cost_form(data, "Lisa 3.pdf", SPEC).problems] == ["ambiguous_price"]


@pytest.mark.parametrize("legal_total", ["", "0,00"])
def test_an_empty_form_needs_manual_entry(legal_total):
    data = _office_pdf(None, {"net": "", "vat": "", "total": legal_total})
    r = read_cost_form(data, "Lisa 3.pdf", SPEC)
    assert r.price is None and [p.code for p in r.problems] == ["price_needs_manual_entry"]


def test_a_percentage_in_the_total_label_is_not_the_total():
    data = _pdf(["Lisa 3 maksumuse vorm", "füüsilise isiku maksumus", "kogukulu (sh sotsiaalmaks 33%)", "3 880,20",
                 "juriidilise isiku maksumus", "kogukulu km-ga (käibemaks 24%)", "0,00"])
    r = read_cost_form(data, "Lisa 3.pdf", SPEC)
    assert (r.price, r.basis, r.problems) == (Decimal("3880.20"), PriceBasis.NATURAL_TOTAL, [])
