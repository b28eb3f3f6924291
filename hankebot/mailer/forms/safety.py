"""Guards run before an attachment is handed to a parsing library.

Office files (xlsx, xlsm, ods, docx, odt) are zip archives; a "zip bomb" is a tiny archive
whose members inflate to hundreds of megabytes. `check_zip` reads the zip directory (declared
sizes, entry count, compression ratio) and then really inflates every member in bounded
chunks, which also verifies the CRC: a member whose directory entry lies about its size fails
the CRC check instead of inflating without bound.

Inside `read_once()` the members the scan inflated (when they add up to at most KEEP_INFLATED bytes) are
remembered with its verdict, and `open_zip()` gives a ZipFile whose `read()` / `open()` of such a member
serves those bytes instead of inflating it again: the same bytes, as the scan read each member to its end
and so passed the same CRC check `read()` makes. A small plain archive (every member stored or
deflated, at most KEEP_INFLATED declared) is inflated straight with zlib with the same checks
(`_inflate_plain`); anything unusual goes member by member through ZipFile.open as before.
"""
from __future__ import annotations

import hashlib
import io
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict

from hankebot.core.problems import Problem
from hankebot.mailer.forms.memo import memoised, remembered
from hankebot.mailer.forms.zipdir import KnownDirectoryZip, directory_of, zip_of
from hankebot.mailer.reference import in_reference

MAX_ATTACHMENT_BYTES = 30 * 1024 * 1024  # raw file size
MAX_UNCOMPRESSED_TOTAL = 50 * 1024 * 1024  # sum of the members' inflated sizes
MAX_MEMBERS = 5000
MAX_RATIO = 200  # inflated / compressed, per member larger than RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
_CHUNK = 1 << 16
KEEP_INFLATED = 4 * 1024 * 1024  # inflated members kept for the readers, per archive, at most


def too_large(data: bytes) -> Problem | None:
    """Problem "attachment_too_large" if the raw bytes exceed MAX_ATTACHMENT_BYTES."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        return Problem(
            "attachment_too_large",
            f"Manus on liiga suur ({len(data) // (1024 * 1024)} MB); seda ei loetud automaatselt. "
            "Palun kontrollige manust käsitsi.",
        )
    return None


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def check_zip(data: bytes) -> Problem | None:
    """None when the archive is safe to open; else "zip_bomb", "attachment_too_large" or
    "unreadable_zip" (corrupt archive)."""
    return memoised("check_zip", data, "", lambda: _check_zip(data))[0]


class _InflatedZip(KnownDirectoryZip):
    """A ZipFile whose members named in `inflated` are served from it (read by the safety scan)."""

    def __init__(self, data: bytes, directory: tuple, inflated: dict[str, bytes]) -> None:
        super().__init__(data, directory)
        self._inflated = inflated

    def read(self, name, pwd=None):
        if pwd is None and isinstance(name, str) and name in self._inflated:
            if self.fp is None:
                raise ValueError("Attempt to use ZIP archive that was already closed")
            return self._inflated[name]
        return super().read(name, pwd)

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):
        if mode == "r" and pwd is None and isinstance(name, str) and name in self._inflated:
            if self.fp is None:
                raise ValueError("Attempt to use ZIP archive that was already closed")
            return io.BytesIO(self._inflated[name])
        return super().open(name, mode, pwd, force_zip64=force_zip64)


def open_zip(data: bytes) -> zipfile.ZipFile:
    """`zipfile.ZipFile(io.BytesIO(data))`; after `check_zip(data)` passed inside `read_once()`, one that
    reads the members the scan kept from memory (not for the reference readers)."""
    scanned = None if in_reference() else remembered("check_zip", data, "")
    if scanned is not None and scanned[0] is None and scanned[1]:
        return _InflatedZip(data, directory_of(data), scanned[1])
    return zip_of(data)


def _check_zip(data: bytes) -> tuple[Problem | None, dict[str, bytes] | None]:
    """The verdict, and the inflated members by name (the last of a repeated name, as ZipFile.getinfo
    finds) when the archive is safe and they add up to at most KEEP_INFLATED bytes."""
    big = too_large(data)
    if big:
        return big, None
    try:
        zf = zip_of(data)
        infos = zf.infolist()
    except Exception:  # noqa: BLE001 - any failure to read the directory: corrupt
        return Problem("unreadable_zip", "Manus on rikutud (vigane ZIP-arhiiv) ega ole loetav."), None
    bomb = Problem(
        "zip_bomb",
        "Manus näeb välja nagu pakkimispomm (lahtipakituna kordades suurem kui lubatud); "
        "seda ei avatud. Palun kontrollige manust käsitsi.",
    )
    if len(infos) > MAX_MEMBERS:
        return bomb, None
    declared = 0
    for info in infos:
        declared += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return bomb, None
    if declared > MAX_UNCOMPRESSED_TOTAL:
        return Problem(
            "attachment_too_large",
            f"Manus on lahtipakituna liiga suur ({declared // (1024 * 1024)} MB); "
            "seda ei loetud automaatselt. Palun kontrollige manust käsitsi.",
        ), None
    if declared <= KEEP_INFLATED and not in_reference():  # the reference readers scan member by member
        members = _inflate_plain(data, infos)
        if members is not None:
            return None, members
    inflated = 0
    kept: dict[str, bytes] | None = {}
    try:
        for info in infos:
            if info.is_dir():
                continue
            chunks = []
            with zf.open(info) as member:
                while True:
                    chunk = member.read(_CHUNK)
                    if not chunk:
                        break
                    inflated += len(chunk)
                    if inflated > MAX_UNCOMPRESSED_TOTAL:
                        return bomb, None
                    if kept is not None and inflated > KEEP_INFLATED:
                        kept, chunks = None, []  # too much to keep: nothing more is held
                    if kept is not None:
                        chunks.append(chunk)
            if kept is not None:
                kept[info.filename] = b"".join(chunks)
    except RuntimeError:  # encrypted member
        return Problem("unreadable_zip", "Manus on parooliga kaitstud ega ole loetav."), None
    except Exception:  # noqa: BLE001 - any decoder error means a corrupt archive
        return Problem("unreadable_zip", "Manus on rikutud (vigane ZIP-arhiiv) ega ole loetav."), None
    return None, kept


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader


def _inflate_plain(data: bytes, infos: list[zipfile.ZipInfo]) -> dict[str, bytes] | None:
    """Every member of a plain archive inflated straight with zlib (no ZipExtFile per member), or None
    where anything is unusual, and then the scan above decides. Plain: each member stored or deflated,
    not encrypted or patched, its local header where the directory says with the same name (as
    ZipFile.open checks), the members' spans apart, and each inflating to exactly its declared size with
    its CRC, the deflate stream ending exactly at its compressed size. ZipFile.open and reading to the end
    then give the same bytes and pass the same checks, so the verdict is the scan's "safe"."""
    out: dict[str, bytes] = {}
    spans = []
    for info in infos:
        if info.is_dir():
            continue
        if info.flag_bits & 0x61 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return None  # encrypted, patched, strong encryption, another method
        off = info.header_offset
        head = data[off:off + _LOCAL_HEADER.size]
        if len(head) != _LOCAL_HEADER.size:
            return None
        fields = _LOCAL_HEADER.unpack(head)
        if fields[0] != b"PK\x03\x04":
            return None
        name_len, extra_len = fields[10], fields[11]
        start = off + _LOCAL_HEADER.size
        try:
            name = data[start:start + name_len].decode("utf-8" if fields[3] & 0x800 else "cp437")
        except UnicodeDecodeError:
            return None
        if name != info.orig_filename:
            return None
        start += name_len + extra_len
        end = start + info.compress_size
        if end > len(data):
            return None
        packed = data[start:end]
        if info.compress_type == zipfile.ZIP_STORED:
            content = packed
            if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
                return None
        elif (content := _inflated_before(packed, info)) is None:  # else: these checks passed before
            inflater = zlib.decompressobj(-15)
            try:
                content = inflater.decompress(packed, info.file_size + 1)
            except zlib.error:
                return None
            if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
                return None
            if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
                return None
            _remember_inflated(packed, info, content)
        spans.append((off, end))
        out[info.filename] = content
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        return None
    return out


