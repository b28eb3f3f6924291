"""What every letter to bidders is composed from: the templates, the values a template sees, the message
itself (From the expert, Reply-To the procurement mailbox), attachment limits and the audience of
follow-up letters. Each kind of mail (invitations, clarifications, reminders, receipts, decision
letters) builds its messages from these and hands them to the send engine (service/send_engine.py).
"""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Sequence

from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import State, state_et
from hankebot.core.problems import Problem
from hankebot.mailer.compose import OutgoingAttachment, Templates, build_message
from hankebot.service.config_procurement import ProcurementSettings
from hankebot.service.context import Context
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Procurement

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
_OPEN_STATES = (State.INVITED, State.OPEN)


def templates_for(ctx: Context) -> Templates:
    """The admin's templates directory (service.templates_dir, when configured) first, then the packaged ones."""
    dirs: list[Path] = []
    override = getattr(ctx.settings.service, "templates_dir", None)
    if override:
        dirs.append(ctx.cfg.resolve(override))
    dirs.append(DEFAULT_TEMPLATES)
    return Templates(dirs)


def procurement_values(ps: ProcurementSettings, p: Procurement, ctx: Context) -> dict:
    """The procurement's part of a template's values."""
    return {
        "procurement": {"key": ps.key, "reference": ps.reference, "title": ps.title, "procurer": ps.procurer},
        "expert_name": ps.expert_name,
        "expert_email": ps.expert_email,
        "mailbox": ps.mailbox,
        "deadline_et": datetime_et(ctx.local(p.deadline)),
    }


def bidder_values(b) -> dict:
    """A bidder's part of a template's values (a settings entry or a database row)."""
    return {"key": b.key, "name": b.name, "email": b.email,
            "person_type": getattr(b.person_type, "value", b.person_type)}


def letter(ps: ProcurementSettings, ctx: Context, *, to_name: str, to_addr: str, subject: str, body: str,
           message_id: str, attachments: Sequence[OutgoingAttachment] = (), auto_submitted: str | None = None,
           in_reply_to: str | None = None) -> EmailMessage:
    """One message from the expert to one recipient, replies going to the procurement mailbox."""
    return build_message(from_name=ps.expert_name, from_addr=ps.expert_email, reply_to=ps.mailbox,
                         to_name=to_name, to_addr=to_addr, subject=subject, body=body, message_id=message_id,
                         date=ctx.now(), attachments=attachments, auto_submitted=auto_submitted,
                         in_reply_to=in_reply_to)


def load_attachments(ctx: Context, paths: Sequence[Path]) -> tuple[list[OutgoingAttachment], list[Problem]]:
    """The files as attachments and the problems with them (unreadable, over the size limits)."""
    lim = ctx.settings.attachments
    max_file, max_total = int(lim.max_file_mb * 1024 * 1024), int(lim.max_total_mb * 1024 * 1024)
    out, probs, total = [], [], 0
    for p in paths:
        p = Path(p)
        try:
            att = OutgoingAttachment.from_path(p)
        except OSError as e:
            probs.append(Problem("attachment_unreadable", f"Manust „{p.name}“ ei saa lugeda ({e.strerror or e})."))
            continue
        if len(att.data) > max_file:
            probs.append(Problem("attachment_too_large", f"Manus „{p.name}“ on üle {lim.max_file_mb} MB."))
        total += len(att.data)
        out.append(att)
    if total > max_total:
        probs.append(Problem("attachments_too_large", f"Manuste kogumaht on üle {lim.max_total_mb} MB."))
    return out, probs


def sent_invitees(repo: Repository, pid: int) -> list:
    """Active bidders whose invitation went out: the audience of clarifications and reminders."""
    sent = {o.bidder_id for o in repo.outbound(pid, kind="invitation") if o.state == "sent"}
    return [b for b in repo.bidders(pid) if b.id in sent]


def check_open(ctx: Context, p: Procurement, errors: list[Problem], what: str) -> bool:
    """Whether letters to invitees may go out now (invited or open, before the deadline); if not, why
    is added to `errors`."""
    if State(p.state) not in _OPEN_STATES:
        errors.append(Problem("wrong_state", f"Hange on olekus „{state_et(p.state)}“: {what} saab saata ainult kutsete "
                                             "saatmise järel ja enne tähtaega."))
        return False
    if ctx.now() >= p.deadline:
        errors.append(Problem("deadline_past",
                              f"Tähtaeg {datetime_et(ctx.local(p.deadline))} on möödas: {what} enam ei saadeta."))
        return False
    return True
