"""Evaluation vocabulary: criteria, grades, bids to score and the scoring results.

Plain data, no I/O. The storage layer fills these; `hankebot.core.scoring` computes the
results; `hankebot.service.protocol` renders them. All amounts and points are `Decimal`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal, Mapping

CriterionKind = Literal["price", "graded"]
PriceFormula = Literal["seed", "ratio", "interpolation"]
RoundingMode = Literal["half_up", "half_even"]
TieBreak = Literal["earliest_receipt", "quality_first"]


def to_decimal(value: object, what: str) -> Decimal:
    """Decimal from Decimal/int/str; floats are refused (they cannot hold 0,1 exactly)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what} must be Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, (int, str)):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{what} is not a number: {value!r}") from None
    raise TypeError(f"{what} must be Decimal, int or str, not {type(value).__name__}")


@dataclass(frozen=True)
class Level:
    """One grading level of an expert-graded criterion, e.g. 30 "vastab täielikult"."""

    points: Decimal
    name: str
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", to_decimal(self.points, "Level.points"))


@dataclass(frozen=True)
class Criterion:
    """An evaluation criterion ("hindamiskriteerium") with its weight ("osakaal").

    kind "price": scored by `formula` from the bids' prices (lowest is best).
    kind "graded": scored by the expert choosing one of `levels`.
    """

    key: str
    name: str
    weight: Decimal
    kind: CriterionKind
    formula: PriceFormula | None = None
    levels: tuple[Level, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", to_decimal(self.weight, "Criterion.weight"))
        object.__setattr__(self, "levels", tuple(self.levels))

    def level_for(self, points: Decimal) -> Level | None:
        """The level whose points equal `points` (numerically), or None."""
        for level in self.levels:
            if level.points == points:
                return level
        return None


@dataclass(frozen=True)
class ScoringRules:
    """How criterion scores are rounded and ties are broken.

    Every criterion score is computed exactly (high-precision Decimal) and rounded once to
    `rounding_places` with `rounding`; the total is the exact sum of the rounded scores.
    """

    rounding_places: int = 2
    rounding: RoundingMode = "half_up"
    tie_break: TieBreak = "earliest_receipt"

    def __post_init__(self) -> None:
        if not isinstance(self.rounding_places, int) or not 0 <= self.rounding_places <= 10:
            raise ValueError(f"rounding_places must be an int 0..10, not {self.rounding_places!r}")
        if self.rounding not in ("half_up", "half_even"):
            raise ValueError(f"rounding must be 'half_up' or 'half_even', not {self.rounding!r}")
        if self.tie_break not in ("earliest_receipt", "quality_first"):
            raise ValueError(f"tie_break must be 'earliest_receipt' or 'quality_first', not {self.tie_break!r}")


@dataclass(frozen=True)
class Grade:
    """The expert's grade of one bid on one graded criterion."""

    points: Decimal
    level_name: str
    justification: str
    graded_by: str
    graded_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", to_decimal(self.points, "Grade.points"))


@dataclass
class BidForScoring:
    """One bid of one part as the scorer sees it.

    `price` is the bid's price on the procurement's basis (None when unknown);
    `grades` maps criterion key -> Grade for the graded criteria graded so far;
    an `excluded` bid ("kõrvale jäetud") takes no part in scoring, `exclusion_reason` says why;
    `problems` are Estonian notes shown in the protocol; `signatures` the digital signatures' lines.
    """

    bid_id: str
    bidder_key: str
    bidder_name: str
    price: Decimal | None
    received_at: datetime
    grades: Mapping[str, Grade] = field(default_factory=dict)
    excluded: bool = False
    exclusion_reason: str | None = None
    problems: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)  # core.signatures.describe() lines, for the protocol

    def __post_init__(self) -> None:
        if self.price is not None:
            self.price = to_decimal(self.price, "BidForScoring.price")


@dataclass(frozen=True)
class CriterionScore:
    """Points of one bid on one criterion, with an Estonian explanation showing the numbers,
    e.g. "40 − (1200,00 − 1000,00) / 1500,00 × 40 = 34,67"."""

    criterion_key: str
    points: Decimal
    explanation: str


@dataclass
class ScoredBid:
    """A bid with its criterion scores.

    `complete` is False when a grade (or a usable price) is missing; then `total` and `rank`
    are None and `missing` lists in Estonian what is missing. `tie_note` explains, in
    Estonian, how a tie on the total was broken.
    """

    bid: BidForScoring
    scores: list[CriterionScore]
    total: Decimal | None
    rank: int | None
    complete: bool
    missing: list[str] = field(default_factory=list)
    tie_note: str | None = None

    def score_for(self, criterion_key: str) -> CriterionScore | None:
        for score in self.scores:
            if score.criterion_key == criterion_key:
                return score
        return None


@dataclass
class PartResult:
    """The result of one part ("hanke osa"): ranked bids, excluded bids and bids still pending."""

    part_no: int
    part_name: str
    criteria: tuple[Criterion, ...]
    ranked: list[ScoredBid]
    excluded: list[BidForScoring]
    pending: list[ScoredBid]
    rules: ScoringRules


@dataclass(frozen=True)
class BidEntry:
    """One bid as the protocol's participant list shows it: arrival time and price basis, never a late
    bid's price (`late` bids are listed as not opened)."""

    part_no: int
    received_at: datetime
    late: bool
    price_basis: str | None  # "with VAT" / "natural person's total cost" in Estonian, or None


@dataclass(frozen=True)
class Participant:
    """An invitee: answer is "bid" | "declined" | "silent" (also a question only) | "bounced"."""

    name: str
    invited_at: datetime | None
    answer: str
    answered_at: datetime | None = None
    bids: tuple[BidEntry, ...] = ()


@dataclass(frozen=True)
class BidVerdict:
    """The expert's acceptance or rejection of a bid with problems."""

    bidder_name: str
    part_no: int
    accepted: bool
    problems: tuple[str, ...]
    reason: str
    decided_by: str
    decided_at: datetime | None


@dataclass(frozen=True)
class PartVerdict:
    """The successful bid of a part ("edukaks tunnistatud pakkumus")."""

    part_no: int
    bidder_name: str
    total: Decimal | None
    top_ranked: bool
    reason: str | None
    decided_by: str
    decided_at: datetime


@dataclass
class ProtocolData:
    """Everything the evaluation protocol ("hindamise protokoll") shows."""

    procurement_ref: str
    title: str
    procurer_name: str
    deadline: datetime
    generated_at: datetime
    parts: list[PartResult]
    rules: ScoringRules = field(default_factory=ScoringRules)
    graded_by: list[str] = field(default_factory=list)
    prepared_by: str | None = None
    participants: list[Participant] = field(default_factory=list)
    bid_verdicts: list[BidVerdict] = field(default_factory=list)
    part_verdicts: list[PartVerdict] = field(default_factory=list)
    cancelled: tuple[str, str, datetime] | None = None  # (reason, by, when)
