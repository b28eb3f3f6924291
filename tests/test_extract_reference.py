"""The fast readers give exactly what the previous ones gave: every message of the test corpus is extracted
twice, with the service's readers and inside `reference_readers()` (the `email` package's default policy
parsing every header fetch afresh, python-docx's `Document()` for .docx), and the two results are compared
field by field: sender, subject, dates, message ids, addresses, loop and authentication headers, body text,
every attachment (path, type, size, SHA-256), signatures, bounce, classification, procurement, bidder,
found and missing forms, prices (Decimal strings), offer texts, problems.

The corpus: the devstack mix (clean, zipped and ASiC-E signed bids in every form format, declines, questions,
auto-replies, bounces, a shared mailbox's unrelated mail), the broken-message variants, tests/corpus, and the
public corpora the other tests use (CPython's email test messages, mail-parser, talon, flufl.bounce)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hankebot.devstack import sample_mail as sm
from hankebot.devstack.mail_mix import INVITATIONS_SENT, MixBidder, build_mix, invitation_id
from hankebot.devstack.signing import LocalPKI
from hankebot.mailer.forms import cost_template, template
from hankebot.mailer.reference import in_reference, reference_readers
from hankebot.service.config import load_config
from hankebot.service.extract import Extraction, extract

from test_public_mail_corpora import _ordinary_messages, _sdist

ROOT = Path(__file__).resolve().parents[1]
RECEIVED = datetime(2026, 1, 12, 10, tzinfo=timezone.utc)


def snapshot(ex: Extraction) -> dict:
    """Every field of an extraction, as plain data."""
    p = ex.parsed
    out = ex.to_json()
    out["parsed"] = {
        "message_id": p.message_id, "in_reply_to": p.in_reply_to, "references": p.references, "subject": p.subject,
        "from": [p.from_name, p.from_addr], "reply_to": p.reply_to, "to": p.to, "cc": p.cc,
        "date": p.date_header.isoformat() if p.date_header else None,
        "received_newest": p.received_newest.isoformat() if p.received_newest else None,
        "loop_headers": p.loop_headers, "auth_results": p.auth_results, "text": p.text, "size": p.size,
        "attachments": [[a.filename, a.content_type, a.path, a.size, a.sha256, [x.as_dict() for x in a.problems]]
                        for a in p.attachments],
        "problems": [x.as_dict() for x in p.problems],
        "bounce": None if p.bounce is None else vars(p.bounce),
    }
    out["classification"] = [ex.kind.value, ex.classification.reasons]
    out["parts_full"] = [[x.part_no, str(x.price) if x.price is not None else None, x.basis, x.cost_form,
                          [q.as_dict() for q in x.problems]] for x in ex.parts]
    out["own_problems"] = [x.as_dict() for x in ex.problems]
    return out


def _both(cfg, raw: bytes, received=RECEIVED, invitations=None, sent=None) -> tuple[dict, dict]:
    def run() -> dict:
        template._cached.cache_clear()  # the template caches would carry one reader's result into the other
        cost_template._template.cache_clear()
        return snapshot(extract(cfg, raw, received, invitations or {}, None, sent or {}))

    new = run()
    with reference_readers():
        assert in_reference()
        old = run()
    assert not in_reference()
    return new, old


def _compare(cases, cfg, invitations=None, sent=None) -> int:
    differences = []
    for label, raw, received in cases:
        new, old = _both(cfg, raw, received, invitations, sent)
        for key in sorted(set(new) | set(old)):
            if new.get(key) != old.get(key):
                differences.append(f"{label}: {key}: new {new.get(key)!r:.300} != reference {old.get(key)!r:.300}")
    assert not differences, "\n".join(differences[:20])
    return len(cases)


@pytest.fixture(scope="module")
def mix_setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("mix")
    cfg0 = load_config(ROOT / "config.toml")
    proc = cfg0.settings.procurements[0]
    pki = LocalPKI()
    pki.write_trust_dir(base / "trust")
    text = (ROOT / "config.toml").read_text("utf-8")
    assert "\n[signatures]" not in text
    assert 'forms_dir = "forms/302834"' in text
    text = text.replace('forms_dir = "forms/302834"', f'forms_dir = "{ROOT / "forms" / "302834"}"')
    (base / "config.toml").write_text(text + '\n[signatures]\ntrust_dir = "trust"\n', "utf-8")
    cfg = load_config(base / "config.toml")
    bidders = [MixBidder(b.key, b.name, b.email, b.person_type.value) for b in proc.bidders]
    return cfg, proc.key, bidders, pki


def test_the_mix_in_every_form_format_reads_the_same(mix_setup):
    cfg, key, bidders, pki = mix_setup
    msgs = build_mix(bidders, cfg.settings.procurements[0].mailbox, pki, rounds=2, other_formats=True)
    invitations = {invitation_id(i): key for i in range(len(bidders))}
    n = _compare([(m.label, m.raw, m.received) for m in msgs], cfg, invitations, {key: INVITATIONS_SENT})
    kinds = {m.category for m in msgs}
    assert n >= 100 and len(kinds) == 8
    # the comparison is not vacuous: bids were read, with prices and offer texts, and signatures checked
    new, _ = _both(cfg, next(m.raw for m in msgs if m.category == "asice bid"), RECEIVED, invitations,
                   {key: INVITATIONS_SENT})
    assert new["kind"] == "bid" and new["signatures"] and new["offer"]["bidder_name"]
    assert any(x["price"] for x in new["price"].values())


def test_broken_messages_and_the_test_corpus_read_the_same(mix_setup):
    cfg = mix_setup[0]
    cases = [(f"broken-{i}", raw, RECEIVED) for i, raw in enumerate(sm.broken_message_variants())]
    cases += [(p.name, p.read_bytes(), RECEIVED) for p in sorted((ROOT / "tests" / "corpus").glob("*.eml"))]
    assert _compare(cases, cfg) >= 5


def test_public_corpora_read_the_same(mix_setup):
    cfg = mix_setup[0]
    paths = _ordinary_messages()
    paths += sorted((_sdist("flufl.bounce") / "tests" / "data").glob("*"))
    paths = [p for p in paths if p.is_file()]
    assert _compare([(p.name, p.read_bytes(), RECEIVED) for p in paths], cfg) >= 150


def test_a_difference_is_caught(mix_setup, monkeypatch):
    """The comparison can fail: a fast .docx reader that loses the last row of the form's table is reported."""
    from hankebot.mailer.forms import document_rows

    cfg, key, bidders, pki = mix_setup
    bid = next(m for m in build_mix(bidders[:1], "hange@example.ee", pki) if m.category == "clean bid")
    assert _compare([(bid.label, bid.raw, bid.received)], cfg) == 1
    real = document_rows._docx_body

    def lossy(data: bytes):
        body = real(data)
        rows = list(body.iter(f"{document_rows._W}tr"))
        rows[-1].getparent().remove(rows[-1])
        return body

    monkeypatch.setattr(document_rows, "_docx_body", lossy)
    with pytest.raises(AssertionError, match="offer"):
        _compare([(bid.label, bid.raw, bid.received)], cfg)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127, blacklist_characters="\r\n"), max_size=80),
       st.integers(min_value=0, max_value=80))
