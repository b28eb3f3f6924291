"""`zip_of` reads an attachment's central directory once per `read_once()` block, and every ZipFile it
gives answers exactly as a fresh `zipfile.ZipFile(io.BytesIO(data))`: names, every ZipInfo field, the
comment, getinfo of a repeated name, member bytes; a broken directory raises the same error each time;
outside the block and for the reference readers it is the plain ZipFile."""
from __future__ import annotations

import io
import warnings
import zipfile
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.mailer.forms import zipdir
from hankebot.mailer.forms.memo import read_once
from hankebot.mailer.forms.zipdir import KnownDirectoryZip, zip_of
from hankebot.mailer.reference import reference_readers

_FIELDS = [s for s in zipfile.ZipInfo.__slots__ if not s.startswith("__")] + ["date_time"]


def _view(zf: zipfile.ZipFile) -> dict:
    """Everything a reader can ask a read-mode ZipFile, as plain values."""
    infos = [{f: getattr(i, f, None) for f in _FIELDS} for i in zf.infolist()]
    by_name = {n: {f: getattr(zf.getinfo(n), f, None) for f in _FIELDS} for n in zf.namelist()}
    members = {}
    for n in zf.namelist():
        try:
            members[n] = zf.read(n)
        except Exception as exc:  # noqa: BLE001 - a broken member: the same error either way
            members[n] = (type(exc), str(exc))
    return {"names": zf.namelist(), "infos": infos, "by_name": by_name, "comment": zf.comment,
            "start_dir": zf.start_dir, "members": members, "testzip": _testzip(zf)}


def _testzip(zf):
    try:
        return zf.testzip()
    except Exception as exc:  # noqa: BLE001
        return (type(exc), str(exc))


def _fresh(data: bytes):
    try:
        return _view(zipfile.ZipFile(io.BytesIO(data)))
    except Exception as exc:  # noqa: BLE001
        return (type(exc), str(exc))


def _shared(data: bytes, times: int = 3):
    """zip_of(data) `times` times in one block: the views, and whether the later ones shared the directory."""
    out, shared = [], []
    with read_once():
        for _ in range(times):
            try:
                zf = zip_of(data)
                shared.append(isinstance(zf, KnownDirectoryZip))
                out.append(_view(zf))
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc), str(exc)))
    return out, shared


def _zip(entries, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buf, "w") as zf:
            for name, content, method in entries:
                zf.writestr(name, content, compress_type=method)
            zf.comment = comment
    return buf.getvalue()


OFFICE = [sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("1234.5"), fmt="xlsx"),
          sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("1234.5"), fmt="ods"),
          sf.make_offer_form("A OÜ", "12345678", [1], ["A B"], "m", "n", fmt="docx")]


@pytest.mark.parametrize("i", range(len(OFFICE)))
def test_office_files_answer_as_a_fresh_zipfile(i):
    out, shared = _shared(OFFICE[i])
    assert shared == [True, True, True]  # not vacuous: the directory was shared
    assert all(v == _fresh(OFFICE[i]) for v in out)


def test_the_directory_is_read_once_per_block(monkeypatch):
    calls = []
    real = zipdir.read_directory
    monkeypatch.setattr(zipdir, "read_directory", lambda data: calls.append(1) or real(data))
    with read_once():
        for _ in range(4):
            zip_of(OFFICE[0]).namelist()
    assert len(calls) == 1


def test_repeated_names_comment_and_broken_archives():
    data = _zip([("a.xml", b"<first/>", zipfile.ZIP_DEFLATED), ("a.xml", b"<second/>", zipfile.ZIP_STORED),
                 ("d/", b"", zipfile.ZIP_STORED)], comment=b"note")
    out, shared = _shared(data)
    assert all(shared) and out[0]["members"]["a.xml"] == b"<second/>" and out[0]["comment"] == b"note"
    assert all(v == _fresh(data) for v in out)
    for broken in (b"PK\x03\x04 not a zip", OFFICE[2][:-30], b""):
        out, shared = _shared(broken)
        assert shared == [] and all(v == _fresh(broken) for v in out)  # the same error, every time


def test_plain_zipfile_outside_the_block_and_for_the_reference():
    assert type(zip_of(OFFICE[0])) is zipfile.ZipFile
    with read_once(), reference_readers():
        assert type(zip_of(OFFICE[0])) is zipfile.ZipFile


_NAMES = st.sampled_from(["a.xml", "b/c.xml", "d/", "e.rels", "[Content_Types].xml", "x", "ü.txt"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.binary(max_size=2000),
                          st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])), max_size=6),
       st.binary(max_size=20), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3))
def test_any_archive_even_damaged_answers_as_a_fresh_zipfile(entries, comment, flips):
    data = bytearray(_zip(entries, comment))
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    data = bytes(data)
    out, _ = _shared(data)
    assert all(v == _fresh(data) for v in out)
