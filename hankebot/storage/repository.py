"""Queries and writes the service layer needs, on one session. No business rules here."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from hankebot.storage.tables import (
    AuditLog,
    Bid,
    Bidder,
    Grade,
    ImapCheckpoint,
    InboundMessage,
    Notification,
    OutboundMessage,
    Part,
    Procurement,
    utcnow,
)


class Repository:
    def __init__(self, session: Session):
        self.s = session

    # procurements, parts, bidders
    def procurement(self, key: str) -> Procurement | None:
        return self.s.exec(select(Procurement).where(Procurement.key == key)).first()

    def procurement_by_id(self, pid: int) -> Procurement | None:
        return self.s.get(Procurement, pid)

    def procurements(self) -> list[Procurement]:
        return list(self.s.exec(select(Procurement).order_by(Procurement.key)))

    def parts(self, pid: int) -> list[Part]:
        return list(self.s.exec(select(Part).where(Part.procurement_id == pid).order_by(Part.number)))

    def bidders(self, pid: int, active_only: bool = True) -> list[Bidder]:
        q = select(Bidder).where(Bidder.procurement_id == pid)
        if active_only:
            q = q.where(Bidder.active == True)  # noqa: E712
        return list(self.s.exec(q.order_by(Bidder.id)))

    def bidder(self, bid_id: int | None) -> Bidder | None:
        return self.s.get(Bidder, bid_id) if bid_id else None

    def add(self, obj):
        self.s.add(obj)
        self.s.flush()
        return obj

    # outbound
    def outbound(self, pid: int, kind: str | None = None, batch: str | None = None) -> list[OutboundMessage]:
        q = select(OutboundMessage).where(OutboundMessage.procurement_id == pid)
        if kind:
            q = q.where(OutboundMessage.kind == kind)
        if batch:
            q = q.where(OutboundMessage.batch == batch)
        return list(self.s.exec(q.order_by(OutboundMessage.id)))

    def outbound_by_dedupe(self, key: str) -> OutboundMessage | None:
        return self.s.exec(select(OutboundMessage).where(OutboundMessage.dedupe_key == key)).first()

    def outbound_by_message_id(self, mid: str) -> OutboundMessage | None:
        return self.s.exec(select(OutboundMessage).where(OutboundMessage.message_id == mid)).first()

    def outbound_message_ids(self) -> dict[str, int]:
        rows = self.s.exec(select(OutboundMessage.message_id, OutboundMessage.procurement_id))
        return {mid: pid for mid, pid in rows}

    def first_invitation_sent(self) -> dict[int, datetime]:
        """Procurement id -> when its first invitation went out (the start of its inbound window)."""
        q = (select(OutboundMessage.procurement_id, func.min(OutboundMessage.sent_at))
             .where(OutboundMessage.kind == "invitation", col(OutboundMessage.sent_at).is_not(None))
             .group_by(OutboundMessage.procurement_id))
        return {pid: ts for pid, ts in self.s.exec(q) if ts is not None}

    def unsent_outbound(self) -> list[OutboundMessage]:
        return list(
            self.s.exec(
                select(OutboundMessage).where(col(OutboundMessage.state).in_(["pending", "sending"])).order_by(OutboundMessage.id)
            )
        )

    # inbound
    def inbound_by_uid(self, folder: str, uidvalidity: int, uid: int) -> InboundMessage | None:
        return self.s.exec(
            select(InboundMessage).where(
                InboundMessage.folder == folder, InboundMessage.uidvalidity == uidvalidity, InboundMessage.uid == uid
            )
        ).first()

    def inbound(self, mid: int) -> InboundMessage | None:
        return self.s.get(InboundMessage, mid)

    def inbound_pending(self, limit: int = 1000) -> list[InboundMessage]:
        return list(
            self.s.exec(select(InboundMessage).where(InboundMessage.state == "stored").order_by(InboundMessage.id).limit(limit))
        )

    def inbound_other(self, limit: int = 30) -> tuple[int, list[InboundMessage]]:
        """Mail that is no procurement's event (kind "other", any procurement or none): how many, and the newest."""
        where = (InboundMessage.state == "processed", InboundMessage.kind == "other")
        total = self.count(InboundMessage, *where)
        rows = self.s.exec(select(InboundMessage).where(*where).order_by(col(InboundMessage.id).desc()).limit(limit))
        return total, list(rows)

    def inbound_for(self, pid: int, kind: str | None = None) -> list[InboundMessage]:
        q = select(InboundMessage).where(InboundMessage.procurement_id == pid)
        if kind:
            q = q.where(InboundMessage.kind == kind)
        return list(self.s.exec(q.order_by(InboundMessage.received_at)))

    def first_processed_twin(self, sha256: str, message_id: str | None, exclude_id: int) -> InboundMessage | None:
        """An earlier message with the same bytes, or the same Message-ID (the same mail delivered twice)."""
        q = select(InboundMessage).where(
            InboundMessage.id != exclude_id,
            col(InboundMessage.state).in_(["processed", "quarantined", "own_copy"]),
        )
        hit = self.s.exec(q.where(InboundMessage.sha256 == sha256).order_by(InboundMessage.id)).first()
        if hit is None and message_id:
            hit = self.s.exec(q.where(InboundMessage.message_id == message_id).order_by(InboundMessage.id)).first()
        return hit

    def checkpoint(self, folder: str) -> ImapCheckpoint | None:
        return self.s.get(ImapCheckpoint, folder)

    def set_checkpoint(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        cp = self.s.get(ImapCheckpoint, folder)
        if cp is None:
            cp = ImapCheckpoint(folder=folder, uidvalidity=uidvalidity, last_uid=last_uid)
        else:
            cp.uidvalidity, cp.last_uid = uidvalidity, max(last_uid, cp.last_uid) if cp.uidvalidity == uidvalidity else last_uid
        cp.updated_at = utcnow()
        self.s.add(cp)

    # bids and grades
    def bids(self, pid: int, part_no: int | None = None, active_only: bool = True) -> list[Bid]:
        q = select(Bid).where(Bid.procurement_id == pid)
        if part_no is not None:
            q = q.where(Bid.part_no == part_no)
        if active_only:
            q = q.where(Bid.status == "active")
        return list(self.s.exec(q.order_by(Bid.received_at, Bid.id)))

    def bid(self, bid_id: int) -> Bid | None:
        return self.s.get(Bid, bid_id)

    def active_bid_of(self, pid: int, part_no: int, bidder_id: int | None, sender: str) -> Bid | None:
        q = select(Bid).where(Bid.procurement_id == pid, Bid.part_no == part_no, Bid.status == "active")
        q = q.where(Bid.bidder_id == bidder_id) if bidder_id else q.where(Bid.sender == sender)
        return self.s.exec(q.order_by(col(Bid.received_at).desc())).first()

    def grades(self, bid_ids: Iterable[int]) -> list[Grade]:
        ids = list(bid_ids)
        if not ids:
            return []
        return list(self.s.exec(select(Grade).where(col(Grade.bid_id).in_(ids))))

    def grade(self, bid_id: int, criterion_key: str) -> Grade | None:
        return self.s.exec(select(Grade).where(Grade.bid_id == bid_id, Grade.criterion_key == criterion_key)).first()

    # notifications
    def notification_by_key(self, key: str) -> Notification | None:
        return self.s.exec(select(Notification).where(Notification.dedupe_key == key)).first()

    def due_notifications(self, now: datetime, limit: int = 50, chat_ids: list[int] | None = None) -> list[Notification]:
        """Due pending rows, oldest first; only those for `chat_ids` when given (a worker selects only the
        rows it will deliver, so rows it does not handle never fill its batch)."""
        q = (
            select(Notification)
            .where(Notification.state == "pending", Notification.quiet == False)  # noqa: E712
            .where((Notification.next_attempt_at == None) | (Notification.next_attempt_at <= now))  # noqa: E711
        )
        if chat_ids is not None:
            q = q.where(col(Notification.chat_id).in_(chat_ids))
        return list(self.s.exec(q.order_by(Notification.id).limit(limit)))

    def next_notification_retry(self, now: datetime) -> datetime | None:
        """When the earliest pending row held back (a retry, an outage) becomes due; None if none is."""
        q = (select(Notification.next_attempt_at)
             .where(Notification.state == "pending", Notification.quiet == False)  # noqa: E712
             .where(col(Notification.next_attempt_at) > now)
             .order_by(col(Notification.next_attempt_at)).limit(1))
        return self.s.exec(q).first()

    def notifications(self, kind: str | None = None, state: str | None = None) -> list[Notification]:
        q = select(Notification)
        if kind:
            q = q.where(Notification.kind == kind)
        if state:
            q = q.where(Notification.state == state)
        return list(self.s.exec(q.order_by(Notification.id)))

    # audit
    def audit(self, actor: str, action: str, procurement_id: int | None = None, **details) -> AuditLog:
        row = AuditLog(actor=actor, action=action, procurement_id=procurement_id, details=_jsonable(details))
        self.s.add(row)
        return row

    def audit_rows(self, procurement_id: int | None = None, action: str | None = None) -> Sequence[AuditLog]:
        q = select(AuditLog)
        if procurement_id is not None:
            q = q.where(AuditLog.procurement_id == procurement_id)
        if action:
            q = q.where(AuditLog.action == action)
        return list(self.s.exec(q.order_by(AuditLog.id)))

    def count(self, model, *where) -> int:
        q = select(func.count()).select_from(model)
        for w in where:
            q = q.where(w)
        return int(self.s.exec(q).one())


def _jsonable(v):
    from decimal import Decimal

    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if hasattr(v, "value") and not isinstance(v, (int, float, str, bool)):
        return v.value
    return v