# Deflated members that inflated cleanly before (the template's unchanged styles and theme come again in
# every bid): keyed by the compressed bytes' SHA-256, declared size and CRC, they inflate to the same
# content with the same checks passed, so the content is taken from here instead of inflated again.
# Process-wide, least recently used dropped beyond INFLATED_CACHE_BYTES; only members of at least
# INFLATED_CACHE_MIN bytes (hashing a small one costs about what inflating it does).
INFLATED_CACHE_BYTES = 2 * 1024 * 1024
INFLATED_CACHE_MIN = 16 * 1024
_inflated_cache: OrderedDict[tuple, bytes] = OrderedDict()
_inflated_cache_size = 0
_inflated_lock = threading.Lock()


def _inflated_key(packed: bytes, info: zipfile.ZipInfo) -> tuple:
    return hashlib.sha256(packed).digest(), len(packed), info.file_size, info.CRC


def _inflated_before(packed: bytes, info: zipfile.ZipInfo) -> bytes | None:
    if info.file_size < INFLATED_CACHE_MIN:
        return None
    key = _inflated_key(packed, info)
    with _inflated_lock:
        content = _inflated_cache.get(key)
        if content is not None:
            _inflated_cache.move_to_end(key)
        return content


def _remember_inflated(packed: bytes, info: zipfile.ZipInfo, content: bytes) -> None:
    global _inflated_cache_size
    if len(content) < INFLATED_CACHE_MIN or len(content) > INFLATED_CACHE_BYTES:
        return
    key = _inflated_key(packed, info)
    with _inflated_lock:
        if key in _inflated_cache:
            return
        _inflated_cache[key] = content
        _inflated_cache_size += len(content)
        while _inflated_cache_size > INFLATED_CACHE_BYTES:
            _inflated_cache_size -= len(_inflated_cache.popitem(last=False)[1])
