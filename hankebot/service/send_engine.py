"""The send engine every kind of outgoing mail goes through: exactly once per recipient.

How a batch is sent:

1. The caller (invitations, clarifications, reminders, receipts, decision letters) checks what it must
   (pre-flight for invitations: any error refuses the whole batch, nothing is written) and plans one
   `Planned` message per recipient.
2. `queue`: one transaction writes an OutboundMessage row per recipient (state 'pending') with its final
   raw .eml already in the raw store and its Message-ID fixed. A row that exists (same dedupe key) is
   reused, so running the same command twice sends nothing new.
3. `send_all`, each row: claim it ('pending' -> 'sending', one conditional UPDATE) and commit, SMTP
   transaction, mark 'sent' (or 'failed' + staff notification) and an audit row, commit. Transient
   failures are retried with exponential backoff up to mail.smtp.max_attempts; permanent ones fail at
   once. A fault of the server, the login or the envelope sender (it would fail every message alike)
   stops the batch instead: the row goes back to 'pending', the rest stay 'pending', staff get one
   notice, and the next run or service start sends them. A lost connection after DATA (no reply) leaves
   the row 'sending' for the copy check of service/send_resume.py.
4. `send_resume.resume_unsent(ctx)` (called at service start) finishes rows left 'pending' or 'sending'
   by a crash.

Every outgoing message has the procurement mailbox as an extra *envelope* recipient (a Bcc copy: no Bcc
header, the bidder never sees it) and smtp_sender is all-or-nothing (the copy is delivered exactly when
the bidder's address was accepted too): this copy is how a row caught mid-send is confirmed at resume.

Failed rows are retried only by running the command again (e.g. after the admin fixes an address):
then the row is composed anew for the bidder's current address and sent.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Awaitable, Callable, Sequence

from hankebot.core.events import OutboundFailed, OutboundStopped
from hankebot.core.lifecycle import State, invitations_complete
from hankebot.core.problems import Problem
from hankebot.mailer import smtp_sender
from hankebot.mailer.compose import TemplateError, make_message_id, to_bytes
from hankebot.mailer.smtp_sender import PermanentSendError, SendError, TransientSendError
from hankebot.service import notify
from hankebot.service.config import ConfigError
from hankebot.service.config_procurement import ProcurementSettings
from hankebot.service.context import Context
from hankebot.service.send_report import SendReport
from hankebot.storage import claims
from hankebot.storage.repository import Repository
from hankebot.storage.tables import OutboundMessage, Procurement

SendFn = Callable[[bytes, str, list[str], object, "str | None"], Awaitable[str]]
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
class Planned:
    """One message to queue: `compose(message_id)` builds it (called only for new or re-done rows)."""

    dedupe_key: str
    bidder_id: int | None
    bidder_key: str
    recipient: str
    compose: Callable[[str], EmailMessage]
    answers_inbound_id: int | None = None


# ---------------------------------------------------------------- before sending


def _domain(ps: ProcurementSettings) -> str:
    return ps.mailbox.rsplit("@", 1)[1]


def load_procurement(ctx: Context, proc_key: str, report: SendReport) -> tuple[ProcurementSettings, Procurement] | None:
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


def smtp_password(ctx: Context, report: SendReport):
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



def write_dry_run(ctx: Context, ps: ProcurementSettings, kind: str, planned: list[Planned],
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


def queue(ctx: Context, ps: ProcurementSettings, p: Procurement, kind: str, batch: str, planned: list[Planned],
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


def claim(repo: Repository, row_id: int, now) -> bool:
    """Atomically move a row from 'pending' to 'sending'. One UPDATE with the state in its WHERE clause:
    on SQLite (one writer at a time) and PostgreSQL (the row is re-checked after its lock) only one
    sender can win, whatever the number of processes."""
    from sqlalchemy import update

    res = repo.s.exec(update(OutboundMessage)
                      .where(OutboundMessage.id == row_id, OutboundMessage.state == "pending")
                      .values(state="sending", claimed_at=now, claimed_by=claims.me()))
    return res.rowcount == 1


_IN_FLIGHT: set[int] = set()  # rows this process is sending right now


def is_stale(row_id: int, claimed_by: str | None, claimed_at, now) -> bool:
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
        if not claim(uow.repo, row_id, ctx.now()):
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


async def send_all(ctx: Context, ids: Sequence[int], report: SendReport, opts: OutboundOptions,
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
                notify.publish(ctx, uow.repo, "outbound_stopped",
                               OutboundStopped(procurement_id=p.id, proc_key=p.key, error=str(stop.error), left=left),
                               event_key=f"outbound_stopped:{stop.row.id}:{stop.row.attempts}")
                uow.commit()
            return


def _mark_failed(ctx: Context, repo: Repository, row: OutboundMessage, p: Procurement, error: str,
                 opts: OutboundOptions) -> None:
    row.state, row.last_error = "failed", error
    repo.add(row)
    repo.audit(opts.actor, "outbound_failed", p.id, kind=row.kind, batch=row.batch, recipient=row.recipient,
               message_id=row.message_id, attempts=row.attempts, error=error)
    notify.publish(ctx, repo, "outbound_failed",
                   OutboundFailed(procurement_id=p.id, proc_key=p.key, what=row.kind, recipient=row.recipient,
                                  error=error),
                   event_key=f"outbound_failed:{row.id}:{row.attempts}")


def complete_invitations(ctx: Context, pid: int, opts: OutboundOptions) -> str:
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

