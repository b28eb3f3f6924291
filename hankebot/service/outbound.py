"""Outbound mail to bidders: invitations, clarifications, reminders and receipts.

How a batch is sent (exactly once per recipient):

1. Pre-flight (invitations): every problem is listed; any error refuses the whole batch, nothing is written.
2. One transaction writes an OutboundMessage row per recipient (state 'pending') with its final raw
   .eml already in the raw store and its Message-ID fixed. A row that exists (same dedupe key) is reused,
   so running the same command twice sends nothing new.
3. Each row: mark 'sending' and commit, SMTP transaction, mark 'sent' (or 'failed' + staff notification)
   and an audit row, commit. Transient failures are retried with exponential backoff up to
   mail.smtp.max_attempts; permanent ones fail at once. A fault of the server, the login or the envelope
   sender (it would fail every message alike) stops the batch instead: the row goes back to 'pending',
   the rest stay 'pending', staff get one notice, and the next run or service start sends them. A lost
   connection after DATA (no reply) leaves the row 'sending' for the copy check below.
4. `resume_unsent(ctx)` (called at service start) finishes rows left 'pending' or 'sending' by a crash.

A row found in 'sending' is the one honest uncertainty: the process died during the SMTP transaction,
so the server may or may not have taken the message. Every outgoing message has the procurement mailbox
as an extra *envelope* recipient (a Bcc copy: no Bcc header, the bidder never sees it) and smtp_sender
is all-or-nothing (the copy is delivered exactly when the bidder's address was accepted too). So at
resume we search the mailbox (IMAP, mail.imap) for the row's Message-ID: found -> the message went out,
mark it sent; not found -> send it again. Limits: a copy still queued at the server when we look is not
found yet, so we poll for `copy_wait_seconds`; without mail.imap configured we cannot look and resend
(a possible duplicate is better than a bidder missing an invitation); an IMAP error leaves the row
'sending' for the next resume. Retrying after a timeout *while* waiting for the server's final reply to
DATA can, as with any SMTP client, duplicate a message (RFC 1047).

Failed rows are retried only by running the command again (e.g. after the admin fixes an address):
then the row is composed anew for the bidder's current address and sent.
"""
from __future__ import annotations

import asyncio
import email
import hashlib
import logging
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import LifecycleError, State, invitations_complete, start_inviting, state_et
from hankebot.core.models import FormKind, PersonType, PriceBasis
from hankebot.core.preflight import FormFileFact, InviteeFact, is_valid_address, preflight
from hankebot.core.problems import Problem
from hankebot.core.workdays import working_days_between
from hankebot.mailer import smtp_sender
from hankebot.mailer.compose import (
    OutgoingAttachment,
    Templates,
    TemplateError,
    build_message,
    make_message_id,
    mime_type_for,
    to_bytes,
)
from hankebot.mailer.smtp_sender import PermanentSendError, SendError, TransientSendError
from hankebot.service import notify
from hankebot.service.config import ConfigError, ProcurementSettings
from hankebot.service.context import Context
from hankebot.storage import claims
from hankebot.storage.repository import Repository
from hankebot.storage.tables import InboundMessage, OutboundMessage, Procurement

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
SendFn = Callable[[bytes, str, list[str], object, "str | None"], Awaitable[str]]
_MACHINE_LOCALPARTS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply",
                       "bounce", "bounces", "auto-reply", "autoreply", "daemon")
_OPEN_STATES = (State.INVITED, State.OPEN)
AFTER_DEADLINE_KINDS = ("receipt", "decision", "cancellation")  # kinds still sent once the deadline has passed


@dataclass
class OutboundOptions:
    """Knobs for tests and the CLI. `send_fn` has smtp_sender.send's signature."""

    send_fn: SendFn = smtp_sender.send
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    copy_wait_seconds: float = 20.0  # how long resume polls the mailbox for a copy of a 'sending' row
    copy_poll_seconds: float = 1.0
    actor: str = "system"


