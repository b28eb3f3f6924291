"""Scoring of bids: price formulas, expert grades, totals, ranking and tie-breaks. Pure.

Arithmetic: every computation runs in a local `decimal` context with 50 significant digits
(no float anywhere). Each criterion score is rounded exactly once, at the end, to
`rules.rounding_places` decimals with `rules.rounding` (ROUND_HALF_UP or ROUND_HALF_EVEN);
a bid's total is the exact sum of its rounded criterion scores (as a human re-adding the
protocol's columns would get).

Price formulas (lowest/highest over the bids of the part that are not excluded and have a
positive price; with a single such bid it gets the full weight):

- "seed": weight − (price − lowest) / highest × weight  (verbatim from the seed documents:
  '"osakaal" - ("pakkumuse väärtus" - madalaim väärtus") / "suurim väärtus" * "osakaal"')
- "ratio": lowest / price × weight
- "interpolation": weight × (highest − price) / (highest − lowest); all prices equal -> weight
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Iterable, Sequence

from hankebot.core.evaluation import (
    BidForScoring,
    Criterion,
    CriterionScore,
    Level,
    PartResult,
    ScoredBid,
    ScoringRules,
)

PRECISION = 50
_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
_MINUS = "\u2212"  # −
_TIMES = "\u00d7"  # ×

FORMULA_TEXT = {
    "seed": f"osakaal {_MINUS} (pakkumuse väärtus {_MINUS} madalaim väärtus) / suurim väärtus {_TIMES} osakaal",
    "ratio": f"madalaim väärtus / pakkumuse väärtus {_TIMES} osakaal",
    "interpolation": (
        f"osakaal {_TIMES} (suurim väärtus {_MINUS} pakkumuse väärtus) / "
        f"(suurim väärtus {_MINUS} madalaim väärtus)"
    ),
}


# ---------------------------------------------------------------- formatting (Estonian)


def format_number(value: Decimal, places: int | None = None, thousands: bool = False) -> str:
    """Estonian number text: decimal comma, optional space as thousands separator.

    `places=None` prints the value without trailing zeros (40 -> "40", 12.5 -> "12,5").
    """
    if places is None:
        text = format(value.normalize(), ",f" if thousands else "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = format(value, f",.{places}f" if thousands else f".{places}f")
    return text.translate(str.maketrans({",": " ", ".": ","}))


def format_eur(value: Decimal, places: int = 2) -> str:
    """Money in Estonian format: Decimal("1200") -> "1 200,00 €"."""
    return f"{format_number(value, places, thousands=True)} €"


def _amount(value: Decimal) -> str:
    """A price inside a formula explanation: at least 2 decimals, no thousands separator."""
    exponent = value.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return format_number(value, places)


def rounding_description(rules: ScoringRules) -> str:
    """E.g. "Ümardamine: 2 komakohta, pooled ülespoole"."""
    n = rules.rounding_places
    places = "täisarvuni" if n == 0 else ("1 komakoht" if n == 1 else f"{n} komakohta")
    mode = "pooled ülespoole" if rules.rounding == "half_up" else "pooled lähima paarisnumbrini"
    return f"Ümardamine: {places}, {mode}"


def tie_break_description(rules: ScoringRules) -> str:
    """The tie-break rule in Estonian."""
    if rules.tie_break == "quality_first":
        return (
            "Võrdsete koondpunktide korral eelistatakse pakkumust, mille kvaliteedikriteeriumide "
            "punktisumma on suurem; selle võrdsuse korral varem laekunud pakkumust."
        )
    return "Võrdsete koondpunktide korral eelistatakse varem laekunud pakkumust."


def formula_description(criterion: Criterion) -> str:
    """How a criterion is scored, in Estonian."""
    if criterion.kind == "price":
        return FORMULA_TEXT[_formula(criterion)]
    levels = "; ".join(f"{format_number(lv.points)} p – {lv.name}" for lv in criterion.levels)
    return f"Hindaja valib taseme: {levels}"


# ---------------------------------------------------------------- primitives


def round_points(value: Decimal, rules: ScoringRules) -> Decimal:
    """Round a criterion score once, as the rules say."""
    with localcontext(Context(prec=PRECISION)):
        return value.quantize(Decimal(1).scaleb(-rules.rounding_places), rounding=_ROUNDING[rules.rounding])


def _formula(criterion: Criterion) -> str:
    formula = criterion.formula or "seed"  # the seed documents' formula is the default
    if formula not in FORMULA_TEXT:
        raise ValueError(f"Kriteeriumi „{criterion.name}“ tundmatu hinnavalem: {formula!r}")
    return formula


def price_points(
    criterion: Criterion,
    price: Decimal,
    lowest: Decimal,
    highest: Decimal,
    n_bids: int,
    rules: ScoringRules,
) -> CriterionScore:
    """Score one price against the part's lowest and highest price (see module docstring)."""
    formula = _formula(criterion)
    w = criterion.weight
    ws = format_number(w)
    with localcontext(Context(prec=PRECISION)):
        if n_bids <= 1:
            pts = round_points(w, rules)
            return CriterionScore(
                criterion.key, pts, f"Ainus hinnatav pakkumus saab maksimaalse {ws} p = {format_number(pts, rules.rounding_places)}"
            )
        p, lo, hi = _amount(price), _amount(lowest), _amount(highest)
        if formula == "seed":
            raw = w - (price - lowest) / highest * w
            text = f"{ws} {_MINUS} ({p} {_MINUS} {lo}) / {hi} {_TIMES} {ws}"
        elif formula == "ratio":
            raw = lowest / price * w
            text = f"{lo} / {p} {_TIMES} {ws}"
        else:
            if highest == lowest:
                pts = round_points(w, rules)
                return CriterionScore(
                    criterion.key, pts, f"Kõik hinnad on võrdsed: {ws} p = {format_number(pts, rules.rounding_places)}"
                )
            raw = w * (highest - price) / (highest - lowest)
            text = f"{ws} {_TIMES} ({hi} {_MINUS} {p}) / ({hi} {_MINUS} {lo})"
        pts = round_points(raw, rules)
    return CriterionScore(criterion.key, pts, f"{text} = {format_number(pts, rules.rounding_places)}")