def test_an_unparsed_plain_header_is_what_the_default_policy_gives(value, fold_at):
    """The shortcut for plain unstructured headers returns exactly the default policy's decoded value."""
    from email import policy
    from email.parser import BytesParser

    from hankebot.mailer.header_memo import plain_unstructured
    from hankebot.mailer.mime import _feed

    folded = value[:fold_at] + "\r\n " + value[fold_at:] if fold_at < len(value) else value
    raw = f"Subject: {folded}\r\nReferences: {folded}\r\nX-Other: {folded}\r\n\r\nbody\r\n".encode()
    ours, reference = _feed(raw), BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("subject", "references", "x-other"):
        plain = plain_unstructured(ours, name)
        if plain is not None:
            assert plain == str(reference.get(name))
    assert plain_unstructured(ours, "from") is None  # an address header is always parsed


_PIECES = ["Mari", "Tamm", "O", "1", " ", "  ", "<", ">", "@", ".", ",", "a", "b.c", "x@y.ee", "-", "_", "+", "\t",
           '"', "(", ")", ";", ":", "=?utf-8?q?T=C3=A4?=", "ä", "\\"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.sampled_from(["From", "To", "Cc", "Reply-To"]))
def test_unparsed_plain_addresses_read_as_the_default_policy_gives(pieces, name):
    """Where the shortcut takes an address header as it is, getaddresses reads it exactly as it reads the
    default policy's formatted value; assembled from address-like pieces so that both plain and tricky
    values (quotes, comments, groups, encoded words) occur."""
    from email import policy
    from email.parser import BytesParser
    from email.utils import getaddresses

    from hankebot.mailer.header_memo import plain_addresses
    from hankebot.mailer.mime import _feed

    value = "".join(pieces)
    raw = f"{name}: {value}\r\n\r\nbody\r\n".encode()
    values = plain_addresses(_feed(raw), name)
    if values is not None:
        reference = BytesParser(policy=policy.default).parsebytes(raw)
        assert getaddresses(values) == getaddresses([str(v) for v in reference.get_all(name)])


