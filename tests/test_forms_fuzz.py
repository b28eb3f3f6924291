"""Bad input never crashes a reader: arbitrary bytes, mutated valid files, zip bombs."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hankebot.core.models import FormSpec, PriceBasis, PriceReading
from hankebot.core.problems import Problem
from hankebot.devstack.sample_forms import form_specs_302834, make_cost_form, make_offer_form
from hankebot.mailer.forms.cost_form import read_cost_form
from hankebot.mailer.forms.offer_form import OfferReading, read_offer_form
from hankebot.mailer.forms.recognize import recognize_form
from hankebot.mailer.forms.safety import check_zip

SPECS = form_specs_302834()
COST_SPEC = SPECS[1].cost
NAMES = ["Lisa 3 maksumuse vorm.xlsx", "x.xlsm", "x.xls", "x.ods", "x.pdf", "Lisa 2.docx", "x.odt", "x.doc", "x.bin", ""]

SAMPLES = {
    "xlsx": make_cost_form(PriceBasis.NATURAL_TOTAL, "1234.5", fmt="xlsx"),
    "xlsm": make_cost_form(PriceBasis.LEGAL_WITH_VAT, "1234.5", fmt="xlsm", cached_values=False),
    "xls": make_cost_form(PriceBasis.NATURAL_TOTAL, "1234.5", fmt="xls"),
    "ods": make_cost_form(PriceBasis.LEGAL_WITH_VAT, "1234.5", fmt="ods"),
    "pdf": make_cost_form(PriceBasis.LEGAL_WITH_VAT, "1234.5", fmt="pdf"),
    "docx": make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="docx"),
    "odt": make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="odt"),
}


def check_cost(reading: PriceReading) -> None:
    assert isinstance(reading, PriceReading)
    assert reading.price is None or isinstance(reading.price, Decimal)
    assert all(isinstance(p, Problem) and p.code and p.message for p in reading.problems)
    assert reading.price is not None or reading.problems  # no price without saying why


def check_offer(reading: OfferReading) -> None:
    assert isinstance(reading, OfferReading)
    assert all(isinstance(p, Problem) and p.code and p.message for p in reading.problems)
    assert all(isinstance(n, int) for n in reading.parts)


def check_all(data: bytes, name: str) -> None:
    check_cost(read_cost_form(data, name, COST_SPEC))
    check_offer(read_offer_form(data, name))
    found = recognize_form(data, name, SPECS)
    assert found is None or isinstance(found, FormSpec)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(NAMES))
def test_arbitrary_bytes(data: bytes, name: str) -> None:
    check_all(data, name)


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from(NAMES))
def test_arbitrary_bytes_behind_real_magic(tail: bytes, name: str) -> None:
    for magic in (b"PK\x03\x04", b"%PDF-1.7\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        check_all(magic + tail, name)


@st.composite
def mutated(draw) -> tuple[bytes, str]:
    fmt = draw(st.sampled_from(sorted(SAMPLES)))
    data = bytearray(SAMPLES[fmt])
    how = draw(st.sampled_from(["truncate", "flip", "overwrite"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    else:
        i = draw(st.integers(0, len(data) - 1))
        data[i : i + 16] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data), f"form.{fmt}"


@FUZZ
@given(mutated())
def test_mutated_valid_files(sample: tuple[bytes, str]) -> None:
    check_all(*sample)


@st.composite
def mutated_inside(draw) -> tuple[bytes, str]:
    """A valid zip-based sample whose XML member is damaged and re-zipped with a correct CRC,
    so the damage reaches the parsing library instead of stopping at the zip check."""
    fmt = draw(st.sampled_from(["xlsx", "xlsm", "ods", "docx", "odt"]))
    src = zipfile.ZipFile(io.BytesIO(SAMPLES[fmt]))
    xml_members = sorted(n for n in src.namelist() if n.endswith(".xml"))
    target = draw(st.sampled_from(xml_members))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = bytearray(src.read(item.filename))
            if item.filename == target and data:
                how = draw(st.sampled_from(["truncate", "flip", "overwrite"]))
                if how == "truncate":
                    data = data[: draw(st.integers(0, len(data) - 1))]
                elif how == "flip":
                    for _ in range(draw(st.integers(1, 8))):
                        i = draw(st.integers(0, len(data) - 1))
                        data[i] ^= 1 << draw(st.integers(0, 7))
                else:
                    i = draw(st.integers(0, len(data) - 1))
                    data[i : i + 24] = draw(st.binary(min_size=1, max_size=24))
            dst.writestr(item.filename, bytes(data))
    return out.getvalue(), f"form.{fmt}"


@FUZZ
@given(mutated_inside())
def test_damaged_xml_inside_valid_zip(sample: tuple[bytes, str]) -> None:
    check_all(*sample)


# --- zip bombs ----------------------------------------------------------------------------

BOMB_MB = 200


def _bomb_from(valid: bytes, member: str, head: bytes) -> bytes:
    """`valid` with `member` replaced by `head` + BOMB_MB MB of spaces (compresses ~1000:1)."""
    src = zipfile.ZipFile(io.BytesIO(valid))
    out = io.BytesIO()
    block = b" " * (1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename == member:
                info = zipfile.ZipInfo(member)
                info.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(info, "w", force_zip64=True) as fh:
                    fh.write(head)
                    for _ in range(BOMB_MB):
                        fh.write(block)
            else:
                dst.writestr(item, src.read(item.filename))
    return out.getvalue()


@pytest.fixture(scope="module")
def xlsx_bomb() -> bytes:
    return _bomb_from(SAMPLES["xlsx"], "xl/worksheets/sheet1.xml", b'<?xml version="1.0"?><worksheet')


@pytest.fixture(scope="module")
def docx_bomb() -> bytes:
    return _bomb_from(SAMPLES["docx"], "word/document.xml", b'<?xml version="1.0"?><w:document')


def test_xlsx_zip_bomb_is_refused(xlsx_bomb: bytes) -> None:
    assert len(xlsx_bomb) < 2 * 1024 * 1024  # tiny on the wire
    for name in ("Lisa 3 maksumuse vorm.xlsx", "makro.xlsm"):
        reading = read_cost_form(xlsx_bomb, name, COST_SPEC)
        assert [p.code for p in reading.problems] == ["zip_bomb"]
        assert reading.price is None
    # recognition does not open it either; the name still says what it claims to be
    assert recognize_form(xlsx_bomb, "Lisa 3 maksumuse vorm.xlsx", SPECS) is SPECS[1]


def test_docx_zip_bomb_is_refused(docx_bomb: bytes) -> None:
    assert [p.code for p in read_offer_form(docx_bomb, "Lisa 2.docx").problems] == ["zip_bomb"]


def _lying_zip() -> bytes:
    """A zip whose directory says its 60 MB member is 1000 bytes (both headers patched)."""
    payload = b"<x>" + b"A" * (60 * 1024 * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", payload)
    data = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("content.xml")
    struct.pack_into("<I", data, info.header_offset + 22, 1000)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == b"content.xml":
            struct.pack_into("<I", data, central + 24, 1000)  # central directory: uncompressed size
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("content.xml").file_size == 1000
    assert zlib.crc32(payload[:1000]) != info.CRC
    return bytes(data)


def test_zip_lying_about_member_size_is_caught() -> None:
    data = _lying_zip()
    problem = check_zip(data)
    assert problem is not None and problem.code == "unreadable_zip"
    assert [p.code for p in read_cost_form(data, "x.ods", COST_SPEC).problems] == ["unreadable_cost_form"]


def test_many_members_is_a_bomb() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(5001):
            zf.writestr(f"d/{i}", b"")
    assert check_zip(buf.getvalue()).code == "zip_bomb"


def test_big_but_honest_archive_is_too_large() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(60):  # 60 x 1 MB of incompressible-ish data, ratio low
            zf.writestr(f"m{i}", bytes(range(256)) * 4096)
    problem = check_zip(buf.getvalue())
    assert problem is not None and problem.code == "attachment_too_large"


def test_valid_samples_pass_the_zip_check() -> None:
    for fmt in ("xlsx", "xlsm", "ods", "docx", "odt"):
        assert check_zip(SAMPLES[fmt]) is None, fmt