@dataclass
class SendReport:
    """What a send command did. `sent`/`already_sent` are recipient addresses; `failed` and `skipped`
    are (recipient or bidder, reason) pairs; `eml_paths` are the dry-run files."""

    proc_key: str
    kind: str
    batch: str = ""
    dry_run: bool = False
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # 'sending' rows found in the mailbox at resume
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    eml_paths: list[Path] = field(default_factory=list)
    state: str | None = None  # the procurement's state afterwards

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def merge(self, other: "SendReport") -> None:
        for name in ("errors", "warnings", "sent", "already_sent", "confirmed", "failed", "skipped", "eml_paths"):
            getattr(self, name).extend(getattr(other, name))
        self.state = other.state or self.state

    def format_et(self, with_state: bool = True) -> str:
        what = {"invitation": "Kutsed", "clarification": "Selgitus", "reminder": "Meeldetuletused",
                "receipt": "Kättesaamise kinnitus", "resume": "Pooleli saatmised",
                "decision": "Otsuse kirjad", "cancellation": "Tühistamise kirjad"}.get(self.kind, self.kind)
        lines = [f"{what} – hange {self.proc_key}" + (" (proovisaatmine, midagi ei saadetud)" if self.dry_run else "")]
        if self.errors:
            tail = ", midagi ei saadetud:" if not (self.sent or self.confirmed) else ":"
            lines.append(f"Vead ({len(self.errors)}){tail}")
            lines += [f"  ✗ {p.message}" for p in self.errors]
        if self.warnings:
            lines.append(f"Hoiatused ({len(self.warnings)}):")
            lines += [f"  ! {p.message}" for p in self.warnings]
        if self.sent:
            lines.append(f"Saadetud ({len(self.sent)}): " + ", ".join(self.sent))
        if self.confirmed:
            lines.append(f"Saatmine kinnitatud postkasti koopia järgi ({len(self.confirmed)}): " + ", ".join(self.confirmed))
        if self.already_sent:
            lines.append(f"Juba varem saadetud ({len(self.already_sent)}): " + ", ".join(self.already_sent))
        for who, why in self.failed:
            lines.append(f"  ✗ ebaõnnestus: {who}: {why}")
        for who, why in self.skipped:
            lines.append(f"  – vahele jäetud: {who}: {why}")
        if self.eml_paths:
            lines.append(f"Kirjad failidena ({len(self.eml_paths)}): {self.eml_paths[0].parent}")
        if self.state and with_state:
            lines.append(f"Hanke olek: {state_et(self.state)}")
        return "\n".join(lines)

    format = format_et


@dataclass
class _Planned:
    """One message to queue: `compose(message_id)` builds it (called only for new or re-done rows)."""

    dedupe_key: str
    bidder_id: int | None
    bidder_key: str
    recipient: str
    compose: Callable[[str], EmailMessage]
    answers_inbound_id: int | None = None


# ---------------------------------------------------------------- helpers


def templates_for(ctx: Context) -> Templates:
    """The admin's templates directory (service.templates_dir, when configured) first, then the packaged ones."""
    dirs: list[Path] = []
    override = getattr(ctx.settings.service, "templates_dir", None)
    if override:
        dirs.append(ctx.cfg.resolve(override))
    dirs.append(DEFAULT_TEMPLATES)
    return Templates(dirs)


def _domain(ps: ProcurementSettings) -> str:
    return ps.mailbox.rsplit("@", 1)[1]


def _procurement_values(ps: ProcurementSettings, p: Procurement, ctx: Context) -> dict:
    return {
        "procurement": {"key": ps.key, "reference": ps.reference, "title": ps.title, "procurer": ps.procurer},
        "expert_name": ps.expert_name,
        "expert_email": ps.expert_email,
        "mailbox": ps.mailbox,
        "deadline_et": datetime_et(ctx.local(p.deadline)),
    }


def _bidder_values(b) -> dict:
    return {"key": b.key, "name": b.name, "email": b.email,
            "person_type": getattr(b.person_type, "value", b.person_type)}


def _price_hint(ps: ProcurementSettings, person_type) -> dict | None:
    want = PriceBasis.NATURAL_TOTAL if PersonType(person_type) == PersonType.NATURAL else PriceBasis.LEGAL_WITH_VAT
    for f in ps.forms:
        if f.kind == FormKind.COST:
            for c in f.price_cells:
                if c.basis == want:
                    return {"sheet": c.sheet, "cell": c.cell}
    return None


