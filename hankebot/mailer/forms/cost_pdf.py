"""The price of a cost form sent as PDF, from its text (pypdf): the line labelled "kogukulu km-ga" (a
legal person's total with VAT) or "kogukulu" (a natural person's total), the amount after the label or,
when the label ends its line (a column header), the next line's last amount."""
from __future__ import annotations

import re
from decimal import Decimal

from hankebot.core.amounts import format_amount_et, parse_amount
from hankebot.core.models import CostFormSpec, PriceBasis, PriceReading
from hankebot.core.problems import Problem
from hankebot.mailer.forms.price_checks import BASIS_ET, plausibility
from hankebot.mailer.forms.text import norm, pdf_text


_AMOUNT_TOKEN = re.compile(
    r"(?:€\s?|eur\s)?[-\u2212]?\d[\d\s.,'\u00a0\u202f\u2009]*(?:[.,]-|\d)(?:\s?(?:€|eurot|eur))?",
    re.IGNORECASE,
)


_COLUMN_AMOUNT = re.compile(r"(?<![\d,.])\d{1,3}(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d{2})(?![\d])|(?<![\d,.])\d+[.,]\d{2}(?!\d)")
_PERCENT = re.compile(r"[-\u2212]?\d+(?:[.,]\d+)?\s*%")


def _amount_in(text: str, last: bool = False) -> Decimal | None:
    """The amount in a bit of PDF text; percentages ("sotsiaalmaks 33%", "Käibemaks 24%") are never amounts.
    `last`: the last amount of the line (a table row whose last column is the total)."""
    text = _PERCENT.sub(" ", text).strip().lstrip(":=").strip()
    if not text:
        return None
    d = parse_amount(text)
    if d is not None:
        return d
    found = [d for d in (parse_amount(m.group(0).strip()) for m in _AMOUNT_TOKEN.finditer(text)) if d is not None]
    if not found or last:  # a row of columns "2 000,00 480,00 2 480,00": amounts with decimals, one by one
        cols = [d for d in (parse_amount(m.group(0)) for m in _COLUMN_AMOUNT.finditer(text)) if d is not None]
        found = cols or found
    if not found:
        return None
    return found[-1] if last else found[0]


_LEGAL_TOTAL = re.compile(r"kogukulu\s*\(?\s*(?:koos\s+(?:km|käibemaks\w*)|(?:km|käibemaksu)[\s-]*ga)\b\s*\)?")
_NATURAL_TOTAL = re.compile(r"kogukulu\b(?!\s*\(?\s*(?:km|käibemaks|koos))(?:\s*\((?:eurot?|eur|€)\))?")


def _pdf_basis(line: str) -> tuple[PriceBasis | None, str]:
    """The basis a PDF text line is the labelled total of ("kogukulu km-ga" / "kogukulu"), and the text
    after the label. A header row naming other columns first ("Maksumus km-ta  Käibemaks 24%  kogukulu
    km-ga") is the legal total's label too."""
    key = norm(line)
    m = _LEGAL_TOTAL.search(key)
    if m:
        return PriceBasis.LEGAL_WITH_VAT, key[m.end():]
    m = _NATURAL_TOTAL.search(key)
    if m and "käibemaks" not in key[m.start():]:
        return PriceBasis.NATURAL_TOTAL, key[m.end():]
    return None, ""


def read_pdf(data: bytes, spec: CostFormSpec) -> PriceReading:
    """The price and basis a PDF cost form's text states; problems when it is not one clear amount. Raises
    on an unreadable PDF."""
    text = pdf_text(data)
    lines = [ln for ln in text.splitlines()]
    found: dict[PriceBasis, set[Decimal]] = {}
    for i, line in enumerate(lines):
        basis, rest = _pdf_basis(line)
        if basis is None:
            continue
        amount = _amount_in(rest)
        if amount is None and i + 1 < len(lines) and _pdf_basis(lines[i + 1])[0] is None:
            # the label ends its line (a column header or a label cell): the total is the next line's last amount
            amount = _amount_in(lines[i + 1], last=True)
        if amount is not None and amount != 0:
            found.setdefault(basis, set()).add(amount)
    sheets = {c.basis: c.sheet for c in spec.cells}
    manual = Problem(
        "price_needs_manual_entry",
        "Maksumuse vorm on PDF-failina ja hinda ei õnnestunud sellest üheselt välja lugeda. "
        "Palun avage fail ja sisestage hind käsitsi.",
    )
    if len(found) > 1:
        shown = "; ".join(f"{BASIS_ET[b]} {', '.join(format_amount_et(v) for v in sorted(vs))}" for b, vs in found.items())
        return PriceReading(problems=[Problem(
            "ambiguous_price",
            f"Maksumuse vormis (PDF) on täidetud nii füüsilise kui ka juriidilise isiku maksumus ({shown}). "
            "Palun kontrollige, kumba hinda pakkuja mõtleb.",
        )])
    if len(found) == 1:
        basis, values = next(iter(found.items()))
        if len(values) == 1:
            price = next(iter(values))
            reading = PriceReading(price=price, basis=basis, sheet=sheets.get(basis))
            reading.problems.extend(plausibility(price, spec))
            return reading
    return PriceReading(problems=[manual])
