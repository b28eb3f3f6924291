"""The procurement mailbox: check-mail (can we log in, send and receive), fetch (one pass over IMAP, with
progress) and process (stored but unprocessed messages, quarantined ones retried)."""
from __future__ import annotations

import sys

from hankebot.service.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, REDACT, load, open_ctx

BATCH = 25  # messages per UID FETCH


def cmd_check_mail(args) -> int:
    from hankebot.service.check_mail import check_mail

    cfg = load(args, check_files=False)
    report = check_mail(cfg, send=not args.no_send, timeout=args.timeout, arrival_wait=args.wait)
    for line in report.lines():
        print(REDACT.redact(line))
    print("mail: OK" if not report.failed else "mail: FAILED (see the likely fixes above)")
    return EXIT_FAIL if report.failed else EXIT_OK


def cmd_fetch(args) -> int:
    """One pass over the mailbox with a progress bar: past the checkpoint (on a first start from the
    earliest invitation date), or with --since a deliberate backfill of everything received since that day
    (messages stored before are skipped)."""
    from datetime import date

    from hankebot.mailer.imap_listener import connect, fetch_raw, new_uids, uidvalidity_of
    from hankebot.service.cli.progress import Stopwatch, message_bar, rate
    from hankebot.service.ingest import process_pending, store_raw
    from hankebot.service.runner import first_read_since, imap_endpoint
    from hankebot.storage.tables import InboundMessage

    since = None
    if getattr(args, "since", None):
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            print(f"--since: {args.since!r} is not a date like 2026-01-05", file=sys.stderr)
            return EXIT_USAGE
    ctx = open_ctx(args)
    ep = imap_endpoint(ctx.cfg)
    if ep is None:
        print("no [mail.imap] in the config", file=sys.stderr)
        return EXIT_USAGE
    box = connect(ep)
    clock = Stopwatch()
    try:
        uv = uidvalidity_of(box, ep.folder)
        with ctx.uow() as uow:
            cp = uow.repo.checkpoint(ep.folder)
        last = cp.last_uid if cp and cp.uidvalidity == uv else 0
        if since is not None:
            uids = new_uids(box, 0, since)
        else:
            uids = new_uids(box, last, first_read_since(ctx) if last == 0 else None)
        stored = 0
        with message_bar() as bar:
            t = bar.add_task("fetching", total=len(uids))
            for i in range(0, len(uids), BATCH):
                for m in fetch_raw(box, ep.folder, uv, uids[i:i + BATCH]):
                    stored += store_raw(ctx, m.folder, m.uidvalidity, m.uid, m.raw, m.internaldate) is not None
                    bar.advance(t)
            clock.lap("fetch")
            with ctx.uow() as uow:  # the new ones and any stored before but not processed yet
                pending = uow.repo.count(InboundMessage, InboundMessage.state == "stored")
            t2 = bar.add_task("processing", total=pending)
            n = process_pending(ctx, on_each=lambda: bar.advance(t2))
            bar.update(t2, total=n, completed=n)
            clock.lap("processing")
    finally:
        box.logout()
    fetch_s, proc_s = clock.phases["fetch"], clock.phases["processing"]
    print(f"fetched {len(uids)} message(s), {stored} new, processed {n} in {clock.total:.1f} s: "
          f"fetch {rate(len(uids), fetch_s)} messages/s, processing {rate(n, proc_s)} messages/s")
    return EXIT_OK


def cmd_process(args) -> int:
    from hankebot.service.ingest import process_pending, retry_quarantined

    ctx = open_ctx(args)
    retried = retry_quarantined(ctx)  # the cause may be gone now; a message failing again stays quarantined
    n = process_pending(ctx)
    print(f"processed {n} stored message(s), {retried} of them quarantined before")
    return EXIT_OK