def _message(ps: ProcurementSettings, ctx: Context, *, to_name: str, to_addr: str, subject: str, body: str,
             message_id: str, attachments: Sequence[OutgoingAttachment] = (), auto_submitted: str | None = None,
             in_reply_to: str | None = None) -> EmailMessage:
    return build_message(from_name=ps.expert_name, from_addr=ps.expert_email, reply_to=ps.mailbox,
                         to_name=to_name, to_addr=to_addr, subject=subject, body=body, message_id=message_id,
                         date=ctx.now(), attachments=attachments, auto_submitted=auto_submitted,
                         in_reply_to=in_reply_to)


def _load(ctx: Context, proc_key: str, report: SendReport) -> tuple[ProcurementSettings, Procurement] | None:
    try:
        ps = ctx.proc_settings(proc_key)
    except KeyError as e:
        report.errors.append(Problem("unknown_procurement", f"Hanget {proc_key} konfiguratsioonis ei ole ({e.args[0]})."))
        return None
    with ctx.uow() as uow:
        p = uow.repo.procurement(ps.key)
    if p is None:
        report.errors.append(Problem("unknown_procurement", f"Hanget {ps.key} andmebaasis ei ole."))
        return None
    report.proc_key = ps.key
    return ps, p


def _smtp_password(ctx: Context, report: SendReport):
    """The SMTP password, or with auth = "oauth2" the token source (None, with a problem, when missing)."""
    smtp = ctx.settings.mail.smtp
    if not smtp.username:
        return None
    if smtp.auth == "oauth2":
        from hankebot.service.mail_auth import OAuthError, smtp_credential

        try:
            return smtp_credential(ctx.cfg)
        except (ConfigError, OAuthError) as e:
            report.errors.append(Problem("smtp_oauth_unavailable", f"SMTP OAuth2 seadistus ei tööta: {e}"))
            return None
    try:
        pw = ctx.cfg.secret(smtp.password_secret)
    except ConfigError as e:
        report.errors.append(Problem("secrets_unreadable", f"Saladuste faili ei saa lugeda: {e}"))
        return None
    if pw is None:
        name = (smtp.password_secret or "smtp_password")
        report.errors.append(Problem("smtp_password_missing",
                                     f"SMTP parool puudub: määrake HANKEBOT_{name.upper()} või {name} saladuste failis."))
    return pw


def _attachment_problems(ctx: Context, paths: Sequence[Path]) -> tuple[list[OutgoingAttachment], list[Problem]]:
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


def _sent_invitees(repo: Repository, pid: int) -> list:
    """Active bidders whose invitation went out: the audience of clarifications and reminders."""
    sent = {o.bidder_id for o in repo.outbound(pid, kind="invitation") if o.state == "sent"}
    return [b for b in repo.bidders(pid) if b.id in sent]


def _check_open(ctx: Context, p: Procurement, report: SendReport, what: str) -> bool:
    if State(p.state) not in _OPEN_STATES:
        report.errors.append(Problem("wrong_state", f"Hange on olekus „{state_et(p.state)}“: {what} saab saata ainult kutsete "
                                                    "saatmise järel ja enne tähtaega."))
        return False
    if ctx.now() >= p.deadline:
        report.errors.append(Problem("deadline_past",
                                     f"Tähtaeg {datetime_et(ctx.local(p.deadline))} on möödas: {what} enam ei saadeta."))
        return False
    return True


def _write_dry_run(ctx: Context, ps: ProcurementSettings, kind: str, planned: list[_Planned],
                   out_dir: Path | None, report: SendReport) -> None:
    out = Path(out_dir) if out_dir else ctx.cfg.data_dir / "dry-run" / ps.key
    out.mkdir(parents=True, exist_ok=True)
    for i, pl in enumerate(planned, 1):
        mid = make_message_id(ps.key, kind, "dry-run", pl.bidder_key, _domain(ps))
        try:
            raw = to_bytes(pl.compose(mid))
        except TemplateError as e:
            report.errors.append(Problem("template_error", f"Kirja malli ei saa koostada: {e}"))
            continue
        path = out / f"{kind}-{i:02d}-{pl.bidder_key}.eml"
        path.write_bytes(raw)
        report.eml_paths.append(path)


