"""Text helpers shared by the form readers: tolerant comparison and sniffing the file type."""
from __future__ import annotations

import io
import re
import unicodedata

from hankebot.mailer.forms.memo import memoised
from hankebot.mailer.forms.zipdir import zip_of


def norm(text: str) -> str:
    """Comparison key: Unicode NFC, case-folded, whitespace collapsed, ends trimmed.

    "  Füüsilise  isiku maksumus " and the NFD spelling of "füüsilise isiku maksumus" give
    the same key.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = unicodedata.normalize("NFC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


def is_fatal(exc: BaseException) -> bool:
    """True for exceptions a reader must let through. Everything else (including the
    BaseException-derived PanicException a Rust library such as calamine raises on a
    malformed file) becomes a Problem."""
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff(data: bytes, filename: str) -> str:
    """File type by content, then by extension: one of
    xlsx, xlsm, ods, xls, docx, odt, doc, pdf, zip, unknown."""
    return memoised("sniff", data, filename, lambda: _sniff(data, filename))


def _sniff(data: bytes, filename: str) -> str:
    ext = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if data[:5] == b"%PDF-" or (b"%PDF-" in data[:1024]):
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        try:
            zf = zip_of(data)
            names = set(zf.namelist())
            mimetype = zf.read("mimetype")[:100].decode("ascii", "replace").strip() if "mimetype" in names else ""
        except Exception:  # noqa: BLE001 - corrupt zip: trust the extension
            return ext if ext in {"xlsx", "xlsm", "ods", "docx", "odt"} else "zip"
        if "xl/workbook.xml" in names or any(n.startswith("xl/") for n in names):
            return "xlsm" if ext == "xlsm" or "xl/vbaProject.bin" in names else "xlsx"
        if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
            return "ods"
        if mimetype == "application/vnd.oasis.opendocument.text":
            return "odt"
        if "word/document.xml" in names:
            return "docx"
        return "zip"
    if data[:8] == OLE2_MAGIC:
        if ext in {"xls", "doc"}:
            return ext
        # OLE2 without a telling extension: Word files carry a "WordDocument" stream name.
        return "doc" if "WordDocument".encode("utf-16-le") in data[:65536] else "xls"
    return ext if ext in {"xlsx", "xlsm", "ods", "xls", "docx", "odt", "doc", "pdf"} else "unknown"


SPREADSHEET_TYPES = {"xlsx", "xlsm", "ods", "xls"}
DOCUMENT_TYPES = {"docx", "odt", "doc", "pdf"}


def pdf_text(data: bytes, max_pages: int = 20) -> str:
    """Text of the first `max_pages` pages of a PDF (pypdf, non-strict). Raises on garbage."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            reader.decrypt("")
        except Exception:  # noqa: BLE001
            raise ValueError("encrypted PDF") from None
    parts = []
    for page in reader.pages[:max_pages]:
        parts.append(page.extract_text() or "")
    return "\n".join(parts)
