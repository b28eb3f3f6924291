"""parse_message on large messages: base64 bodies kept out of the email package's tree give exactly what the
email package gives, every case the shortcut cannot take falls back to it, and the memory peak stays near
the attachments' own size."""
from __future__ import annotations

import random
import tracemalloc
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from hankebot.mailer.attachments import MB, AttachmentLimits, Base64Body
from hankebot.mailer.mime import parse_message

SENDER = "mari@koolitus.ee"


def blob(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def bid(files: list[tuple[str, bytes]], text: str = "Tere, lisatud pakkumus.", crlf: bool = True,
        preamble: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, "hange@ska.ee", "Pakkumus 302834"
    msg["Message-ID"] = "<large-1@koolitus.ee>"
    msg.set_content(text)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    if preamble is not None:
        msg.preamble = preamble
    return msg.as_bytes(policy=policy.SMTP if crlf else policy.default)


def stdlib_files(raw: bytes) -> list[tuple[str, bytes]]:
    """The oracle: every named leaf part decoded by the email package itself, in walk order."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    return [(p.get_filename(), p.get_payload(decode=True)) for p in msg.walk()
            if not p.is_multipart() and p.get_filename()]


def files(parsed) -> list[tuple[str, bytes]]:
    return [(a.filename, a.data) for a in parsed.attachments]


def test_large_attachment_same_as_email_package_crlf_and_lf():
    data = blob(5 * MB + 1)  # 5 MiB + 1: the base64 ends in "=="
    for crlf in (True, False):
        raw = bid([("skaneeritud.pdf", data), ("väike.pdf", b"%PDF-1.4 small")], crlf=crlf)
        p = parse_message(raw)
        assert p.problems == []
        assert files(p) == stdlib_files(raw) == [("skaneeritud.pdf", data), ("väike.pdf", b"%PDF-1.4 small")]
        assert p.attachments[0].size == len(data) and p.text == "Tere, lisatud pakkumus."
        assert p.message_id == "<large-1@koolitus.ee>" and p.from_addr == SENDER


def test_several_large_bodies_and_a_forwarded_message():
    inner = bid([("sisemine.pdf", blob(2 * MB, seed=3))])
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = SENDER, "hange@ska.ee", "Fwd: Pakkumus"
    outer.set_content("Edastan.")
    outer.add_attachment(blob(3 * MB + 2, seed=2), maintype="application", subtype="pdf", filename="üks.pdf")
    outer.add_attachment(BytesParser(policy=policy.default).parsebytes(inner))  # message/rfc822
    raw = outer.as_bytes(policy=policy.SMTP)
    p = parse_message(raw)
    assert p.problems == []
    assert [(a.path, a.data) for a in p.attachments] == [
        ("üks.pdf", blob(3 * MB + 2, seed=2)), ("Pakkumus 302834/sisemine.pdf", blob(2 * MB, seed=3))]
    assert files(p) == stdlib_files(raw)


def test_single_part_message_whose_body_ends_without_line_break():
    data = blob(4 * MB + 2)
    msg = EmailMessage()
    msg["From"], msg["Subject"] = SENDER, "skaneering"
    msg.set_content(data, maintype="application", subtype="pdf", filename="scan.pdf")
    raw = msg.as_bytes(policy=policy.SMTP).rstrip(b"\r\n")
    p = parse_message(raw)
    assert files(p) == stdlib_files(raw) == [("scan.pdf", data)]


def test_large_base64_text_body_is_the_message_text():
    text = "Pakkumuse selgitus, õ ä ö ü.\n" * 200_000  # ~6 MB of UTF-8, sent base64
    msg = EmailMessage()
    msg["From"], msg["Subject"] = SENDER, "Pikk kiri"
    msg.set_content(text, cte="base64")
    p = parse_message(msg.as_bytes(policy=policy.SMTP))
    assert p.text == text.strip() and p.attachments == [] and p.problems == []


def test_base64_looking_lines_outside_a_base64_body_fall_back_to_the_email_package():
    lines = "QUJDRA" * 12 + "\n"
    text = lines * (2 * MB // len(lines))  # a 7bit text body that looks like base64, in a 5 MB message
    data = blob(3 * MB)
    raw = bid([("a.pdf", data)], text=text, preamble=lines * 20_000)
    p = parse_message(raw)
    assert p.text == text.strip()
    assert files(p) == stdlib_files(raw) == [("a.pdf", data)]


def test_marker_like_bytes_in_the_message_are_taken_as_they_are():
    data = blob(4 * MB, seed=5)
    raw = bid([("a.pdf", data)], text="kiri \x00hankebot-base64-body-0\x00 lõpp")
    p = parse_message(raw)
    assert files(p) == stdlib_files(raw) == [("a.pdf", data)]
    assert "hankebot-base64-body-0" in p.text


def test_defective_base64_decodes_as_the_email_package_does():
    good = bid([("a.pdf", blob(5 * MB, seed=6))])
    head, sep, rest = good.partition(b"Content-Disposition: attachment")
    body_start = rest.index(b"\r\n\r\n") + 4
    # drop one character on the attachment's second line: not a whole number of quanta any more
    line_end = rest.index(b"\r\n", body_start) + 2
    bad = head + sep + rest[:line_end] + rest[line_end + 1:]
    p = parse_message(bad)
    assert files(p) == stdlib_files(bad)
    assert len(p.attachments[0].data) < 5 * MB


def test_oversized_kept_out_body_is_refused_with_its_size():
    data = blob(6 * MB, seed=7)
    raw = bid([("suur.pdf", data), ("väike.pdf", b"%PDF-1.4")])
    p = parse_message(raw, AttachmentLimits(max_file_bytes=2 * MB))
    assert [a.filename for a in p.attachments] == ["väike.pdf"]
    assert [pr.code for pr in p.problems] == ["attachment_too_large"]
    assert "„suur.pdf“ on liiga suur (6 MB, lubatud 2 MB)" in p.problems[0].message


def test_base64_body_size_is_known_without_decoding():
    import base64

    for n in (0, 1, 2, 3, 57, 58, 59, 1000, 1001):
        encoded = base64.encodebytes(blob(n, seed=n))  # 76-character lines with "\n"
        body = Base64Body(b"xx\r\n" + encoded.rstrip(b"\n") + b"\r\n", 4, 4 + len(encoded.rstrip(b"\n")))
        assert body.size == n and body.decode() == blob(n, seed=n)


def test_memory_peak_stays_near_the_attachment_size():
    data = blob(6 * MB, seed=8)
    raw = bid([("skaneeritud.pdf", data)])
    del data
    tracemalloc.start()
    try:
        p = parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.attachments[0].size == 6 * MB
    # the decoded attachment itself is 6 MiB; the email package alone used ~7x the message (~55 MiB)
    assert peak < 9 * MB, peak


def test_parsed_message_holds_no_message_tree():
    p = parse_message(bid([("a.pdf", blob(4 * MB, seed=9))]))
    seen = [p, *p.attachments, *vars(p).values()]
    assert not any(isinstance(v, Message) for v in seen)