def _queue(ctx: Context, ps: ProcurementSettings, p: Procurement, kind: str, batch: str, planned: list[_Planned],
           report: SendReport, on_commit: Callable[[Repository, Procurement], None] | None = None,
           retry_failed: bool = True, actor: str = "system") -> list[int] | None:
    """One transaction: reuse existing rows, write new ones (raw .eml stored first). Returns the row ids
    to send, or None when composing failed (nothing written)."""
    ids: list[int] = []
    with ctx.uow() as uow:
        repo = uow.repo
        for pl in planned:
            row = repo.outbound_by_dedupe(pl.dedupe_key)
            if row is not None and (row.state != "failed" or not retry_failed):
                ids.append(row.id)
                continue
            mid = make_message_id(ps.key, kind, batch, pl.bidder_key, _domain(ps))
            try:
                msg = pl.compose(mid)
            except TemplateError as e:
                report.errors.append(Problem("template_error", f"Kirja malli ei saa koostada: {e}"))
                return None
            raw = to_bytes(msg)
            sha, rel = ctx.raw.put(raw, ".eml")
            if row is None:
                row = OutboundMessage(procurement_id=p.id, bidder_id=pl.bidder_id, kind=kind, batch=batch,
                                      dedupe_key=pl.dedupe_key, message_id=mid, recipient=pl.recipient,
                                      subject=str(msg["Subject"]), raw_sha256=sha, raw_path=rel,
                                      answers_inbound_id=pl.answers_inbound_id)
            else:  # a failed row, retried on request: composed anew (the address may have been fixed)
                repo.audit(actor, "outbound_retry", p.id, kind=kind, old_message_id=row.message_id,
                           old_recipient=row.recipient, new_recipient=pl.recipient, last_error=row.last_error)
                row.message_id, row.recipient, row.subject = mid, pl.recipient, str(msg["Subject"])
                row.raw_sha256, row.raw_path, row.state, row.last_error = sha, rel, "pending", None
            repo.add(row)
            ids.append(row.id)
        if on_commit is not None:
            on_commit(repo, repo.procurement_by_id(p.id))
        uow.commit()
    return ids


# ---------------------------------------------------------------- sending one row


# A row in 'sending' whose claim is older than this is taken to be left by a dead sender (a live one
# refreshes claimed_at before every attempt; one attempt is bounded by the SMTP timeout).
STALE_CLAIM_SECONDS = 600


def _claim(repo: Repository, row_id: int, now) -> bool:
    """Atomically move a row from 'pending' to 'sending'. One UPDATE with the state in its WHERE clause:
    on SQLite (one writer at a time) and PostgreSQL (the row is re-checked after its lock) only one
    sender can win, whatever the number of processes."""
    from sqlalchemy import update

    res = repo.s.exec(update(OutboundMessage)
                      .where(OutboundMessage.id == row_id, OutboundMessage.state == "pending")
                      .values(state="sending", claimed_at=now, claimed_by=claims.me()))
    return res.rowcount == 1


_IN_FLIGHT: set[int] = set()  # rows this process is sending right now


def _stale(row_id: int, claimed_by: str | None, claimed_at, now) -> bool:
    """A 'sending' row may be verified and re-sent only when its sender is gone."""
    if claimed_by == claims.me():
        return row_id not in _IN_FLIGHT
    dead = claims.holder_is_dead(claimed_by)
    if dead is not None:
        return dead
    return claimed_at is None or (now - claimed_at).total_seconds() >= STALE_CLAIM_SECONDS


def _heartbeat(ctx: Context, row_id: int) -> None:
    from sqlalchemy import update

    with ctx.uow() as uow:
        uow.repo.s.exec(update(OutboundMessage).where(OutboundMessage.id == row_id, OutboundMessage.state == "sending")
                        .values(claimed_at=ctx.now()))
        uow.commit()


async def _send_row(ctx: Context, row_id: int, report: SendReport, opts: OutboundOptions, password: str | None) -> None:
    with ctx.uow() as uow:
        row = uow.repo.s.get(OutboundMessage, row_id)
        if row.state == "sent":
            report.already_sent.append(row.recipient)
            return
        if row.state == "failed":
            report.failed.append((row.recipient, row.last_error or ""))
            return
        p = uow.repo.procurement_by_id(row.procurement_id)
        ps = ctx.proc_settings(p.key)
        if row.kind not in AFTER_DEADLINE_KINDS and ctx.now() >= p.deadline:
            _mark_failed(ctx, uow.repo, row, p, "tähtaeg on möödas, kirja enam ei saadeta", opts)
            uow.commit()
            report.failed.append((row.recipient, row.last_error))
            return
        if not _claim(uow.repo, row_id, ctx.now()):
            # another sender (the service's resume, a second CLI run) holds or finished this row
            report.skipped.append((row.recipient, "saatmisel teises protsessis"))
            return
        uow.commit()
    _IN_FLIGHT.add(row_id)
    try:
        await _transmit(ctx, row, ps, row_id, report, opts, password)
    finally:
        _IN_FLIGHT.discard(row_id)