def validate_grade(criterion: Criterion, points: Decimal) -> Level:
    """The level matching `points`; ValueError (Estonian message) when none does."""
    if criterion.kind != "graded":
        raise ValueError(f"Kriteerium „{criterion.name}“ ei ole hindaja hinnatav.")
    if not isinstance(points, Decimal):
        raise ValueError(f"Kriteeriumi „{criterion.name}“ punktid peavad olema Decimal, mitte {type(points).__name__}.")
    level = criterion.level_for(points)
    if level is None:
        allowed = ", ".join(format_number(lv.points) for lv in criterion.levels) or "tasemed puuduvad"
        raise ValueError(
            f"Kriteeriumi „{criterion.name}“ hinne {format_number(points)} p ei vasta ühelegi "
            f"tasemele (lubatud: {allowed})."
        )
    return level


# ---------------------------------------------------------------- a part


@dataclass
class _Work:
    scored: ScoredBid
    quality: Decimal


def _usable_price(bid: BidForScoring) -> bool:
    return bid.price is not None and bid.price.is_finite() and bid.price > 0


def _receipt_key(bid: BidForScoring) -> float:
    """Comparable receipt time even if aware and naive datetimes get mixed (naive = local time)."""
    return bid.received_at.timestamp()


def score_part(
    criteria: Sequence[Criterion],
    bids: Iterable[BidForScoring],
    rules: ScoringRules = ScoringRules(),
    part_no: int = 1,
    part_name: str = "",
) -> PartResult:
    """Score, total and rank the bids of one part.

    Excluded bids are listed in `excluded` and take no part in lowest/highest. A bid missing a
    grade (or a usable price) goes to `pending` with total/rank None; its other scores (e.g.
    the price score) are still computed. Raises ValueError when a grade's points match none of
    its criterion's levels.
    """
    criteria = tuple(criteria)
    bids = list(bids)
    excluded = [b for b in bids if b.excluded]
    active = [b for b in bids if not b.excluded]
    priced = [b.price for b in active if _usable_price(b)]
    lowest = min(priced) if priced else None
    highest = max(priced) if priced else None

    works: list[_Work] = []
    for bid in active:
        scores: list[CriterionScore] = []
        missing: list[str] = []
        quality = Decimal(0)
        for c in criteria:
            if c.kind == "price":
                if bid.price is None:
                    missing.append(f"Hind puudub ({c.name})")
                elif not _usable_price(bid):
                    shown = format_eur(bid.price) if bid.price.is_finite() else str(bid.price)
                    missing.append(f"Hind ei ole positiivne arv: {shown} ({c.name})")
                else:
                    scores.append(price_points(c, bid.price, lowest, highest, len(priced), rules))
            else:
                grade = bid.grades.get(c.key)
                if grade is None:
                    missing.append(f"Hindamata: {c.name}")
                    continue
                level = validate_grade(c, grade.points)
                pts = round_points(grade.points, rules)
                quality += pts
                scores.append(
                    CriterionScore(c.key, pts, f"Tase „{level.name}“ = {format_number(pts, rules.rounding_places)}")
                )
        complete = not missing
        total = sum((s.points for s in scores), Decimal(0)) if complete else None
        works.append(_Work(ScoredBid(bid, scores, total, None, complete, missing), quality))

    done = [w for w in works if w.scored.complete]
    pending = [w.scored for w in works if not w.scored.complete]

    def key(w: _Work):
        b = w.scored.bid
        tail = (_receipt_key(b), b.bidder_name, b.bid_id)
        if rules.tie_break == "quality_first":
            return (-w.scored.total, -w.quality) + tail
        return (-w.scored.total,) + tail

    done.sort(key=key)
    for i, w in enumerate(done, start=1):
        w.scored.rank = i
    _note_ties(done, rules)
    pending.sort(key=lambda s: (_receipt_key(s.bid), s.bid.bidder_name, s.bid.bid_id))
    return PartResult(
        part_no=part_no,
        part_name=part_name,
        criteria=criteria,
        ranked=[w.scored for w in done],
        excluded=excluded,
        pending=pending,
        rules=rules,
    )


def _note_ties(done: list[_Work], rules: ScoringRules) -> None:
    """Explain, on each bid tied on the total with another, how the tie was broken."""
    how = (
        "viik lahendati kvaliteedikriteeriumide punktisumma, selle võrdsuse korral laekumisaja järgi"
        if rules.tie_break == "quality_first"
        else "viik lahendati laekumisaja järgi (varem laekunud eespool)"
    )
    for w in done:
        others = [o.scored.bid.bidder_name for o in done if o is not w and o.scored.total == w.scored.total]
        if others:
            total = format_number(w.scored.total, rules.rounding_places)
            w.scored.tie_note = f"Võrdne koondpunktide arv ({total}) pakkujaga {', '.join(others)}; {how}."
