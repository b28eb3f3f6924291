"""The readers get from `open_zip` exactly the member bytes a fresh ZipFile gives: after the safety scan
(check_zip) passed inside `read_once()`, `read()` and `open()` serve the members it inflated, and for
every other case (outside the block, a refused archive, too much inflated to keep, a directory entry, a
repeated name, the reference readers) the archive is read as before."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms import safety
from hankebot.mailer.forms.memo import read_once
from hankebot.mailer.forms.safety import check_zip, open_zip
from hankebot.mailer.reference import reference_readers


def _fresh(data: bytes) -> dict[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {n: zf.read(n) for n in zf.namelist()}


def _served(data: bytes) -> tuple[dict[str, bytes], dict[str, bytes], bool]:
    """(read(), open().read()) of every name, and whether the bytes came from the scan's memory."""
    zf = open_zip(data)
    by_read = {n: zf.read(n) for n in zf.namelist()}
    opened = {}
    for n in zf.namelist():
        with zf.open(n) as fh:
            opened[n] = fh.read()
    return by_read, opened, isinstance(zf, safety._InflatedZip)


def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content, method in entries:
            if name.endswith("/"):
                zf.mkdir(name) if hasattr(zf, "mkdir") else zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(zipfile.ZipInfo(name) if method is None else name, content, compress_type=method)
    return buf.getvalue()


OFFICE = {
    "xlsx": sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("1234.5"), fmt="xlsx"),
    "xlsm": sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("99"), fmt="xlsm", cached_values=False),
    "ods": sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("1234.5"), fmt="ods"),
    "docx": sf.make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="docx"),
    "odt": sf.make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="odt"),
}


@pytest.mark.parametrize("fmt", sorted(OFFICE))
def test_office_files_read_the_same_from_the_scan(fmt):
    data = OFFICE[fmt]
    with read_once():
        assert check_zip(data) is None
        by_read, opened, shared = _served(data)
    assert shared  # not vacuous: the members came from the scan
    assert by_read == opened == _fresh(data)


def test_repeated_names_and_directories_read_as_zipfile_reads_them():
    """A repeated name reads as its last entry (ZipFile.getinfo's), a directory entry as ZipFile reads it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        data = _zip([("a.xml", b"<first/>", zipfile.ZIP_DEFLATED), ("d/", b"", zipfile.ZIP_STORED),
                     ("a.xml", b"<second/>", zipfile.ZIP_STORED), ("b.bin", b"\x00" * 5000, zipfile.ZIP_DEFLATED)])
    with read_once():
        assert check_zip(data) is None
        by_read, opened, shared = _served(data)
    assert shared and by_read["a.xml"] == b"<second/>"
    assert by_read == opened == _fresh(data)


def test_no_sharing_where_the_scan_kept_nothing(monkeypatch):
    data = OFFICE["xlsx"]
    assert not isinstance(open_zip(data), safety._InflatedZip)  # outside read_once
    with read_once():
        assert not isinstance(open_zip(data), safety._InflatedZip)  # not scanned yet
        check_zip(data)
        with reference_readers():
            assert not isinstance(open_zip(data), safety._InflatedZip)  # the reference reads afresh
    monkeypatch.setattr(safety, "KEEP_INFLATED", 100)  # too much inflated to keep
    with read_once():
        assert check_zip(data) is None
        by_read, opened, shared = _served(data)
    assert not shared and by_read == _fresh(data)
    broken = bytearray(OFFICE["docx"])
    broken[200:260] = b"\xff" * 60  # inside the first member's compressed data: fails the scan
    with read_once():
        assert check_zip(bytes(broken)) is not None
        assert not isinstance(open_zip(bytes(broken)), safety._InflatedZip)


_NAMES = st.sampled_from(["a.xml", "b/c.xml", "d/", "e.rels", "[Content_Types].xml", "x"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.binary(max_size=3000),
                          st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])), min_size=1, max_size=8))
def test_any_archive_reads_the_same(entries):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = _zip(entries)
    with read_once():
        verdict = check_zip(data)
        by_read, opened, shared = _served(data)
    assert shared == (verdict is None and any(not n.endswith("/") for n, _, _ in entries))
    assert by_read == opened == _fresh(data)


_BASES = [OFFICE["docx"], OFFICE["xlsx"], OFFICE["odt"],
          _zip([("a.txt", b"hello " * 50, zipfile.ZIP_STORED), ("b/", b"", zipfile.ZIP_STORED),
                ("c.xml", b"<x>" * 300, zipfile.ZIP_DEFLATED)])]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(_BASES))), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3),
       st.one_of(st.none(), st.floats(0.5, 1)))
def test_the_plain_inflater_decides_as_the_member_by_member_scan(base, flips, cut):
    """Where the straight-zlib inflater accepts an archive, the member-by-member scan through ZipFile.open
    accepts it with the same members; anything it is unsure of goes to that scan. Checked over real office
    files and archives with bytes changed anywhere (headers, names, compressed data, CRCs) or cut short."""
    import pytest as _pytest

    data = bytearray(_BASES[base])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    data = bytes(data)
    try:
        fast = safety._inflate_plain(data, zipfile.ZipFile(io.BytesIO(data)).infolist())
    except Exception:  # noqa: BLE001 - the directory itself is broken: the scan says so before inflating
        fast = None
    with _pytest.MonkeyPatch.context() as m:
        m.setattr(safety, "_inflate_plain", lambda data, infos: None)
        slow = safety._check_zip(data)
    if fast is not None:
        assert slow == (None, fast)
    assert safety._check_zip(data) == slow


def test_the_plain_inflater_takes_the_usual_files():
    for fmt, data in OFFICE.items():
        zf = zipfile.ZipFile(io.BytesIO(data))
        assert safety._inflate_plain(data, zf.infolist()) == {i.filename: zf.read(i) for i in zf.infolist()
                                                              if not i.is_dir()}, fmt


def test_a_large_member_is_not_held_while_scanned(monkeypatch):
    """Over KEEP_INFLATED the member-by-member scan stops holding inflated bytes at once (its memory stays
    flat however large the member): a 2 MB member scanned with a 100 KB limit peaks far below 2 MB."""
    import os
    import tracemalloc

    data = _zip([("big.bin", os.urandom(1 << 20) * 2, zipfile.ZIP_DEFLATED)])
    monkeypatch.setattr(safety, "KEEP_INFLATED", 100_000)
    tracemalloc.start()
    try:
        verdict, kept = safety._check_zip(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert verdict is None and kept is None
    assert peak < 800_000, peak
