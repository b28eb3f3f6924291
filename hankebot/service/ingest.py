"""Inbound pipeline: store first, then process, exactly once.

1. `store_raw`: the raw bytes go to the content-addressed store (fsync'd), then one transaction inserts the
   InboundMessage row (unique per folder/UIDVALIDITY/UID) and advances the IMAP checkpoint. If storing fails
   (disk full), nothing is committed and the checkpoint stays: the message is fetched again later.
2. `process_message`: one transaction turns a stored row into bids, notifications and a 'processed' state.
   A crash before its commit leaves the row 'stored', and `process_pending` redoes it at start: every
   message is processed exactly once. Byte-identical copies and re-deliveries (same Message-ID) become
   'duplicate'; our own outgoing copies 'own_copy'. A message that fails is 'quarantined' with its error,
   staff are told, and the rest go on."""
from __future__ import annotations

import logging
import traceback
from datetime import datetime
from typing import Callable

from sqlmodel import select

from hankebot.core import events as ev
from hankebot.core.models import MessageKind
from hankebot.core.signatures import describe as describe_signature
from hankebot.service.active_bids import settle
from hankebot.service.context import Context
from hankebot.service.extract import Extraction, extract
from hankebot.service.notify import publish
from hankebot.storage.tables import Bid, Bidder, InboundMessage, utcnow

log = logging.getLogger(__name__)


def store_raw(ctx: Context, folder: str, uidvalidity: int, uid: int, raw: bytes, received_at: datetime) -> int | None:
    """Store one fetched message; returns its row id (None when this UID was stored before)."""
    with ctx.uow() as uow:
        repo = uow.repo
        if repo.inbound_by_uid(folder, uidvalidity, uid) is not None:
            repo.set_checkpoint(folder, uidvalidity, uid)
            uow.commit()
            return None
    sha, rel = ctx.raw.put(raw)  # OSError propagates: nothing committed, checkpoint not advanced
    with ctx.uow() as uow:
        repo = uow.repo
        row = repo.add(InboundMessage(folder=folder, uidvalidity=uidvalidity, uid=uid, sha256=sha, raw_path=rel,
                                      size=len(raw), received_at=received_at, message_id=_quick_message_id(raw)))
        repo.set_checkpoint(folder, uidvalidity, uid)
        uow.commit()
        return row.id


def _quick_message_id(raw: bytes) -> str | None:
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line[:11].lower() == b"message-id:":
            v = line[11:].strip().decode("ascii", "replace")
            return v[:998] or None
    return None


def process_pending(ctx: Context, limit: int | None = None, on_each: Callable[[], None] | None = None) -> int:
    """Process every stored-but-unprocessed message in arrival order. Returns how many were handled.
    `on_each` is called after each message (e.g. a progress bar)."""
    done = 0
    while True:
        with ctx.uow() as uow:
            ids = [m.id for m in uow.repo.inbound_pending(limit=200)]
        if not ids:
            return done
        for mid in ids:
            process_message(ctx, mid)
            done += 1
            if on_each is not None:
                on_each()
            if limit is not None and done >= limit:
                return done


def retry_quarantined(ctx: Context) -> int:
    """Put every quarantined message back to 'stored', so the next process_pending tries it again (once the
    cause is fixed). One that fails again is quarantined again; staff were told the first time only."""
    from sqlalchemy import update

    with ctx.uow() as uow:
        n = uow.session.exec(update(InboundMessage).where(InboundMessage.state == "quarantined")  # type: ignore[call-overload]
                             .values(state="stored")).rowcount
        if n:
            uow.repo.audit("system", "quarantine_retried", None, count=int(n))
        uow.commit()
    return int(n or 0)


