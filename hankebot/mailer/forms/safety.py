"""Guards run before an attachment is handed to a parsing library.

Office files (xlsx, xlsm, ods, docx, odt) are zip archives; a "zip bomb" is a tiny archive
whose members inflate to hundreds of megabytes. `check_zip` reads the zip directory (declared
sizes, entry count, compression ratio) and then really inflates every member in bounded
chunks, which also verifies the CRC: a member whose directory entry lies about its size fails
the CRC check instead of inflating without bound.
"""
from __future__ import annotations

import io
import zipfile

from hankebot.core.problems import Problem
from hankebot.mailer.forms.memo import memoised

MAX_ATTACHMENT_BYTES = 30 * 1024 * 1024  # raw file size
MAX_UNCOMPRESSED_TOTAL = 50 * 1024 * 1024  # sum of the members' inflated sizes
MAX_MEMBERS = 5000
MAX_RATIO = 200  # inflated / compressed, per member larger than RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
_CHUNK = 1 << 16


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
    return memoised("check_zip", data, "", lambda: _check_zip(data))


def _check_zip(data: bytes) -> Problem | None:
    big = too_large(data)
    if big:
        return big
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception:  # noqa: BLE001 - any failure to read the directory: corrupt
        return Problem("unreadable_zip", "Manus on rikutud (vigane ZIP-arhiiv) ega ole loetav.")
    bomb = Problem(
        "zip_bomb",
        "Manus näeb välja nagu pakkimispomm (lahtipakituna kordades suurem kui lubatud); "
        "seda ei avatud. Palun kontrollige manust käsitsi.",
    )
    if len(infos) > MAX_MEMBERS:
        return bomb
    declared = 0
    for info in infos:
        declared += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return bomb
    if declared > MAX_UNCOMPRESSED_TOTAL:
        return Problem(
            "attachment_too_large",
            f"Manus on lahtipakituna liiga suur ({declared // (1024 * 1024)} MB); "
            "seda ei loetud automaatselt. Palun kontrollige manust käsitsi.",
        )
    inflated = 0
    try:
        for info in infos:
            if info.is_dir():
                continue
            with zf.open(info) as member:
                while True:
                    chunk = member.read(_CHUNK)
                    if not chunk:
                        break
                    inflated += len(chunk)
                    if inflated > MAX_UNCOMPRESSED_TOTAL:
                        return bomb
    except RuntimeError:  # encrypted member
        return Problem("unreadable_zip", "Manus on parooliga kaitstud ega ole loetav.")
    except Exception:  # noqa: BLE001 - any decoder error means a corrupt archive
        return Problem("unreadable_zip", "Manus on rikutud (vigane ZIP-arhiiv) ega ole loetav.")
    return None
