"""Evaluation after the opening: results, grades, accepting or rejecting a problem bid, the protocol and the
decision."""
from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hankebot.service.cli.common import EXIT_OK, EXIT_USAGE, actor, open_ctx, proc_key, report_exit


def cmd_results(args) -> int:
    from hankebot.service.evaluation import format_results, results

    ctx = open_ctx(args)
    res = results(ctx, proc_key(ctx, args.proc))
    if args.json:
        print(json.dumps([{"part": r.part_no, "ranked": [{"rank": s.rank, "bidder": s.bid.bidder_key, "price": str(s.bid.price),
                                                          "total": str(s.total)} for s in r.ranked],
                           "pending": [s.bid.bidder_key for s in r.pending],
                           "excluded": [{"bidder": b.bidder_key, "reason": b.exclusion_reason} for b in r.excluded]}
                          for r in res], ensure_ascii=False, indent=2))
    else:
        print(format_results(ctx, res))
    return EXIT_OK


def cmd_grade(args) -> int:
    from hankebot.service.evaluation import grade_bid

    ctx = open_ctx(args)
    try:
        pts = Decimal(args.points)
    except InvalidOperation:
        print(f"not a number: {args.points}", file=sys.stderr)
        return EXIT_USAGE
    g = grade_bid(ctx, args.bid, args.criterion, pts, args.why, actor=actor())
    print(f"bid #{args.bid} {args.criterion}: {g.points} p ({g.level_name})")
    return EXIT_OK


def cmd_decide_bid(args) -> int:
    from hankebot.service.decision import decide_bid

    ctx = open_ctx(args)
    decide_bid(ctx, args.bid, args.cmd == "accept", args.why, actor=actor())
    print(f"bid #{args.bid} {'accepted' if args.cmd == 'accept' else 'rejected'}")
    return EXIT_OK


def cmd_report(args) -> int:
    from hankebot.service.report import write_report

    ctx = open_ctx(args)
    files = write_report(ctx, proc_key(ctx, args.proc), Path(args.out) if args.out else None)
    print(f"protocol: {files.xlsx}\n          {files.pdf}\nchart:    {files.chart_png}")
    return EXIT_OK


def cmd_decide(args) -> int:
    from hankebot.service.decision import decide_part, preview_decision
    from hankebot.service.decision_letters import send_decision_letters

    ctx = open_ctx(args)
    key = proc_key(ctx, args.proc)
    print(preview_decision(ctx, key, args.part, args.bid, args.why).format_et())
    if args.preview:
        return EXIT_OK
    decide_part(ctx, key, args.part, args.bid, args.why, actor=actor())
    with ctx.uow() as uow:
        state = uow.repo.procurement(key).state
    if state != "decided":
        print("otsus salvestatud; hange jääb otsustamata osade ootele")
        return EXIT_OK
    if args.no_letters:
        print("otsustatud; kirjad: hankebot send-decision " + key)
        return EXIT_OK
    return report_exit(asyncio.run(send_decision_letters(ctx, key)))