def process_message(ctx: Context, inbound_id: int) -> str:
    """Returns the final state. Never raises for a bad message (it is quarantined)."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(3):
        try:
            return _process(ctx, inbound_id)
        except IntegrityError as e:  # another process settled the same bidder's bids at the same moment: redo
            if attempt == 2:
                return _quarantine(ctx, inbound_id, e)
            log.warning("message %s: concurrent write, processing again", inbound_id)
        except Exception as e:
            return _quarantine(ctx, inbound_id, e)
    raise AssertionError("unreachable")


def _quarantine(ctx: Context, inbound_id: int, e: Exception) -> str:
    """Keep the message, tell staff, go on (called from an except block: logs the traceback)."""
    log.exception("message %s quarantined", inbound_id)
    err = f"{type(e).__name__}: {e}"
    with ctx.uow() as uow:
        repo = uow.repo
        row = repo.inbound(inbound_id)
        if row is None or row.state != "stored":
            return row.state if row else "missing"
        row.state, row.error, row.attempts = "quarantined", err + "\n" + traceback.format_exc(limit=5), row.attempts + 1
        row.processed_at = utcnow()
        repo.s.add(row)
        repo.audit("system", "quarantined", row.procurement_id, inbound_id=row.id, error=err)
        publish(ctx, repo, "quarantined", ev.Quarantined(inbound_id=row.id, error=err[:300]), f"quarantined:{row.id}")
        uow.commit()
    return "quarantined"


def _process(ctx: Context, inbound_id: int) -> str:
    with ctx.uow() as uow:
        repo = uow.repo
        row = repo.inbound(inbound_id)
        if row is None or row.state != "stored":
            return row.state if row else "missing"
        raw = ctx.raw.get(row.raw_path)
        own = repo.outbound_message_ids()
        deadlines = {p.key: p.deadline for p in repo.procurements()}
        sent = repo.first_invitation_sent()
        keys = {pid: _key_of(repo, pid) for pid in set(own.values()) | set(sent)}  # one look-up per procurement
        ex = extract(ctx.cfg, raw, row.received_at, invitations={m: keys[pid] for m, pid in own.items()},
                     deadlines=deadlines, invitations_sent={keys[pid]: ts for pid, ts in sent.items()})
        p = ex.parsed
        row.message_id = p.message_id or row.message_id
        row.sender, row.subject, row.kind = p.from_addr, p.subject[:2000], ex.kind.value
        row.summary = {k: v for k, v in ex.to_json().items() if k not in ("offer",)}
        if ex.kind in (MessageKind.QUESTION, MessageKind.DECLINE, MessageKind.OTHER):
            # the sender's own words (quotes stripped) for /questions; never for bids, which may name a price
            row.summary["excerpt"] = _excerpt(ex)
        row.problems = [pr.as_dict() for pr in ex.all_problems()]
        row.processed_at = utcnow()
        row.error = None  # a retried message that now goes through keeps no stale quarantine error
        if p.message_id and p.message_id in own:
            row.state = "own_copy"
            repo.s.add(row)
            uow.commit()
            return row.state
        twin = repo.first_processed_twin(row.sha256, row.message_id, row.id)
        if twin is not None:
            row.state, row.duplicate_of = "duplicate", twin.id
            repo.s.add(row)
            repo.audit("system", "duplicate", twin.procurement_id, inbound_id=row.id, duplicate_of=twin.id)
            uow.commit()
            return row.state
        proc = repo.procurement(ex.procurement.key) if ex.procurement else None
        row.procurement_id = proc.id if proc else None
        bidder = None
        if proc and ex.bidder and ex.bidder.bidder_key:
            bidder = _bidder_by_key(repo, proc.id, ex.bidder.bidder_key)
        row.bidder_id = bidder.id if bidder else None
        row.late = ex.late
        row.state = "processed"
        repo.s.add(row)
        repo.s.flush()
        _record(ctx, repo, row, ex, proc, bidder)
        repo.audit("system", "processed", row.procurement_id, inbound_id=row.id, kind=row.kind)
        uow.commit()
    if ex.kind in (MessageKind.BID, MessageKind.QUESTION) and ex.procurement is not None and ex.procurement.receipts:
        _receipt_later(ctx, row, ex)
    return "processed"


def _bidder_by_key(repo, pid: int, key: str) -> Bidder | None:
    """The procurement's bidder with this key, active or not (one indexed query, not the whole list)."""
    q = select(Bidder).where(Bidder.procurement_id == pid, Bidder.key == key).order_by(Bidder.id)
    return repo.s.exec(q).first()


def _key_of(repo, pid: int) -> str:
    p = repo.procurement_by_id(pid)
    return p.key if p else ""


