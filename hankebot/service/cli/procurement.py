"""The procurement's outgoing mail and its lifecycle: invitations, clarifications, reminders, a moved
deadline, decision and cancellation letters, and the letters register."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from hankebot.service.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, actor, open_ctx, proc_key, report_exit


def _out(args) -> Path | None:
    return Path(args.out) if args.out else None


def cmd_send_invitations(args) -> int:
    from hankebot.service.invitations import send_invitations

    ctx = open_ctx(args)
    return report_exit(asyncio.run(send_invitations(ctx, proc_key(ctx, args.proc), dry_run=args.dry_run,
                                                    out_dir=_out(args))))


def cmd_send_clarification(args) -> int:
    from hankebot.service.clarifications import send_clarification

    ctx = open_ctx(args)
    text = Path(args.message).read_text("utf-8")
    return report_exit(asyncio.run(send_clarification(ctx, proc_key(ctx, args.proc), text,
                                                      [Path(a) for a in args.attach or []],
                                                      answers_inbound_id=args.answers)))


def cmd_remind(args) -> int:
    from hankebot.service.reminders import send_reminders

    ctx = open_ctx(args)
    label = args.label or f"manual-{datetime.now():%Y%m%d%H%M}"
    return report_exit(asyncio.run(send_reminders(ctx, proc_key(ctx, args.proc), label)))


def cmd_extend(args) -> int:
    from hankebot.service.deadline import extend_deadline

    ctx = open_ctx(args)
    try:
        new = datetime.strptime(args.deadline, "%d.%m.%Y %H:%M")
    except ValueError:
        print("give the deadline as DD.MM.YYYY HH:MM (Europe/Tallinn), e.g. 26.01.2026 15:00", file=sys.stderr)
        return EXIT_USAGE
    when = extend_deadline(ctx, proc_key(ctx, args.proc), new, actor="cli")
    print(f"deadline now {ctx.local(when):%d.%m.%Y %H:%M %Z}; update config.toml too")
    return EXIT_OK


def cmd_send_decision(args) -> int:
    from hankebot.service.decision_letters import send_decision_letters

    ctx = open_ctx(args)
    return report_exit(asyncio.run(send_decision_letters(ctx, proc_key(ctx, args.proc), dry_run=args.dry_run,
                                                         out_dir=_out(args))))


def cmd_cancel(args) -> int:
    from hankebot.service.decision import cancel_procurement
    from hankebot.service.decision_letters import send_cancellation_letters

    ctx = open_ctx(args)
    key = proc_key(ctx, args.proc)
    if args.dry_run:
        return report_exit(asyncio.run(send_cancellation_letters(ctx, key, dry_run=True, out_dir=_out(args),
                                                                 preview_reason=args.why)), failed=False)
    cancel_procurement(ctx, key, args.why, actor=actor())
    return report_exit(asyncio.run(send_cancellation_letters(ctx, key)))


def cmd_register(args) -> int:
    from hankebot.service.register import write_register

    ctx = open_ctx(args)
    files = write_register(ctx, proc_key(ctx, args.proc), _out(args))
    print(f"register: {files[0]}\n          {files[1]}")
    return EXIT_OK
