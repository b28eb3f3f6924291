"""The two process-wide caches of parts seen before give what computing afresh gives.

- The zip-safety scan's straight inflater takes a deflated member whose compressed bytes, size and CRC it
  inflated cleanly before from memory: the verdict and the members are those of a cold cache, over real
  office files and archives with bytes changed anywhere (a changed CRC or size is never a hit).
- The cost form's quick check skips parsing an XML part whose bytes parsed before: it passes or raises as
  with a cold cache, also on parts broken after the good ones were seen."""
from __future__ import annotations

import io
import os
import zipfile
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms import cost_formulas, safety


@pytest.fixture(autouse=True)
def _cold():
    safety._inflated_cache.clear()
    safety._inflated_cache_size = 0
    cost_formulas._well_formed.clear()
    yield
    safety._inflated_cache.clear()
    safety._inflated_cache_size = 0
    cost_formulas._well_formed.clear()


def _cold_scan(data: bytes):
    saved = dict(safety._inflated_cache), safety._inflated_cache_size
    safety._inflated_cache.clear()
    safety._inflated_cache_size = 0
    try:
        return safety._check_zip(data)
    finally:
        safety._inflated_cache.clear()
        safety._inflated_cache.update(saved[0])
        safety._inflated_cache_size = saved[1]


def _zip(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in entries:
            zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


DOCX = sf.make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="docx")
XLSX = sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800"))
BIG = _zip([("a.xml", b"<a>" + b"x1y2" * 9000 + b"</a>"), ("b.bin", os.urandom(2000) * 10)])


def test_a_member_seen_before_is_taken_from_memory():
    first = safety._check_zip(DOCX)
    assert first[0] is None and safety._inflated_cache  # the large styles were remembered
    zf = zipfile.ZipFile(io.BytesIO(DOCX))
    styles = zf.getinfo("word/styles.xml")
    start = styles.header_offset + 30 + len(styles.orig_filename.encode()) + len(styles.extra)
    packed = DOCX[start:start + styles.compress_size]
    assert safety._inflated_before(packed, styles) == zf.read("word/styles.xml")  # not vacuous: a hit
    assert safety._check_zip(DOCX) == first == _cold_scan(DOCX)


def _with_crc(data: bytes, name: str, crc: int) -> bytes:
    """The archive with `name`'s CRC changed in the central directory only."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo(name)
    pos = data.index(b"PK\x01\x02", zf.start_dir)
    while True:
        n_len = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + n_len].decode() == info.orig_filename:
            break
        pos = data.index(b"PK\x01\x02", pos + 4)
    return data[:pos + 16] + crc.to_bytes(4, "little") + data[pos + 20:]


def test_a_changed_crc_or_size_is_no_hit():
    assert safety._check_zip(BIG)[0] is None and safety._inflated_cache
    info = zipfile.ZipFile(io.BytesIO(BIG)).getinfo("a.xml")
    bad_crc = _with_crc(BIG, "a.xml", info.CRC ^ 1)
    assert safety._inflate_plain(bad_crc, zipfile.ZipFile(io.BytesIO(bad_crc)).infolist()) is None
    assert safety._check_zip(bad_crc) == _cold_scan(bad_crc)
    assert safety._check_zip(bad_crc)[0] is not None


def test_the_cache_stays_within_its_bound(monkeypatch):
    monkeypatch.setattr(safety, "INFLATED_CACHE_BYTES", 40_000)
    for i in range(5):
        safety._check_zip(_zip([("a.xml", b"<a>" + str(i).encode() * 30_000 + b"</a>")]))
    assert 0 < safety._inflated_cache_size <= 40_000
    assert safety._inflated_cache_size == sum(len(v) for v in safety._inflated_cache.values())


_BASES = [DOCX, XLSX, BIG]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(_BASES))), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3),
       st.booleans())
def test_warm_and_cold_scans_agree_on_changed_archives(base, flips, small):
    """Warmed on the original, the scan of a changed copy equals the cold scan of it (also with every member
    size cached, `small`)."""
    with pytest.MonkeyPatch.context() as m:
        if small:
            m.setattr(safety, "INFLATED_CACHE_MIN", 0)
        safety._check_zip(_BASES[base])
        data = bytearray(_BASES[base])
        for where, value in flips:
            data[min(int(where * len(data)), len(data) - 1)] = value
        data = bytes(data)
        assert safety._check_zip(data) == _cold_scan(data)


# --- the quick check's well-formed parts ----------------------------------------------------------

def _rewrite(data: bytes, name: str, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            body = src.read(info)
            z.writestr(info.filename, edit(body) if info.filename == name else body)
    return out.getvalue()


def _verdict(data: bytes):
    try:
        cost_formulas._openpyxl_could_open(zipfile.ZipFile(io.BytesIO(data)))
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def _cold_verdict(data: bytes):
    saved = dict(cost_formulas._well_formed)
    cost_formulas._well_formed.clear()
    try:
        return _verdict(data)
    finally:
        cost_formulas._well_formed.clear()
        cost_formulas._well_formed.update(saved)


def test_parts_parsed_before_are_skipped_and_broken_ones_still_raise():
    assert _verdict(XLSX) == "ok" and cost_formulas._well_formed  # not vacuous: parts remembered
    theme = zipfile.ZipFile(io.BytesIO(XLSX)).read("xl/theme/theme1.xml")
    assert len(theme) >= cost_formulas.WELL_FORMED_MIN
    broken = _rewrite(XLSX, "xl/theme/theme1.xml", lambda b: b[:-40])
    assert _verdict(broken) == _cold_verdict(broken) != "ok"


_PARTS = sorted(n for n in zipfile.ZipFile(io.BytesIO(XLSX)).namelist() if n.endswith((".xml", ".rels")))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_PARTS), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=3))
def test_warm_and_cold_quick_checks_agree_on_changed_parts(name, flips):
    _verdict(XLSX)

    def edit(b: bytes) -> bytes:
        b = bytearray(b)
        for where, value in flips:
            b[min(int(where * len(b)), len(b) - 1)] = value
        return bytes(b)

    data = _rewrite(XLSX, name, edit)
    assert _verdict(data) == _cold_verdict(data)
