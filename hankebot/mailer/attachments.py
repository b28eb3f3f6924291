"""Collect every file a message carries, whatever its MIME shape.

Walks nested multiparts, forwarded messages (message/rfc822), zip archives and ASiC-E/BDOC
containers, with limits against oversized files, zip bombs, absurd nesting and file floods.
A breach becomes a Problem and the offending part is skipped; the rest of the message is kept.
"""
from __future__ import annotations

import binascii
import hashlib
import io
import mimetypes
import re
import zipfile
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message

from hankebot.core.problems import Problem
from hankebot.mailer.signatures import (
    ASICE_MIMETYPE,
    SignatureInfo,
    inspect_signatures,
    is_asice_name,
    is_signature_file,
)
from hankebot.mailer.forms.zipdir import zip_of
from hankebot.mailer.signature_trust import load_trust_store

MB = 1024 * 1024
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
ASICE_TYPES = {ASICE_MIMETYPE, "application/vnd.etsi.asic-s+zip", "application/x-bdoc"}
TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
_MAX_MIME_NESTING = 40  # multipart levels; real mail has < 10


@dataclass(frozen=True)
class AttachmentLimits:
    max_total_bytes: int = 50 * MB  # all extracted files of one message together
    max_file_bytes: int = 25 * MB  # one file (attachment or archive member)
    max_depth: int = 5  # containers inside containers: forwards, zips, asice
    max_ratio: int = 100  # uncompressed / compressed size of a zip member
    max_files: int = 200  # files of one message, archive members included
    trust_dir: str | None = None  # signature trust anchors; None: the packaged SK certificates


@dataclass
class Attachment:
    filename: str  # base name, e.g. "Lisa 3 maksumuse vorm.xlsx"
    content_type: str
    data: bytes
    sha256: str
    path: str  # where it sat, e.g. "pakkumus.zip/Lisa 3.xlsx" or "Fwd: Pakkumus/cost.xlsx"
    size: int
    problems: list[Problem] = field(default_factory=list)  # e.g. tnef_not_supported


BODY_ATTR = "_hankebot_base64_body"  # a part whose base64 body mime.py kept out of the parsed tree
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*")
_FAST_DECODE = 1 * MB  # base64 bodies at least this long are decoded without the email package's copies


@dataclass(frozen=True)
class Base64Body:
    """A valid base64 body (line breaks inside, padding only at its end) left in the raw message by mime.py
    instead of the parsed tree; decoded on demand straight from the raw bytes, its size known beforehand."""
    source: bytes
    start: int
    end: int

    @property
    def size(self) -> int:
        """Decoded size in bytes, without decoding."""
        src, start, end = self.source, self.start, self.end
        chars = end - start - src.count(b"\n", start, end) - src.count(b"\r", start, end)
        return chars // 4 * 3 - src.count(b"=", max(start, end - 2), end)

    def decode(self) -> bytes:
        return binascii.a2b_base64(memoryview(self.source)[self.start:self.end])

    def text(self) -> str:
        """The body as the message has it (base64 lines)."""
        return self.source[self.start:self.end].decode("ascii")


def part_body(part: Message) -> Base64Body | None:
    """The body mime.py kept out of the parsed tree for this part, if it did."""
    body = getattr(part, BODY_ATTR, None)
    return body if isinstance(body, Base64Body) else None


def part_bytes(part: Message) -> bytes | None:
    """The decoded body of a leaf part: what `part.get_payload(decode=True)` gives, also for a body kept out
    of the tree, and for a large valid base64 body without the email package's line list and joined copy."""
    body = part_body(part)
    if body is not None:
        return body.decode()
    if not part.is_multipart():
        payload = part.get_payload()
        if (isinstance(payload, str) and len(payload) >= _FAST_DECODE
                and str(part.get("content-transfer-encoding", "")).lower() == "base64"
                and _BASE64_TEXT.fullmatch(payload)
                and (len(payload) - payload.count("\n") - payload.count("\r")) % 4 == 0):
            return binascii.a2b_base64(payload)  # the email package's first, defect-free decoding of this text
    return part.get_payload(decode=True)


def make_attachment(filename: str, content_type: str, data: bytes, path: str) -> Attachment:
    return Attachment(filename, content_type, data, hashlib.sha256(data).hexdigest(), path, len(data))


