"""A spreadsheet is opened by calamine once per `read_once()` block, and what the readers get from the
shared workbook equals what they get from their own: sheet names, every sheet's grid (also read again and
row-limited), the recognised form, the relocated cells and the cost form's price reading; a file calamine
refuses raises each time; outside the block and for the reference readers each call opens its own."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms import workbook
from hankebot.mailer.forms.memo import read_once
from hankebot.mailer.forms.workbook import workbook_of
from hankebot.mailer.reference import reference_readers

FILES = {fmt: sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800.5"), fmt=fmt)
         for fmt in ("xlsx", "xlsm", "xls", "ods")}
FILES["no cached values"] = sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("3900"), cached_values=False)
FILES["blank"] = sf.make_cost_form(None, None)


def _view(wb) -> dict:
    names = list(wb.sheet_names)
    grids = {n: wb.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in names}
    again = {n: wb.get_sheet_by_name(n).to_python(skip_empty_area=False, nrows=3) for n in names}
    plain = {n: wb.get_sheet_by_name(n).to_python() for n in names}
    return {"names": names, "grids": grids, "again": again, "plain": plain}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_the_shared_workbook_reads_as_a_fresh_one(fmt):
    data = FILES[fmt]
    fresh = _view(workbook._open(data))
    with read_once():
        first = workbook_of(data)
        views = [_view(workbook_of(data)) for _ in range(3)]
        assert workbook_of(data) is first  # not vacuous: shared
    assert all(v == fresh for v in views)


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_the_readers_answer_the_same_inside_and_outside(fmt, tmp_path):
    from hankebot.mailer.forms.cost_form import read_cost_form
    from hankebot.mailer.forms.cost_template import relocate, template_cell_labels
    from hankebot.mailer.forms.recognize import recognize_form

    specs = sf.form_specs_302834()
    spec = specs[1]
    template = tmp_path / "Lisa 3 maksumuse vorm.xlsx"
    template.write_bytes(sf.blank_cost_form())
    labels = template_cell_labels(str(template), spec.cost)
    assert any(labels)
    data = FILES[fmt]

    def run():
        return [recognize_form(data, f"hinnad.{fmt}", specs), relocate(data, spec.cost, labels),
                read_cost_form(data, f"hinnad.{fmt}", spec.cost), list(workbook_of(data).sheet_names)]

    outside = run()
    assert outside[0] == spec  # recognised by its sheets
    with read_once():
        inside = [run(), run()]
    assert inside == [outside, outside]


def test_opened_once_per_block_and_errors_afresh(monkeypatch):
    calls = []
    real = workbook._open
    monkeypatch.setattr(workbook, "_open", lambda data: calls.append(1) or real(data))
    with read_once():
        for _ in range(3):
            workbook_of(FILES["xlsx"])
    assert len(calls) == 1
    calls.clear()
    with read_once():
        for _ in range(2):
            with pytest.raises(BaseException):  # calamine's own error for a file that is no workbook
                workbook_of(b"PK\x03\x04 not a workbook")
    assert len(calls) == 2


def test_own_workbook_outside_the_block_and_for_the_reference():
    data = FILES["xlsx"]
    assert workbook_of(data) is not workbook_of(data)
    with read_once(), reference_readers():
        assert workbook_of(data) is not workbook_of(data)


def test_two_files_in_one_block_each_read_as_itself():
    a, b = FILES["xlsx"], sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("12"), fmt="xlsx")
    with read_once():
        views = [_view(workbook_of(a)), _view(workbook_of(b)), _view(workbook_of(a))]
    assert views == [_view(workbook._open(a)), _view(workbook._open(b)), _view(workbook._open(a))]
    assert views[0] != views[1]
