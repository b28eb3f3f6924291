"""Recognise delivery failures: RFC 3464 DSNs (multipart/report; report-type=delivery-status) and
the common non-standard bounces. Non-standard forms (qmail, Exim, Exchange, Yahoo, GroupWise, "simple
match" texts of many MTAs) go through flufl.bounce, Mailman's detector library built on its corpus;
delay notices (4.x.x, "will retry") come back with permanent=False: they are not failures."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email import policy

import logging

from flufl.bounce import all_failures

from hankebot.mailer.attachments import part_bytes
from hankebot.mailer.bounce_gate import could_fire

BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver(ed|able)|returned mail|delivery status notification|delivery (has )?failed|"
    r"mail delivery (failed|subsystem)|failure notice|non[- ]?delivery|"
    r"kirja kohaletoimetamine ebaõnnestus|kättetoimetamata|ei saanud kohale toimetada|tagastatud kiri|"
    r"unzustellbar|nicht zustellbar",
    re.IGNORECASE,
)
BOUNCE_SENDER_RE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
# flufl.bounce logs a detector's own exception with a traceback and goes on; one line is enough for us
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
_ADDR_RE = re.compile(r"[A-Za-z0-9._%+\-=']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_STATUS_RE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MSGID_RE = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class BounceInfo:
    failed_recipients: list[str] = field(default_factory=list)  # lower-cased addresses
    status_codes: list[str] = field(default_factory=list)  # e.g. ["5.1.1"]
    diagnostic: str = ""  # remote server's words, e.g. "550 5.1.1 <x@y.ee>: Recipient address rejected"
    original_message_id: str | None = None  # "<...>" of the message that bounced
    is_dsn: bool = False  # True for a standard multipart/report DSN
    permanent: bool = True  # False when every recipient is only "delayed" (4.x.x)


def _text_of(part: Message) -> str:
    try:
        payload = part_bytes(part)
        if isinstance(payload, bytes):
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    except Exception:  # noqa: BLE001 - unknown charset, broken encoding
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""


def _field_blocks(part: Message) -> list[Message]:
    """The per-message and per-recipient field blocks of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = _text_of(part)
    return [HeaderParser(policy=policy.compat32).parsestr(block.strip() + "\n")
            for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


def _original_message_id(msg: Message) -> str | None:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mid = inner[0].get("message-id")
                if mid:
                    return str(mid).strip()
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = part_bytes(part) or b""
            if isinstance(raw, bytes):
                mid = BytesHeaderParser(policy=policy.compat32).parsebytes(raw).get("message-id")
                if mid:
                    return str(mid).strip()
    return None


def parse_dsn(msg: Message) -> BounceInfo | None:
    """A standard DSN's facts, or None when the message has no delivery-status part."""
    status_part = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return None
    info = BounceInfo(is_dsn=True)
    actions: list[str] = []
    for block in _field_blocks(status_part):
        rcpt = block.get("final-recipient") or block.get("original-recipient")
        if not rcpt:
            continue
        addr = str(rcpt).split(";", 1)[-1].strip().strip("<>").lower()
        action = str(block.get("action", "")).strip().lower()
        actions.append(action)
        if action in ("delivered", "relayed", "expanded"):
            continue
        if addr and addr not in info.failed_recipients:
            info.failed_recipients.append(addr)
        status = str(block.get("status", "")).strip()
        if status:
            info.status_codes.append(status.split()[0])
        diag = block.get("diagnostic-code")
        if diag and not info.diagnostic:
            info.diagnostic = " ".join(str(diag).split(";", 1)[-1].split())
    info.permanent = any(a == "failed" for a in actions) or any(c.startswith("5") for c in info.status_codes)
    info.original_message_id = _original_message_id(msg)
    return info


def looks_like_bounce(from_addr: str, subject: str, headers: dict[str, str] | None = None) -> bool:
    headers = headers or {}
    if BOUNCE_SENDER_RE.match(from_addr or ""):
        return True
    if headers.get("x-failed-recipients"):
        return True
    return bool(BOUNCE_SUBJECT_RE.search(subject or "")) and (
        headers.get("return-path", "").strip() in ("<>", "") or "daemon" in (from_addr or "").lower()
        or "postmaster" in (from_addr or "").lower() or bool(headers.get("auto-submitted"))
    )


def _flufl(msg: Message) -> tuple[list[str], list[str]]:
    """(temporary, permanent) failed addresses found by flufl.bounce's detectors; never raises."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector tripping over broken MIME must not lose the message
        return [], []

    def norm(addrs) -> list[str]:
        out = []
        for a in addrs:
            a = (a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)).strip().strip("<>").lower()
            if "@" in a and a not in out:
                out.append(a)
        return sorted(out)

    return norm(temporary), norm(permanent)


_MACHINE_LOCAL = re.compile(r"^(?:mailer-daemon|mail-daemon|mailerdaemon|postmaster|mail\.?delivery|"
                            r"mdaemon|bounces?|nobody|root|system|mailadmin|mailer)(?:[-+.][^@]*)?@", re.IGNORECASE)
_MACHINE_SUBJECT = re.compile(r"deliver|returned|undeliver|failure|failed|bounce|warning|notice|notification|"
                              r"problem|error|unable|unknown|could not|couldn't|retry|delayed|rejected|"
                              r"nicht|zustell|non remis|ei saanud|kohale", re.IGNORECASE)


def _machine_like(msg: Message, from_addr: str, subject: str, headers: dict[str, str]) -> bool:
    """A report from a mail system rather than a person: a report content type, a machine sender, a null
    Return-Path, Auto-Submitted, or a delivery-problem subject."""
    if msg.get_content_type() == "multipart/report" or looks_like_bounce(from_addr, subject, headers):
        return True
    if _MACHINE_LOCAL.match(from_addr or "") or headers.get("return-path", "").strip() == "<>":
        return True
    if headers.get("auto-submitted", "no") not in ("", "no"):
        return True
    return bool(_MACHINE_SUBJECT.search(subject or ""))


def detect_bounce(msg: Message, from_addr: str, subject: str, text: str,
                  headers: dict[str, str] | None = None, own_addresses: tuple[str, ...] = ()) -> BounceInfo | None:
    """BounceInfo for a DSN or a recognisable non-standard bounce; None for ordinary mail."""
    headers = headers or {}
    dsn = parse_dsn(msg) if msg.get_content_type() == "multipart/report" or msg.is_multipart() else None
    # flufl's pattern detectors also fire on ordinary mail quoting addresses: only machine-looking mail counts
    # (and only where one of its detectors could report anything: bounce_gate)
    temporary, permanent = _flufl(msg) if (dsn is not None or _machine_like(msg, from_addr, subject, headers)) \
        and could_fire(msg) else ([], [])
    if dsn is not None:
        if permanent:  # flufl reads Original-Recipient / X.400 forms our field parser keeps raw
            own = [a for a in dsn.failed_recipients if _ADDR_RE.fullmatch(a) and a not in permanent]
            dsn.failed_recipients, dsn.permanent = [*permanent, *own], True
        elif not dsn.failed_recipients and temporary:
            dsn.failed_recipients, dsn.permanent = temporary, False
        return dsn
    if not permanent and not temporary and not looks_like_bounce(from_addr, subject, headers):
        return None
    info = BounceInfo(is_dsn=False)
    failed = headers.get("x-failed-recipients", "")
    skip = {a.lower() for a in own_addresses} | {(from_addr or "").lower()}
    candidates = permanent or _ADDR_RE.findall(failed) or temporary or _ADDR_RE.findall(_before_returned_message(text))
    for addr in candidates:
        addr = addr.lower().strip(".")
        if addr not in skip and addr not in info.failed_recipients and not BOUNCE_SENDER_RE.match(addr):
            info.failed_recipients.append(addr)
    info.status_codes = sorted(set(_STATUS_RE.findall(text)))
    if permanent:
        info.permanent = True
    elif temporary:
        info.permanent = False
    else:
        info.permanent = not info.status_codes or any(c.startswith("5") for c in info.status_codes)
    diag = re.search(r"^.*\b(5\d\d|4\d\d)[ -]\d\.\d+\.\d+.*$", text, re.MULTILINE)
    info.diagnostic = diag.group(0).strip()[:500] if diag else ""
    info.original_message_id = _original_message_id(msg)
    if info.original_message_id is None:
        match = _MSGID_RE.search(text)
        info.original_message_id = match.group(1) if match else None
    return info


def _before_returned_message(text: str) -> str:
    """The part of a bounce text before the copy of the returned message, where recipients are named."""
    cut = re.search(r"^(-{2,}.*(original message|returned message|undelivered message|headers).*|"
                    r"Return-Path:|Received:)", text, re.IGNORECASE | re.MULTILINE)
    return text[: cut.start()] if cut else text
