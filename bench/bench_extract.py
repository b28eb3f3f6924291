"""Per-message extraction cost against a floor pipeline, side by side on the same realistic mix.

The floor is the least any reader must do with the same messages: the `email` package with the compat32
policy (every part's body decoded), zip and ASiC-E containers opened and every member read, every cell of
every .xlsx/.xls/.ods sheet through python-calamine, `word/document.xml` of every .docx through lxml (every
text node visited), the XML of every signature file through lxml, the text of every PDF through pypdf.
Ours is `hankebot.service.extract.extract()` on the same bytes (classification, matching, forms, prices,
signature validation and all); "before" is the same call inside `reference_readers()` (the readers as they
were before the speed work, kept for the old-vs-new test). All three run in this process, message by
message interleaved, `--repeat` times, the garbage collector run before each call and off during it (as
timeit does); the figure per message is its fastest run. Goal (issue #18): ours within 2x of the floor
over the mix.

    .venv/bin/python bench/bench_extract.py [--rounds 2] [--repeat 5] [--profile]
"""
from __future__ import annotations

import argparse
import gc
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import MAILBOX, PROC_KEY, make_bidders, write_config  # noqa: E402

from hankebot.devstack.mail_mix import (  # noqa: E402
    CATEGORIES, INVITATIONS_SENT, MixBidder, build_mix, invitation_id)
from hankebot.devstack.signing import LocalPKI  # noqa: E402

GOAL = 2.0


# --- the floor -------------------------------------------------------------------------------------

def _floor_file(name: str, data: bytes, depth: int = 0) -> int:
    """Read one file the cheapest complete way; returns a count of what was read (kept so nothing is
    optimised away)."""
    lower = name.lower()
    if data[:4] == b"PK\x03\x04" and depth < 3:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = zf.namelist()
        except zipfile.BadZipFile:
            return len(data)
        if "word/document.xml" in names:
            from lxml import etree

            root = etree.fromstring(zf.read("word/document.xml"))
            return sum(len(t.text or "") for t in root.iter("{*}t"))
        if any(n.startswith("xl/") for n in names) or lower.endswith(".ods"):
            return _floor_sheet(data)
        n = 0
        for member in names:
            if member.endswith("/"):
                continue
            content = zf.read(member)
            if member.startswith("META-INF/") and "signature" in member.lower():
                from lxml import etree

                n += sum(1 for _ in etree.fromstring(content).iter())
            elif member != "mimetype" and not member.startswith("META-INF/"):
                n += _floor_file(member, content, depth + 1)
        return n
    if data[:5] == b"%PDF-":
        from pypdf import PdfReader

        try:
            return sum(len(p.extract_text() or "") for p in PdfReader(io.BytesIO(data), strict=False).pages[:20])
        except Exception:  # noqa: BLE001
            return len(data)
    if lower.endswith((".xls", ".ods")):
        return _floor_sheet(data)
    return len(data)


def _floor_sheet(data: bytes) -> int:
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        return sum(len(row) for name in wb.sheet_names for row in wb.get_sheet_by_name(name).to_python())
    except Exception:  # noqa: BLE001
        return len(data)


def floor(raw: bytes) -> int:
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.compat32)
    n = len(msg.get("subject", "")) + len(msg.get("from", ""))
    for part in msg.walk():
        if part.is_multipart():
            continue
        body = part.get_payload(decode=True) or b""
        name = part.get_filename()
        if name:
            n += _floor_file(name, body)
        else:
            n += len(body)
    return n


# --- the run ---------------------------------------------------------------------------------------

BIDDERS = 12


def _timed(call) -> float:
    """Seconds of one call, with the garbage collector run before and off during it (as timeit does), so a
    collection of the other pipelines' garbage does not land in this one's figure."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        call()
        return time.perf_counter() - t
    finally:
        gc.enable()


def _setup(base: Path, rounds: int):
    """The mix from 12 invited bidders (one in four a natural person) and a config for them: the shipped
    procurement, the test PKI's trust anchors for the signed bids."""
    from datetime import datetime, timezone

    from hankebot.service.config import load_config

    people = make_bidders(BIDDERS)
    path = write_config(base, 1143, 1025, people, datetime(2026, 1, 19, 13, 0, tzinfo=timezone.utc))
    pki = LocalPKI()
    pki.write_trust_dir(base / "trust")
    path.write_text(path.read_text("utf-8") + '\n[signatures]\ntrust_dir = "trust"\n', "utf-8")
    messages = build_mix([MixBidder(b.key, b.name, b.email, b.person_type) for b in people], MAILBOX, pki, rounds)
    return messages, load_config(path)


