"""Domain vocabulary shared by every layer. Pure: no I/O, no imports from other hankebot packages."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal


class PersonType(str, enum.Enum):
    NATURAL = "natural"  # füüsiline isik
    LEGAL = "legal"  # juriidiline isik


class PriceBasis(str, enum.Enum):
    NATURAL_TOTAL = "natural_total"  # "füüsilise isiku maksumus" B15, kogukulu
    LEGAL_WITH_VAT = "legal_with_vat"  # "juriidilise isiku maksumus" D2, kogukulu km-ga


class FormKind(str, enum.Enum):
    OFFER = "offer"  # Lisa 2 pakkumuse vorm
    COST = "cost"  # Lisa 3 maksumuse vorm
    OTHER = "other"


# what an offer form yields (mailer.forms.offer_form reads them; a config's form `labels` may name them)
OFFER_FIELDS = ("bidder_name", "registry_code", "parts", "trainers", "materials", "methods")


class MessageKind(str, enum.Enum):
    BID = "bid"
    DECLINE = "decline"
    QUESTION = "question"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OTHER = "other"


@dataclass(frozen=True)
class PriceCell:
    """Where a cost form holds the price for one basis."""

    basis: PriceBasis
    sheet: str
    cell: str  # A1 notation, e.g. "B15"


@dataclass(frozen=True)
class CostFormSpec:
    cells: tuple[PriceCell, ...]
    min_price: Decimal | None = None  # below (or zero/negative) -> problem "implausible_price"
    max_price: Decimal | None = None  # above -> problem "implausible_price"


@dataclass(frozen=True)
class FormSpec:
    """A form of the procurement: what bidders get with the invitation and must send back."""

    key: str  # e.g. "offer_form", "cost_form"
    title: str  # e.g. "Lisa 3 maksumuse vorm"
    kind: FormKind
    required: bool = True
    cost: CostFormSpec | None = None  # only for kind == COST


@dataclass
class PriceReading:
    """What a cost form says: a Decimal price on one basis, or problems."""

    price: Decimal | None = None
    basis: PriceBasis | None = None
    sheet: str | None = None
    cell: str | None = None
    problems: list = field(default_factory=list)  # list[Problem]
