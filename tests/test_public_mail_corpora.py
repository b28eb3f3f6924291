"""Other projects' public mail corpora through Hankebot's reading of a message.

- flufl.bounce (Mailman's bounce corpus, from its PyPI sdist): every failure it lists is recognised as a
  bounce with the listed addresses; its delay warnings are not failures. Recall is printed (README).
- CPython's email test messages (the interpreter's test package or Debian's libpython3.11-testsuite),
  mail-parser's and talon's test messages (their PyPI sdists): with a configured procurement and no
  thread of ours, none becomes a bid, question, decline or bounce of the procurement, and none crashes.

The sdists are downloaded at test time with `pip download` into a cache directory (never copied into the
repository). Missing in CI fails (conftest's `_unavailable`)."""
from __future__ import annotations

import ast
import glob
import os
import subprocess
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import _unavailable

from hankebot.core.models import MessageKind
from hankebot.mailer.mime import parse_message
from hankebot.service.config import load_config
from hankebot.service.extract import extract

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("HANKEBOT_CORPUS_CACHE", Path.home() / ".cache" / "hankebot-corpora"))
SENT = datetime(2026, 1, 5, 8, 41, tzinfo=timezone.utc)


def _sdist(name: str) -> Path:
    """The unpacked sdist of `name` (downloaded once into CACHE)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"{name.replace('.', '_').replace('-', '_')}-*.tar.gz"))
    if not found:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                            "-d", str(CACHE), name], capture_output=True, text=True, timeout=300)
        found = sorted(CACHE.glob(f"{name.replace('.', '_').replace('-', '_')}-*.tar.gz"))
        if r.returncode != 0 or not found:
            _unavailable(f"cannot download the {name} sdist: {r.stderr.strip()[-300:]}")
    archive = found[-1]
    target = CACHE / archive.name[: -len(".tar.gz")]
    if not target.is_dir():
        with tarfile.open(archive) as t:
            t.extractall(CACHE, filter="data")
    return target


def _flufl_cases() -> list[tuple[str, set[str], bool]]:
    """(file, expected addresses, is a delay warning) from flufl.bounce's own DETECTORS table."""
    tests = _sdist("flufl.bounce") / "tests"
    tree = ast.parse((tests / "test_detectors.py").read_text("utf-8"))
    table = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                 and getattr(n.targets[0], "id", "") == "DETECTORS")
    out = {}
    for _module, filename, expected, temporary in ast.literal_eval(table):
        addrs = {a.decode().lower() for a in expected}
        if addrs:
            prev = out.get(filename, (set(), temporary))
            out[filename] = (prev[0] | addrs, temporary)
    return [(f, a, t) for f, (a, t) in sorted(out.items())]


def test_flufl_bounce_corpus_recall():
    data = _sdist("flufl.bounce") / "tests" / "data"
    cases = _flufl_cases()
    assert len(cases) >= 100
    detected = addressed = right_kind = 0
    misses = []
    for filename, expected, temporary in cases:
        p = parse_message((data / filename).read_bytes())
        if p.bounce is None:
            misses.append(filename)
            continue
        detected += 1
        addressed += expected <= set(p.bounce.failed_recipients)
        right_kind += p.bounce.permanent == (not temporary)
        kind = extract_kind(data / filename)
        assert kind in (MessageKind.BOUNCE, MessageKind.AUTO_REPLY, MessageKind.OTHER), (filename, kind)
    n = len(cases)
    print(f"\nflufl.bounce corpus: {n} reports; recognised {detected}/{n}, the listed addresses {addressed}/{n}, "
          f"failure vs delay right {right_kind}/{n}")
    assert not misses
    assert addressed >= n - 2 and right_kind == n


def _ordinary_messages() -> list[Path]:
    out: list[Path] = []
    try:
        import test.test_email as cpython_email_tests  # only to find its data directory

        here = Path(cpython_email_tests.__file__).parent / "data"
    except ImportError:
        here = None
    dirs = [here] if here and here.is_dir() else [Path(d) for d in glob.glob("/usr/lib/python3*/test/test_email/data")]
    if not dirs:
        _unavailable("CPython's email test messages (install libpython3.11-testsuite)")
    out += sorted(p for p in dirs[0].glob("msg_*.txt"))
    out += sorted((_sdist("mail-parser") / "tests" / "mails").glob("mail_*"))
    out += sorted((_sdist("talon") / "tests" / "fixtures").rglob("*.eml"))
    return out


_CFG = None


def extract_kind(path: Path) -> MessageKind:
    return _extract(path).kind


def _extract(path: Path):
    global _CFG
    if _CFG is None:
        _CFG = load_config(ROOT / "config.toml")
    return extract(_CFG, path.read_bytes(), datetime(2026, 1, 12, 10, tzinfo=timezone.utc),
                   invitations={}, invitations_sent={p.key: SENT for p in _CFG.settings.procurements})


def test_public_messages_never_become_events_of_a_procurement():
    paths = _ordinary_messages()
    assert len(paths) >= 80
    kinds: dict[str, int] = {}
    bounces = set()
    for path in paths:
        ex = _extract(path)
        kinds[ex.kind.value] = kinds.get(ex.kind.value, 0) + 1
        if ex.kind is MessageKind.BOUNCE:
            bounces.add(path.name)
        if ex.procurement is not None:
            assert ex.kind not in (MessageKind.BID, MessageKind.QUESTION, MessageKind.DECLINE, MessageKind.BOUNCE), \
                (path.name, ex.kind, ex.classification.reasons, ex.assignment)
        assert ex.kind not in (MessageKind.BID, MessageKind.QUESTION, MessageKind.DECLINE), \
            (path.name, ex.kind, ex.classification.reasons)
    print(f"\npublic mail corpora: {len(paths)} messages, kinds {dict(sorted(kinds.items()))}")
    # bounce false positives: the only "bounces" are the corpora's own delivery reports (a DSN from
    # postmaster@ucla.edu, "Returned mail: Too many hops", amavis' "Banned file", "Delivery failure" from a postmaster)
    assert bounces <= {"msg_16.txt", "msg_25.txt", "msg_43.txt", "mail_malformed_2"}, bounces


@pytest.mark.parametrize("name", ["msg_01.txt"])
def test_an_ordinary_message_in_our_thread_is_still_read(name, tmp_path):
    """The corpus check is not vacuous: the same kind of mail, as a reply naming the procurement, is an event."""
    raw = (b"From: Mari <mari@firma.ee>\nTo: hange@example.ee\nSubject: RE: hange 302834\n"
           b"Message-ID: <q1@firma.ee>\n\nTere! Kas koolitus toimub Tallinnas?\n")
    path = tmp_path / name
    path.write_bytes(raw)
    assert _extract(path).kind is MessageKind.QUESTION
