"""The quick formula check's "could openpyxl open this workbook" test runs without importing openpyxl; it must
never pass a workbook openpyxl's own check refuses (that one is kept here as the reference): for real
workbooks and for broken and unusual variants of them."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from decimal import Decimal

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms.cost_formulas import _openpyxl_could_open


def _reference(zf: zipfile.ZipFile) -> None:
    """The check as openpyxl itself makes it (its parser, its manifest reading)."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.reader.excel import _find_workbook_part
    from openpyxl.xml.functions import fromstring

    for name in zf.namelist():
        if name.endswith((".xml", ".rels", ".vml")):
            fromstring(zf.read(name))
    manifest = Manifest.from_tree(fromstring(zf.read("[Content_Types].xml")))
    if _find_workbook_part(manifest).PartName != "/xl/workbook.xml":
        raise ValueError("workbook elsewhere")


def _rewrite(data: bytes, name: str, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            body = src.read(info.filename)
            z.writestr(info.filename, edit(body) if info.filename == name else body)
    return out.getvalue()


CT = "[Content_Types].xml"
XLSX = sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800"))
VARIANTS = {
    "xlsx": XLSX,
    "xlsm": sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("3900"), fmt="xlsm"),
    "no cached values": sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("3900"), cached_values=False),
    "blank": sf.make_cost_form(None, None),
    "sheet not well-formed": _rewrite(XLSX, "xl/worksheets/sheet1.xml", lambda b: b[:-20]),
    "rels not well-formed": _rewrite(XLSX, "_rels/.rels", lambda b: b.replace(b"</Relationships>", b"")),
    "workbook elsewhere": _rewrite(XLSX, CT, lambda b: b.replace(b'PartName="/xl/workbook.xml"',
                                                                 b'PartName="/xl/book.xml"')),
    "no workbook override": _rewrite(XLSX, CT, lambda b: re.sub(rb'<Override[^>]*sheet\.main\+xml"\s*/>', b"", b)),
    "comment in the manifest": _rewrite(XLSX, CT, lambda b: b.replace(b"<Default", b"<!-- x --><Default", 1)),
    "entity in a part": _rewrite(XLSX, "docProps/app.xml", lambda b: b.replace(b"<?xml", b"<!DOCTYPE x [<!ENTITY e 'y'>]><?xml", 1)),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_never_passes_what_openpyxl_refuses(name):
    zf = zipfile.ZipFile(io.BytesIO(VARIANTS[name]))
    try:
        _reference(zf)
        openpyxl_ok = True
    except Exception:  # noqa: BLE001
        openpyxl_ok = False
    try:
        _openpyxl_could_open(zf)
        quick_ok = True
    except Exception:  # noqa: BLE001 - raising only sends the workbook to openpyxl
        quick_ok = False
    assert not (quick_ok and not openpyxl_ok), name
    if name in ("xlsx", "xlsm", "no cached values", "blank"):
        assert quick_ok and openpyxl_ok, name  # ordinary workbooks take the quick path
    if name in ("sheet not well-formed", "rels not well-formed", "workbook elsewhere"):
        assert not openpyxl_ok  # the variants really are refused


def test_the_check_imports_no_openpyxl(tmp_path):
    """An ordinary workbook's formula cells are found without loading openpyxl (a fresh interpreter)."""
    path = tmp_path / "cost.xlsx"
    path.write_bytes(XLSX)
    code = ("import sys\nfrom hankebot.mailer.forms.cost_formulas import xlsx_formulas_quick\n"
            f"data = open({str(path)!r}, 'rb').read()\n"
            "cells = xlsx_formulas_quick(data, [('juriidilise isiku maksumus', 'D2')])\n"
            "print('openpyxl' in sys.modules, len(cells))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "1"], r.stdout
