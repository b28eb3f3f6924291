"""The cost form's configured price cells checked against the procurement's template: a bidder who inserts
a row or a column moves D2; the price follows the template's labels (with a note), or the change is flagged."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms.cost_form import read_cost_form
from hankebot.mailer.forms.cost_template import relocate, template_cell_labels
from hankebot.service.config import load_config

ROOT = Path(__file__).resolve().parents[1]
LEGAL, NATURAL = "juriidilise isiku maksumus", "füüsilise isiku maksumus"


@pytest.fixture(scope="module")
def spec_and_labels():
    cfg = load_config(ROOT / "config.toml")
    p = cfg.settings.procurements[0]
    form = next(f for f in p.forms if f.kind.value == "cost")
    spec = form.spec().cost
    labels = template_cell_labels(str(cfg.resolve(p.forms_dir) / form.file), spec)
    assert [(x.row_label, x.col_label) for x in labels] == [("kogukulu", "summa (eurot)"),
                                                          ("ühe koolitusgrupi koolitus", "kogukulu km-ga")]
    return spec, labels


def _edited(edit) -> bytes:
    """The bidder's copy (a legal person's, 2 480,00 €) edited in office software, saved with plain values."""
    from openpyxl import Workbook

    wb = Workbook()
    nat = wb.active
    nat.title = NATURAL
    nat["A1"], nat["B1"], nat["A15"] = "Kulu liik", "Summa (eurot)", "kogukulu"
    leg = wb.create_sheet(LEGAL)
    for ref, v in {"A1": "Teenus", "B1": "Maksumus km-ta", "C1": "Käibemaks 24%", "D1": "kogukulu km-ga",
                   "A2": "Ühe koolitusgrupi koolitus", "B2": 2000, "C2": 480, "D2": 2480}.items():
        leg[ref] = v
    edit(leg)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _read(data, spec, labels):
    moved, notes = relocate(data, spec, labels)
    return read_cost_form(data, "Lisa 3.xlsx", moved), [n.code for n in notes]


def test_the_template_layout_reads_as_configured(spec_and_labels):
    spec, labels = spec_and_labels
    r, notes = _read(sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("2480.00")), spec, labels)
    assert (r.price, r.basis, notes) == (Decimal("2480.00"), PriceBasis.LEGAL_WITH_VAT, [])


@pytest.mark.parametrize("where,edit", [
    ("a row inserted above", lambda ws: ws.insert_rows(1)),
    ("a column inserted before", lambda ws: ws.insert_cols(2)),
    ("both", lambda ws: (ws.insert_rows(1, 2), ws.insert_cols(1))),
])
def test_a_moved_price_cell_follows_the_label(spec_and_labels, where, edit):
    spec, labels = spec_and_labels
    r, notes = _read(_edited(edit), spec, labels)
    assert (r.price, r.basis) == (Decimal("2480"), PriceBasis.LEGAL_WITH_VAT), where
    assert notes == ["price_cell_moved"]


def test_without_the_template_check_the_moved_cell_is_missed(spec_and_labels):
    spec, _ = spec_and_labels
    r = read_cost_form(_edited(lambda ws: ws.insert_rows(1)), "Lisa 3.xlsx", spec)
    assert r.price != Decimal("2480")


def test_labels_gone_is_flagged(spec_and_labels):
    spec, labels = spec_and_labels

    def rename(ws):
        ws["D1"], ws["A2"] = "Kokku", "Koolitus"

    _, notes = _read(_edited(rename), spec, labels)
    assert notes == ["price_cell_label_missing"]
