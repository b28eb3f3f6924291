"""`hankebot status`: where each procurement stands, sealed-safe, and the mail that is no procurement's event."""
from __future__ import annotations

import json

from hankebot.service.cli.common import EXIT_OK, open_ctx, proc_key


def _as_json(st) -> dict:
    return {"key": st.key, "state": st.state, "deadline": st.deadline.isoformat(), "sealed": st.sealed,
            "invitations_sent": st.invitations_sent, "bids": st.bids, "late_bids": st.late_bids,
            "declines": st.declines, "questions": st.questions, "bounces": st.bounces,
            "bidders": [{"key": b.key, "name": b.name, "answer": b.answer, "parts": b.bid_parts,
                         "missing_forms": b.missing_forms, "late": b.late} for b in st.bidders]}


def _print(st) -> None:
    from hankebot.core.et_format import datetime_et, duration_et

    print(f"{st.reference} – {st.title}")
    left = "passed" if st.time_left.total_seconds() <= 0 else f"{duration_et(st.time_left)} left"
    print(f"  state {st.state}; deadline {datetime_et(st.deadline)} ({left}); "
          f"{'SEALED: prices hidden until the opening' if st.sealed else 'opened'}")
    print(f"  invitations sent {st.invitations_sent}/{len(st.bidders)}; bids {st.bids} (late {st.late_bids}); "
          f"declined {st.declines}; questions {st.questions}; bounces {st.bounces}")
    for b in st.bidders:
        extra = f" parts {b.bid_parts}" if b.bid_parts else ""
        if b.missing_forms:
            extra += f"; missing: {', '.join(b.missing_forms)}"
        print(f"    {b.name:<36} {b.answer:<9}{extra}")


def cmd_status(args) -> int:
    from hankebot.core.et_format import datetime_et
    from hankebot.service.status import procurement_status

    ctx = open_ctx(args)
    keys = [proc_key(ctx, args.proc)] if args.proc else [p.key for p in ctx.settings.procurements]
    out = []
    for k in keys:
        st = procurement_status(ctx, k)
        if args.json:
            out.append(_as_json(st))
        else:
            _print(st)
    other_wanted = getattr(args, "other", False)
    with ctx.uow() as uow:
        n_other, other = uow.repo.inbound_other(limit=30 if other_wanted else 0)
    if args.json:
        if other_wanted:
            out = {"procurements": out, "other": [{"id": m.id, "received_at": m.received_at.isoformat(),
                                                  "sender": m.sender, "subject": m.subject} for m in other]}
        print(json.dumps(out if not args.proc or isinstance(out, dict) else out[0], ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"other mail (no procurement's event, never pushed): {n_other}"
          + ("" if other_wanted else " (--other lists the newest)"))
    for m in other:
        print(f"  #{m.id} {datetime_et(ctx.local(m.received_at))} {m.sender or '?'}: {(m.subject or '')[:100]}")
    return EXIT_OK
