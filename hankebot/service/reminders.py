"""Reminders: one per batch label to every invitee who has neither bid nor declined, through the send
engine (a label already sent sends nothing new)."""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from hankebot.service.context import Context
from hankebot.service.letters import bidder_values, check_open, letter, procurement_values, sent_invitees, templates_for
from hankebot.service.send_engine import (
    OutboundOptions,
    Planned,
    load_procurement,
    queue,
    send_all,
    smtp_password,
    write_dry_run,
)
from hankebot.service.send_report import SendReport


async def send_reminders(ctx: Context, proc_key: str, batch_label: str, dry_run: bool = False,
                         out_dir: Path | None = None, opts: OutboundOptions | None = None) -> SendReport:
    """Remind invitees who have neither bid nor declined (status 'silent' or 'question'). One per label."""
    from hankebot.service.status import procurement_status

    opts = opts or OutboundOptions()
    batch = f"reminder:{batch_label}"
    report = SendReport(proc_key, "reminder", batch, dry_run=dry_run)
    loaded = load_procurement(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    if not check_open(ctx, p, report.errors, "meeldetuletusi"):
        return report
    status = procurement_status(ctx, ps.key)
    answers = {s.key: s for s in status.bidders}
    with ctx.uow() as uow:
        invitees = sent_invitees(uow.repo, p.id)
    reasons = {"bid": "pakkumus on esitatud", "declined": "on loobunud", "bounced": "aadress ei võta kirju vastu"}
    tpl = templates_for(ctx)
    base = procurement_values(ps, p, ctx)
    forms = [{"key": f.key, "title": f.title, "filename": f.file} for f in ps.forms]
    planned = []
    for b in invitees:
        st = answers.get(b.key)
        if st is None or st.answer not in ("silent", "question"):
            report.skipped.append((b.email, reasons.get(st.answer if st else "", "olek teadmata")))
            continue
        values = dict(base, bidder=bidder_values(b), forms=forms)

        def compose(mid: str, values=values, b=b) -> EmailMessage:
            subject, body = tpl.subject_and_body("reminder", **values)
            return letter(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body,
                            message_id=mid, auto_submitted="auto-generated")

        planned.append(Planned(f"reminder:{ps.key}:{batch_label}:{b.key}", b.id, b.key, b.email, compose))
    if dry_run:
        write_dry_run(ctx, ps, "reminder", planned, out_dir, report)
        return report
    password = smtp_password(ctx, report)
    if report.errors or not planned:
        return report
    ids = queue(ctx, ps, p, "reminder", batch, planned, report, retry_failed=False, actor=opts.actor)
    if ids is None:
        return report
    await send_all(ctx, ids, report, opts, password)
    return report

