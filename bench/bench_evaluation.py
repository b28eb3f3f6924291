"""Evaluation speed on a SQLite database, after the opening:

1. one procurement, 7 parts x 25 graded bids: results() (price scores, grades, ranking) and the protocol
   (write_report: xlsx + pdf + png chart), cold (first call in the process) and warm;
2. 100 procurements, 10 graded bids each: results() for every one.
Bids, grades and their inbound rows are inserted straight into the database (set-up, not timed).

    .venv/bin/python bench/bench_evaluation.py
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import TALLINN, make_bidders, open_bench_context, write_config  # noqa: E402

DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)
AFTER = (DEADLINE + timedelta(days=1)).astimezone(timezone.utc)
LEVELS = (Decimal(30), Decimal(15), Decimal(5))
NAMES = {Decimal(30): "vastab täielikult", Decimal(15): "vastab osaliselt", Decimal(5): "ei vasta või vastab vähesel määral"}
JUSTIFICATION = "Õppematerjalid ja meetodid on kirjeldatud ning toetavad mooduli õpiväljundeid; hinnatud juhendi järgi."


def fill(ctx, proc_key: str, parts: list[int], seed: int = 0) -> int:
    """Every bidder bids on every part in `parts` (prices vary), both graded criteria graded. Returns bids."""
    from hankebot.storage.tables import Bid, Grade, InboundMessage

    n = 0
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(proc_key)
        p.state = "closed"
        repo.s.add(p)
        for j, b in enumerate(repo.bidders(p.id)):
            at = p.deadline - timedelta(hours=48) + timedelta(minutes=7 * j)
            msg = repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=j + 1 + seed * 1000, sha256=f"{seed:032x}{j:032x}",
                                          raw_path=f"x/{seed}-{j}.eml", received_at=at, state="processed", kind="bid",
                                          procurement_id=p.id, bidder_id=b.id, sender=b.email))
            for part in parts:
                price = Decimal(1500 + ((j * 37 + part * 11 + seed) % 60) * 75)
                bid = repo.add(Bid(procurement_id=p.id, bidder_id=b.id, sender=b.email, part_no=part,
                                   inbound_message_id=msg.id, received_at=at, price=price,
                                   price_basis="natural_total" if b.person_type == "natural" else "legal_with_vat",
                                   forms_found=["offer_form", "cost_form"], problems=[]))
                for k, crit in enumerate(("materials", "methods")):
                    pts = LEVELS[(j + part + k) % 3]
                    repo.s.add(Grade(bid_id=bid.id, criterion_key=crit, points=pts, level_name=NAMES[pts],
                                     justification=JUSTIFICATION, graded_by="Taimi Nilson", graded_at=AFTER))
                n += 1
        uow.commit()
    return n


def _timed(fn, *args, **kw) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def seven_parts(base: Path, bidders: int = 25) -> dict:
    from hankebot.service import evaluation, report
    from hankebot.service.protocol import write_protocol_pdf, write_protocol_xlsx
    from hankebot.service.chart import totals_bar_chart

    cfg = write_config(base / "seven", 1, 2, make_bidders(bidders), DEADLINE, invite_all_parts=True, receipts=False)
    ctx = open_bench_context(cfg, clock=lambda: AFTER)
    try:
        bids = fill(ctx, "302834", list(range(1, 8)))
        out: dict = {"parts": 7, "bids": bids}
        out["results_cold_s"], res = _timed(evaluation.results, ctx, "302834")
        out["results_warm_s"], res = _timed(evaluation.results, ctx, "302834")
        out["ranked"] = sum(len(r.ranked) for r in res)
        out["report_cold_s"], files = _timed(report.write_report, ctx, "302834", base / "protocol1")
        out["report_warm_s"], files = _timed(report.write_report, ctx, "302834", base / "protocol2")
        out["files_kb"] = {p.suffix.lstrip("."): round(p.stat().st_size / 1024) for p in (files.xlsx, files.pdf, files.chart_png)}
        data = report.protocol_data(ctx, "302834")
        d = base / "protocol3"
        d.mkdir()
        out["warm_parts_s"] = {
            "protocol_data (results + graders)": _timed(report.protocol_data, ctx, "302834")[0],
            "chart png": _timed(totals_bar_chart, data.parts, d / "chart.png")[0],
            "xlsx": _timed(write_protocol_xlsx, data, d / "p.xlsx")[0],
            "pdf (with chart)": _timed(write_protocol_pdf, data, d / "p.pdf", d / "chart.png")[0],
        }
        return out
    finally:
        ctx.engine.dispose()


def many_procurements(base: Path, procurements: int = 100, bidders: int = 10) -> dict:
    from hankebot.service import evaluation

    cfg = write_config(base / "many", 1, 2, make_bidders(bidders), DEADLINE, procurements=procurements, receipts=False)
    t = time.perf_counter()
    ctx = open_bench_context(cfg, clock=lambda: AFTER)
    open_s = time.perf_counter() - t
    try:
        keys = [f"P{i + 1:03d}" for i in range(procurements)]
        bids = sum(fill(ctx, k, [2], seed=i) for i, k in enumerate(keys))
        per = []
        t0 = time.perf_counter()
        for k in keys:
            t = time.perf_counter()
            res = evaluation.results(ctx, k)
            per.append(time.perf_counter() - t)
            assert res and res[0].ranked, f"{k}: nothing ranked"
        total = time.perf_counter() - t0
        return {"procurements": procurements, "bids": bids, "total_s": total, "mean_ms": total / procurements * 1000,
                "max_ms": max(per) * 1000, "first_ms": per[0] * 1000, "open_context_s": open_s}
    finally:
        ctx.engine.dispose()


def run(procurements: int = 100, keep: bool = False) -> dict:
    base = Path(tempfile.mkdtemp(prefix="hbb-eval-", dir="/tmp"))
    try:
        return {"bench": "evaluation", "seven_parts": seven_parts(base),
                "many": many_procurements(base, procurements)}
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def report(res: dict) -> str:
    s, m = res["seven_parts"], res["many"]
    lines = [f"evaluation, 7 parts x {s['bids'] // 7} graded bids ({s['bids']} bids):",
             f"  results()          : cold {s['results_cold_s']:.3f} s, warm {s['results_warm_s']:.3f} s "
             f"({s['ranked']} ranked)",
             f"  protocol xlsx+pdf+png (write_report): cold {s['report_cold_s']:.2f} s, warm {s['report_warm_s']:.2f} s "
             f"(files: {', '.join(f'{k} {v} KB' for k, v in s['files_kb'].items())})",
             "  warm parts: " + ", ".join(f"{k} {v:.2f} s" for k, v in s["warm_parts_s"].items()),
             f"evaluation, {m['procurements']} procurements x {m['bids'] // m['procurements']} graded bids: "
             f"results() for each {m['total_s']:.2f} s total, mean {m['mean_ms']:.1f} ms, max {m['max_ms']:.1f} ms "
             f"(first {m['first_ms']:.1f} ms; opening the context with the {m['procurements']}-procurement config "
             f"{m['open_context_s']:.1f} s)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procurements", type=int, default=100)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    print(machine_line(), flush=True)
    res = run(a.procurements, a.keep)
    return finish(res, report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
