"""Peak memory of ingesting: one message with a 25 MB attachment, and batches of 100 / 1,000 bids.

Each case gets its own Dovecot mailbox and a fresh Python subprocess that runs the service's listener
wiring (runner.make_listener: fetch in chunks of 25 + store_raw + process_pending into SQLite) once over
the mailbox, so peaks do not mix. Peak RSS is the subprocess's VmHWM (/proc/self/status); 'base' is its peak
after the imports and opening the database, before the first fetch. Goal: under 200 MB, flat as N grows.

ru_maxrss is recorded too but is not the figure: on Linux it carries over the RSS the forked child inherited
from this (large) parent process before exec, e.g. 324 MB reported for a 128 MB child.

    .venv/bin/python bench/bench_memory.py
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import (  # noqa: E402
    mail_dir,
    EXPERT, EXPERT_PW, MAILBOX, MAILBOX_PW, BidFactory, future_deadline, large_attachment_message, make_bidders,
    write_config, write_maildir)

ATTACHMENT_BYTES = 25 * 1000 * 1000  # 25 MB (the default per-file limit is 25 MiB, so it is read, not refused)
LIMIT_MB = 200


def _vm(field: str) -> int:
    """VmHWM / VmRSS of this process in KiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(config: Path) -> dict:
    """Runs in the subprocess: one sync of the whole mailbox through the service's listener."""
    from hankebot.mailer.imap_listener import connect
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context
    from hankebot.service.runner import make_listener
    from hankebot.storage.tables import Bid, InboundMessage
    from sqlmodel import select

    ctx = open_context(load_config(config))
    listener = make_listener(ctx)
    assert listener is not None
    base_kib = _vm("VmHWM")
    t0 = time.perf_counter()
    box = connect(listener.ep)
    try:
        stored = listener.sync_once(box)
        listener.after_batch()
    finally:
        box.logout()
    seconds = time.perf_counter() - t0
    with ctx.uow() as uow:
        processed = uow.repo.count(InboundMessage, InboundMessage.state == "processed")
        bids = uow.repo.count(Bid)
        rows = uow.session.exec(select(InboundMessage)).all()
        problems = sorted({p.get("code") for m in rows for p in (m.problems or [])})
    return {"stored": stored, "processed": processed, "bids": bids, "seconds": seconds, "problem_codes": problems,
            "base_peak_mb": base_kib / 1024, "peak_mb": _vm("VmHWM") / 1024,
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "end_rss_mb": _vm("VmRSS") / 1024}


def run_case(name: str, messages: list[bytes], keep: bool = False) -> dict:
    """A fresh mail server holding `messages`, and a fresh subprocess ingesting them."""
    from hankebot.devstack.mailserver import MailServer

    base = Path(tempfile.mkdtemp(prefix="hbb-mem-", dir="/tmp"))
    base.chmod(0o755)  # the mail daemons drop privileges and must traverse it
    server = MailServer(mail_dir(base), users={MAILBOX: MAILBOX_PW, EXPERT: EXPERT_PW})
    try:
        server.start()
        write_maildir(server, MAILBOX, messages)
        with server.mailbox(MAILBOX) as mb:  # Dovecot indexes the new files now, not during the measurement
            mb.folder.set("INBOX")
        cfg = write_config(base / "svc", server.imap_port, server.smtp_port, make_bidders(100), future_deadline())
        proc = subprocess.run([sys.executable, __file__, "--child", str(cfg)], capture_output=True, text=True,
                              timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"case {name}: child failed:\n{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out.update(case=name, messages=len(messages), mailbox_mb=round(sum(map(len, messages)) / 1e6, 1))
        return out
    finally:
        try:
            server.stop()
        finally:
            if not keep:
                shutil.rmtree(base, ignore_errors=True)


def run(batches: tuple[int, ...] = (100, 1000), keep: bool = False) -> dict:
    bidders = make_bidders(100)
    factory = BidFactory(bidders)
    cases = [run_case("empty mailbox (imports + database only)", []),
             run_case("1 message, 25 MB attachment", [large_attachment_message(bidders[0], ATTACHMENT_BYTES)])]
    for n in batches:
        cases.append(run_case(f"{n} bids", [factory.message(i) for i in range(n)], keep))
    worst = max(c["peak_mb"] for c in cases)
    return {"bench": "memory", "cases": cases, "worst_peak_mb": worst, "goal": f"peak RSS under {LIMIT_MB} MB",
            "goal_met": worst < LIMIT_MB}


def report(res: dict) -> str:
    lines = ["memory: peak RSS of a fresh ingest process (listener fetch + store_raw + process_pending)",
             f"  {'case':<42} {'mailbox':>9} {'base':>8} {'peak':>8} {'ingest':>8}  result"]
    for c in res["cases"]:
        lines.append(f"  {c['case']:<42} {c['mailbox_mb']:>6.1f} MB {c['base_peak_mb']:>5.0f} MB {c['peak_mb']:>5.0f} MB "
                     f"{c['seconds']:>6.1f} s  processed {c['processed']}, bids {c['bids']}"
                     + (f", problems {', '.join(c['problem_codes'])}" if c["problem_codes"] else ""))
    lines.append("  (peak = VmHWM of the subprocess; ru_maxrss is in the JSON but includes the forked parent's RSS)")
    lines.append(f"  worst peak {res['worst_peak_mb']:.0f} MB -> goal < {LIMIT_MB} MB "
                 f"{'MET' if res['goal_met'] else 'NOT MET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="*", default=[100, 1000], help="batch sizes (default 100 1000)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child)))
        return 0
    print(machine_line(), flush=True)
    res = run(tuple(a.batches), a.keep)
    return finish(res, report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