async def _transmit(ctx: Context, row: OutboundMessage, ps: ProcurementSettings, row_id: int, report: SendReport,
                    opts: OutboundOptions, password: str | None) -> None:
    raw = ctx.raw.get(row.raw_path)
    envelope = [row.recipient] + ([ps.mailbox] if ps.mailbox.lower() != row.recipient.lower() else [])
    smtp = ctx.settings.mail.smtp
    attempts, reply, err = 0, "", None
    while True:
        attempts += 1
        _heartbeat(ctx, row_id)
        try:
            reply = await opts.send_fn(raw, ps.mailbox, envelope, smtp, password)
            err = None
            break
        except TransientSendError as e:
            err = e
            if attempts >= smtp.max_attempts or e.outcome_unknown:
                break
            await opts.sleep(min(opts.backoff_base_seconds * 2 ** (attempts - 1), opts.backoff_max_seconds))
        except PermanentSendError as e:
            err = e
            break
        except Exception as e:  # unknown outcome: leave it 'sending' for resume_unsent to verify
            with ctx.uow() as uow:
                r = uow.repo.s.get(OutboundMessage, row_id)
                r.attempts += attempts
                r.last_error = f"{type(e).__name__}: {e}"
                uow.repo.add(r)
                uow.commit()
            raise
    stop: SendError | None = None
    with ctx.uow() as uow:
        repo = uow.repo
        r = repo.s.get(OutboundMessage, row_id)
        p = repo.procurement_by_id(r.procurement_id)
        r.attempts += attempts
        if err is None:
            r.state, r.sent_at, r.last_error = "sent", ctx.now(), None
            repo.audit(opts.actor, "outbound_sent", p.id, kind=r.kind, batch=r.batch, recipient=r.recipient,
                       message_id=r.message_id, attempts=r.attempts, server_reply=reply)
            report.sent.append(r.recipient)
        elif err.outcome_unknown:  # handed over, no answer: resume_unsent looks for the mailbox copy
            r.last_error = f"{err} (vastus jäi saamata, {attempts}. katse)"
            repo.audit(opts.actor, "outbound_outcome_unknown", p.id, kind=r.kind, recipient=r.recipient,
                       message_id=r.message_id, error=str(err))
            report.warnings.append(Problem("outcome_unknown",
                                           f"Kirja {r.recipient} saatmise tulemus jäi teadmata ({err}); "
                                           "kontrollitakse postkasti koopia järgi järgmisel käivitusel."))
        elif err.affects_all:  # the server, the login or the sender: the batch stops, this row waits again
            r.state, r.last_error = "pending", f"{err} ({attempts}. katse)"
            repo.audit(opts.actor, "outbound_stopped", p.id, kind=r.kind, batch=r.batch, recipient=r.recipient,
                       attempts=r.attempts, error=str(err))
            stop = err
        else:
            _mark_failed(ctx, repo, r, p, f"{err}" + (f" ({attempts} katset)" if attempts > 1 else ""), opts)
            report.failed.append((r.recipient, r.last_error))
        repo.add(r)
        uow.commit()
    if stop is not None:
        raise _BatchStopped(stop, r)


class _BatchStopped(Exception):
    def __init__(self, error: SendError, row: OutboundMessage):
        super().__init__(str(error))
        self.error, self.row = error, row


