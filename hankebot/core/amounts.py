"""Money amounts as Estonians type them: parse to Decimal, format for user-facing text.

Pure: no I/O, no floats. `parse_amount` accepts a single amount (optionally with a currency
mark) and returns None for anything ambiguous or not an amount; it never raises.

Accepted shapes (whitespace may be spaces, NBSP, narrow NBSP or thin spaces):
  "12500", "12 500", "12 500,00 €", "12500.-", "12 500,-", "12 500 eurot", "12 500.50",
  "12.500,50", "1.234.567", "12,500.50", "€ 1 234,5", "EUR 12 500", "12500 EUR", "-150,00"
Rejected as ambiguous: "12.500" / "12,500" (thousands separator or 3 decimals?), more than
two decimals, mixed group separators, anything with other words.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")

_CURRENCY_RE = re.compile(r"(?:€|\beur(?:ot|o|i|ode)?\b\.?)", re.IGNORECASE)
_MINUSES = "-\u2212\u2013"  # hyphen-minus, minus sign, en dash

_INT = re.compile(r"\d+")
_SPACE_GROUPED = re.compile(r"\d{1,3}(?: \d{3})+")
_DOT_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")  # 1.234.567 (two or more groups)
_DOT_GROUPED_WITH_COMMA_DEC = re.compile(r"(\d{1,3}(?:\.\d{3})+),(\d{1,2})")
_COMMA_GROUPED_WITH_DOT_DEC = re.compile(r"(\d{1,3}(?:,\d{3})+)\.(\d{1,2})")
_APOS_GROUPED = re.compile(r"\d{1,3}(?:'\d{3})+")
_MAX_LEN = 64


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)  # NBSP, U+202F, U+2009 -> " "
    text = "".join(" " if unicodedata.category(ch) == "Zs" or ch in "\t\r\n" else ch for ch in text)
    return re.sub(r" +", " ", text).strip()


def _integer_part(body: str) -> str | None:
    """Digits of an integer written with or without group separators, else None."""
    if _INT.fullmatch(body):
        return body
    if _SPACE_GROUPED.fullmatch(body) or _APOS_GROUPED.fullmatch(body) or _DOT_GROUPED.fullmatch(body):
        return re.sub(r"[ '.]", "", body)
    return None


def _parse_body(body: str) -> Decimal | None:
    whole = _integer_part(body)
    if whole is not None:
        return Decimal(whole)
    m = _DOT_GROUPED_WITH_COMMA_DEC.fullmatch(body)
    if m:
        return Decimal(m.group(1).replace(".", "") + "." + m.group(2))
    m = _COMMA_GROUPED_WITH_DOT_DEC.fullmatch(body)
    if m:
        return Decimal(m.group(1).replace(",", "") + "." + m.group(2))
    m = re.fullmatch(r"(.+?)[.,](\d{1,2})", body)  # "12 500,50", "12500.5"
    if m:
        int_digits = m.group(1)
        if _INT.fullmatch(int_digits) or _SPACE_GROUPED.fullmatch(int_digits) or _APOS_GROUPED.fullmatch(int_digits):
            return Decimal(re.sub(r"[ ']", "", int_digits) + "." + m.group(2))
    return None


def parse_amount(text: str) -> Decimal | None:
    """Parse one money amount typed the Estonian way; Decimal with two places, or None."""
    if not isinstance(text, str) or not text or len(text) > _MAX_LEN:
        return None
    s = _normalise(text)
    s = _CURRENCY_RE.sub(" ", s)
    s = re.sub(r" +", " ", s).strip()
    negative = False
    if s and s[0] in _MINUSES:
        negative = True
        s = s[1:].strip()
    # "12500.-", "12 500,-", "12 500,--": whole euros
    s = re.sub(r"(?<=\d)\s?[.,]\s?[-\u2212\u2013]{1,2}$", "", s)
    if s.startswith("+"):
        s = s[1:].strip()
    if not s or not s[0].isdigit() or not s[-1].isdigit():
        return None
    if not all(ch.isdigit() and ch.isascii() or ch in " .,'" for ch in s):
        return None
    value = _parse_body(s)
    if value is None:
        return None
    try:
        value = value.quantize(CENT)
    except InvalidOperation:
        return None
    return -value if negative else value


def format_amount_et(d: Decimal) -> str:
    """Format for Estonian text: Decimal("12500") -> "12 500,00 €" (half-up to cents)."""
    q = Decimal(d).quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    whole, frac = f"{abs(q):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{' '.join(groups)},{frac} €"
