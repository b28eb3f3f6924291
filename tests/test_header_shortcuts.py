"""Header values Hankebot reads without the email package's header classes read exactly as the default
policy's parsed header: encoded-word subjects (unstructured headers), Message-IDs and plain address lists,
over assembled values (valid, broken and odd encoded words, white space runs, folding), and the shortcut is
taken for the values real mail carries."""
from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hankebot.mailer.header_memo import plain_addresses, plain_message_id, plain_unstructured, simple_addresses
from hankebot.mailer.mime import _feed


def _reference(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def _q(text: str, charset: str = "utf-8") -> str:
    data = text.encode(charset)
    return f"=?{charset}?q?" + "".join(
        chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}" for b in data) + "?="


def _b(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


_SUBJECT_PIECES = [
    "RE:", "Pakkumus", "302834", "Fwd:", "a", "(x)", '"q"', "=", "?", "=?", "?=", "_",
    _q("Pakkumuskutse „Kõrge“"), _q("õ ä"), _q(" lõpp "), _b("Küsimus: kas?"), _b("ü", "iso-8859-1"),
    _q("Ülo", "windows-1257"), "=?utf-8?q?=C3=B5?=", "=?UTF-8?Q?=c3=a4?=", "=?utf-8?q?=ZZ?=", "=?utf-8?q?=?=",
    "=?utf-8?b?w7U?=", "=?utf-8?b?w7U=?=", "=?utf-8?b?####?=", "=?x-unknown?q?abc?=", "=?utf-8*et?q?abc?=",
    "=?utf-8?x?abc?=", "=?utf-8?q?a?b?=", "=?utf-8?q??=", "=?utf-8?q?=FF?=", "=?us-ascii?q?plain?=",
    "x=?utf-8?q?a?=", "=?utf-8?q?a?=y", "=?utf-8?q?a?==?utf-8?q?b?=",
]
_SPACE = st.sampled_from([" ", "  ", "\t", " \t ", "\r\n ", "\r\n\t"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SUBJECT_PIECES), _SPACE), min_size=1, max_size=7),
       st.sampled_from(["", " ", "\t"]), st.sampled_from(["", " ", "  "]))
@example([(_q("RE: Pakkumuskutse"), " "), (_q(" õ"), "\r\n ")], "", "")
@example([("=?utf-8?q?=C3=B5?=", " "), ("x", " "), ("=?utf-8?b?w7U=?=", "  ")], " ", " ")
def test_an_encoded_word_subject_reads_as_the_default_policy_gives(words, lead, tail):
    value = lead + "".join(w + sep for w, sep in words[:-1]) + words[-1][0] + tail
    raw = f"Subject: {value}\r\nIn-Reply-To: {value}\r\n\r\nbody\r\n".encode()
    ours, reference = _feed(raw), _reference(raw)
    for name in ("subject", "in-reply-to"):
        plain = plain_unstructured(ours, name)
        if plain is not None:
            assert plain == str(reference.get(name)), (value, plain, str(reference.get(name)))


def test_encoded_subjects_of_real_mail_take_the_shortcut():
    subjects = [
        "=?utf-8?q?RE=3A_Pakkumuskutse_=22K=C3=B5rge_abivajadusega_ja_?=\r\n =?utf-8?q?riskik=C3=A4itumisega?=",
        "RE: =?UTF-8?B?UGFra3VtdXMgLSBMaXNhIDIgamEgMw==?=",
        "=?iso-8859-1?q?Abwesenheitsnotiz=3A_B=FCro?=", "=?windows-1257?Q?K=FCsimus?=",
    ]
    for value in subjects:
        raw = f"Subject: {value}\r\n\r\nx\r\n".encode()
        plain = plain_unstructured(_feed(raw), "subject")
        assert plain is not None and plain == str(_reference(raw)["subject"])


_ID_PIECES = ["<", ">", "@", "a", "bid-0", "example.test", ".", " ", "\t", "(c)", '"q"', "[1.2.3.4]", "\\", ",",
              "=?utf-8?q?a?=", "ä", ";", ":", "x@y", "<a@b>", "<c@d>"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_ID_PIECES), min_size=1, max_size=10), st.sampled_from(["", "\r\n "]))
@example(["<", "bid-0", "@", "example.test", ">"], "")
@example([" ", "<a@b>", " "], "")
@example(["<a@b>", " ", "<c@d>"], "")
def test_a_message_id_reads_as_the_default_policy_gives(pieces, fold):
    value = "".join(pieces)
    if fold and len(value) > 2:
        value = value[:2] + fold + value[2:]
    raw = f"Message-ID: {value}\r\n\r\nbody\r\n".encode()
    try:
        ours, reference = _feed(raw), _reference(raw)
        theirs = str(reference.get("message-id"))
    except Exception:  # noqa: BLE001 - what the package cannot read, the shortcut must not take
        assert plain_message_id(_feed(raw)) is None
        return
    plain = plain_message_id(ours)
    if plain is not None:
        assert plain == theirs


def test_real_message_ids_take_the_shortcut():
    for value in ["<bid-0@example.test>", "<CAB+x_Y=z@mail.gmail.com>",
                  "<AM0PR01MB1234.eurprd01.prod.exchangelabs.com@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>"]:
        raw = f"Message-ID: {value}\r\n\r\nx\r\n".encode()
        assert plain_message_id(_feed(raw)) == str(_reference(raw)["message-id"]) == value


_ADDR_PIECES = ["Mari", "Tamm", "Koolitus", "001", "OÜ", " ", "  ", "<mari@firma.ee>", "mari@firma.ee", ",", ", ",
                "<a.b+c@x-y.ee>", "info@ska.ee", "\t"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_ADDR_PIECES), min_size=1, max_size=10))
@example(["Mari", " ", "Tamm", " ", "<mari@firma.ee>", ", ", "info@ska.ee"])
def test_plain_address_lists_split_as_getaddresses_reads_them(pieces):
    value = "".join(pieces)
    raw = f"To: {value}\r\nCc: {value}\r\nCc: info@ska.ee\r\n\r\nx\r\n".encode()
    for name in ("to", "cc"):
        values = plain_addresses(_feed(raw), name)
        if values is not None:
            assert simple_addresses(values) == getaddresses(values)


def test_plain_address_lists_take_the_shortcut():
    values = ["Mari Tamm <mari@firma.ee>, info@ska.ee", "Koolitus 001 OÜ <bidder001@example.test>"]
    assert simple_addresses(values) == getaddresses(values) == [
        ("Mari Tamm", "mari@firma.ee"), ("", "info@ska.ee"), ("Koolitus 001 OÜ", "bidder001@example.test")]
