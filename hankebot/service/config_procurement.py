"""config.toml, one procurement's settings: its forms and price cells, parts, criteria and levels,
bidders, scoring and reminders; `consistency_errors`, the cross-field checks of a procurement.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from hankebot.core.models import OFFER_FIELDS, CostFormSpec, FormKind, FormSpec, PersonType, PriceBasis, PriceCell
from hankebot.service.config_service import StrictModel

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_CELL = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")


class PriceCellSettings(StrictModel):
    basis: PriceBasis
    sheet: str
    cell: str

    @field_validator("cell")
    @classmethod
    def _cell(cls, v: str) -> str:
        v = v.upper()
        if not _CELL.match(v):
            raise ValueError(f"{v!r} is not a cell address like B15")
        return v


class FormSettings(StrictModel):
    key: str
    title: str
    kind: FormKind
    file: str  # relative to forms_dir
    required: bool = True
    price_cells: list[PriceCellSettings] = []
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    # offer form: which of the template's label cells feeds which field (e.g. materials = "Õppevahendid ja
    # -materjalid"); labels not named here are recognised by their usual spellings
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _cost_needs_cells(self) -> "FormSettings":
        unknown = sorted(set(self.labels) - set(OFFER_FIELDS))
        if unknown:
            raise ValueError(f"labels: unknown field(s) {', '.join(unknown)}; use {', '.join(OFFER_FIELDS)}")
        if self.kind == FormKind.COST and not self.price_cells:
            raise ValueError("a cost form needs price_cells (sheet and cell per price basis)")
        if self.kind != FormKind.COST and self.price_cells:
            raise ValueError("price_cells belong to a form of kind 'cost'")
        return self

    def spec(self) -> FormSpec:
        cost = None
        if self.kind == FormKind.COST:
            cost = CostFormSpec(
                cells=tuple(PriceCell(c.basis, c.sheet, c.cell) for c in self.price_cells),
                min_price=self.min_price,
                max_price=self.max_price,
            )
        return FormSpec(key=self.key, title=self.title, kind=self.kind, required=self.required, cost=cost)


class LevelSettings(StrictModel):
    points: Decimal
    name: str
    description: str = ""


class CriterionSettings(StrictModel):
    key: str
    name: str
    weight: Decimal = Field(gt=0)
    kind: Literal["price", "graded"]
    formula: Literal["seed", "ratio", "interpolation"] | None = None
    levels: list[LevelSettings] = []

    @model_validator(mode="after")
    def _shape(self) -> "CriterionSettings":
        if self.kind == "price":
            if self.formula is None:
                self.formula = "seed"
            if self.levels:
                raise ValueError("a price criterion has a formula, not levels")
        else:
            if self.formula is not None:
                raise ValueError("a graded criterion has levels, not a formula")
            if not self.levels:
                raise ValueError("a graded criterion needs levels (e.g. 30 / 15 / 5 points)")
            for lv in self.levels:
                if lv.points < 0 or lv.points > self.weight:
                    raise ValueError(f"level {lv.name!r} gives {lv.points} points, outside 0..{self.weight}")
        return self


class PartSettings(StrictModel):
    number: int = Field(ge=1, le=99)
    name: str
    invited: bool = True  # bids are invited for this part
    criteria: list[CriterionSettings] | None = None  # None: the procurement's criteria


class BidderSettings(StrictModel):
    key: str
    name: str
    email: str
    person_type: PersonType = PersonType.LEGAL
    parts: list[int] | None = None  # None: every invited part

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not a valid e-mail address")
        return v.lower()


class ScoringSettings(StrictModel):
    rounding_places: int = Field(2, ge=0, le=6)
    rounding: Literal["half_up", "half_even"] = "half_up"
    tie_break: Literal["earliest_receipt", "quality_first"] = "earliest_receipt"


class ReminderSettings(StrictModel):
    """Reminders to silent invitees: working days before the deadline. Empty = off (the default)."""

    working_days_before: list[Annotated[int, Field(ge=1, le=60)]] = []
    min_clarification_working_days: int = Field(3, ge=0)


class ProcurementSettings(StrictModel):
    key: str
    reference: str
    title: str
    procurer: str
    procurer_code: str | None = None
    expert_name: str
    expert_email: str
    mailbox: str  # Reply-To: where bids arrive (the IMAP account)
    invitation_date: date | None = None
    deadline: datetime  # local time in service.timezone unless it carries an offset
    opening_delay_minutes: int = Field(0, ge=0, le=24 * 60)
    # after the deadline, forms from an invited address (no thread, no reference) still count as this
    # procurement's (a late bid) for this many days; later they are unrelated mail
    grace_days: int = Field(14, ge=0, le=365)
    forms_dir: str
    forms: list[FormSettings]
    contract_form: str | None = None  # file in forms_dir attached to the successful bidder's letter (contract draft)
    criteria: list[CriterionSettings]
    parts: list[PartSettings]
    bidders: list[BidderSettings]
    scoring: ScoringSettings = ScoringSettings()
    reminders: ReminderSettings = ReminderSettings()
    receipts: bool = True
    cancelled: bool = False
    retention_days: int = Field(365, ge=0)  # `hankebot purge` removes raw mail of a decided procurement after this

    @field_validator("expert_email", "mailbox")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not a valid e-mail address")
        return v.lower()

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", v):
            raise ValueError("use letters, digits, '-', '_' or '.' (it is used in commands and file names)")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> "ProcurementSettings":
        errs = consistency_errors(self.model_dump(mode="json"))
        if errs:
            raise ValueError("; ".join(errs))
        return self

    def deadline_at(self, tz: ZoneInfo) -> datetime:
        d = self.deadline
        return d if d.tzinfo else d.replace(tzinfo=tz)

    def criteria_for(self, part_no: int) -> list[CriterionSettings]:
        for p in self.parts:
            if p.number == part_no and p.criteria is not None:
                return p.criteria
        return self.criteria

    def invited_parts(self, bidder: BidderSettings) -> list[int]:
        invited = [p.number for p in self.parts if p.invited]
        return [n for n in invited if bidder.parts is None or n in bidder.parts]

    def form_specs(self) -> list[FormSpec]:
        return [f.spec() for f in self.forms]


def duplicate_errors(errs: list[str], where: str, what: str, values: list) -> None:
    """One error per repeated value, naming every entry that has it: `bidders[0] and bidders[3] have the
    same key 'x'`."""
    at: dict = {}
    for i, v in enumerate(values):
        if v is not None:
            at.setdefault(v, []).append(i)
    for v, idx in at.items():
        if len(idx) > 1:
            names = [f"{where}[{i}]" for i in idx]
            both = ", ".join(names[:-1]) + " and " + names[-1]
            errs.append(f"{both} have the same {what} {v!r}")


def _list(d: dict, key: str) -> list[dict]:
    v = d.get(key)
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def consistency_errors(proc: dict) -> list[str]:
    """The cross-field checks of one procurement, on its plain data (a model dump, or the raw TOML table
    when some field failed validation, so these problems are listed with the others, not hidden)."""
    errs: list[str] = []
    forms, parts, bidders = _list(proc, "forms"), _list(proc, "parts"), _list(proc, "bidders")
    duplicate_errors(errs, "forms", "key", [f.get("key") for f in forms])
    duplicate_errors(errs, "parts", "number", [p.get("number") for p in parts])
    duplicate_errors(errs, "bidders", "key", [b.get("key") for b in bidders])
    duplicate_errors(errs, "bidders", "email",
            [b["email"].lower() if isinstance(b.get("email"), str) else None for b in bidders])
    numbers = {p.get("number") for p in parts}
    for b in bidders:
        for n in b.get("parts") or [] if isinstance(b.get("parts"), list) else []:
            if n not in numbers:
                errs.append(f"bidder {b.get('key')!r} is invited to part {n}, which is not configured")
    lists = [(proc.get("criteria"), "criteria")] + [
        (p.get("criteria"), f"part {p.get('number')} criteria") for p in parts if p.get("criteria") is not None]
    for crit, where in lists:
        crit = [c for c in crit if isinstance(c, dict)] if isinstance(crit, list) else []
        duplicate_errors(errs, where, "key", [c.get("key") for c in crit])
        try:
            total = sum((Decimal(str(c.get("weight"))) for c in crit), Decimal(0))
        except (ArithmeticError, ValueError):
            total = None  # a weight that is not a number is reported on its own field
        if total is not None and total.is_finite() and total != 100:
            errs.append(f"{where}: weights add up to {total.normalize():f}, not 100")
        if sum(1 for c in crit if c.get("kind") == "price") > 1:
            errs.append(f"{where}: more than one price criterion")
    if not any(f.get("kind") == FormKind.COST.value for f in forms):
        errs.append("no form of kind 'cost' (the price comes from the cost form)")
    return errs

