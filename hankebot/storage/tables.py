"""Database tables (sqlmodel). Times are timezone-aware UTC; money is an exact Decimal (see storage.types).

Schema changes go through Alembic migrations (hankebot/storage/migrations); never create_all in production."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from hankebot.storage.types import ExactDecimal, UTCDateTime


#: the rows uq_bid_one_active covers: on-time active bids of a matched bidder
ONE_ACTIVE_WHERE = "status = 'active' AND NOT late AND bidder_id IS NOT NULL"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _jsonlist() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Procurement(SQLModel, table=True):
    __tablename__ = "procurement"
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=64)
    reference: str = Field(max_length=64)
    title: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="draft", max_length=16)
    deadline: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opening_delay_minutes: int = 0
    settings: dict = _json()  # the procurement's config as last loaded (for reports and audits)
    closed_at: Optional[datetime] = _ts()
    updated_at: Optional[datetime] = _ts()


class Part(SQLModel, table=True):
    __tablename__ = "part"
    __table_args__ = (UniqueConstraint("procurement_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    number: int
    name: str = Field(sa_column=Column(Text, nullable=False))
    invited: bool = True


class Bidder(SQLModel, table=True):
    __tablename__ = "bidder"
    __table_args__ = (UniqueConstraint("procurement_id", "key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=300)
    email: str = Field(max_length=320, index=True)
    person_type: str = Field(max_length=16)
    active: bool = True  # False when removed from config (history is kept)


class OutboundMessage(SQLModel, table=True):
    """Every message Hankebot sends to a bidder: invitation, clarification, reminder, receipt.

    A row is written (state 'pending', with its final Message-ID) before sending, so a restart resumes
    the batch and never sends a row twice. 'sending' marks the SMTP transaction in flight."""

    __tablename__ = "outbound_message"
    id: Optional[int] = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    bidder_id: Optional[int] = Field(default=None, foreign_key="bidder.id", index=True)
    kind: str = Field(max_length=16)  # invitation | clarification | reminder | receipt
    batch: str = Field(max_length=128, index=True)  # e.g. "invitation", "clarification:3"
    dedupe_key: str = Field(max_length=255, unique=True)  # kind:batch:bidder
    message_id: str = Field(max_length=255, unique=True)
    recipient: str = Field(max_length=320)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    raw_sha256: str = Field(max_length=64)
    raw_path: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="pending", max_length=16)  # pending | sending | sent | failed
    claimed_at: Optional[datetime] = _ts()  # when a sender claimed the row ('sending'); refreshed per attempt
    claimed_by: Optional[str] = Field(default=None, max_length=255)  # "host:pid:start" of that sender
    attempts: int = 0
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    answers_inbound_id: Optional[int] = Field(default=None, foreign_key="inbound_message.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: Optional[datetime] = _ts()


class InboundMessage(SQLModel, table=True):
    """Every message read from the mailbox. Stored (raw bytes on disk, this row committed) before processing."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("folder", "uidvalidity", "uid", name="uq_inbound_imap_uid"),
        Index("ix_inbound_state", "state"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    folder: str = Field(max_length=255)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: Optional[str] = Field(default=None, max_length=998, index=True)
    sha256: str = Field(max_length=64, index=True)
    raw_path: str = Field(sa_column=Column(Text, nullable=False))
    size: int = 0
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # IMAP INTERNALDATE
    stored_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    state: str = Field(default="stored", max_length=16)  # stored | processed | duplicate | quarantined | own_copy
    kind: Optional[str] = Field(default=None, max_length=16)
    procurement_id: Optional[int] = Field(default=None, foreign_key="procurement.id", index=True)
    bidder_id: Optional[int] = Field(default=None, foreign_key="bidder.id")
    sender: Optional[str] = Field(default=None, max_length=320)
    subject: Optional[str] = Field(default=None, sa_column=Column(Text))
    late: Optional[bool] = None
    duplicate_of: Optional[int] = Field(default=None, foreign_key="inbound_message.id")
    problems: list = _jsonlist()  # [{code, message}]
    summary: dict = _json()  # what was found: attachments, forms, parts, bounce info, signatures
    error: Optional[str] = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    processed_at: Optional[datetime] = _ts()


class ImapCheckpoint(SQLModel, table=True):
    __tablename__ = "imap_checkpoint"
    folder: str = Field(primary_key=True, max_length=255)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: Optional[datetime] = _ts()


class Bid(SQLModel, table=True):
    """A bidder's bid for one part, from one inbound message. A later bid before the deadline supersedes it
    (core.active_bid); the partial unique index holds at most one on-time active bid per bidder and part."""

    __tablename__ = "bid"
    __table_args__ = (
        Index("uq_bid_one_active", "procurement_id", "part_no", "bidder_id", unique=True,
              sqlite_where=text(ONE_ACTIVE_WHERE), postgresql_where=text(ONE_ACTIVE_WHERE)),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    bidder_id: Optional[int] = Field(default=None, foreign_key="bidder.id", index=True)
    sender: str = Field(max_length=320)
    part_no: int
    inbound_message_id: int = Field(foreign_key="inbound_message.id", index=True)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    late: bool = False
    price: Optional[Decimal] = Field(default=None, sa_column=Column(ExactDecimal()))
    price_basis: Optional[str] = Field(default=None, max_length=32)
    forms_found: list = _jsonlist()  # form keys
    missing_forms: list = _jsonlist()  # form keys
    problems: list = _jsonlist()  # [{code, message}]
    offer: dict = _json()  # offer form reading: bidder name, code, trainers, materials, methods
    signatures: list = _jsonlist()  # core.signatures.SignatureReport.as_dict() per signature of the bid's containers
    status: str = Field(default="active", max_length=16)  # active | superseded | held (unverified, newer) | new
    superseded_by: Optional[int] = Field(default=None, foreign_key="bid.id")
    decision: str = Field(default="none", max_length=16)  # none | accepted | rejected (for bids with problems)
    decision_reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    decided_by: Optional[str] = Field(default=None, max_length=200)
    decided_at: Optional[datetime] = _ts()


class PartDecision(SQLModel, table=True):
    """The expert's decision on one part: the successful bid, whether it was the top-ranked one, the reason."""

    __tablename__ = "part_decision"
    __table_args__ = (UniqueConstraint("procurement_id", "part_no"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    part_no: int
    bid_id: int = Field(foreign_key="bid.id")
    top_ranked: bool = True
    reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    total: Optional[Decimal] = Field(default=None, sa_column=Column(ExactDecimal()))
    decided_by: str = Field(max_length=200)
    decided_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Grade(SQLModel, table=True):
    __tablename__ = "grade"
    __table_args__ = (UniqueConstraint("bid_id", "criterion_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    bid_id: int = Field(foreign_key="bid.id", index=True)
    criterion_key: str = Field(max_length=64)
    points: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    level_name: str = Field(max_length=200)
    justification: str = Field(sa_column=Column(Text, nullable=False))
    graded_by: str = Field(max_length=200)
    graded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Notification(SQLModel, table=True):
    """Outbox of staff notifications: a stored row first, then sent by a worker (retries, 429, restarts)."""

    __tablename__ = "notification"
    id: Optional[int] = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)  # event key + chat
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=32)
    procurement_id: Optional[int] = Field(default=None, foreign_key="procurement.id", index=True)
    facts: dict = _json()  # the domain event: {"event": kind, ...facts} (core.events), rendered at delivery
    text: str = Field(default="", sa_column=Column(Text, nullable=False))  # the text as delivered ("" until then)
    payload: dict = _json()  # e.g. {"document": path, "buttons": [...]}
    quiet: bool = False  # listed on request, not pushed (auto-replies)
    state: str = Field(default="pending", max_length=16)  # pending | sent | failed | held
    attempts: int = 0
    next_attempt_at: Optional[datetime] = _ts()
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: Optional[datetime] = _ts()


class AuditLog(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted (purge keeps them)."""

    __tablename__ = "audit_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=200)  # "system", "cli", "telegram:<user id>"
    action: str = Field(max_length=64)
    procurement_id: Optional[int] = Field(default=None, foreign_key="procurement.id", index=True)
    details: dict = _json()


class BotState(SQLModel, table=True):
    """The Telegram bot's conversation state (PTB persistence): one JSON row per user or chat, so a flow in
    progress (a justification being typed) survives a restart."""

    __tablename__ = "bot_state"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # user | chat | conversation
    key: str = Field(max_length=255)  # user/chat id, or the conversation handler's name
    data: dict = _json()
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
