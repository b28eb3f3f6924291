"""bounce_gate.could_fire: False only where every flufl.bounce detector returns nothing. Checked detector by
detector over flufl.bounce's own bounce corpus (from its PyPI sdist), the same reports re-dressed as
ordinary or auto-reply mail (their bodies under a person's From, in a multipart, base64-encoded), CPython's,
mail-parser's and talon's messages and the benchmark mix; and the gate does skip the detectors for ordinary
auto-replies and unrelated machine mail, so bounce.py's reading of them is unchanged and cheaper."""
from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import flufl.bounce
from flufl.bounce import _scan, all_failures

from hankebot.devstack.mail_mix import MixBidder, build_mix
from hankebot.devstack.signing import LocalPKI
from hankebot.mailer import bounce_gate
from hankebot.mailer.bounce_gate import could_fire
from hankebot.mailer.mime import _parse_tree, parse_message
from hankebot.mailer.reference import reference_readers

from test_public_mail_corpora import _ordinary_messages, _sdist


def _fires(msg) -> list[str]:
    """The detectors that report anything for msg (each run on its own, not only up to the first)."""
    out = []
    for detector in _scan._DETECTORS:
        try:
            temporary, permanent = detector().process(msg)
        except Exception:  # noqa: BLE001 - a detector tripping: all_failures raises, bounce.py reads nothing
            continue
        if temporary or permanent:
            out.append(detector.__name__)
    return out


def _redressed(raw: bytes) -> list[bytes]:
    """A bounce report's text under other clothes: from a person, as an auto-reply, inside a multipart next to
    an attachment, base64-encoded."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    texts = []
    for part in msg.walk():
        if not part.is_multipart():
            body = part.get_payload(decode=True)
            if isinstance(body, bytes) and body.strip():
                texts.append(body.decode("utf-8", "replace"))
    out = []
    for text in texts[:3]:
        for cte in ("8bit", "base64", "quoted-printable"):
            m = EmailMessage()
            m["From"], m["To"], m["Subject"] = "Mari Tamm <mari@firma.ee>", "hange@ska.ee", "Automaatne vastus: x"
            m["Auto-Submitted"] = "auto-replied"
            m.set_content(text, cte=cte)
            out.append(m.as_bytes())
            m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
            out.append(m.as_bytes())
    return out


def _check(raw: bytes) -> tuple[bool, list[str]]:
    msg = _parse_tree(raw)
    fires = _fires(msg)
    gate = could_fire(msg)
    assert gate or not fires, fires
    if not gate:
        try:
            found = all_failures(msg)
        except Exception:  # noqa: BLE001 - a detector tripping: bounce.py reads no failures either
            found = (frozenset(), frozenset())
        assert found == (frozenset(), frozenset())
    return gate, fires


def test_the_gate_is_on_for_the_analysed_detectors():
    """flufl.bounce upgraded or its detector list changed: re-read the detectors and update bounce_gate."""
    assert flufl.bounce.__version__ == bounce_gate.ANALYSED_VERSION
    assert tuple(d.__name__ for d in _scan._DETECTORS) == bounce_gate.ANALYSED
    assert bounce_gate._SUPPORTED


def test_every_report_of_the_bounce_corpus_passes_the_gate_also_redressed():
    data = _sdist("flufl.bounce") / "tests" / "data"
    files = sorted(p for p in data.iterdir() if p.is_file())
    assert len(files) >= 100
    fired = redressed_fired = 0
    for path in files:
        raw = path.read_bytes()
        gate, fires = _check(raw)
        fired += bool(fires)
        for variant in _redressed(raw):
            redressed_fired += bool(_check(variant)[1])
    print(f"\nflufl.bounce corpus: {len(files)} files, {fired} with a detector firing; "
          f"{redressed_fired} re-dressed variants firing, all through the gate")
    assert fired >= 100 and redressed_fired >= 100  # the implication was tested where it matters


def _mix() -> list[bytes]:
    people = [MixBidder(f"b{i}", f"Koolitus {i:03d} OÜ", f"bidder{i:03d}@example.test", "legal") for i in range(12)]
    return [m.raw for m in build_mix(people, "tender@example.test", LocalPKI(), 1)]


def test_ordinary_mail_and_the_mix_through_the_gate():
    raws = [p.read_bytes() for p in _ordinary_messages()] + _mix()
    skipped = 0
    for raw in raws:
        gate, _ = _check(raw)
        skipped += not gate
    print(f"\n{len(raws)} ordinary and mix messages: the detectors skipped for {skipped}")
    assert skipped >= len(raws) // 2


def test_an_out_of_office_reply_skips_the_detectors_and_reads_the_same():
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Mari Tamm <mari@firma.ee>", "hange@ska.ee", "Automaatne vastus: Pakkumus"
    m["Auto-Submitted"] = "auto-replied"
    m.set_content("Tere!\n\nOlen puhkusel kuni 16.01.2026. Kiireloomulistes küsimustes palun pöörduge "
                  "info@firma.ee.\n\nParimat\nMari")
    raw = m.as_bytes()
    assert could_fire(_parse_tree(raw)) is False
    ours = parse_message(raw)
    with reference_readers():  # the reference runs every detector
        reference = parse_message(raw)
    assert ours.bounce == reference.bounce is None


def test_gate_features_each_open_it():
    base = ("From: {sender}\r\nTo: hange@ska.ee\r\nSubject: x\r\n{extra}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\n\r\n{body}\r\n")
    cases = [
        dict(sender="MAILER-DAEMON @ yahoo.com", extra="", body="x"),
        dict(sender="Mail Delivery <Mailer-Daemon@cs.yale.edu>", extra="", body="x"),
        dict(sender='"Delivery, Mail" <p@x.ee>', extra="", body="x"),  # quoting kept: the parsers decide
        dict(sender="a@b.ee", extra="X-Failed-Recipients: c@d.ee\r\n", body="x"),
        dict(sender="a@b.ee", extra="X-Mailer: <SMTP32 v8.0>\r\n", body="x"),
        dict(sender="x@aol.com", extra="", body="mail to the following recipients could not be delivered"),
        dict(sender="a@b.ee", extra="", body="Hi. This is the qmail-send program"),
        dict(sender="a@b.ee", extra="", body="Your message did not reach the following recipient"),
        dict(sender="a@b.ee", extra="", body="x, c@d.ee, y"),
        dict(sender="a@b.ee", extra="", body="tere\r\nIntended recipient: c@d.ee\r\n"),
    ]
    for case in cases:
        assert could_fire(_parse_tree(base.format(**case).encode())), case
    dsn = (b"From: a@b.ee\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\ntere\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; c@d.ee\r\nAction: failed\r\n"
           b"Status: 5.1.1\r\n\r\n--b--\r\n")
    assert _fires(_parse_tree(dsn)) == ["DSN"] and could_fire(_parse_tree(dsn))
    assert not could_fire(_parse_tree(base.format(sender="a@b.ee", extra="", body="tere").encode()))
