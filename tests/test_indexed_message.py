"""The parsed tree Hankebot reads (IndexedMessage parts, base64 bodies kept out of the email package's line
reading) reads exactly as the email package's own parse with the default policy: every header read, every
parameter, every payload, raw and decoded, part by part, over other projects' public mail corpora, the
benchmark's realistic mix and assembled base64 shapes; and after changes to a part, as the package reads
the same changed part."""
from __future__ import annotations

import base64
import random
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from hankebot.devstack.mail_mix import MixBidder, build_mix
from hankebot.devstack.signing import LocalPKI
from hankebot.mailer.attachments import part_body
from hankebot.mailer.indexed_message import IndexedMessage, raw_values
from hankebot.mailer.mime import _parse_tree

from test_public_mail_corpora import _ordinary_messages, _sdist

_METHODS = ("get_content_type", "get_content_maintype", "get_content_subtype", "get_content_charset",
            "get_filename", "get_content_disposition", "get_boundary", "get_params", "get_charsets",
            "is_multipart", "keys")


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return type(exc)


def _reads(part) -> list:
    """Everything a reader can ask a part, as plain values."""
    out = [(m, _outcome(getattr(part, m))) for m in _METHODS]
    out.append(("unquoted params", _outcome(lambda: part.get_params(unquote=False))))
    for name in sorted({k.lower() for k in part.keys()} | {"content-type", "x-absent", "content-transfer-encoding"}):
        out.append((name, _outcome(lambda: str(part.get(name))), _outcome(lambda: part[name] is None),
                    _outcome(lambda: [str(v) for v in part.get_all(name, [])]), name in part,
                    _outcome(lambda: part.get_param("charset", header=name)),
                    _outcome(lambda: part.get_param("name", header=name)), raw_values(part, name)))
    if not part.is_multipart():
        out.append(("payload", _outcome(part.get_payload)))
        out.append(("decoded", _outcome(lambda: part.get_payload(decode=True))))
        out.append(("payload again", _outcome(part.get_payload)))
    out.append(("defects", [type(d).__name__ for d in part.defects]))
    return out


def _same_reading(raw: bytes) -> int:
    """Asserts the two parses read alike part by part; returns how many base64 bodies ours kept out."""
    ours = _parse_tree(raw)
    theirs = BytesParser(policy=policy.default).parsebytes(raw)
    ours_parts, their_parts = list(ours.walk()), list(theirs.walk())
    assert len(ours_parts) == len(their_parts)
    kept = 0
    for mine, reference in zip(ours_parts, their_parts):
        assert isinstance(mine, IndexedMessage)
        kept += part_body(mine) is not None
        assert _reads(mine) == _reads(reference)
    return kept


def _mix() -> list[bytes]:
    people = [MixBidder(f"b{i}", f"Koolitus {i:03d} OÜ", f"bidder{i:03d}@example.test",
                        "natural" if i % 4 == 3 else "legal") for i in range(6)]
    return [m.raw for m in build_mix(people, "tender@example.test", LocalPKI(), 1, other_formats=True)]


def test_public_corpora_and_the_mix_read_as_the_email_package_reads_them():
    corpus = [p.read_bytes() for p in _ordinary_messages()]
    data = _sdist("flufl.bounce") / "tests" / "data"
    corpus += [p.read_bytes() for p in sorted(data.iterdir()) if p.is_file()]
    mix = _mix()
    assert len(corpus) >= 200 and len(mix) >= 40
    kept = sum(_same_reading(raw) for raw in corpus + mix)
    print(f"\n{len(corpus)} public and {len(mix)} mix messages read alike; {kept} base64 bodies kept out")
    assert kept >= 2 * len([r for r in mix if len(r) > 16_000])  # the shortcut was taken, not bypassed


def _body_lines(data: bytes, width: int, eol: str) -> str:
    lines = base64.encodebytes(data).decode().split("\n")
    text = "".join(lines)
    return eol.join(text[i:i + width] for i in range(0, len(text), width))


