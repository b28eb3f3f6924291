"""Parse one raw inbound message into plain facts. Never raises: trouble becomes Problems."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import decode_header, make_header
from email.message import Message
from email.feedparser import BytesFeedParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from hankebot.core.classify import MessageFacts
from hankebot.core.problems import Problem
from hankebot.mailer.attachments import (
    BODY_ATTR, MB, Attachment, AttachmentLimits, Base64Body, collect, part_bytes,
)
from hankebot.mailer.bounce import BounceInfo, detect_bounce
from hankebot.mailer.forms.text import is_fatal
from hankebot.mailer.indexed_message import IndexedMessage, raw_values
from hankebot.mailer.header_memo import (
    message_policy, plain_addresses, plain_date, plain_message_id, plain_unstructured, simple_addresses,
)
from hankebot.mailer.reference import in_reference
from hankebot.mailer.signatures import SignatureInfo

# Headers that tell machines from people (loop prevention, bounce and list detection).
LOOP_HEADERS = (
    "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress", "precedence",
    "list-id", "list-unsubscribe", "x-failed-recipients", "return-path", "x-ms-exchange-generated-message-source",
)
_MSGID_RE = re.compile(r"<[^<>\s]+>")


@dataclass
class ParsedMessage:
    message_id: str | None = None  # "<id@host>" as sent
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_addr: str = ""  # lower-cased
    from_name: str = ""
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date_header: datetime | None = None  # timezone-aware
    received_newest: datetime | None = None  # timestamp of the topmost Received header
    loop_headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> value
    auth_results: list[str] = field(default_factory=list)  # Authentication-Results values, topmost first
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    bounce: BounceInfo | None = None
    signatures: list[SignatureInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    size: int = 0

    def facts(self, has_form_attachments: bool = False, about_procurement: bool = False) -> MessageFacts:
        """The plain data classify() needs (the procurement context, when known, from the caller)."""
        return MessageFacts(
            subject=self.subject, text=self.text, from_addr=self.from_addr,
            headers=dict(self.loop_headers), has_bounce=self.bounce is not None,
            bounce_permanent=self.bounce.permanent if self.bounce else True,
            attachment_names=tuple(a.filename for a in self.attachments),
            has_form_attachments=has_form_attachments, about_procurement=about_procurement,
        )


def _malformed(detail: str) -> Problem:
    return Problem("malformed_message", f"Kiri on vigane ja loeti osaliselt ({detail}). Vaata kiri üle.")


def parse_message(raw: bytes, limits: AttachmentLimits | None = None) -> ParsedMessage:
    """Everything Hankebot needs from a raw RFC 5322 message. Never raises."""
    result = ParsedMessage(size=len(raw) if isinstance(raw, (bytes, bytearray)) else 0)
    try:
        _parse_into(bytes(raw), limits or AttachmentLimits(), result)
    except RecursionError:
        result.problems.append(_malformed("liiga sügav struktuur"))
    except BaseException as exc:  # noqa: BLE001 - the contract is: never raise (a Rust library's panic too)
        if is_fatal(exc):
            raise
        result.problems.append(_malformed(type(exc).__name__))
    return result


# --- the parsed tree, without the email package's copies of large bodies -------------------------

_FEED_CHUNK = 1 * MB
# Messages at least this long have their base64 runs at least _KEPT_OUT_RUN long kept out of the tree (see
# _parse_tree); the reference readers (hankebot.mailer.reference) did it only for large messages and bodies.
_KEPT_OUT_MESSAGE, _KEPT_OUT_RUN = 8 * 1024, 1024
_REFERENCE_MESSAGE, _REFERENCE_RUN = 4 * MB, 1 * MB
_PAD_TAIL = re.compile(rb"={1,2}")
_MARKER = b"\x00hankebot-base64-body-"
_MARKER_LINE = re.compile(r"[\r\n]*\x00hankebot-base64-body-(\d+)\x00[\r\n]*")
_BLANK = re.compile(rb"\s*")


def _feed(data: bytes) -> Message:
    """The email package's parse of `data`, fed in chunks: BytesParser.parsebytes would first make the
    whole message one str and a StringIO of it (~5x the message for a large one)."""
    parser = BytesFeedParser(policy=message_policy())
    view = memoryview(data)
    for start in range(0, max(len(data), 1), _FEED_CHUNK):
        parser.feed(view[start:start + _FEED_CHUNK].tobytes())
    return parser.close()


def _body_run(raw: bytes, start: int, end: int) -> Base64Body | None:
    """A Base64Body for raw[start:end] (a run of base64 lines, its final line break included) if the email
    package would decode it without a defect: padding only at its end, a whole number of quanta."""
    if raw.endswith(b"\n", start, end):
        end -= 2 if raw.endswith(b"\r\n", start, end) else 1
    pad = raw.find(b"=", start, end)
    if pad != -1 and not _PAD_TAIL.fullmatch(raw, pad, end):
        return None
    if (end - start - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)) % 4:
        return None
    return Base64Body(raw, start, end)


_BLANK_LINE = re.compile(rb"\n\r?\n")
_BODY_END = re.compile(rb"\n(?:-|\r?\n)")  # a boundary line or a blank line: no base64 body goes past it
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def _body_runs(raw: bytes):
    """(start, end) of each run of base64 text that begins a part's body: right after the blank line that
    ends a header block (and any further empty lines), up to the next boundary or blank line, its final
    line break included; only base64 characters and line breaks in it (_body_run checks the rest). A run
    anywhere else cannot be the whole body of a part (see _parse_tree), so it is not looked for."""
    for blank in _BLANK_LINE.finditer(raw):
        start = blank.end()
        while raw[start:start + 1] in (b"\r", b"\n"):
            start += 1
        stop = _BODY_END.search(raw, start)
        end = stop.start() + 1 if stop is not None else len(raw)
        if end > start and _only_base64(raw, start, end):
            yield start, end


def _only_base64(raw: bytes, start: int, end: int, chunk: int = 1 << 16) -> bool:
    """raw[start:end] has base64 characters and line breaks only (checked a chunk at a time: no copy of a
    large body)."""
    view = memoryview(raw)
    return not any(view[i:min(i + chunk, end)].tobytes().translate(None, _BASE64_BYTES)
                   for i in range(start, end, chunk))


def _parse_tree(raw: bytes) -> Message:
    """The message's parsed tree. Each long base64 run (an attachment's body) is replaced by a marker line
    before parsing and the part gets a Base64Body over the raw bytes instead, so the email package never
    reads it line by line nor holds it as lines and text (an IndexedMessage part reads its payload as the
    package would have read the original: see IndexedMessage.keep_out). When a marker lands anywhere but as
    the whole body of a base64 leaf part, the message is parsed as it is."""
    smallest, shortest = (_REFERENCE_MESSAGE, _REFERENCE_RUN) if in_reference() else (_KEPT_OUT_MESSAGE, _KEPT_OUT_RUN)
    if len(raw) < smallest or _MARKER in raw:
        return _feed(raw)
    pieces: list[bytes] = []
    bodies: list[Base64Body] = []
    pos = 0
    for start, end in _body_runs(raw):
        if end - start < shortest:
            continue
        body = _body_run(raw, start, end)
        if body is None:
            continue
        pieces += [raw[pos:body.start], _MARKER + b"%d\x00" % len(bodies)]
        bodies.append(body)
        pos = body.end
    if not bodies:
        return _feed(raw)
    pieces.append(raw[pos:])
    skeleton = b"".join(pieces)
    del pieces
    msg = _feed(skeleton)
    del skeleton
    placed = 0
    for part in msg.walk():
        payload = None if part.is_multipart() else part.get_payload()
        if not isinstance(payload, str) or "\x00hankebot-base64-body-" not in payload:
            continue
        found = _MARKER_LINE.fullmatch(payload)
        if found is None or str(part.get("content-transfer-encoding", "")).lower() != "base64":
            return _feed(raw)
        body = bodies[int(found.group(1))]
        setattr(part, BODY_ATTR, body)
        if isinstance(part, IndexedMessage):
            part.keep_out(found.group(0).strip("\r\n"), body)
        placed += 1
    return msg if placed == len(bodies) else _feed(raw)


def _parse_into(raw: bytes, limits: AttachmentLimits, out: ParsedMessage) -> None:
    msg = _parse_tree(raw)
    if _BLANK.fullmatch(raw) or not msg.keys():
        out.problems.append(_malformed("päised puuduvad"))
    out.subject = " ".join(header(msg, "subject").split())
    out.message_id = _first_id(header(msg, "message-id"))
    out.in_reply_to = _first_id(header(msg, "in-reply-to"))
    out.references = _MSGID_RE.findall(header(msg, "references"))
    from_list = _addresses(msg, "from")
    if from_list:
        out.from_name, out.from_addr = from_list[0]
    reply = _addresses(msg, "reply-to")
    out.reply_to = reply[0][1] if reply else None
    out.to = [a for _, a in _addresses(msg, "to")]
    out.cc = [a for _, a in _addresses(msg, "cc")]
    out.date_header = _date(header(msg, "date"))
    out.received_newest = _received_newest(msg)
    out.auth_results = [" ".join(str(v).split()) for v in raw_values(msg, "authentication-results")][:50]
    present = {str(k).lower() for k in msg.keys()}  # header() of an absent name is "" (each read once)
    out.loop_headers = {h: v for h in LOOP_HEADERS if h in present and (v := header(msg, h))}
    for name in ("x-autorespond",):  # also present-but-empty counts
        if name in msg and name not in out.loop_headers:
            out.loop_headers[name] = "yes"
    out.text = _best_text(msg, out)
    collected = collect(msg, limits)
    out.attachments = collected.attachments
    out.signatures = collected.signatures
    out.problems.extend(collected.problems)
    out.bounce = detect_bounce(msg, out.from_addr, out.subject, out.text, out.loop_headers)
    if msg.defects and not out.problems:
        kinds = sorted({type(d).__name__ for d in msg.defects})
        if set(kinds) & {"StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect", "NoBoundaryInMultipartDefect",
                         "MultipartInvariantViolationDefect", "MissingHeaderBodySeparatorDefect"}:
            out.problems.append(_malformed(", ".join(kinds)[:200]))


# --- headers ---------------------------------------------------------------------------------

_SURROGATE = re.compile("[\udc80-\udcff]")


def _eight_bit(raw: str) -> str:
    """A header sent with raw 8-bit bytes (no RFC 2047): UTF-8 if it is, else windows-1257 (Estonian
    Windows mail: õäöüšž), then any encoded-words in it decoded."""
    data = raw.encode("utf-8", "surrogateescape")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1257", "replace")
    return _decode_raw(text) if "=?" in text else text


def header(msg: Message, name: str) -> str:
    """One header as decoded text; "" when absent. Falls back to the raw value when parsing fails."""
    for raw in raw_values(msg, name):
        if isinstance(raw, str) and _SURROGATE.search(raw):
            return " ".join(_eight_bit(raw).split())
    plain = plain_date(msg) if name == "date" else plain_message_id(msg) if name == "message-id" \
        else plain_unstructured(msg, name)
    if plain is not None:
        return plain.strip()
    try:
        value = msg.get(name)
        if value is None:
            return ""
        return str(value).strip()
    except Exception:  # noqa: BLE001 - header parser bugs on garbage
        pass
    for raw in raw_values(msg, name)[:1]:
        return _decode_raw(str(raw)).strip()
    return ""


def _decode_raw(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except Exception:  # noqa: BLE001
        return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _first_id(value: str) -> str | None:
    found = _MSGID_RE.findall(value)
    if found:
        return found[0]
    value = value.strip()
    return value or None


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    values = plain_addresses(msg, name)
    simple = simple_addresses(values) if values is not None else None
    try:
        if values is None:
            values = [str(v) for v in (msg.get_all(name) or [])]
    except Exception:  # noqa: BLE001
        values = [_decode_raw(str(raw)) for raw in raw_values(msg, name)]
    out = []
    for display, addr in simple if simple is not None else getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr:
            out.append((display.strip(), addr))
    return out


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _received_newest(msg: Message) -> datetime | None:
    try:
        raws = [str(raw) for raw in raw_values(msg, "received")]
    except Exception:  # noqa: BLE001
        return None
    for raw in raws:  # topmost first: the newest hop
        stamp = _date(" ".join(raw.rsplit(";", 1)[-1].split())) if ";" in raw else None
        if stamp is not None:
            return stamp
    return None


# --- body text -------------------------------------------------------------------------------

CHARSET_FALLBACKS = ("utf-8", "windows-1257")


def part_text(part: Message) -> str:
    """Decoded text of a leaf part: declared charset, else UTF-8, else windows-1257 (Baltic)."""
    payload = part_bytes(part)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    declared = None
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001
        declared = None
    for charset in ((declared,) if declared else ()) + CHARSET_FALLBACKS:
        try:
            text = payload.decode(_charset_alias(charset))
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return payload.decode("windows-1257", "replace").replace("\r\n", "\n")


def _charset_alias(charset: str) -> str:
    charset = charset.strip().strip('"').lower()
    return {"iso-8859-8-i": "iso-8859-8", "unicode-1-1-utf-7": "utf-7", "x-unknown": "utf-8",
            "ascii": "utf-8", "us-ascii": "utf-8"}.get(charset, charset)


class _HtmlText(HTMLParser):
    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        if tag == "blockquote":
            self._quote += 1
        if tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title") and self._skip:
            self._skip -= 1
        if tag == "blockquote" and self._quote:
            self._quote -= 1
        if tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._quote:  # quoted reply in HTML: keep it, but mark it the way plain text does
            data = "\n".join("> " + line if line.strip() else line for line in data.split("\n"))
        self.chunks.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.chunks)
    except Exception:  # noqa: BLE001
        text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    text = text.replace("\xa0", " ")
    lines = [" ".join(line.split()) if not line.lstrip().startswith(">") else line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _best_text(msg: Message, out: ParsedMessage) -> str:
    """text/plain body if there is one, else HTML turned into text; forwarded messages' bodies not included."""
    plain, markup = _find_body_parts(msg)
    try:
        if plain is not None:
            text = part_text(plain)
            if text.strip() or markup is None:
                return text.strip()
        if markup is not None:
            return html_to_text(part_text(markup))
    except Exception as exc:  # noqa: BLE001
        out.problems.append(_malformed(f"kirja teksti ei saa lugeda: {type(exc).__name__}"))
    return ""


def _find_body_parts(msg: Message) -> tuple[Message | None, Message | None]:
    """First inline text/plain and text/html leaf, not descending into forwarded messages or reports."""
    plain = markup = None
    stack = [msg]
    seen = 0
    while stack and seen < 2000:
        part = stack.pop(0)
        seen += 1
        ctype = part.get_content_type()
        if part.is_multipart():
            if ctype.startswith("message/"):
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack[0:0] = [c for c in children if isinstance(c, Message)]
            continue
        try:
            disposition = part.get_content_disposition()
        except Exception:  # noqa: BLE001
            disposition = None
        if disposition == "attachment":
            continue
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and markup is None:
            markup = part
    return plain, markup
