"""parse_amount / format_amount_et: Estonian ways of typing money, Decimal only."""
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.core.amounts import format_amount_et, parse_amount


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12 500,00 €", "12500.00"),
        ("12500.-", "12500.00"),
        ("12 500,-", "12500.00"),
        ("12 500 eurot", "12500.00"),
        ("12 500.50", "12500.50"),
        ("12.500,50", "12500.50"),
        ("€ 1 234,5", "1234.50"),
        ("12\u00a0500,00\u00a0€", "12500.00"),  # NBSP
        ("12\u202f500,00 €", "12500.00"),  # narrow NBSP
        ("12\u2009500 EUR", "12500.00"),  # thin space
        ("EUR 12 500", "12500.00"),
        ("12500€", "12500.00"),
        ("1.234.567", "1234567.00"),
        ("12,500.50", "12500.50"),
        ("12500", "12500.00"),
        ("  7 800,5  ", "7800.50"),
        ("-150,00", "-150.00"),
        ("\u2212150", "-150.00"),
        ("0", "0.00"),
        ("1 500 euro", "1500.00"),
    ],
)
def test_parses_estonian_amounts(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert isinstance(value, Decimal)
    assert value == Decimal(expected)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "text",
    ["", "abc", "12.500", "12,500", "1,2,3", "12 50", "12500,505", "kokkuleppel", "12 500 ja 13 000",
     "1.234,567", "12..5", "€", "EUR", "--5", "١٢٣", "1e5", "12 500,00 € km-ga lisandub", "x" * 200, "NaN", "inf"],
)
def test_rejects_ambiguous_or_garbage(text: str) -> None:
    assert parse_amount(text) is None


def test_non_string_is_none() -> None:
    assert parse_amount(None) is None  # type: ignore[arg-type]
    assert parse_amount(12500) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, text",
    [
        (Decimal("12500"), "12 500,00 €"),
        (Decimal("0.5"), "0,50 €"),
        (Decimal("1234567.455"), "1 234 567,46 €"),
        (Decimal("-99.9"), "-99,90 €"),
        (Decimal("999"), "999,00 €"),
    ],
)
def test_format_amount_et(value: Decimal, text: str) -> None:
    assert format_amount_et(value) == text


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_format_then_parse_round_trips(value: Decimal) -> None:
    assert parse_amount(format_amount_et(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_never_raises_and_never_floats(text: str) -> None:
    result = parse_amount(text)
    assert result is None or isinstance(result, Decimal)
