"""Whether any of flufl.bounce's detectors could report a failed address for a message, cheaply.

`flufl.bounce.all_failures` runs seventeen detectors, most of them reading the body line by line against
their patterns (SimpleMatch alone has 42): about 0.2 ms of an out-of-office reply, which comes back with
nothing. `could_fire(msg)` checks, for each detector, a condition without which that detector returns
nothing (read from its code, flufl.bounce 6.0.0): the headers or content types it requires, and that its
start pattern or phrase occurs somewhere in the text it reads (searched in each part's whole text at once,
where the detector tries line by line: a match in a line is a match in the text; `^`/`$` patterns are
searched per line via re.MULTILINE). When no detector's condition holds, `all_failures` would return two
empty sets; bounce.py then does not run it. Anything unexpected (another flufl.bounce version or detector
list, a From header with comments or quoting, an error) answers True: the detectors then run as always.
"""
from __future__ import annotations

import re
from email.message import Message

import flufl.bounce
from flufl.bounce import _scan
from flufl.bounce._detectors import (
    aol, caiwireless, exchange, llnl, microsoft, netscape, qmail, simplematch, simplewarning,
)

from hankebot.mailer.reference import in_reference

ANALYSED_VERSION = "6.0.0"
ANALYSED = ("DSN", "Exim", "Sina", "Yahoo", "Yale", "SMTP32", "Postfix", "Qmail", "GroupWise", "Microsoft",
            "Caiwireless", "Exchange", "Netscape", "AOL", "SimpleMatch", "SimpleWarning", "LLNL")


def _text_patterns() -> list[re.Pattern[str]]:
    """The patterns a body-reading detector must find in some line before it reports anything."""
    out = [re.compile(re.escape(tag)) for tag in qmail.introtags]  # Qmail: a line starting with a tag
    out.append(exchange.scre)  # Exchange: its start phrase in a line
    out.append(caiwireless.tcre)  # Caiwireless: its tag line
    out.append(llnl.acre)  # LLNL: its address pattern in a line
    for scre, _ecre, _acre in [*simplematch.PATTERNS, *simplewarning.PATTERNS]:
        out.append(re.compile(scre.pattern, scre.flags | re.MULTILINE))  # ^ and $ at each line
    return out


def _byte_phrases() -> list[bytes]:
    """Case-insensitive phrases (bytes patterns: ASCII case only) a detector reading decoded bodies needs."""
    return [microsoft.scre.pattern.lower(), netscape.pcre.pattern.lower()]


_TEXT = _text_patterns()
_BYTES = _byte_phrases()
_AOL = aol.scre.pattern
_SUPPORTED = (flufl.bounce.__version__ == ANALYSED_VERSION
              and tuple(d.__name__ for d in _scan._DETECTORS) == ANALYSED
              and not any(t in p.pattern for p in _TEXT for t in ("\\A", "\\Z", "(?=", "(?!", "(?<=", "(?<!")))


def could_fire(msg: Message) -> bool:
    """False only where every detector of flufl.bounce is sure to return nothing for `msg`."""
    if not _SUPPORTED or in_reference():
        return True
    try:
        return _could_fire(msg)
    except Exception:  # noqa: BLE001 - whatever trips us up, the detectors themselves decide
        return True


def _could_fire(msg: Message) -> bool:
    top = msg.get_content_type()
    sender = str(msg.get("from", "") or "")
    if any(ch in sender for ch in '(\\"'):  # comments or quoting: the address parsers decide
        return True
    compact = "".join(sender.lower().split())
    if "mailer-daemon@" in compact:  # Sina, Yahoo, Yale gate on a mailer-daemon sender
        return True
    if msg.get_all("x-failed-recipients"):  # Exim
        return True
    mailer = str(msg.get("x-mailer", "") or "")
    if mailer.startswith("<SMTP32 v"):  # SMTP32
        return True
    if top == "multipart/mixed" and mailer and mailer[:3].lower() in ("nov", "ntm", "int"):  # GroupWise
        return True
    parts = list(msg.walk())
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":  # DSN
            return True
        if (top in ("multipart/mixed", "multipart/report") and ctype == "text/plain"
                and str(part.get("content-description", "") or "").lower() == "notification"):  # Postfix
            return True
    if "@aol.com" in compact and top == "text/plain":  # AOL: an aol.com sender and its phrase in the body
        body = msg.get_payload(decode=True)
        if isinstance(body, bytes) and _AOL in body:
            return True
    if msg.is_multipart():  # Microsoft (the first part), Netscape (a text/plain leaf): decoded bodies
        for part in parts:
            if part.is_multipart():
                continue
            body = part.get_payload(decode=True)
            if isinstance(body, bytes) and any(p in body.lower() for p in _BYTES):
                return True
    for part in parts:  # the body-reading detectors: each part's text as body_line_iterator reads it
        text = part.get_payload()
        if isinstance(text, str) and any(p.search(text) for p in _TEXT):
            return True
    return False