def _record(ctx: Context, repo, row: InboundMessage, ex: Extraction, proc, bidder) -> None:
    p = ex.parsed
    name = bidder.name if bidder else (p.from_name or p.from_addr or "tundmatu saatja")
    key = f"in:{row.id}"
    pid = proc.id if proc else None
    if ex.kind == MessageKind.BID and proc is not None:
        replaces, not_in_force = False, []
        for pb in ex.parts:
            bidder_id = bidder.id if bidder else None
            bid = Bid(procurement_id=proc.id, bidder_id=bidder_id, sender=p.from_addr,
                      part_no=pb.part_no, inbound_message_id=row.id, received_at=row.received_at, late=bool(ex.late),
                      price=pb.price, price_basis=pb.basis, forms_found=[f.spec.key for f in ex.forms],
                      missing_forms=[f.key for f in ex.missing_forms],
                      problems=[pr.as_dict() for pr in _unique([*ex.parsed.problems, *ex.problems, *pb.problems])],
                      offer=ex.offer, signatures=[s.as_dict() for s in p.signatures],
                      # a matched bidder's on-time bid is settled against their others (core.active_bid); a late
                      # bid or an unmatched sender's is its own, never replacing anyone's
                      status="new" if bidder_id is not None and not ex.late else "active")
            before = None if bid.status == "active" else repo.active_bid_of(proc.id, pb.part_no, bidder_id, p.from_addr)
            repo.add(bid)
            if bid.status == "new":
                winner = settle(repo, proc.id, pb.part_no, bidder_id)
                if winner == bid.id:
                    replaces = replaces or before is not None
                elif bid.status == "held":
                    not_in_force.append(("bid_held_unverified", "Saatja ei ole tõendatud: see pakkumus ei asenda sama pakkuja varasemat "
                                        "pakkumust, kui sa seda ei aktsepteeri."))
                else:
                    not_in_force.append(("bid_not_in_force", "Sama pakkuja hilisem pakkumus on juba kätte saadud: see varasem "
                                        "pakkumus ei ole kehtiv."))
        if ex.late:
            event: ev.Event = ev.BidLate(procurement_id=pid, inbound_id=row.id, bidder_name=name,
                                         received_at=row.received_at, deadline=proc.deadline)
        else:
            shown_apart = ("missing_form", "late_bid", "signature_failed", "signature_indeterminate")
            probs = [_fact(pr) for pr in ex.all_problems() if pr.code not in shown_apart]
            probs += [ev.ProblemFact(code, text) for code, text in dict.fromkeys(not_in_force)]
            event = ev.BidReceived(procurement_id=pid, inbound_id=row.id, bidder_name=name,
                                   parts=tuple(pb.part_no for pb in ex.parts), received_at=row.received_at,
                                   missing_forms=tuple(f.title for f in ex.missing_forms), problems=tuple(probs),
                                   replaces_earlier=replaces,
                                   signatures=tuple(describe_signature(s) for s in p.signatures))
        publish(ctx, repo, "late_bid" if ex.late else "new_bid", event, key, pid)
    elif ex.kind == MessageKind.DECLINE:
        publish(ctx, repo, "decline", ev.Declined(procurement_id=pid, inbound_id=row.id, bidder_name=name,
                                                  received_at=row.received_at, reason=_excerpt(ex, 300) or None), key, pid)
    elif ex.kind == MessageKind.QUESTION:
        publish(ctx, repo, "question", ev.QuestionAsked(procurement_id=pid, inbound_id=row.id, sender_name=name,
                                                        received_at=row.received_at, subject=p.subject,
                                                        excerpt=_excerpt(ex)),
                key, pid, payload={"question_inbound_id": row.id})
    elif ex.kind == MessageKind.AUTO_REPLY:
        publish(ctx, repo, "auto_reply", ev.AutoReplied(procurement_id=pid, inbound_id=row.id, sender_name=name,
                                                        subject=p.subject[:100]), key, pid, quiet=True)
    elif ex.kind == MessageKind.BOUNCE and proc is not None:
        b = p.bounce
        what = "kiri"
        if b and b.original_message_id:
            out = repo.outbound_by_message_id(b.original_message_id)
            if out is not None:
                what = out.kind
        publish(ctx, repo, "bounce", ev.Bounced(procurement_id=pid, inbound_id=row.id,
                                                recipients=tuple(b.failed_recipients) if b and b.failed_recipients else (),
                                                bidder_name=bidder.name if bidder else None,
                                                reason=b.diagnostic if b else None, what=what), key, pid)
    elif ex.kind == MessageKind.BOUNCE:  # a delivery failure of mail that is not ours: not an event
        publish(ctx, repo, "other", ev.ForeignBounce(inbound_id=row.id, subject=p.subject[:120]), key, quiet=True)
    else:  # not a procurement event: stored, listed on request (/other, status), never pushed
        publish(ctx, repo, "other", ev.OtherMail(procurement_id=pid, inbound_id=row.id, sender_name=name,
                                                 subject=p.subject[:120]), key, pid, quiet=True)
    if proc is None or ex.kind not in (MessageKind.BID, MessageKind.QUESTION, MessageKind.DECLINE):
        return  # "unknown sender" only for what looks like a bid, question or decline of a procurement
    if ex.bidder is not None and ex.bidder.how == "unknown":
        publish(ctx, repo, "unknown_sender", ev.UnknownSender(procurement_id=pid, inbound_id=row.id, sender=p.from_addr,
                                                              subject=p.subject, received_at=row.received_at,
                                                              looks_like=ex.kind.value), key + ":unknown", pid)
    elif ex.bidder is not None and ex.bidder.how == "domain" and ex.bidder.problem is not None:
        publish(ctx, repo, "not_invited_address",
                ev.NotInvitedAddress(procurement_id=pid, inbound_id=row.id, bidder_name=name,
                                     problems=(_fact(ex.bidder.problem),)), key + ":domain", pid)


def _fact(pr) -> ev.ProblemFact:
    return ev.ProblemFact(pr.code, pr.message, getattr(pr, "sealed_message", None), dict(getattr(pr, "data", None) or {}))


def _unique(problems):
    seen, out = set(), []
    for pr in problems:
        if (pr.code, pr.message) not in seen:
            seen.add((pr.code, pr.message))
            out.append(pr)
    return out


def _excerpt(ex: Extraction, n: int = 600) -> str:
    from hankebot.core.classify import strip_quoted

    t = strip_quoted(ex.parsed.text).strip()
    return t[:n] + ("…" if len(t) > n else "")


def _receipt_later(ctx: Context, row: InboundMessage, ex: Extraction) -> None:
    """A receipt to the sender: "your message of 14:32 was received, with these files". Sent by the
    outbound module; its own guards refuse auto-replies, bounces and no-reply senders."""
    ctx.emit("receipt_due", inbound_id=row.id, files=[a.filename for a in ex.parsed.attachments])