async def _send_all(ctx: Context, ids: Sequence[int], report: SendReport, opts: OutboundOptions,
                    password: str | None) -> None:
    """Send rows in order; a fault that would fail every message stops the batch (the rest stay pending)."""
    for i, rid in enumerate(ids):
        try:
            await _send_row(ctx, rid, report, opts, password)
        except _BatchStopped as stop:
            left = len(ids) - i
            text = (f"Saatmine peatati: {stop.error}. Saatmata jäi {left} kirja; need saadetakse, kui käsku "
                    "korratakse või teenus taaskäivitub.")
            report.errors.append(Problem("smtp_unavailable", text))
            with ctx.uow() as uow:
                p = uow.repo.procurement_by_id(stop.row.procurement_id)
                notify.enqueue(ctx, uow.repo, "outbound_stopped", f"⚠️ Hange {p.key}: {text}",
                               event_key=f"outbound_stopped:{stop.row.id}:{stop.row.attempts}", procurement_id=p.id)
                uow.commit()
            return


def _mark_failed(ctx: Context, repo: Repository, row: OutboundMessage, p: Procurement, error: str,
                 opts: OutboundOptions) -> None:
    row.state, row.last_error = "failed", error
    repo.add(row)
    repo.audit(opts.actor, "outbound_failed", p.id, kind=row.kind, batch=row.batch, recipient=row.recipient,
               message_id=row.message_id, attempts=row.attempts, error=error)
    what = {"invitation": "Kutset", "clarification": "Selgitust", "reminder": "Meeldetuletust",
            "receipt": "Kättesaamise kinnitust", "decision": "Otsuse kirja",
            "cancellation": "Tühistamise kirja"}.get(row.kind, "Kirja")
    notify.enqueue(ctx, repo, "outbound_failed",
                   f"⚠️ Hange {p.key}: {what} ei õnnestunud saata aadressile {row.recipient}.\nPõhjus: {error}",
                   event_key=f"outbound_failed:{row.id}:{row.attempts}", procurement_id=p.id)


def _complete_invitations(ctx: Context, pid: int, opts: OutboundOptions) -> str:
    """invited -> open once every active bidder's invitation is sent. Returns the state."""
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement_by_id(pid)
        if State(p.state) != State.INVITED:
            return p.state
        rows = {o.bidder_id: o for o in repo.outbound(pid, kind="invitation")}
        if all(b.id in rows and rows[b.id].state == "sent" for b in repo.bidders(pid)):
            p.state = invitations_complete(State(p.state)).value
            repo.add(p)
            repo.audit(opts.actor, "invitations_complete", pid, sent=len(rows))
            uow.commit()
            ctx.emit("invitations_complete", procurement=p.key)
        return p.state


# ---------------------------------------------------------------- invitations


def _form_facts(ctx: Context, ps: ProcurementSettings) -> tuple[list[FormFileFact], list[OutgoingAttachment]]:
    fdir = ctx.cfg.resolve(ps.forms_dir)
    facts, atts = [], []
    for f in ps.forms:
        path = fdir / f.file
        try:
            data = path.read_bytes()
        except OSError as e:
            facts.append(FormFileFact(f.key, f.title, f.file, f.required, None, e.strerror or str(e)))
            continue
        facts.append(FormFileFact(f.key, f.title, f.file, f.required, len(data)))
        atts.append(OutgoingAttachment(Path(f.file).name, data, mime_type_for(f.file)))
    return facts, atts


