"""Scoring with hand-computed examples (the arithmetic is in the comments)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.core.evaluation import BidForScoring, Criterion, Grade, Level, ScoringRules
from hankebot.core.scoring import (
    format_eur,
    format_number,
    formula_description,
    round_points,
    rounding_description,
    score_part,
    validate_grade,
)

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)
LEVELS = (
    Level(D(30), "vastab täielikult", "..."),
    Level(D(15), "vastab osaliselt", "..."),
    Level(D(5), "ei vasta või vastab vähesel määral", "..."),
)
MATERIALS = Criterion("materials", "Õppevahendid- ja materjalid", D(30), "graded", None, LEVELS)
METHODS = Criterion("methods", "Kasutatavad õppemeetodid ja valiku põhjendused", D(30), "graded", None, LEVELS)


def price_criterion(formula: str = "seed", weight: D = D(40)) -> Criterion:
    return Criterion("price", "Ühe koolitusgrupi maksumus", weight, "price", formula)


def bid(name: str, price, minutes: int = 0, grades: dict | None = None, **kw) -> BidForScoring:
    g = {k: Grade(D(v), "", "põhjendus", "Mari Maasikas", T0) for k, v in (grades or {}).items()}
    return BidForScoring(
        bid_id=f"id-{name}",
        bidder_key=name.lower(),
        bidder_name=name,
        price=None if price is None else D(price),
        received_at=T0 + timedelta(minutes=minutes),
        grades=g,
        **kw,
    )


def points_by_name(result) -> dict[str, D]:
    return {s.bid.bidder_name: s.scores[0].points for s in result.ranked + result.pending if s.scores}


# ---------------------------------------------------------------- price formulas


def test_seed_formula_divides_by_the_highest_price_three_bids():
    # lowest 1000, highest 1500, weight 40:
    # 1000: 40 − (1000 − 1000) / 1500 × 40 = 40
    # 1200: 40 − 200 / 1500 × 40 = 40 − 5,3333… = 34,6666… -> 34,67
    # 1500: 40 − 500 / 1500 × 40 = 40 − 13,3333… = 26,6666… -> 26,67
    r = score_part([price_criterion()], [bid("A", "1000"), bid("B", "1200", 1), bid("C", "1500", 2)])
    assert points_by_name(r) == {"A": D("40.00"), "B": D("34.67"), "C": D("26.67")}
    b = next(s for s in r.ranked if s.bid.bidder_name == "B")
    assert b.scores[0].explanation == "40 − (1200,00 − 1000,00) / 1500,00 × 40 = 34,67"
    assert [s.bid.bidder_name for s in r.ranked] == ["A", "B", "C"]
    assert [s.rank for s in r.ranked] == [1, 2, 3]


def test_seed_formula_four_bids_exact_values():
    # lowest 1000, highest 2000:
    # 1200: 40 − 200/2000×40 = 40 − 4 = 36; 1500: 40 − 500/2000×40 = 30; 2000: 40 − 20 = 20
    r = score_part(
        [price_criterion()],
        [bid("A", "1000"), bid("B", "1200", 1), bid("C", "1500", 2), bid("D", "2000", 3)],
    )
    assert points_by_name(r) == {"A": D("40.00"), "B": D("36.00"), "C": D("30.00"), "D": D("20.00")}
    # the seed formula is NOT the interpolation: the worst bid keeps 20 points, not 0
    assert r.ranked[-1].total == D("20.00")


def test_ratio_formula():
    # 1000/1000×40 = 40; 1000/1200×40 = 33,333… -> 33,33; 1000/1500×40 = 26,666… -> 26,67
    r = score_part([price_criterion("ratio")], [bid("A", "1000"), bid("B", "1200"), bid("C", "1500")])
    assert points_by_name(r) == {"A": D("40.00"), "B": D("33.33"), "C": D("26.67")}
    b = next(s for s in r.ranked if s.bid.bidder_name == "B")
    assert b.scores[0].explanation == "1000,00 / 1200,00 × 40 = 33,33"


def test_interpolation_formula():
    # 40 × (1500 − 1000)/(1500 − 1000) = 40; 40 × (1500 − 1200)/500 = 24; 40 × 0/500 = 0
    r = score_part([price_criterion("interpolation")], [bid("A", "1000"), bid("B", "1200"), bid("C", "1500")])
    assert points_by_name(r) == {"A": D("40.00"), "B": D("24.00"), "C": D("0.00")}
    b = next(s for s in r.ranked if s.bid.bidder_name == "B")
    assert b.scores[0].explanation == "40 × (1500,00 − 1200,00) / (1500,00 − 1000,00) = 24,00"


@pytest.mark.parametrize("formula", ["seed", "ratio", "interpolation"])
def test_equal_prices_get_equal_full_points(formula):
    r = score_part([price_criterion(formula)], [bid("A", "1000"), bid("B", "1000", 5)])
    assert points_by_name(r) == {"A": D("40.00"), "B": D("40.00")}


@pytest.mark.parametrize("formula", ["seed", "ratio", "interpolation"])
def test_equal_prices_below_a_higher_one_get_equal_points(formula):
    r = score_part([price_criterion(formula)], [bid("A", "1200"), bid("B", "1200", 5), bid("C", "1000", 9)])
    pts = points_by_name(r)
    assert pts["A"] == pts["B"] < pts["C"] == D("40.00")


@pytest.mark.parametrize("formula", ["seed", "ratio", "interpolation"])
def test_single_bid_gets_full_weight(formula):
    r = score_part([price_criterion(formula)], [bid("Ainus OÜ", "99999.99")])
    only = r.ranked[0]
    assert only.scores[0].points == D("40.00") and only.total == D("40.00") and only.rank == 1
    assert "Ainus hinnatav pakkumus" in only.scores[0].explanation


def test_price_formula_none_defaults_to_seed_and_unknown_formula_is_rejected():
    r = score_part([Criterion("price", "Hind", D(40), "price", None)], [bid("A", "1000"), bid("B", "1500")])
    # 40 − 500/1500×40 = 26,666… -> 26,67 (seed)
    assert points_by_name(r)["B"] == D("26.67")
    with pytest.raises(ValueError, match="tundmatu hinnavalem"):
        score_part([Criterion("price", "Hind", D(40), "price", "cubic")], [bid("A", "1"), bid("B", "2")])


# ---------------------------------------------------------------- rounding


def test_rounding_half_up_vs_half_even_two_places():
    # lowest 1000, highest 1600; 1000,6: 40 − 0,6/1600×40 = 40 − 0,015 = 39,985 exactly
    bids = [bid("A", "1000"), bid("B", "1000.6"), bid("C", "1600")]
    up = score_part([price_criterion()], bids, ScoringRules(2, "half_up"))
    even = score_part([price_criterion()], bids, ScoringRules(2, "half_even"))
    assert points_by_name(up)["B"] == D("39.99")
    assert points_by_name(even)["B"] == D("39.98")
    # C: 40 − 600/1600×40 = 25 exactly either way
    assert points_by_name(up)["C"] == points_by_name(even)["C"] == D("25.00")


def test_rounding_to_whole_points():
    # interpolation: 40 × (2000 − 1687,5)/(2000 − 1000) = 40 × 0,3125 = 12,5 exactly
    bids = [bid("A", "1000"), bid("B", "1687.5"), bid("C", "2000")]
    assert points_by_name(score_part([price_criterion("interpolation")], bids, ScoringRules(0, "half_up")))["B"] == D("13")
    assert points_by_name(score_part([price_criterion("interpolation")], bids, ScoringRules(0, "half_even")))["B"] == D("12")


def test_rounding_happens_once_per_criterion_and_total_is_sum_of_rounded():
    # B: price 40 − 200/1500×40 = 34,666… -> 34,67; grades 15 + 30 -> total 79,67
    r = score_part(
        [price_criterion(), MATERIALS, METHODS],
        [bid("A", "1000", 0, {"materials": 5, "methods": 5}), bid("B", "1200", 1, {"materials": 15, "methods": 30}), bid("C", "1500", 2, {"materials": 5, "methods": 5})],
    )
    b = next(s for s in r.ranked if s.bid.bidder_name == "B")
    assert b.total == D("79.67")
    assert str(b.total) == "79.67"


def test_round_points_and_descriptions():
    assert round_points(D("2.345"), ScoringRules(2, "half_up")) == D("2.35")
    assert round_points(D("2.345"), ScoringRules(2, "half_even")) == D("2.34")
    assert rounding_description(ScoringRules()) == "Ümardamine: 2 komakohta, pooled ülespoole"
    assert rounding_description(ScoringRules(0, "half_even")) == "Ümardamine: täisarvuni, pooled lähima paarisnumbrini"
    assert "suurim väärtus" in formula_description(price_criterion())
    assert "vastab täielikult" in formula_description(MATERIALS)


def test_decimal_never_float():
    r = score_part(
        [price_criterion(), MATERIALS, METHODS],
        [bid("A", "1000", 0, {"materials": 30, "methods": 15}), bid("B", "1333.33", 1, {"materials": 15, "methods": 15})],
    )
    for s in r.ranked:
        assert type(s.total) is D
        for cs in s.scores:
            assert type(cs.points) is D
    with pytest.raises(ValueError, match="Decimal"):
        validate_grade(MATERIALS, 30.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- grades, exclusions, pending


def test_grades_are_summed_with_price_points():
    # A: 40 + 30 + 15 = 85; B: 40 − 500/1500×40 = 26,67 + 30 + 30 = 86,67 -> B first
    r = score_part(
        [price_criterion(), MATERIALS, METHODS],
        [bid("A", "1000", 0, {"materials": 30, "methods": 15}), bid("B", "1500", 1, {"materials": 30, "methods": 30})],
    )
    assert [(s.bid.bidder_name, s.total, s.rank) for s in r.ranked] == [("B", D("86.67"), 1), ("A", D("85.00"), 2)]
    a = r.ranked[1]
    assert a.score_for("methods").points == D("15.00")
    assert a.score_for("methods").explanation == "Tase „vastab osaliselt“ = 15,00"


def test_grade_not_matching_a_level_is_rejected():
    assert validate_grade(MATERIALS, D("15.0")).name == "vastab osaliselt"
    with pytest.raises(ValueError, match=r"hinne 20 p ei vasta ühelegi tasemele \(lubatud: 30, 15, 5\)"):
        validate_grade(MATERIALS, D(20))
    with pytest.raises(ValueError, match="Õppevahendid- ja materjalid"):
        score_part([price_criterion(), MATERIALS], [bid("A", "1000", 0, {"materials": 20})])
    with pytest.raises(ValueError, match="ei ole hindaja hinnatav"):
        validate_grade(price_criterion(), D(40))


def test_excluded_bids_take_no_part_in_lowest_and_highest():
    # A (1000) excluded -> lowest 1200, highest 1500 (D at 3000 excluded too)
    # B 1200: 40; C 1500: 40 − 300/1500×40 = 40 − 8 = 32
    r = score_part(
        [price_criterion()],
        [
            bid("A", "1000", excluded=True, exclusion_reason="Hilinenud pakkumus"),
            bid("B", "1200", 1),
            bid("C", "1500", 2),
            bid("D", "3000", 3, excluded=True, exclusion_reason="Maksumuse vorm puudub"),
        ],
    )
    assert points_by_name(r) == {"B": D("40.00"), "C": D("32.00")}
    assert [b.bidder_name for b in r.excluded] == ["A", "D"]
    assert r.excluded[0].exclusion_reason == "Hilinenud pakkumus"


def test_missing_grade_puts_bid_in_pending_with_price_score_shown():
    # all three prices count: B 1200 -> 40 − 200/1500×40 = 34,67 even though B is pending
    r = score_part(
        [price_criterion(), MATERIALS, METHODS],
        [
            bid("A", "1000", 0, {"materials": 30, "methods": 30}),
            bid("B", "1200", 1, {"materials": 15}),
            bid("C", "1500", 2, {"materials": 5, "methods": 5}),
        ],
    )
    assert [s.bid.bidder_name for s in r.ranked] == ["A", "C"]
    assert [s.rank for s in r.ranked] == [1, 2]
    (b,) = r.pending
    assert b.total is None and b.rank is None and b.complete is False
    assert b.score_for("price").points == D("34.67")
    assert b.score_for("materials").points == D("15.00")
    assert b.score_for("methods") is None
    assert b.missing == ["Hindamata: Kasutatavad õppemeetodid ja valiku põhjendused"]
    # C: 40 − 500/1500×40 = 26,67 + 5 + 5 = 36,67
    assert r.ranked[1].total == D("36.67")


def test_missing_or_non_positive_price_is_pending_and_ignored_for_lowest():
    r = score_part([price_criterion()], [bid("A", None), bid("B", "0", 1), bid("C", "1200", 2), bid("D", "1500", 3)])
    assert {s.bid.bidder_name for s in r.pending} == {"A", "B"}
    assert any("Hind puudub" in m for m in r.pending[0].missing)
    # lowest 1200 (0 ignored): D = 40 − 300/1500×40 = 32
    assert points_by_name(r)["D"] == D("32.00")


# ---------------------------------------------------------------- ties


def _tie_bids():
    # lowest 1000, highest 2000
    # A: 1000 -> 40; grades 15 + 5 = 20 -> 60, received first
    # B: 1500 -> 40 − 500/2000×40 = 30; grades 15 + 15 = 30 -> 60, received later
    # C: 2000 -> 40 − 1000/2000×40 = 20; grades 5 + 5 -> 30
    return [
        bid("C", "2000", 0, {"materials": 5, "methods": 5}),
        bid("B", "1500", 10, {"materials": 15, "methods": 15}),
        bid("A", "1000", 5, {"materials": 15, "methods": 5}),
    ]


def test_tie_broken_by_earliest_receipt():
    r = score_part([price_criterion(), MATERIALS, METHODS], _tie_bids(), ScoringRules(tie_break="earliest_receipt"))
    assert [(s.bid.bidder_name, s.total, s.rank) for s in r.ranked] == [
        ("A", D("60.00"), 1),
        ("B", D("60.00"), 2),
        ("C", D("30.00"), 3),
    ]
    assert "pakkujaga B" in r.ranked[0].tie_note and "laekumisaja" in r.ranked[0].tie_note
    assert r.ranked[2].tie_note is None


def test_tie_broken_by_quality_first():
    r = score_part([price_criterion(), MATERIALS, METHODS], _tie_bids(), ScoringRules(tie_break="quality_first"))
    assert [(s.bid.bidder_name, s.rank) for s in r.ranked] == [("B", 1), ("A", 2), ("C", 3)]
    assert "kvaliteedikriteeriumide" in r.ranked[0].tie_note


def test_quality_first_falls_back_to_earliest_receipt():
    bids = [
        bid("Hiline", "1000", 30, {"materials": 30, "methods": 15}),
        bid("Varajane", "1000", 1, {"materials": 15, "methods": 30}),
    ]
    r = score_part([price_criterion(), MATERIALS, METHODS], bids, ScoringRules(tie_break="quality_first"))
    assert [s.bid.bidder_name for s in r.ranked] == ["Varajane", "Hiline"]


# ---------------------------------------------------------------- formatting


def test_estonian_number_formatting():
    assert format_eur(D("1200")) == "1 200,00 €"
    assert format_eur(D("1234567.5")) == "1 234 567,50 €"
    assert format_eur(D("999.999")) == "1 000,00 €"
    assert format_number(D("40")) == "40"
    assert format_number(D("12.50")) == "12,5"
    assert format_number(D("34.6666"), 2) == "34,67"


# ---------------------------------------------------------------- input hygiene


def test_floats_are_refused_ints_and_strings_coerced():
    with pytest.raises(TypeError, match="float"):
        BidForScoring("1", "a", "A", 1000.0, T0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Criterion("price", "Hind", 40.0, "price", "seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a number"):
        Grade("kolmkümmend", "", "", "", T0)  # type: ignore[arg-type]
    c = Criterion("price", "Hind", 40, "price", "seed")  # type: ignore[arg-type]
    assert type(c.weight) is D
    b = BidForScoring("1", "a", "A", "1200.50", T0)  # type: ignore[arg-type]
    assert b.price == D("1200.50") and type(b.price) is D


def test_non_finite_price_is_pending_not_a_crash():
    r = score_part([price_criterion()], [bid("A", "NaN"), bid("B", "Infinity", 1), bid("C", "1000", 2)])
    assert [s.bid.bidder_name for s in r.ranked] == ["C"]
    assert {s.bid.bidder_name for s in r.pending} == {"A", "B"}
    assert all("ei ole positiivne arv" in s.missing[0] for s in r.pending)


def test_mixed_naive_and_aware_receipt_times_do_not_crash():
    naive = BidForScoring("n", "n", "N", D(1000), datetime(2026, 1, 12, 8, 0))
    aware = BidForScoring("a", "a", "A", D(1000), T0)
    r = score_part([price_criterion()], [naive, aware])
    assert sorted(s.rank for s in r.ranked) == [1, 2]


# ---------------------------------------------------------------- properties

prices = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(prices, min_size=1, max_size=8), st.sampled_from(["seed", "ratio", "interpolation"]))
def test_price_points_properties(ps, formula):
    """Points lie in [0, weight]; the lowest price gets the full weight; cheaper never scores less."""
    r = score_part([price_criterion(formula)], [bid(f"B{i}", p, i) for i, p in enumerate(ps)])
    got = [(s.bid.price, s.scores[0].points) for s in r.ranked]
    assert len(got) == len(ps) and not r.pending
    low = min(ps)
    for price, pts in got:
        assert type(pts) is D and D(0) <= pts <= D(40)
        if price == low:
            assert pts == D("40.00")
    for p1, s1 in got:
        for p2, s2 in got:
            if p1 < p2:
                assert s1 >= s2
    # ranks are 1..n and follow totals
    assert [s.rank for s in r.ranked] == list(range(1, len(ps) + 1))
    assert all(a.total >= b.total for a, b in zip(r.ranked, r.ranked[1:]))


def test_rules_are_validated():
    with pytest.raises(ValueError, match="rounding"):
        ScoringRules(2, "half_down")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tie_break"):
        ScoringRules(2, "half_up", "random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rounding_places"):
        ScoringRules(-1)
