"""Resume after a crash: finish the outgoing rows a dead process left 'pending' or 'sending'.

A row found in 'sending' is the one honest uncertainty: the process died during the SMTP transaction,
so the server may or may not have taken the message. Every outgoing message has the procurement mailbox
as an extra envelope recipient (see service/send_engine.py), so at resume we search the mailbox (IMAP,
mail.imap) for the row's Message-ID: found -> the message went out, mark it sent; not found -> send it
again. Limits: a copy still queued at the server when we look is not found yet, so we poll for
`copy_wait_seconds`; without mail.imap configured we cannot look and resend (a possible duplicate is
better than a bidder missing an invitation); an IMAP error leaves the row 'sending' for the next resume.
Retrying after a timeout *while* waiting for the server's final reply to DATA can, as with any SMTP
client, duplicate a message (RFC 1047).
"""
from __future__ import annotations

import asyncio

from hankebot.core.problems import Problem
from hankebot.service.context import Context
from hankebot.service.send_engine import OutboundOptions, complete_invitations, is_stale, send_all, smtp_password
from hankebot.service.send_report import SendReport
from hankebot.storage.tables import OutboundMessage


def _copy_in_mailbox(ctx: Context, message_id: str) -> bool:
    """Search the procurement mailbox (mail.imap) for our copy of `message_id`. Raises on IMAP trouble."""
    from imap_tools import AND, H

    from hankebot.mailer.imap_listener import connect
    from hankebot.service.mail_auth import imap_endpoint

    box = connect(imap_endpoint(ctx.cfg, timeout=30))
    try:
        return bool(box.uids(AND(header=H("Message-ID", message_id))))
    finally:
        try:
            box.logout()
        except Exception:
            pass


async def _confirm_by_copy(ctx: Context, message_id: str, opts: OutboundOptions) -> bool:
    waited = 0.0
    while True:
        if await asyncio.to_thread(_copy_in_mailbox, ctx, message_id):
            return True
        if waited >= opts.copy_wait_seconds:
            return False
        await asyncio.sleep(opts.copy_poll_seconds)
        waited += opts.copy_poll_seconds


async def resume_unsent(ctx: Context, opts: OutboundOptions | None = None) -> SendReport:
    """Finish what a crash left: 'pending' rows are sent; 'sending' rows are looked up in the mailbox
    first (see the module docstring). Then invitation batches that are complete open their procurement."""
    opts = opts or OutboundOptions()
    report = SendReport("*", "resume")
    with ctx.uow() as uow:
        rows = [(r.id, r.state, r.message_id, r.recipient, r.procurement_id, r.claimed_at, r.claimed_by)
                for r in uow.repo.unsent_outbound()]
    if not rows:
        return report
    password = smtp_password(ctx, report)
    if report.errors:
        return report
    pids, to_send = set(), []
    for rid, state, mid, rcpt, pid, claimed_at, claimed_by in rows:
        pids.add(pid)
        if state == "sending" and not is_stale(rid, claimed_by, claimed_at, ctx.now()):
            report.skipped.append((rcpt, "saatmisel (teine protsess); kontrollitakse hiljem"))
            continue
        if state == "sending":
            if ctx.settings.mail.imap is None:
                report.warnings.append(Problem("resend_unverified",
                                               f"Kirja {mid} saatmine katkes ja postkasti (mail.imap) ei saa kontrollida: "
                                               f"saadame uuesti aadressile {rcpt}."))
            else:
                try:
                    found = await _confirm_by_copy(ctx, mid, opts)
                except Exception as e:
                    report.warnings.append(Problem("copy_check_failed",
                                                   f"Postkasti ei saanud kontrollida ({type(e).__name__}: {e}); "
                                                   f"kiri {rcpt} jääb ootele järgmise korrani."))
                    continue
                if found:
                    with ctx.uow() as uow:
                        r = uow.repo.s.get(OutboundMessage, rid)
                        r.state, r.sent_at = "sent", ctx.now()
                        uow.repo.add(r)
                        uow.repo.audit(opts.actor, "outbound_confirmed_by_copy", pid, kind=r.kind, batch=r.batch,
                                       recipient=r.recipient, message_id=r.message_id)
                        uow.commit()
                    report.confirmed.append(rcpt)
                    continue
            # not delivered: back to 'pending' (only if nobody re-claimed it meanwhile), then sent as usual
            from sqlalchemy import update

            with ctx.uow() as uow:
                res = uow.repo.s.exec(update(OutboundMessage).where(
                    OutboundMessage.id == rid, OutboundMessage.state == "sending",
                    OutboundMessage.claimed_at == claimed_at).values(state="pending"))
                uow.commit()
            if res.rowcount != 1:
                continue
        to_send.append(rid)
    await send_all(ctx, to_send, report, opts, password)
    for pid in pids:
        report.state = complete_invitations(ctx, pid, opts)
    return report
