"""Malformed MIME never escapes parse_message or classify as an exception."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hankebot.core.classify import classify, strip_quoted
from hankebot.core.matching import detect_parts, match_bidder
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.mime import ParsedMessage, parse_message

FILES = [("Lisa 2 pakkumuse vorm.docx", b"PK\x03\x04" + b"d" * 200), ("Lisa 3 maksumuse vorm õ.xlsx", b"x" * 300)]
SEEDS = [
    sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=FILES),
    sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=FILES, zip_attachments=True),
    sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=FILES, asice=True),
    sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=FILES, forward=True, filename_encoding="rfc2047"),
    sm.bounce_message("x@firma.ee", "<inv@ska.ee>"),
    sm.auto_reply_message("a@firma.ee", "Anu"),
    *sm.broken_message_variants(),
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.size == len(raw)
    kind = classify(parsed.facts(has_form_attachments=bool(parsed.attachments))).kind
    assert kind is not None
    detect_parts(parsed.text, parsed.subject)
    match_bidder(parsed.from_addr, [("b", "mari@koolitus.ee")])


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes(raw):
    _check(raw)


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "cut", "dup", "insert", "boundary"]))
        if not raw:
            break
        pos = draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[pos] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del raw[pos:pos + draw(st.integers(1, 400))]
        elif op == "dup":
            raw[pos:pos] = raw[pos:pos + draw(st.integers(1, 300))]
        elif op == "insert":
            raw[pos:pos] = draw(st.sampled_from([b"\r\n--", b"=?utf-8?B?", b"\x00", b"\r\n\r\n", b"Content-Type: "
                                                 b"multipart/mixed; boundary=\"\"\r\n", b"; filename*=utf-8''%C3",
                                                 b"charset=\"nope", b"PK\x03\x04", b"\xff\xfe"]))
        else:
            raw = bytearray(bytes(raw).replace(b"boundary=", b"boundary=Q", 1))
    return bytes(raw)


@SETTINGS
@given(mutated())
def test_mutated_valid_messages(raw):
    _check(raw)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 400), st.sampled_from(["multipart/mixed", "message/rfc822"]))
def test_absurd_nesting(depth, ctype):
    if ctype == "message/rfc822":
        raw = b"Content-Type: message/rfc822\r\n\r\n" * depth + b"Subject: pohjas\r\n\r\ntekst"
    else:
        raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
        raw += b"Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF"
    _check(raw)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000), st.text(max_size=200))
def test_classify_and_strip_on_any_text(text, subject):
    from hankebot.core.classify import MessageFacts

    strip_quoted(text)
    detect_parts(text, subject)
    assert classify(MessageFacts(subject=subject, text=text)).kind is not None
