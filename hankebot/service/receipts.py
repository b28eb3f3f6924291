"""Receipts: "your message was received, with these files" to an invited bidder's own verified address,
never an evaluation, never to a machine (RFC 3834), at most mail.receipts_per_hour per recipient."""
from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Sequence

from hankebot.core.et_format import datetime_et
from hankebot.core.preflight import is_valid_address
from hankebot.core.problems import Problem
from hankebot.service.context import Context
from hankebot.service.letters import letter, procurement_values, templates_for
from hankebot.service.send_engine import OutboundOptions, Planned, queue, send_all, smtp_password
from hankebot.service.send_report import SendReport
from hankebot.storage.tables import InboundMessage, OutboundMessage

_MACHINE_LOCALPARTS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply",
                       "bounce", "bounces", "auto-reply", "autoreply", "daemon")


def machine_sender_reason(sender: str | None, headers: dict[str, str]) -> str | None:
    """Why a message must not get an automatic answer (RFC 3834), or None. `headers`: lower-case names."""
    s = (sender or "").strip().lower()
    if not s or s == "<>" or not is_valid_address(s):
        return "saatja aadress puudub või on vigane"
    local = s.split("@", 1)[0]
    if any(local == m or local.startswith(m + "+") or local.startswith(m + "-") for m in _MACHINE_LOCALPARTS):
        return f"masina aadress ({local})"
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"kiri on ise automaatne (Auto-Submitted: {auto})"
    if headers.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "masspost või automaatvastus (Precedence)"
    for h in ("x-autoreply", "x-autorespond", "list-id", "x-failed-recipients"):
        if h in headers:
            return f"automaatne kiri ({h})"
    if headers.get("return-path", "").strip() == "<>":
        return "tagastusteade (tühi Return-Path)"
    return None


def _headers_of(raw: bytes) -> dict[str, str]:
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32, _class=email.message.Message)
        return {k.lower(): str(v) for k, v in msg.items()}
    except Exception:  # unreadable headers: no extra facts
        return {}


def receipt_refusal(ctx: Context, m: InboundMessage, bidder) -> str | None:
    """Why this message gets no receipt (None: it may get one): only an invited bidder's own address, a
    verified sender, and at most mail.receipts_per_hour receipts per recipient in the last hour."""
    from datetime import datetime, timedelta, timezone

    from hankebot.core.matching import normalize_address

    sender = normalize_address(m.sender or "")
    if bidder is None or not sender or normalize_address(bidder.email) != sender:
        return "saatja ei ole kutsutud pakkuja aadress"
    check = (m.summary or {}).get("sender_check") or {}
    if check.get("status") == "unverified":
        return f"saatja ei ole tõendatud ({check.get('reason', '?')})"
    limit = ctx.settings.mail.receipts_per_hour
    since = datetime.now(timezone.utc) - timedelta(hours=1)  # created_at is the real clock
    with ctx.uow() as uow:
        n = uow.repo.count(OutboundMessage, OutboundMessage.kind == "receipt", OutboundMessage.recipient == m.sender.lower(),
                           OutboundMessage.created_at >= since)
    if n >= limit:
        return f"kinnituste piir täis ({limit} tunnis samale aadressile)"
    return None


async def send_receipt(ctx: Context, inbound_id: int, found_files: Sequence[str],
                       opts: OutboundOptions | None = None) -> SendReport:
    """'Your message of 19.01.2026 kell 14.32 was received, with these files' — never an evaluation.
    Never to an auto-reply, a bounce, a machine sender or a message that is itself Auto-Submitted."""
    opts = opts or OutboundOptions()
    report = SendReport("", "receipt")
    with ctx.uow() as uow:
        m: InboundMessage | None = uow.repo.inbound(inbound_id)
        p = uow.repo.procurement_by_id(m.procurement_id) if m and m.procurement_id else None
        bidder = uow.repo.bidder(m.bidder_id) if m else None
    if m is None:
        report.errors.append(Problem("unknown_message", f"Sissetulevat kirja nr {inbound_id} ei ole."))
        return report
    if p is None:
        report.skipped.append((m.sender or "?", "kiri ei ole seotud ühegi hankega"))
        return report
    report.proc_key, report.state = p.key, p.state
    ps = ctx.proc_settings(p.key)
    report.batch = f"receipt:{inbound_id}"
    if not ps.receipts:
        report.skipped.append((m.sender or "?", "kinnitused on selles hankes välja lülitatud"))
        return report
    reason = None
    if m.kind in ("auto_reply", "bounce"):
        reason = "automaatvastus või tagastusteade"
    elif (m.sender or "").lower() in (ps.mailbox.lower(), ps.expert_email.lower()):
        reason = "meie enda aadress"
    elif (m.message_id or "").startswith("<hankebot."):
        reason = "meie enda kiri"
    else:
        reason = receipt_refusal(ctx, m, bidder)
    if reason is None:
        headers = _headers_of(ctx.raw.get(m.raw_path)) if ctx.raw.exists(m.raw_path) else {}
        reason = machine_sender_reason(m.sender, headers)
    if reason:
        report.skipped.append((m.sender or "?", reason))
        with ctx.uow() as uow:  # recorded, so a restart does not owe it again
            uow.repo.audit(opts.actor, "receipt_refused", p.id, inbound_id=m.id, recipient=m.sender, reason=reason)
            uow.commit()
        return report
    tpl = templates_for(ctx)
    # our own subject and words only: never the sender's (a receipt must not relay an attacker's text)
    values = dict(procurement_values(ps, p, ctx), received_et=datetime_et(ctx.local(m.received_at)),
                  files=list(found_files), original_subject="")
    sender = m.sender.lower()
    bkey = bidder.key if bidder else "unknown"

    def compose(mid: str) -> EmailMessage:
        subject, body = tpl.subject_and_body("receipt", **values)
        return letter(ps, ctx, to_name=bidder.name if bidder and bidder.email == sender else "", to_addr=sender,
                        subject=subject, body=body, message_id=mid, auto_submitted="auto-replied",
                        in_reply_to=m.message_id)

    planned = [Planned(f"receipt:{p.key}:{inbound_id}", bidder.id if bidder else None, bkey, sender, compose)]
    password = smtp_password(ctx, report)
    if report.errors:
        return report
    ids = queue(ctx, ps, p, "receipt", report.batch, planned, report, retry_failed=False, actor=opts.actor)
    if ids is None:
        return report
    await send_all(ctx, ids, report, opts, password)
    return report