def test_plain_addresses_are_taken_and_others_parsed():
    from hankebot.mailer.header_memo import plain_addresses
    from hankebot.mailer.mime import _feed

    msg = _feed(b"From: Mari Tamm <mari.tamm@example.ee>\r\nTo: a@b.ee, Jaan Kask <jaan@c.ee>\r\n"
                b"Cc: =?utf-8?q?M=C3=A4nnik?= <m@d.ee>\r\nReply-To: \"Tamm, Mari\" <m@e.ee>\r\n\r\nx\r\n")
    assert plain_addresses(msg, "from") == ["Mari Tamm <mari.tamm@example.ee>"]
    assert plain_addresses(msg, "to") == ["a@b.ee, Jaan Kask <jaan@c.ee>"]
    assert plain_addresses(msg, "cc") == ["Männik <m@d.ee>"]  # encoded words decoded (see below)
    assert plain_addresses(msg, "reply-to") is None
    with reference_readers():
        assert plain_addresses(msg, "from") is None


def _encoded_word(text: str, charset: str, q: bool) -> str:
    import base64

    data = text.encode(charset if charset.lower() != "us-ascii" else "ascii", "replace")
    if q:
        body = "".join(chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}" for b in data)
        return f"=?{charset}?{'q' if len(text) % 2 else 'Q'}?{body}?="
    return f"=?{charset}?b?{base64.b64encode(data).decode()}?="


_DISPLAY_TEXT = st.text(alphabet=st.sampled_from(list("abcAZ09 äõöüÜŠž_.,\"'()<>@;:\\-\t")), max_size=12)
_WORDS = st.one_of(st.sampled_from(["Koolitus", "001", "OÜ", "Mari", "x"]),
                   st.builds(_encoded_word, _DISPLAY_TEXT, st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii"]),
                             st.booleans()))


@settings(max_examples=800, deadline=None)
@given(st.lists(st.tuples(_WORDS, st.sampled_from([" ", "  ", "\t", " \t"])), min_size=1, max_size=5),
       st.sampled_from(["", " "]), st.sampled_from(["From", "To", "Reply-To"]))
def test_encoded_display_names_read_as_the_default_policy_gives(words, lead, name):
    """A mailbox whose display name has encoded words (as in `Koolitus 001 =?utf-8?q?O=C3=9C?= <a@b.ee>`),
    where the shortcut decodes it, reads exactly as the default policy's formatted value."""
    from email import policy
    from email.parser import BytesParser
    from email.utils import getaddresses

    from hankebot.mailer.header_memo import plain_addresses
    from hankebot.mailer.mime import _feed

    display = "".join(w + sep for w, sep in words)
    raw = f"{name}: {lead}{display}<mari.tamm@example.ee>\r\n\r\nbody\r\n".encode()
    values = plain_addresses(_feed(raw), name)
    if values is not None:
        reference = BytesParser(policy=policy.default).parsebytes(raw)
        assert getaddresses(values) == getaddresses([str(v) for v in reference.get_all(name)])


