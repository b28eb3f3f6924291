"""Ingest throughput: a real Dovecot holding N bid messages (offer form .docx + cost form .xlsx each).

(a) the floor: a bare imaplib fetch of the whole mailbox (UID FETCH BODY.PEEK[] in chunks, bytes only);
(b) the full pipeline: the service's own ImapListener.sync_once (fetch + store_raw + process_pending per
    chunk: classify, read the forms, bids, notifications) into SQLite.
Prints messages/s for both and the ratio (goal: the pipeline within 2x of the bare fetch).

    .venv/bin/python bench/bench_ingest.py --n 1000
"""
from __future__ import annotations

import argparse
import imaplib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import (  # noqa: E402
    mail_dir,
    EXPERT, EXPERT_PW, MAILBOX, MAILBOX_PW, BidFactory, future_deadline, make_bidders, open_bench_context,
    write_config, write_maildir)

PROBE = "lmtpprobe@example.test"


def bare_fetch(host: str, port: int, user: str, password: str, chunk: int) -> tuple[float, int, int]:
    """Login, SELECT, UID SEARCH ALL, then UID FETCH (BODY.PEEK[]) in chunks. Returns (seconds, messages, bytes)."""
    t0 = time.perf_counter()
    c = imaplib.IMAP4(host, port, timeout=120)
    c.login(user, password)
    c.select("INBOX", readonly=True)
    typ, data = c.uid("SEARCH", None, "ALL")
    uids = (data[0] or b"").split()
    n = size = 0
    for i in range(0, len(uids), chunk):
        typ, data = c.uid("FETCH", b",".join(uids[i:i + chunk]).decode(), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                n += 1
                size += len(item[1])
    c.logout()
    return time.perf_counter() - t0, n, size


def first_select(host: str, port: int, user: str, password: str) -> float:
    """Dovecot indexes a Maildir full of new files on the first SELECT: done (and timed) before the runs."""
    t0 = time.perf_counter()
    c = imaplib.IMAP4(host, port, timeout=600)
    c.login(user, password)
    c.select("INBOX", readonly=False)  # read-write: new/ files move to cur/ and get UIDs
    c.logout()
    return time.perf_counter() - t0


def pipeline(config_path: Path, chunk: int) -> dict:
    """The service's listener wiring (runner.make_listener) run once over the whole mailbox, with timers
    around its store and after_batch callbacks (store_raw and process_pending)."""
    from hankebot.mailer.imap_listener import connect
    from hankebot.service.runner import make_listener
    from hankebot.storage.tables import Bid, InboundMessage, Notification

    ctx = open_bench_context(config_path)
    try:
        listener = make_listener(ctx)
        assert listener is not None
        listener.chunk = chunk
        spent = {"store": 0.0, "process": 0.0}
        store, after = listener.store, listener.after_batch

        def timed_store(m):
            t = time.perf_counter()
            store(m)
            spent["store"] += time.perf_counter() - t

        def timed_after():
            t = time.perf_counter()
            after()
            spent["process"] += time.perf_counter() - t

        listener.store, listener.after_batch = timed_store, timed_after
        t0 = time.perf_counter()
        box = connect(listener.ep)
        try:
            stored = listener.sync_once(box)
            listener.after_batch()  # as run_blocking does after each sync
        finally:
            box.logout()
        total = time.perf_counter() - t0
        with ctx.uow() as uow:
            r = uow.repo
            states = {s: r.count(InboundMessage, InboundMessage.state == s)
                      for s in ("stored", "processed", "duplicate", "quarantined", "own_copy")}
            bids = r.count(Bid)
            priced = r.count(Bid, Bid.price != None)  # noqa: E711
            notes = r.count(Notification)
        db = Path(str(ctx.engine.url.database))
        return {"seconds": total, "stored": stored, "store_s": spent["store"], "process_s": spent["process"],
                "fetch_s": total - spent["store"] - spent["process"], "states": {k: v for k, v in states.items() if v},
                "bids": bids, "bids_with_price": priced, "notifications": notes,
                "db_mb": round(db.stat().st_size / 1e6, 1) if db.exists() else None}
    finally:
        ctx.engine.dispose()


def run(n: int, deliver: str = "maildir", chunk: int = 25, lmtp_sample: int = 200, bidders: int = 100,
        keep: bool = False) -> dict:
    from hankebot.devstack.mailserver import MailServer

    base = Path(tempfile.mkdtemp(prefix="hbb-ing-", dir="/tmp"))
    base.chmod(0o755)  # the mail daemons drop privileges and must traverse it
    server = MailServer(mail_dir(base), users={MAILBOX: MAILBOX_PW, EXPERT: EXPERT_PW, PROBE: "probe-pw"})
    res: dict = {"bench": "ingest", "n": n, "deliver": deliver, "chunk": chunk}
    try:
        t = time.perf_counter()
        factory = BidFactory(make_bidders(bidders))
        msgs = [factory.message(i) for i in range(n)]
        res["generate_s"] = time.perf_counter() - t
        res["mb"] = round(sum(map(len, msgs)) / 1e6, 1)
        server.start()

        # how fast each way of filling the mailbox is (LMTP measured on a sample into another mailbox)
        k = min(lmtp_sample, n)
        t = time.perf_counter()
        for raw in msgs[:k]:
            server.deliver(PROBE, raw)
        res["lmtp_msgs_per_s"] = k / (time.perf_counter() - t)
        if deliver == "lmtp":
            t = time.perf_counter()
            for raw in msgs:
                server.deliver(MAILBOX, raw)
            res["deliver_s"] = time.perf_counter() - t
        else:
            t = time.perf_counter()
            write_maildir(server, MAILBOX, msgs)
            res["deliver_s"] = time.perf_counter() - t
            res["maildir_msgs_per_s"] = n / res["deliver_s"]
        del msgs
        res["first_select_s"] = first_select(server.imap_host, server.imap_port, MAILBOX, MAILBOX_PW)

        runs = [bare_fetch(server.imap_host, server.imap_port, MAILBOX, MAILBOX_PW, chunk) for _ in range(2)]
        res["bare_runs_s"] = [r[0] for r in runs]
        bare_s, bare_n, bare_bytes = min(runs)
        res.update(bare_s=bare_s, bare_msgs=bare_n, bare_mb=round(bare_bytes / 1e6, 1), bare_msgs_per_s=bare_n / bare_s)

        cfg = write_config(base / "svc", server.imap_port, server.smtp_port, make_bidders(bidders), future_deadline())
        p = pipeline(cfg, chunk)
        res["pipeline"] = p
        res["pipeline_msgs_per_s"] = p["stored"] / p["seconds"]
        res["ratio"] = p["seconds"] / bare_s
        res["goal"] = "pipeline within 2x of the bare fetch"
        res["goal_met"] = res["ratio"] <= 2.0
        return res
    finally:
        try:
            server.stop()
        finally:
            if not keep:
                shutil.rmtree(base, ignore_errors=True)


def report(res: dict) -> str:
    p = res["pipeline"]
    lines = [
        f"ingest, N = {res['n']} bid messages ({res['mb']} MB; built in {res['generate_s']:.1f} s)",
        f"  fill mailbox ({res['deliver']}): {res['deliver_s']:.1f} s"
        + (f" = {res['maildir_msgs_per_s']:.0f} msg/s" if "maildir_msgs_per_s" in res else "")
        + f"; LMTP sample: {res['lmtp_msgs_per_s']:.0f} msg/s; Dovecot first SELECT: {res['first_select_s']:.1f} s",
        f"  (a) bare fetch     : {res['bare_s']:7.2f} s  {res['bare_msgs_per_s']:7.0f} msg/s"
        f"  (runs {', '.join(f'{x:.2f}' for x in res['bare_runs_s'])} s; best used)",
        f"  (b) full pipeline  : {p['seconds']:7.2f} s  {res['pipeline_msgs_per_s']:7.0f} msg/s"
        f"  (fetch {p['fetch_s']:.1f} s, store_raw {p['store_s']:.1f} s, process_pending {p['process_s']:.1f} s)",
        f"  ratio pipeline/bare: {res['ratio']:.1f}x  -> goal <= 2x {'MET' if res['goal_met'] else 'NOT MET'}",
        f"  result: {p['states']}, bids {p['bids']} (with price {p['bids_with_price']}), "
        f"notifications {p['notifications']}, SQLite {p['db_mb']} MB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--deliver", choices=["maildir", "lmtp"], default="maildir")
    ap.add_argument("--chunk", type=int, default=25, help="UIDs per FETCH (the listener's default is 25)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args(argv)
    print(machine_line(), flush=True)
    res = run(a.n, a.deliver, a.chunk, keep=a.keep)
    return finish(res, report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