async def send_invitations(ctx: Context, proc_key: str, dry_run: bool = False, out_dir: Path | None = None,
                           opts: OutboundOptions | None = None) -> SendReport:
    """Pre-flight, then one invitation per bidder (To: that bidder only), forms attached. Idempotent."""
    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "invitation", "invitation", dry_run=dry_run)
    loaded = _load(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    tpl = templates_for(ctx)
    facts, atts = _form_facts(ctx, ps)
    form_values = [{"key": f.key, "title": f.title, "filename": f.filename} for f in facts if f.size is not None]
    with ctx.uow() as uow:
        db_bidders = {b.key: b for b in uow.repo.bidders(p.id)}
    base = _procurement_values(ps, p, ctx)
    part_names = {x.number: x.name for x in ps.parts}

    planned: list[_Planned] = []
    invitees: list[InviteeFact] = []
    render_errors: list[str] = []
    for bs in ps.bidders:
        parts = ps.invited_parts(bs)
        if not parts:
            report.warnings.append(Problem("bidder_no_parts", f"Pakkujal „{bs.name}“ pole ühtegi kutsutud osa: kutset ei saadeta."))
            continue
        db = db_bidders.get(bs.key)
        invitees.append(InviteeFact(bs.key, bs.name, bs.email))
        values = dict(base, bidder=_bidder_values(bs), forms=form_values,
                      parts=[{"number": n, "name": part_names[n]} for n in parts],
                      price_hint=_price_hint(ps, bs.person_type))

        def compose(mid: str, values=values, bs=bs) -> EmailMessage:
            subject, body = tpl.subject_and_body("invitation", **values)
            return _message(ps, ctx, to_name=bs.name, to_addr=bs.email, subject=subject, body=body,
                            message_id=mid, attachments=atts)

        try:  # render once now, so pre-flight can list template faults
            tpl.subject_and_body("invitation", **values)
        except TemplateError as e:
            render_errors.append(str(e))
        if is_valid_address(bs.email):
            planned.append(_Planned(f"invitation:{ps.key}:{bs.key}", db.id if db else None, bs.key, bs.email, compose))

    lim = ctx.settings.attachments
    pre = preflight(forms=facts, invitees=invitees, deadline=ctx.local(p.deadline), now=ctx.now(),
                    max_file_bytes=int(lim.max_file_mb * 1024 * 1024),
                    max_total_bytes=int(lim.max_total_mb * 1024 * 1024), render_errors=render_errors)
    report.errors += pre.errors
    report.warnings += pre.warnings
    if dry_run:
        if not render_errors:
            _write_dry_run(ctx, ps, "invitation", planned, out_dir, report)
        report.state = p.state
        return report
    if report.errors:
        report.state = p.state
        return report
    password = _smtp_password(ctx, report)
    if report.errors:
        return report

    def begin(repo: Repository, proc: Procurement) -> None:
        state = State(proc.state)
        if state == State.OPEN:  # a bidder added after the batch: invited alone, the state stays open
            return
        proc.state = start_inviting(state, ctx.now(), proc.deadline).value
        repo.add(proc)
        repo.audit(opts.actor, "invitations_queued", proc.id, recipients=[pl.recipient for pl in planned])

    try:
        ids = _queue(ctx, ps, p, "invitation", "invitation", planned, report, on_commit=begin, actor=opts.actor)
    except LifecycleError as e:
        report.errors.append(Problem("wrong_state", f"Kutseid ei saa saata: {e}"))
        return report
    if ids is None:
        return report
    await _send_all(ctx, ids, report, opts, password)
    report.state = _complete_invitations(ctx, p.id, opts)
    return report


# ---------------------------------------------------------------- clarifications


async def send_clarification(ctx: Context, proc_key: str, message_text: str, attachments: Sequence[Path] = (),
                             answers_inbound_id: int | None = None, dry_run: bool = False,
                             out_dir: Path | None = None, opts: OutboundOptions | None = None) -> SendReport:
    """The same clarification to every invitee (equal treatment), linked to the question it answers.
    The question's sender is never named or referenced (no In-Reply-To to it). Idempotent per content."""
    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "clarification", dry_run=dry_run)
    loaded = _load(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    if not (message_text or "").strip():
        report.errors.append(Problem("empty_text", "Selgituse tekst on tühi."))
    atts, probs = _attachment_problems(ctx, attachments)
    report.errors += probs
    if answers_inbound_id is not None:
        with ctx.uow() as uow:
            q = uow.repo.inbound(answers_inbound_id)
        if q is None or q.procurement_id != p.id:
            report.errors.append(Problem("unknown_question", f"Küsimust nr {answers_inbound_id} selles hankes ei ole."))
    _check_open(ctx, p, report, "selgitust")
    with ctx.uow() as uow:
        invitees = _sent_invitees(uow.repo, p.id)
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
    base = _procurement_values(ps, p, ctx)
    planned = []
    for b in invitees:
        values = dict(base, bidder=_bidder_values(b), message_text=message_text.strip(),
                      attachments=[a.filename for a in atts])

        def compose(mid: str, values=values, b=b) -> EmailMessage:
            subject, body = tpl.subject_and_body("clarification", **values)
            return _message(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body,
                            message_id=mid, attachments=atts)

        planned.append(_Planned(f"{batch}:{ps.key}:{b.key}", b.id, b.key, b.email, compose, answers_inbound_id))
    if dry_run:
        _write_dry_run(ctx, ps, "clarification", planned, out_dir, report)
        return report
    password = _smtp_password(ctx, report)
    if report.errors:
        return report

    def audit(repo: Repository, proc: Procurement) -> None:
        repo.audit(opts.actor, "clarification_queued", proc.id, batch=batch, answers_inbound_id=answers_inbound_id,
                   recipients=[pl.recipient for pl in planned], attachments=[a.filename for a in atts])

    ids = _queue(ctx, ps, p, "clarification", batch, planned, report, on_commit=audit, actor=opts.actor)
    if ids is None:
        return report
    await _send_all(ctx, ids, report, opts, password)
    return report


# ---------------------------------------------------------------- reminders


async def send_reminders(ctx: Context, proc_key: str, batch_label: str, dry_run: bool = False,
                         out_dir: Path | None = None, opts: OutboundOptions | None = None) -> SendReport:
    """Remind invitees who have neither bid nor declined (status 'silent' or 'question'). One per label."""
    from hankebot.service.status import procurement_status

    opts = opts or OutboundOptions()
    batch = f"reminder:{batch_label}"
    report = SendReport(proc_key, "reminder", batch, dry_run=dry_run)
    loaded = _load(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    if not _check_open(ctx, p, report, "meeldetuletusi"):
        return report
    status = procurement_status(ctx, ps.key)
    answers = {s.key: s for s in status.bidders}
    with ctx.uow() as uow:
        invitees = _sent_invitees(uow.repo, p.id)
    reasons = {"bid": "pakkumus on esitatud", "declined": "on loobunud", "bounced": "aadress ei võta kirju vastu"}
    tpl = templates_for(ctx)
    base = _procurement_values(ps, p, ctx)
    forms = [{"key": f.key, "title": f.title, "filename": f.file} for f in ps.forms]
    planned = []
    for b in invitees:
        st = answers.get(b.key)
        if st is None or st.answer not in ("silent", "question"):
            report.skipped.append((b.email, reasons.get(st.answer if st else "", "olek teadmata")))
            continue
        values = dict(base, bidder=_bidder_values(b), forms=forms)

        def compose(mid: str, values=values, b=b) -> EmailMessage:
            subject, body = tpl.subject_and_body("reminder", **values)
            return _message(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body,
                            message_id=mid, auto_submitted="auto-generated")

        planned.append(_Planned(f"reminder:{ps.key}:{batch_label}:{b.key}", b.id, b.key, b.email, compose))
    if dry_run:
        _write_dry_run(ctx, ps, "reminder", planned, out_dir, report)
        return report
    password = _smtp_password(ctx, report)
    if report.errors or not planned:
        return report
    ids = _queue(ctx, ps, p, "reminder", batch, planned, report, retry_failed=False, actor=opts.actor)
    if ids is None:
        return report
    await _send_all(ctx, ids, report, opts, password)
    return report


# ---------------------------------------------------------------- receipts


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
    values = dict(_procurement_values(ps, p, ctx), received_et=datetime_et(ctx.local(m.received_at)),
                  files=list(found_files), original_subject="")
    sender = m.sender.lower()
    bkey = bidder.key if bidder else "unknown"

    def compose(mid: str) -> EmailMessage:
        subject, body = tpl.subject_and_body("receipt", **values)
        return _message(ps, ctx, to_name=bidder.name if bidder and bidder.email == sender else "", to_addr=sender,
                        subject=subject, body=body, message_id=mid, auto_submitted="auto-replied",
                        in_reply_to=m.message_id)

    planned = [_Planned(f"receipt:{p.key}:{inbound_id}", bidder.id if bidder else None, bkey, sender, compose)]
    password = _smtp_password(ctx, report)
    if report.errors:
        return report
    ids = _queue(ctx, ps, p, "receipt", report.batch, planned, report, retry_failed=False, actor=opts.actor)
    if ids is None:
        return report
    await _send_all(ctx, ids, report, opts, password)
    return report


# ---------------------------------------------------------------- resume after a crash


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
    password = _smtp_password(ctx, report)
    if report.errors:
        return report
    pids, to_send = set(), []
    for rid, state, mid, rcpt, pid, claimed_at, claimed_by in rows:
        pids.add(pid)
        if state == "sending" and not _stale(rid, claimed_by, claimed_at, ctx.now()):
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
    await _send_all(ctx, to_send, report, opts, password)
    for pid in pids:
        report.state = _complete_invitations(ctx, pid, opts)
    return report
