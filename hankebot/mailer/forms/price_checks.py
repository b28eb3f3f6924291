"""Checks shared by the cost-form readers (spreadsheet and PDF): a spreadsheet number as an exact
Decimal, the price basis in Estonian, and whether a price is plausible for the procurement."""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from hankebot.core.amounts import format_amount_et
from hankebot.core.models import CostFormSpec, PriceBasis
from hankebot.core.problems import Problem

CENT = Decimal("0.01")

BASIS_ET = {
    PriceBasis.NATURAL_TOTAL: "füüsilise isiku kogukulu",
    PriceBasis.LEGAL_WITH_VAT: "juriidilise isiku kogukulu km-ga",
}


def float_to_decimal(x: float | int) -> Decimal | None:
    """A spreadsheet number as Decimal (rule in the module docstring); None for inf/nan."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return Decimal(x).quantize(CENT)
    if not math.isfinite(x):
        return None
    d = Decimal(repr(round(x, 10)))
    try:
        q = d.quantize(CENT)
    except InvalidOperation:
        return d
    return q if q == d else d


def plausibility(price: Decimal, spec: CostFormSpec) -> list[Problem]:
    shown = format_amount_et(price)
    if price <= 0:
        return [Problem("implausible_price", f"Maksumuse vormi hind on {shown} (null või negatiivne). Palun kontrollige.")]
    if spec.min_price is not None and price < spec.min_price:
        return [Problem(
            "implausible_price",
            f"Maksumuse vormi hind {shown} on väiksem kui oodatav alampiir {format_amount_et(spec.min_price)}. "
            "Palun kontrollige.",
        )]
    if spec.max_price is not None and price > spec.max_price:
        return [Problem(
            "implausible_price",
            f"Maksumuse vormi hind {shown} on suurem kui oodatav ülempiir {format_amount_et(spec.max_price)}. "
            "Palun kontrollige.",
        )]
    return []