def test_encoded_display_names_take_the_shortcut():
    from hankebot.mailer.header_memo import plain_addresses
    from hankebot.mailer.mime import _feed

    msg = _feed(b"From: Koolitus 001 =?utf-8?q?O=C3=9C?= <bidder001@example.test>\r\n"
                b"To: =?utf-8?q?K=C3=BCsija_O=C3=9C?= <info@kysija0.example>\r\n"
                b"Cc: =?utf-8?q?Tamm=2C_Mari?= <m@e.ee>\r\n\r\nx\r\n")
    assert plain_addresses(msg, "from") == ["Koolitus 001 OÜ <bidder001@example.test>"]
    assert plain_addresses(msg, "to") == ["Küsija OÜ <info@kysija0.example>"]
    assert plain_addresses(msg, "cc") is None  # a comma in the decoded name: parsed


_PARAM_PIECES = ["text", "/", "plain", "multipart", "mixed", "application", "vnd.ms-excel", "attachment", "inline",
                 ";", "; ", ";\t", " ", "=", "charset", "utf-8", "name", "filename", "boundary", '"', "Lisa 3.xlsx",
                 "==_x+-.", "a b", "(c)", "\\", "*", "*0", "=?utf-8?q?L=C3=A4?=", "ä", "''", ",", ":", "%41", "@"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PARAM_PIECES), min_size=1, max_size=12),
       st.sampled_from(["Content-Type", "Content-Disposition"]))
@example(["attachment", "; ", "filename", "=", '"', "=?utf-8?q?L=C3=A4?=", '"'], "Content-Disposition")
@example(["text", "/", "plain", "; ", "name", "=", '"', "a b", "\\", '"', "; ", "charset", "=", "utf-8"], "Content-Type")
@example(["text", "/", "plain", " ", "(c)", "; ", "charset", "=", "utf-8"], "Content-Type")
@example(["text", "/", "plain", ";", "charset", "*", "=", "utf-8", "''", "%41"], "Content-Type")
@example(["text", ";", "text", "=", "text"], "Content-Type")  # the policy's text: 'text; text="text"'
@example(["attachment", ";", "name", "=", '"', '"', "; ", "filename", "=", '"', "a b", '"'], "Content-Disposition")
def test_a_lazily_parsed_params_header_is_what_the_default_policy_gives(pieces, name):
    """A Content-Type / Content-Disposition value the lazy header takes as it is gives, through every
    Message method and header attribute, exactly what the default policy's parsed header gives."""
    from email import policy
    from email.parser import BytesParser

    from hankebot.mailer.header_memo import _LazyParams, _MemoHeaders, plain_params
    from hankebot.mailer.mime import _feed

    value = "".join(pieces)
    raw = f"{name}: {value}\r\n\r\nbody\r\n".encode()

    def outcome(call):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - garbage values: both must fail alike
            return type(exc)

    ours, reference = outcome(lambda: _feed(raw)), outcome(lambda: BytesParser(policy=policy.default).parsebytes(raw))
    if isinstance(reference, type):  # the package's own parser trips over it (parse_message records that)
        assert ours is reference and not plain_params(value.strip())
        return
    mine, theirs = outcome(lambda: ours[name]), outcome(lambda: reference[name])
    if isinstance(theirs, type):
        assert mine is theirs and not plain_params(value.strip())
        return
    assert isinstance(mine, _LazyParams) == plain_params(next(v for _, v in ours.raw_items()))

    assert str(mine) == str(theirs)
    for method in ("get_content_type", "get_content_maintype", "get_content_charset", "get_filename",
                   "get_content_disposition", "get_params", "get_boundary"):
        assert outcome(getattr(ours, method)) == outcome(getattr(reference, method)), method
    assert outcome(lambda: dict(mine.params)) == outcome(lambda: dict(theirs.params))
    for attr in ("content_type", "maintype", "subtype", "content_disposition"):
        assert outcome(lambda: getattr(mine, attr, None)) == outcome(lambda: getattr(theirs, attr, None)), attr
    eager = outcome(lambda: _MemoHeaders()[name](name, next(v for _, v in ours.raw_items())))
    if isinstance(eager, type):  # the eager memo header fails to build: the lazy one fails when asked
        assert outcome(lambda: mine.defects) is eager
    else:  # header defects: as the eager memo headers (which never collect the tree's)
        assert [type(d) for d in mine.defects] == [type(d) for d in eager.defects]
    assert outcome(lambda: mine.fold(policy=policy.default)) == outcome(lambda: theirs.fold(policy=policy.default))