@dataclass
class CollectResult:
    attachments: list[Attachment] = field(default_factory=list)
    signatures: list[SignatureInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    total_bytes: int = 0


def _decode_rfc2047(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001
        return value


def _clean_name(name: str) -> str:
    """A safe display name: no directories, no control characters."""
    name = _decode_rfc2047(name.replace("\r", "").replace("\n", "")).strip().strip('"')
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    name = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip()
    return name[:255]


def part_filename(part: Message) -> str | None:
    """The file name of a MIME part: RFC 2231, RFC 2047 (also where RFC forbids it) or raw 8-bit."""
    raw = None
    try:
        raw = part.get_filename()
    except Exception:  # noqa: BLE001 - broken parameter syntax
        raw = None
    if not raw:
        try:
            raw = part.get_param("name", header="content-type")
            if isinstance(raw, tuple):  # RFC 2231 tuple under compat32
                raw = raw[2]
        except Exception:  # noqa: BLE001
            raw = None
    if not raw or not isinstance(raw, str):
        return None
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # raw 8-bit header kept as surrogates
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = _clean_name(raw)
    return name or None


def default_name(content_type: str, index: int) -> str:
    ext = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    overrides = {"text/plain": ".txt", "application/octet-stream": ".bin"}
    ext = overrides.get(content_type, ext)
    return f"manus-{index}{ext}"


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Member names: UTF-8 if flagged or valid, else the Baltic DOS code page (Estonian Windows)."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp775")


def _looks_like_zip(name: str, ctype: str, data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" and (
        name.lower().endswith((".zip",) + tuple(e for e in (".asice", ".sce", ".bdoc", ".asics", ".scs")))
        or ctype in ZIP_TYPES | ASICE_TYPES
    )


class Collector:
    """Stateful walk over one message; use `collect(message, limits)`."""

    def __init__(self, limits: AttachmentLimits):
        self.limits = limits
        self.result = CollectResult()
        self._file_count = 0
        self._unnamed = 0
        self._flood_reported = False

    # --- problems -------------------------------------------------------------------------
    def problem(self, code: str, message: str) -> None:
        self.result.problems.append(Problem(code, message))

    # --- MIME walk ------------------------------------------------------------------------
    def walk(self, part: Message, prefix: str, depth: int, nesting: int = 0) -> None:
        if nesting > _MAX_MIME_NESTING:
            self.problem("too_deep", f"Kirja MIME-struktuur on liiga sügavalt pesastatud ({prefix or 'kiri'}); "
                         "sügavamad osad jäeti vahele.")
            return
        ctype = part.get_content_type()
        if ctype == "message/rfc822" or (part.is_multipart() and ctype.startswith("message/")):
            self._walk_forward(part, prefix, depth, nesting)
            return
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for child in payload:
                    if ctype == "multipart/report" and child.get_content_type().startswith("message/"):
                        continue  # a bounce's copy of our own outgoing message: not the sender's files
                    if isinstance(child, Message):
                        self.walk(child, prefix, depth, nesting + 1)
            return
        if ctype in ("message/delivery-status", "text/rfc822-headers"):
            return  # bounce machinery, read by bounce.py
        if not self._is_attachment(part, ctype):
            return
        name = part_filename(part)
        if name is None:
            self._unnamed += 1
            name = default_name(ctype, self._unnamed)
        body = part_body(part)
        if body is not None and body.size > self.limits.max_file_bytes:
            self._too_large(prefix + name, body.size)  # known without decoding it
            return
        try:
            data = part_bytes(part) or b""
        except Exception:  # noqa: BLE001
            data = b""
        if not isinstance(data, bytes):
            data = str(data).encode("utf-8", "replace")
        self.add_file(name, ctype, data, prefix, depth)

    @staticmethod
    def _is_attachment(part: Message, ctype: str) -> bool:
        try:
            disposition = part.get_content_disposition()
        except Exception:  # noqa: BLE001
            disposition = None
        if disposition == "attachment":
            return True
        if part_filename(part):
            return True
        return not ctype.startswith("text/") and not ctype.startswith("multipart/")

    def _walk_forward(self, part: Message, prefix: str, depth: int, nesting: int) -> None:
        if depth + 1 > self.limits.max_depth:
            self.problem("too_deep", f"Edasisaadetud kiri on liiga sügaval ({prefix or 'kiri'}); selle manused jäeti vahele.")
            return
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return
        try:
            subject = _clean_name(str(inner.get("subject", "") or ""))
        except Exception:  # noqa: BLE001
            subject = ""
        folder = subject.replace("/", "_") or "edasisaadetud kiri"
        self.walk(inner, f"{prefix}{folder}/", depth + 1, nesting + 1)

    # --- files ----------------------------------------------------------------------------
    def add_file(self, name: str, ctype: str, data: bytes, prefix: str, depth: int) -> None:
        path = prefix + name
        lower = name.lower()
        if len(data) > self.limits.max_file_bytes:
            self._too_large(path, len(data))
            return
        if _looks_like_zip(name, ctype, data):
            if is_asice_name(name) or ctype in ASICE_TYPES or self._zip_mimetype(data) == ASICE_MIMETYPE:
                self._expand_archive(name, data, path, depth, asice=True)
            else:
                self._expand_archive(name, data, path, depth, asice=False)
            return
        self._store(name, ctype, data, path)

    def _too_large(self, path: str, size: int) -> None:
        self.problem("attachment_too_large", f"Fail „{path}“ on liiga suur ({size // MB} MB, lubatud "
                     f"{self.limits.max_file_bytes // MB} MB); see jäeti vahele.")

    def _store(self, name: str, ctype: str, data: bytes, path: str) -> Attachment | None:
        if self._file_count >= self.limits.max_files:
            if not self._flood_reported:
                self.problem("too_many_files", f"Kirjas on üle {self.limits.max_files} faili; ülejäänud jäeti vahele.")
                self._flood_reported = True
            return None
        if self.result.total_bytes + len(data) > self.limits.max_total_bytes:
            self.problem("attachment_too_large", f"Manuste kogumaht ületab {self.limits.max_total_bytes // MB} MB; "
                         f"fail „{path}“ jäeti vahele.")
            return None
        if ctype == "application/octet-stream":
            ctype = mimetypes.guess_type(name, strict=False)[0] or ctype
        att = make_attachment(name, ctype, data, path)
        if ctype in TNEF_TYPES or name.lower() == "winmail.dat":
            att.problems.append(Problem("tnef_not_supported", f"Fail „{path}“ on Outlooki winmail.dat (TNEF) "
                                        "ja seda ei saa lahti pakkida; palu pakkujal saata failid tavaliste manustena."))
            self.result.problems.append(att.problems[-1])
        self._file_count += 1
        self.result.total_bytes += len(data)
        self.result.attachments.append(att)
        return att

    @staticmethod
    def _zip_mimetype(data: bytes) -> str | None:
        try:
            with zip_of(data) as zf:
                info = zf.getinfo("mimetype")
                if info.file_size > 200:
                    return None
                return zf.read(info).decode("ascii", "replace").strip()
        except Exception:  # noqa: BLE001
            return None

    def _expand_archive(self, name: str, data: bytes, path: str, depth: int, asice: bool) -> None:
        if depth + 1 > self.limits.max_depth:
            self.problem("too_deep", f"Arhiiv „{path}“ on liiga sügavalt pesastatud; seda ei avatud.")
            self._store(name, "application/zip", data, path)
            return
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds
            self.problem("broken_archive", f"Arhiivi „{path}“ ei saa avada ({type(exc).__name__}); fail säilitati tervikuna.")
            self._store(name, "application/zip", data, path)
            return
        declared = sum(i.file_size for i in infos)
        if declared > self.limits.max_total_bytes or len(infos) > self.limits.max_files * 10:
            self.problem("zip_bomb", f"Arhiiv „{path}“ lubab lahti pakkides {declared // MB} MB ja {len(infos)} "
                         "faili; seda ei avatud.")
            return
        members: list[tuple[str, bytes]] = []
        with zf:
            for info in infos:
                if info.is_dir():
                    continue
                member = _zip_member_name(info)
                mpath = f"{path}/{member}"
                if info.flag_bits & 0x1:
                    self.problem("broken_archive", f"Fail „{mpath}“ on parooliga kaitstud ja jäi avamata.")
                    continue
                if info.file_size > self.limits.max_file_bytes:
                    self.problem("attachment_too_large", f"Arhiivis olev fail „{mpath}“ on liiga suur "
                                 f"({info.file_size // MB} MB); see jäeti vahele.")
                    continue
                if info.file_size > 1024 * 1024 and info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
                    self.problem("zip_bomb", f"Arhiivis olev fail „{mpath}“ on kahtlaselt tihendatud "
                                 f"(suhe üle {self.limits.max_ratio}); see jäeti vahele.")
                    continue
                try:
                    with zf.open(info) as fh:
                        content = fh.read(min(self.limits.max_file_bytes, info.file_size) + 1)
                except Exception as exc:  # noqa: BLE001 - CRC errors, bad compression, truncation
                    self.problem("broken_archive", f"Arhiivis olevat faili „{mpath}“ ei saa lugeda "
                                 f"({type(exc).__name__}).")
                    continue
                if len(content) > info.file_size or len(content) > self.limits.max_file_bytes:
                    self.problem("zip_bomb", f"Arhiivis olev fail „{mpath}“ on suurem, kui arhiiv väidab; jäeti vahele.")
                    continue
                members.append((member, content))
        if asice:
            self._asice_members(path, members, depth)
            return
        for member, content in members:
            base = member.rstrip("/").rsplit("/", 1)[-1]
            if base.startswith("._") or member.startswith("__MACOSX/"):
                continue
            ctype = mimetypes.guess_type(base, strict=False)[0] or "application/octet-stream"
            folder = member[: -len(base)] if member.endswith(base) else ""
            self.add_file(base, ctype, content, f"{path}/{folder}", depth + 1)

    def _asice_members(self, path: str, members: list[tuple[str, bytes]], depth: int) -> None:
        sig_files = {m: c for m, c in members if is_signature_file(m)}
        data_files = {m: c for m, c in members if m != "mimetype" and not m.startswith("META-INF/")}
        store = load_trust_store(self.limits.trust_dir)
        self.result.signatures.extend(inspect_signatures(path, sig_files, data_files, store))
        for member, content in data_files.items():
            base = member.rsplit("/", 1)[-1]
            ctype = mimetypes.guess_type(base, strict=False)[0] or "application/octet-stream"
            self.add_file(base, ctype, content, f"{path}/{member[: -len(base)]}", depth + 1)


def collect(message: Message, limits: AttachmentLimits | None = None) -> CollectResult:
    """All files of a parsed message (archives expanded), their container signatures, and problems."""
    collector = Collector(limits or AttachmentLimits())
    collector.walk(message, "", 0)
    return collector.result
