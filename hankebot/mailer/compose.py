"""Build outgoing messages: one EmailMessage per recipient, rendered from Jinja2 templates.

Rules every message obeys (tests check them on the raw bytes):
- To: exactly one recipient; no Cc and no Bcc header (copies go to envelope recipients only).
- From: the expert, Reply-To: the procurement mailbox (where bids and questions must arrive).
- Attachments byte-identical, file names RFC 2231-encoded (Estonian letters survive), real MIME types.
- A deterministic Message-ID chosen before sending and stored, so a copy can be found again.
"""
from __future__ import annotations

import mimetypes
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Sequence

import jinja2

#: CRLF line endings, no header folding surprises: the exact bytes we store and send.
SMTP_POLICY = policy.SMTP.clone(max_line_length=78)

_MIME = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".pdf": "application/pdf",
    ".asice": "application/vnd.etsi.asic-e+zip",
    ".bdoc": "application/vnd.etsi.asic-e+zip",
    ".zip": "application/zip",
    ".txt": "text/plain",
}
_ID_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


class TemplateError(Exception):
    """A template is missing or refers to a value that was not given (StrictUndefined)."""


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    data: bytes
    mime_type: str

    @classmethod
    def from_path(cls, path: Path, filename: str | None = None) -> "OutgoingAttachment":
        name = filename or path.name
        return cls(name, path.read_bytes(), mime_type_for(name))


def mime_type_for(filename: str) -> str:
    ext = Path(filename).suffix.lower()
    return _MIME.get(ext) or mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"


class Templates:
    """Jinja2 templates from one or more directories; the first directory that has a file wins
    (so an admin's override directory goes first, the packaged defaults last)."""

    def __init__(self, dirs: Sequence[Path]):
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in dirs if d and Path(d).is_dir()]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, name: str, **values) -> str:
        try:
            return self.env.get_template(name).render(**values)
        except jinja2.TemplateNotFound as e:
            raise TemplateError(f"mall {e.name} puudub") from e
        except jinja2.UndefinedError as e:
            raise TemplateError(f"{name}: {e.message}") from e
        except jinja2.TemplateError as e:
            raise TemplateError(f"{name}: {e}") from e

    def subject_and_body(self, kind: str, **values) -> tuple[str, str]:
        subject = " ".join(self.render(f"{kind}.subject.j2", **values).split())
        body = self.render(f"{kind}.body.j2", **values)
        return subject, body


def make_message_id(proc: str, kind: str, batch: str, bidder: str, domain: str, token: str | None = None) -> str:
    """<hankebot.{proc}.{kind}[.{batch}].{bidder}.{token}@{domain}>: the batch is left out when it only repeats
    the kind ("invitation"), and "clarification:ab12" contributes "ab12". The token is random unless given
    (callers store the result, so it is chosen once per message)."""
    rest = batch[len(kind):].lstrip(":") if batch == kind or batch.startswith(kind + ":") else batch
    raw_parts = [proc, kind] + ([rest] if rest else []) + [bidder]
    parts = [_ID_SAFE.sub("-", x).strip("-") or "x" for x in raw_parts]
    tok = token or secrets.token_hex(6)
    return f"<hankebot.{'.'.join(parts)}.{tok}@{domain}>"


def build_message(
    *,
    from_name: str,
    from_addr: str,
    reply_to: str,
    to_name: str,
    to_addr: str,
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    attachments: Sequence[OutgoingAttachment] = (),
    auto_submitted: str | None = None,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """One message to one person. `auto_submitted` ("auto-replied", "auto-generated") only for machine mail."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(display_name=from_name, addr_spec=from_addr)
    msg["To"] = Address(display_name=to_name, addr_spec=to_addr) if to_name else Address(addr_spec=to_addr)
    msg["Reply-To"] = Address(addr_spec=reply_to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if auto_submitted:
        msg["Auto-Submitted"] = auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"  # no out-of-office answers to machine mail
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    for att in attachments:
        maintype, _, subtype = att.mime_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype or "octet-stream", filename=att.filename)
        del msg.get_payload()[-1]["MIME-Version"]  # the library copies it into the part; it belongs on top only
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """The exact bytes to store and send (CRLF, 7-bit safe: non-ASCII is encoded)."""
    return msg.as_bytes(policy=SMTP_POLICY)
