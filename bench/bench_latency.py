"""Notification latency: the service running (run_service: IMAP IDLE listener, scheduler, receipts, and with
no bot token the console outbox worker), bids delivered one at a time over LMTP, spaced 0.2-0.5 s apart.
Measured per bid: delivery done (LMTP answered) -> its 'new_bid' Notification row marked sent.
Prints p50, p95, max and where the time goes (goal: p95 < 2 s with IDLE).

    .venv/bin/python bench/bench_latency.py --n 200
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import (  # noqa: E402
    mail_dir,
    EXPERT, EXPERT_PW, MAILBOX, MAILBOX_PW, BidFactory, future_deadline, make_bidders, message_id,
    open_bench_context, write_config)


class StampedStream(io.TextIOBase):
    """Stands in for stdout while the service runs: keeps the console notifications with a timestamp each."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    def write(self, s: str) -> int:
        self.writes.append((time.time(), s))
        return len(s)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank on the sorted values)."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, round(p / 100 * len(v) + 0.5) - 1))
    return v[k]


def _say(text: str) -> None:
    sys.__stdout__.write(text + "\n")
    sys.__stdout__.flush()


async def _wait_sent(ctx, mids: list[str], timeout: float) -> dict[str, dict]:
    """Poll the database until the new_bid notification of every message is sent (or the timeout)."""
    from hankebot.storage.tables import InboundMessage, Notification
    from sqlmodel import col, select

    t0 = time.monotonic()
    while True:
        with ctx.uow() as uow:
            rows = uow.session.exec(select(InboundMessage).where(col(InboundMessage.message_id).in_(mids))).all()
            keys = {f"in:{r.id}@0": r for r in rows}
            notes = uow.session.exec(select(Notification).where(col(Notification.dedupe_key).in_(list(keys)))).all()
            out = {}
            for n in notes:
                r = keys[n.dedupe_key]
                if n.state == "sent":
                    out[r.message_id] = {"stored_at": r.stored_at, "processed_at": r.processed_at,
                                         "sent_at": n.sent_at, "kind": n.kind}
        if len(out) == len(mids) or time.monotonic() - t0 > timeout:
            return out
        await asyncio.sleep(0.25)


async def _drive(server, ctx, factory: BidFactory, n: int, gap: tuple[float, float], seed: int) -> dict:
    from hankebot.app import frontend
    from hankebot.service.runner import run_service

    stop = asyncio.Event()
    service = asyncio.create_task(run_service(ctx, stop, frontend, with_imap=True))
    rnd = random.Random(seed)
    delivered: dict[str, tuple[float, float]] = {}
    try:
        # warm-up: one bid (not counted) proves the listener is in IDLE and the outbox worker runs
        warm = message_id(10**6)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.deliver, MAILBOX, factory.message(10**6))
        got = await _wait_sent(ctx, [warm], 30)
        if warm not in got:
            raise RuntimeError("warm-up bid was not notified within 30 s: is the service running?")
        t_start = time.time()
        for i in range(n):
            raw = factory.message(i)
            t0 = time.time()
            await asyncio.to_thread(server.deliver, MAILBOX, raw)
            delivered[message_id(i)] = (t0, time.time())
            if (i + 1) % 50 == 0:
                _say(f"  delivered {i + 1}/{n}")
            await asyncio.sleep(rnd.uniform(*gap))
        got = await _wait_sent(ctx, list(delivered), 60)
        return {"delivered": delivered, "sent": got, "wall_s": time.time() - t_start}
    finally:
        stop.set()
        await asyncio.wait_for(service, 30)


def run(n: int = 200, gap: tuple[float, float] = (0.2, 0.5), bidders: int = 25, seed: int = 1,
        keep: bool = False) -> dict:
    from hankebot.devstack.mailserver import MailServer

    os.environ.pop("HANKEBOT_TELEGRAM_TOKEN", None)  # no bot: the service runs the console outbox worker
    bl = make_bidders(bidders)
    base = Path(tempfile.mkdtemp(prefix="hbb-lat-", dir="/tmp"))
    base.chmod(0o755)  # the mail daemons drop privileges and must traverse it
    users = {MAILBOX: MAILBOX_PW, EXPERT: EXPERT_PW, **{b.email: "bidder-pw" for b in bl}}  # receipts land
    server = MailServer(mail_dir(base), users=users)
    res: dict = {"bench": "latency", "n": n, "gap_s": list(gap)}
    ctx = None
    console = StampedStream()
    try:
        factory = BidFactory(bl, templates=50)
        server.start()
        cfg = write_config(base / "svc", server.imap_port, server.smtp_port, bl, future_deadline(), idle=True)
        ctx = open_bench_context(cfg)
        with contextlib.redirect_stdout(console):
            out = asyncio.run(_drive(server, ctx, factory, n, gap, seed))
        lat, to_store, to_process, to_send = [], [], [], []
        for mid, (t0, t1) in out["delivered"].items():
            s = out["sent"].get(mid)
            if s is None:
                continue
            sent, stored, processed = (x.timestamp() for x in (s["sent_at"], s["stored_at"], s["processed_at"]))
            lat.append(sent - t1)
            to_store.append(stored - t1)
            to_process.append(processed - stored)
            to_send.append(sent - processed)
        res.update(notified=len(lat), missing=n - len(lat), wall_s=out["wall_s"],
                   console_writes=len(console.writes))
        if lat:
            res.update(p50_s=statistics.median(lat), p95_s=pct(lat, 95), max_s=max(lat), mean_s=statistics.fmean(lat),
                       stage_p50_s={"delivered->stored (IDLE wake + fetch + store_raw)": statistics.median(to_store),
                                    "stored->processed (process_pending)": statistics.median(to_process),
                                    "processed->sent (outbox poll 0.5 s + print)": statistics.median(to_send)},
                       stage_p95_s={"delivered->stored": pct(to_store, 95), "stored->processed": pct(to_process, 95),
                                    "processed->sent": pct(to_send, 95)})
            res["goal"] = "p95 < 2 s with IDLE"
            res["goal_met"] = res["p95_s"] < 2.0 and res["missing"] == 0
        return res
    finally:
        if ctx is not None:
            ctx.engine.dispose()
        try:
            server.stop()
        finally:
            if not keep:
                shutil.rmtree(base, ignore_errors=True)


def report(res: dict) -> str:
    if not res.get("notified"):
        return f"latency: no notification arrived for {res['n']} bids"
    lines = [f"latency, {res['n']} bids one at a time ({res['gap_s'][0]}-{res['gap_s'][1]} s apart, IDLE), "
             f"delivered -> notification sent:",
             f"  p50 {res['p50_s']:.2f} s   p95 {res['p95_s']:.2f} s   max {res['max_s']:.2f} s   "
             f"(mean {res['mean_s']:.2f} s; notified {res['notified']}/{res['n']})",
             f"  goal p95 < 2 s: {'MET' if res['goal_met'] else 'NOT MET'}",
             "  stages (p50 / p95):"]
    for (name, v), v95 in zip(res["stage_p50_s"].items(), res["stage_p95_s"].values()):
        lines.append(f"    {name}: {v:.2f} / {v95:.2f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--min-gap", type=float, default=0.2)
    ap.add_argument("--max-gap", type=float, default=0.5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    print(machine_line(), flush=True)
    res = run(a.n, (a.min_gap, a.max_gap), keep=a.keep)
    return finish(res, report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
