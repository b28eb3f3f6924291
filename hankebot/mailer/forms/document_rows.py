"""Any offer-like document as rows of cells in document order (what the offer form reader and form
recognition parse).

A .docx table row is a row of its cells (content controls and merged cells included once), a paragraph a
one-cell row, read straight from the main document part with lxml; .odt the same via odfpy; a PDF (pypdf)
or a legacy .doc (antiword or LibreOffice when installed) gives one row per text line.
"""
from __future__ import annotations

import io
import posixpath
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hankebot.mailer.forms.memo import memoised
from hankebot.mailer.forms.safety import open_zip
from hankebot.mailer.forms.text import pdf_text, sniff
from hankebot.mailer.reference import in_reference


@dataclass
class Row:
    cells: list[str]
    kind: str  # "table" | "line"


# --- extraction per format ---------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_para_text(p) -> str:
    out = []
    for el in p.iter():
        tag = el.tag
        if tag == f"{_W}t":
            out.append(el.text or "")
        elif tag == f"{_W}tab":
            out.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            out.append("\n")
    return "".join(out)


def _docx_body(data: bytes):
    """The <w:body> of a .docx: the main document part named by the package's officeDocument
    relationship, checked to be a Word document (as python-docx's `Document()` checks), parsed with
    python-docx's own parser settings. Only that part and the two small index files are read; the
    styles, numbering, settings, theme and the rest are left alone. Raises on a broken package."""
    from lxml import etree

    with open_zip(data) as zf:
        rels = _xml(zf.read("_rels/.rels"))
        target = next((r.get("Target") for r in rels.iter(f"{_PKG_REL}Relationship")
                       if r.get("Type") == _OFFICE_DOCUMENT and r.get("TargetMode") != "External"), None)
        if target is None:
            raise KeyError("no officeDocument relationship")
        partname = posixpath.normpath(posixpath.join("/", target))
        types = _xml(zf.read("[Content_Types].xml"))
        ctype = next((o.get("ContentType") for o in types.iter(f"{_CT}Override")
                      if (o.get("PartName") or "").lower() == partname.lower()), None)
        if ctype is None:
            ext = posixpath.splitext(partname)[1][1:].lower()
            ctype = next((d.get("ContentType") for d in types.iter(f"{_CT}Default")
                          if (d.get("Extension") or "").lower() == ext), None)
        if ctype != _WML_MAIN:
            raise ValueError(f"not a Word document: {ctype}")
        root = etree.fromstring(zf.read(partname[1:]), _parser())
    body = root.find(f"{_W}body")
    if body is None:
        raise ValueError("no document body")
    return body


_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_WML_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from lxml import etree

        _PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False)  # python-docx's settings
    return _PARSER


def _xml(data: bytes):
    from lxml import etree

    return etree.fromstring(data, _parser())


def _docx_rows(data: bytes) -> list[Row]:
    if in_reference():
        import docx

        body = docx.Document(io.BytesIO(data)).element.body  # the previous reader: every part parsed
    else:
        body = _docx_body(data)
    rows: list[Row] = []

    def walk(container) -> None:
        for el in container.iterchildren():
            tag = el.tag
            if tag == f"{_W}p":
                rows.append(Row([_docx_para_text(el)], "line"))
            elif tag == f"{_W}tbl":
                for tr in el.iter(f"{_W}tr"):
                    cells = []
                    for tc in tr.iter(f"{_W}tc"):
                        # only this row's own cells (not cells of nested tables)
                        if _nearest(tc, f"{_W}tr") is not tr:
                            continue
                        cells.append("\n".join(_docx_para_text(p) for p in tc.iter(f"{_W}p")))
                    rows.append(Row(cells, "table"))
            elif tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"):
                walk(el)

    walk(body)
    return rows


def _nearest(el, tag: str):
    parent = el.getparent()
    while parent is not None and parent.tag != tag:
        parent = parent.getparent()
    return parent


def _odt_rows(data: bytes) -> list[Row]:
    from odf import teletype
    from odf.opendocument import load

    doc = load(io.BytesIO(data))
    rows: list[Row] = []

    def qname(node) -> str:
        return getattr(node, "qname", ("", ""))[1] if hasattr(node, "qname") else ""

    def cell_text(cell) -> str:
        parts = []
        for node in _descendants(cell):
            if qname(node) in ("p", "h"):
                parts.append(teletype.extractText(node))
        return "\n".join(parts)

    def walk(node) -> None:
        for child in node.childNodes:
            name = qname(child)
            if name in ("p", "h"):
                rows.append(Row([teletype.extractText(child)], "line"))
            elif name == "table":
                for tr in _descendants(child):
                    if qname(tr) != "table-row" or _odf_parent_table(tr) is not child:
                        continue
                    cells = [cell_text(tc) for tc in tr.childNodes if qname(tc) in ("table-cell", "covered-table-cell")]
                    rows.append(Row(cells, "table"))
            elif name in ("section", "list", "list-item", "list-header", "text", "body"):
                walk(child)

    walk(doc.text)
    return rows


def _descendants(node):
    stack = list(reversed(node.childNodes))
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(getattr(n, "childNodes", [])))


def _odf_parent_table(node):
    parent = node.parentNode
    while parent is not None and getattr(parent, "qname", ("", ""))[1] != "table":
        parent = parent.parentNode
    return parent


def _lines_rows(text: str) -> list[Row]:
    return [Row([line], "line") for line in text.splitlines()]


class Unsupported(Exception):
    pass


def _doc_text(data: bytes) -> str:
    """Text of a legacy Word .doc via antiword or LibreOffice, if either is installed."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "offer.doc"
        src.write_bytes(data)
        if shutil.which("antiword"):
            res = subprocess.run(
                ["antiword", "-w", "0", str(src)], capture_output=True, timeout=30, check=False
            )
            if res.returncode == 0 and res.stdout.strip():
                return res.stdout.decode("utf-8", "replace")
        office = shutil.which("soffice") or shutil.which("libreoffice")
        if office:
            res = subprocess.run(
                [office, "--headless", "--convert-to", "txt:Text (encoded):UTF8", "--outdir", tmp, str(src)],
                capture_output=True, timeout=120, check=False,
            )
            out = Path(tmp) / "offer.txt"
            if out.exists():
                return out.read_text("utf-8", "replace")
    raise Unsupported()


def offer_rows(data: bytes, filename: str) -> list[Row]:
    """Rows of an offer-like document (also used by form recognition). Raises on bad input.
    Inside `memo.read_once()` the rows are parsed once per content; do not mutate them."""
    return memoised("offer_rows", data, filename, lambda: _offer_rows(data, filename))


def _offer_rows(data: bytes, filename: str) -> list[Row]:
    kind = sniff(data, filename)
    if kind == "docx":
        return _docx_rows(data)
    if kind == "odt":
        return _odt_rows(data)
    if kind == "pdf":
        return _lines_rows(pdf_text(data))
    if kind == "doc":
        return _lines_rows(_doc_text(data))
    raise Unsupported()
