"""Clarifications: the same text (and files) to every invitee whose invitation went out (equal
treatment), linked to the question it answers, through the send engine."""
from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path
from typing import Sequence

from hankebot.core.problems import Problem
from hankebot.core.workdays import working_days_between
from hankebot.service.context import Context
from hankebot.service.letters import (
    bidder_values,
    check_open,
    letter,
    load_attachments,
    procurement_values,
    sent_invitees,
    templates_for,
)
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
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Procurement


async def send_clarification(ctx: Context, proc_key: str, message_text: str, attachments: Sequence[Path] = (),
                             answers_inbound_id: int | None = None, dry_run: bool = False,
                             out_dir: Path | None = None, opts: OutboundOptions | None = None) -> SendReport:
    """The same clarification to every invitee (equal treatment), linked to the question it answers.
    The question's sender is never named or referenced (no In-Reply-To to it). Idempotent per content."""
    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "clarification", dry_run=dry_run)
    loaded = load_procurement(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    if not (message_text or "").strip():
        report.errors.append(Problem("empty_text", "Selgituse tekst on tühi."))
    atts, probs = load_attachments(ctx, attachments)
    report.errors += probs
    if answers_inbound_id is not None:
        with ctx.uow() as uow:
            q = uow.repo.inbound(answers_inbound_id)
        if q is None or q.procurement_id != p.id:
            report.errors.append(Problem("unknown_question", f"Küsimust nr {answers_inbound_id} selles hankes ei ole."))
    check_open(ctx, p, report.errors, "selgitust")
    with ctx.uow() as uow:
        invitees = sent_invitees(uow.repo, p.id)
    if not invitees:
        report.errors.append(Problem("no_invitees", "Kutseid pole veel kellelegi saadetud: selgitust pole kellele saata."))
    if report.errors:
        return report
    min_days = ps.reminders.min_clarification_working_days
    left = working_days_between(ctx.local(ctx.now()), ctx.local(p.deadline))
    if left < min_days:
        report.warnings.append(Problem(
            "clarification_late",
            f"Tähtajani on jäänud {left} tööpäeva (soovitatav vähemalt {min_days}): kaaluge tähtaja pikendamist."))
    h = hashlib.sha256(message_text.encode("utf-8"))
    for a in atts:
        h.update(b"\0" + a.filename.encode("utf-8") + b"\0" + a.data)
    h.update(f"\0{answers_inbound_id}".encode())
    batch = f"clarification:{h.hexdigest()[:12]}"
    report.batch = batch
    tpl = templates_for(ctx)
    base = procurement_values(ps, p, ctx)
    planned = []
    for b in invitees:
        values = dict(base, bidder=bidder_values(b), message_text=message_text.strip(),
                      attachments=[a.filename for a in atts])

        def compose(mid: str, values=values, b=b) -> EmailMessage:
            subject, body = tpl.subject_and_body("clarification", **values)
            return letter(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body,
                            message_id=mid, attachments=atts)

        planned.append(Planned(f"{batch}:{ps.key}:{b.key}", b.id, b.key, b.email, compose, answers_inbound_id))
    if dry_run:
        write_dry_run(ctx, ps, "clarification", planned, out_dir, report)
        return report
    password = smtp_password(ctx, report)
    if report.errors:
        return report

    def audit(repo: Repository, proc: Procurement) -> None:
        repo.audit(opts.actor, "clarification_queued", proc.id, batch=batch, answers_inbound_id=answers_inbound_id,
                   recipients=[pl.recipient for pl in planned], attachments=[a.filename for a in atts])

    ids = queue(ctx, ps, p, "clarification", batch, planned, report, on_commit=audit, actor=opts.actor)
    if ids is None:
        return report
    await send_all(ctx, ids, report, opts, password)
    return report