@pytest.mark.parametrize("seed", range(60))
def test_assembled_base64_shapes_read_as_the_email_package_reads_them(seed):
    """Bodies of every shape around the kept-out run: LF or CRLF, line widths, blank lines after the body,
    a body ending without a line break, padding, broken padding and stray characters (the package's decoder
    then decides), a base64 text body, a forwarded message with its own attachment, a preamble and epilogue
    of base64-looking lines."""
    rnd = random.Random(seed)
    eol = rnd.choice(["\r\n", "\n"])
    boundary = "==b%d==" % seed

    def leaf(ctype: str, body: str, name: str | None) -> str:
        head = [f"Content-Type: {ctype}" + (f'; name="{name}"' if name else ""),
                "Content-Transfer-Encoding: base64"]
        if name:
            head.append(rnd.choice([f'Content-Disposition: attachment; filename="{name}"',
                                    f"Content-Disposition: attachment;filename={name}"]))
        return eol.join(head) + eol + eol + body + eol * rnd.choice([0, 1, 2, 3])

    def body() -> str:
        data = rnd.randbytes(rnd.choice([700, 1024, 3000, 9001, 20000]))
        text = _body_lines(data, rnd.choice([76, 64, 72, 4, 1000]), eol)
        damage = rnd.random()
        if damage < 0.15:
            text = text[:-1]  # not a whole number of quanta
        elif damage < 0.25:
            cut = len(text) // 2
            text = text[:cut] + "=" + text[cut:]  # padding inside
        elif damage < 0.3:
            cut = len(text) // 3
            text = text[:cut] + "*" + text[cut:]  # a character outside the alphabet
        return text

    parts = [leaf('text/plain; charset="utf-8"', _body_lines(("Tere, õ ä ö ü. " * rnd.choice([3, 90, 400])).encode(),
                                                               76, eol), None)]
    for i in range(rnd.randint(1, 3)):
        parts.append(leaf(rnd.choice(["application/pdf", "application/octet-stream", "text/plain"]), body(),
                          rnd.choice([f"lisa{i}.pdf", f"Lisa {i}.xlsx", None])))
    if rnd.random() < 0.4:
        inner = eol.join([f"From: a@b.ee", "Subject: sisemine", "MIME-Version: 1.0",
                          f'Content-Type: multipart/mixed; boundary="in{seed}"', "", f"--in{seed}",
                          leaf("application/pdf", body(), "sisemine.pdf"), f"--in{seed}--", ""])
        parts.append("Content-Type: message/rfc822" + eol + eol + inner)
    looks = _body_lines(rnd.randbytes(900), 76, eol)
    preamble = looks + eol if rnd.random() < 0.3 else ""
    epilogue = eol + looks + eol if rnd.random() < 0.3 else ""
    top = eol.join(["From: Mari <mari@firma.ee>", "To: hange@ska.ee", "Subject: Pakkumus", "MIME-Version: 1.0",
                    f'Content-Type: multipart/mixed; boundary="{boundary}"', "", ""])
    raw = (top + preamble + "".join(f"--{boundary}{eol}{p}{eol}" for p in parts) + f"--{boundary}--" + epilogue)
    if rnd.random() < 0.2:  # a single-part message: the whole body is the run
        raw = eol.join(["From: a@b.ee", "Content-Type: application/pdf", "Content-Transfer-Encoding: base64", "",
                        body()]) + eol * rnd.choice([0, 1, 2])
    _same_reading(raw.encode())


def test_a_kept_out_body_reads_as_the_package_after_changes():
    pdf = base64.encodebytes(random.Random(3).randbytes(30_000)).decode()
    raw = ("From: a@b.ee\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"xx\"\n\n"
           "--xx\nContent-Type: text/plain\n\nTere\n--xx\nContent-Type: application/pdf; name=\"a.pdf\"\n"
           "Content-Transfer-Encoding: base64\n\n" + pdf + "\n--xx--\n").encode()
    ours, theirs = _parse_tree(raw), BytesParser(policy=policy.default).parsebytes(raw)
    mine, reference = ours.get_payload()[1], theirs.get_payload()[1]
    assert part_body(mine) is not None and _reads(mine) == _reads(reference)
    changes = [
        lambda p: p.__setitem__("X-Uus", "1"),
        lambda p: p.replace_header("Content-Type", 'application/zip; name="b.zip"'),
        lambda p: p.set_param("charset", "utf-8"),
        lambda p: p.del_param("name"),
        lambda p: p.replace_header("Content-Transfer-Encoding", "7bit"),
        lambda p: p.replace_header("Content-Transfer-Encoding", "base64"),
        lambda p: p.__delitem__("Content-Transfer-Encoding"),
        lambda p: p.__setitem__("Content-Transfer-Encoding", "quoted-printable"),
        lambda p: p.set_payload("uus=3Dsisu\n"),
        lambda p: p.set_type("text/plain"),
        lambda p: p.set_raw("X-Toores", "v"),
    ]
    for change in changes:
        change(mine)
        change(reference)
        assert _reads(mine) == _reads(reference)
    top_changes = [lambda m: m.set_boundary("yy"), lambda m: m.__delitem__("Subject"),
                   lambda m: m.add_header("Subject", "uus", x="y")]
    for change in top_changes:
        change(ours)
        change(theirs)
        assert _reads(ours) == _reads(theirs)


def test_header_reads_follow_every_change_to_the_header_list():
    ours, theirs = IndexedMessage(policy=policy.default), EmailMessage(policy=policy.default)
    steps = [lambda m: m.__setitem__("Subject", "üks"), lambda m: m.__setitem__("Received", "a"),
             lambda m: m.__setitem__("received", "b"),
             lambda m: m.replace_header("SUBJECT", "kolm"), lambda m: m.__delitem__("Subject"),
             lambda m: m.__setitem__("Content-Type", "text/plain; charset=utf-8"),
             lambda m: m.set_param("format", "flowed"), lambda m: m.set_payload("tekst"),
             lambda m: m.set_charset("utf-8"), lambda m: m.clear(), lambda m: m.__setitem__("Subject", "neli")]
    for step in steps:
        step(ours)
        step(theirs)
        assert _reads(ours) == _reads(theirs)