def run(rounds: int, repeat: int, profile: bool) -> dict:
    from hankebot.mailer.reference import reference_readers
    from hankebot.service.extract import extract

    with tempfile.TemporaryDirectory(prefix="hankebot-bench-extract-") as tmp:
        messages, cfg = _setup(Path(tmp), rounds)
        invitations = {invitation_id(i): PROC_KEY for i in range(BIDDERS)}
        sent = {PROC_KEY: INVITATIONS_SENT}

        def ours(m):
            return extract(cfg, m.raw, m.received, invitations, None, sent)

        for m in messages:  # warm up: imports, the template cache, the trust store
            ours(m)
            floor(m.raw)
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for m in messages:
                ours(m)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
        best_floor = [float("inf")] * len(messages)
        best_ours = [float("inf")] * len(messages)
        best_ref = [float("inf")] * len(messages)
        for _ in range(repeat):
            for i, m in enumerate(messages):
                best_floor[i] = min(best_floor[i], _timed(lambda: floor(m.raw)))
                best_ours[i] = min(best_ours[i], _timed(lambda: ours(m)))
                with reference_readers():
                    best_ref[i] = min(best_ref[i], _timed(lambda: ours(m)))
        kinds = {}
        for m in messages:
            kinds.setdefault(m.category, {})
            k = ours(m).kind.value
            kinds[m.category][k] = kinds[m.category].get(k, 0) + 1
    cats = []
    for c in CATEGORIES:
        idx = [i for i, m in enumerate(messages) if m.category == c]
        if not idx:
            continue
        f = sum(best_floor[i] for i in idx) * 1000 / len(idx)
        o = sum(best_ours[i] for i in idx) * 1000 / len(idx)
        ref = sum(best_ref[i] for i in idx) * 1000 / len(idx)
        cats.append({"category": c, "messages": len(idx), "floor_ms": round(f, 3), "ours_ms": round(o, 3),
                     "ratio": round(o / f, 2), "reference_ms": round(ref, 3), "reference_ratio": round(ref / f, 2), "classified_as": kinds.get(c, {}),
                     "kb": round(sum(len(messages[i].raw) for i in idx) / len(idx) / 1024, 1)})
    f_all = sum(best_floor) * 1000 / len(best_floor)
    o_all = sum(best_ours) * 1000 / len(best_ours)
    r_all = sum(best_ref) * 1000 / len(best_ref)
    return {"messages": len(messages), "repeat": repeat, "floor_ms": round(f_all, 3), "ours_ms": round(o_all, 3),
            "reference_ms": round(r_all, 3), "reference_ratio": round(r_all / f_all, 2),
            "ratio": round(o_all / f_all, 2), "goal_ratio": GOAL, "goal_met": o_all / f_all <= GOAL,
            "categories": cats}


def report(r: dict) -> str:
    lines = [f"Extraction vs floor, {r['messages']} messages, fastest of {r['repeat']} runs each "
             f"({machine_line(r.get('machine'))})",
             f"{'category':<12} {'n':>4} {'KB':>6} {'floor ms':>9} {'ours ms':>9} {'ratio':>6} "
             f"{'before ms':>10} {'ratio':>6}  classified as"]
    for c in r["categories"]:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(c["classified_as"].items()))
        lines.append(f"{c['category']:<12} {c['messages']:>4} {c['kb']:>6} {c['floor_ms']:>9.2f} {c['ours_ms']:>9.2f} "
                     f"{c['ratio']:>5.1f}x {c['reference_ms']:>10.2f} {c['reference_ratio']:>5.1f}x  {kinds}")
    lines.append(f"{'all':<12} {r['messages']:>4} {'':>6} {r['floor_ms']:>9.2f} {r['ours_ms']:>9.2f} {r['ratio']:>5.1f}x "
                 f"{r['reference_ms']:>10.2f} {r['reference_ratio']:>5.1f}x")
    lines.append(f"goal: ours <= {r['goal_ratio']:.0f}x floor over the mix: {'met' if r['goal_met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="times over the mix (different bidders and prices)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per message; the fastest counts")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one pass of ours")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    return finish(run(a.rounds, a.repeat, a.profile), report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
