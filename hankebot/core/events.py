"""Domain events: what happened, as facts (ids, names, times, problem codes and their data), never text.

The pipeline records an event in the outbox in the same transaction as the change it reports
(`service.notify.publish`); the bot renders it into Estonian at delivery, when it can ask whether the
procurement's bids are still sealed (`bot.render`). An event's facts are plain JSON (`to_facts`,
`event_from_facts`), so a pending row survives restarts and upgrades.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class ProblemFact:
    """A problem as recorded: `code` stable, `message` the reader's Estonian text (may name a price),
    `sealed_message` the same without any amount (shown while bids are sealed), `data` structured detail."""

    code: str
    message: str
    sealed_message: str | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    KIND: ClassVar[str] = ""
    procurement_id: int | None = None

    def to_facts(self) -> dict[str, Any]:
        return {"event": self.KIND, **_jsonable(dataclasses.asdict(self))}


@dataclass(frozen=True)
class BidReceived(Event):
    KIND: ClassVar[str] = "bid_received"
    inbound_id: int = 0
    bidder_name: str = ""
    parts: tuple[int, ...] = ()
    received_at: datetime | None = None
    missing_forms: tuple[str, ...] = ()
    problems: tuple[ProblemFact, ...] = ()
    replaces_earlier: bool = False
    signatures: tuple[str, ...] = ()  # core.signatures.describe() of each signature (who and when: not sealed)


@dataclass(frozen=True)
class BidLate(Event):
    KIND: ClassVar[str] = "bid_late"
    inbound_id: int = 0
    bidder_name: str = ""
    received_at: datetime | None = None
    deadline: datetime | None = None


@dataclass(frozen=True)
class Declined(Event):
    KIND: ClassVar[str] = "declined"
    inbound_id: int = 0
    bidder_name: str = ""
    received_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class QuestionAsked(Event):
    KIND: ClassVar[str] = "question_asked"
    inbound_id: int = 0
    sender_name: str = ""
    received_at: datetime | None = None
    subject: str | None = None
    excerpt: str | None = None


@dataclass(frozen=True)
class AutoReplied(Event):
    KIND: ClassVar[str] = "auto_replied"
    inbound_id: int = 0
    sender_name: str = ""
    subject: str = ""


@dataclass(frozen=True)
class Bounced(Event):
    KIND: ClassVar[str] = "bounced"
    inbound_id: int = 0
    recipients: tuple[str, ...] = ()
    bidder_name: str | None = None
    reason: str | None = None
    what: str = "kiri"  # the bounced message's kind: invitation | reminder | clarification | receipt | ...


@dataclass(frozen=True)
class OtherMail(Event):
    KIND: ClassVar[str] = "other_mail"
    inbound_id: int = 0
    sender_name: str = ""
    subject: str = ""


@dataclass(frozen=True)
class ForeignBounce(Event):
    """A delivery failure of mail that is not the procurement's own (listed, never pushed)."""

    KIND: ClassVar[str] = "foreign_bounce"
    inbound_id: int = 0
    subject: str = ""


@dataclass(frozen=True)
class UnknownSender(Event):
    KIND: ClassVar[str] = "unknown_sender"
    inbound_id: int = 0
    sender: str = ""
    subject: str | None = None
    received_at: datetime | None = None
    looks_like: str | None = None  # MessageKind value


@dataclass(frozen=True)
class NotInvitedAddress(Event):
    KIND: ClassVar[str] = "not_invited_address"
    inbound_id: int = 0
    bidder_name: str = ""
    problems: tuple[ProblemFact, ...] = ()


@dataclass(frozen=True)
class Quarantined(Event):
    KIND: ClassVar[str] = "quarantined"
    inbound_id: int = 0
    error: str = ""


@dataclass(frozen=True)
class DeadlineApproaching(Event):
    KIND: ClassVar[str] = "deadline_approaching"
    proc_key: str = ""
    label: str = ""  # scheduler code: 3wd | 1d | 2h


@dataclass(frozen=True)
class DeadlinePassed(Event):
    KIND: ClassVar[str] = "deadline_passed"
    proc_key: str = ""


@dataclass(frozen=True)
class DeadlineExtended(Event):
    KIND: ClassVar[str] = "deadline_extended"
    reference: str = ""
    old: datetime | None = None
    new: datetime | None = None
    actor: str = ""


@dataclass(frozen=True)
class PricesOpened(Event):
    KIND: ClassVar[str] = "prices_opened"
    reference: str = ""


@dataclass(frozen=True)
class ResultsReady(Event):
    KIND: ClassVar[str] = "results_ready"
    reference: str = ""
    title: str = ""
    parts_ranked: int = 0
    parts_total: int = 0
    winners: tuple[tuple[int, str, str], ...] = ()  # (part, bidder name, total points as shown)


@dataclass(frozen=True)
class ConfigRejected(Event):
    KIND: ClassVar[str] = "config_rejected"
    error: str = ""
    last_good_saved: str | None = None  # when the copy the service runs on was saved (start-up case)


@dataclass(frozen=True)
class OutboundStopped(Event):
    """A fault that would fail every message alike (the SMTP server, the login, the sender) stopped a batch
    of outgoing mail; `left` messages wait for the next run or service start."""

    KIND: ClassVar[str] = "outbound_stopped"
    proc_key: str = ""
    error: str = ""
    left: int = 0


@dataclass(frozen=True)
class OutboundFailed(Event):
    """One outgoing message failed for good (refused address, attempts used up, deadline passed)."""

    KIND: ClassVar[str] = "outbound_failed"
    proc_key: str = ""
    what: str = ""  # the message's kind: invitation | clarification | reminder | receipt | decision | cancellation
    recipient: str = ""
    error: str = ""


@dataclass(frozen=True)
class NoBids(Event):
    """The deadline passed without an admissible bid: the expert is asked to cancel or extend."""

    KIND: ClassVar[str] = "no_bids"
    reference: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Rendered(Event):
    """A fixed text: a row made before events existed (pending at the upgrade, migration 0007) or the
    group notice that stands in for a sealed bid's detail (service.notify)."""

    KIND: ClassVar[str] = "rendered"
    text: str = ""


EVENTS: dict[str, type[Event]] = {c.KIND: c for c in (
    BidReceived, BidLate, Declined, QuestionAsked, AutoReplied, Bounced, OtherMail, ForeignBounce, UnknownSender,
    NotInvitedAddress, Quarantined, DeadlineApproaching, DeadlinePassed, DeadlineExtended, PricesOpened,
    ResultsReady, ConfigRejected, OutboundStopped, OutboundFailed, NoBids, Rendered)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def event_from_facts(facts: dict[str, Any]) -> Event:
    """The event a row's facts describe (unknown kinds raise KeyError)."""
    cls = EVENTS[facts["event"]]
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in facts:
            continue
        v = facts[f.name]
        t = str(f.type)
        if v is not None and "datetime" in t:
            v = datetime.fromisoformat(v)
        elif "ProblemFact" in t:
            v = tuple(ProblemFact(**x) for x in v)
        elif t.startswith("tuple[tuple"):
            v = tuple(tuple(x) for x in v)
        elif t.startswith("tuple"):
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw)
