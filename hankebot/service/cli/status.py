"""`hankebot status`: where each procurement stands, sealed-safe, and the mail that is no procurement's event."""
from __future__ import annotations

import json

from hankebot.service.cli.common import EXIT_OK, load


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


def _full_path(cfg, keys: list[str], other_limit: int):
    """The context opened as every command opens it (migrating, syncing the config in), then the same values."""
    from hankebot.service.context import open_context
    from hankebot.service.status import procurement_status
    from hankebot.service.status_view import OtherMail, StatusView

    ctx = open_context(cfg)
    sts = [procurement_status(ctx, k) for k in keys]
    with ctx.uow() as uow:
        n_other, other = uow.repo.inbound_other(limit=other_limit)
        other = [OtherMail(m.id, m.received_at, m.sender, m.subject) for m in other]
    return StatusView(sts, n_other, other)


def cmd_status(args) -> int:
    from hankebot.core.et_format import datetime_et
    from hankebot.service.status_view import read_status

    cfg = load(args)
    keys = [cfg.settings.procurement(args.proc).key] if args.proc else [p.key for p in cfg.settings.procurements]
    other_wanted = getattr(args, "other", False)
    limit = 30 if other_wanted else 0
    # a SQLite database at head that syncing would not change is read directly (no SQLAlchemy): same values
    view = read_status(cfg, keys, limit) or _full_path(cfg, keys, limit)
    out = []
    for st in view.procurements:
        if args.json:
            out.append(_as_json(st))
        else:
            _print(st)
    if args.json:
        if other_wanted:
            out = {"procurements": out, "other": [{"id": m.id, "received_at": m.received_at.isoformat(),
                                                  "sender": m.sender, "subject": m.subject} for m in view.other]}
        print(json.dumps(out if not args.proc or isinstance(out, dict) else out[0], ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"other mail (no procurement's event, never pushed): {view.other_count}"
          + ("" if other_wanted else " (--other lists the newest)"))
    tz = cfg.tz
    for m in view.other:
        print(f"  #{m.id} {datetime_et(m.received_at.astimezone(tz))} {m.sender or '?'}: {(m.subject or '')[:100]}")
    return EXIT_OK