def test_plain_params_headers_are_lazy_in_the_mix():
    from hankebot.mailer.header_memo import _LazyParams
    from hankebot.mailer.mime import _feed

    msg = _feed(b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
                b'Content-Type: text/plain; charset="utf-8"\r\n\r\nx\r\n--b1\r\n'
                b'Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n'
                b'Content-Disposition: attachment; filename="Lisa 3 maksumuse vorm.xlsx"\r\n\r\nQUJD\r\n--b1--\r\n')
    parts = list(msg.walk())
    assert all(isinstance(p["content-type"], _LazyParams) for p in parts)
    assert parts[2].get_filename() == "Lisa 3 maksumuse vorm.xlsx" and parts[1].get_content_charset() == "utf-8"
    with reference_readers():
        assert not isinstance(_feed(b"Content-Type: text/plain\r\n\r\nx")["content-type"], _LazyParams)


_DATE_PIECES = ["Mon, ", "12 ", "Jan ", "2026 ", "26 ", "99 ", "0999 ", "10:00", ":59", ":60", " +0200", " -0000",
                " +9999", " GMT", " EST", " (EET)", "\r\n ", " ", ",", "x", "=?utf-8?q?a?=", "32 ", "Feb ", "29 "]


_DATES = st.builds(lambda *p: "".join(p), st.sampled_from(["", "Mon, ", "Tue,", "Xyz, "]),
                   st.sampled_from(["1 ", "12 ", "31 ", "32 ", "0 "]), st.sampled_from(["Jan ", "Feb ", "jan ", "Foo "]),
                   st.sampled_from(["2026 ", "26 ", "70 ", "0999 ", "99999 ", "1 "]),
                   st.sampled_from(["10:00", "10:00:00", "23:59:60", "24:00", "9:5"]),
                   st.sampled_from(["", " +0200", " -0000", " +9999", " GMT", " EST", " UT", " +0200 (EET)", " XYZ"]),
                   st.sampled_from(["", " ", "\r\n "]))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(_DATE_PIECES), min_size=1, max_size=10), _DATES.map(lambda d: [d])))
@example(["12 Jan 26 10:00 +0200"])
@example(["Mon, 12 Jan 2026 10:00:00"])
def test_a_date_taken_without_the_header_classes_reads_as_the_default_policy_gives(pieces):
    """header(msg, "date") with the shortcut (DateHeader.parse step by step, no header object) gives what
    the default policy's DateHeader gives (the reference readers), and so the same parsed date."""
    from hankebot.mailer.header_memo import plain_date
    from hankebot.mailer.mime import _date, _feed, header

    raw = f"Date: {''.join(pieces)}\r\n\r\nbody\r\n".encode()
    ours = header(_feed(raw), "date")
    with reference_readers():
        reference = header(_feed(raw), "date")
    assert ours == reference and _date(ours) == _date(reference)
    assert plain_date(_feed(b"Date: Mon, 12 Jan 2026 10:00:00 +0200\r\n\r\nx")) == "Mon, 12 Jan 2026 10:00:00 +0200"
