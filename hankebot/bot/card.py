"""The bid card (after the opening): bidder, part, price and basis, arrival, problems, and for each graded
criterion the bidder's own text that feeds it, with the grade so far. Pure text building over plain data
(`CardData`) plus `load_card` that reads it from the database. Sealed bids never get a card (the callers
check `sealed_info` first and `load_card` refuses too)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hankebot.bot.texts import MAX_MESSAGE, esc
from hankebot.core.et_format import datetime_et
from hankebot.core.scoring import format_eur, format_number
from hankebot.core.sealing import is_sealed
from hankebot.core.signatures import VERDICT_CODES, describe as describe_signature

BASIS_ET = {"natural_total": "kogukulu (füüsiline isik)", "legal_with_vat": "kogukulu km-ga"}
DECISION_ET = {"accepted": "vastu võetud", "rejected": "tagasi lükatud"}

# Which stored offer-form text feeds which graded criterion. Today the offer form reader stores the texts
# under the criterion keys themselves ("materials", "methods"); a template may map form rows to criteria
# and store them under offer["criteria"][<criterion key>]; both are read (the mapping wins).
OFFER_TEXT_FIELD: dict[str, str] = {}


def criterion_text(offer: dict | None, criterion_key: str) -> str:
    """The bidder's own text for one criterion ("" when the form had none)."""
    offer = offer or {}
    mapped = offer.get("criteria")
    if isinstance(mapped, dict) and mapped.get(criterion_key):
        return str(mapped[criterion_key])
    value = offer.get(OFFER_TEXT_FIELD.get(criterion_key, criterion_key))
    return str(value) if value else ""


@dataclass
class CritView:
    key: str
    name: str
    weight: Decimal
    levels: list  # LevelSettings
    text: str = ""
    points: Decimal | None = None
    level_name: str | None = None
    justification: str | None = None


@dataclass
class CardData:
    bid_id: int
    reference: str
    bidder: str
    part_no: int
    part_name: str
    price: Decimal | None
    price_basis: str | None
    received_at: datetime  # local
    late: bool
    problems: list[str]
    blocking: bool  # problems that keep it out of grading until a decision
    decision: str
    decision_reason: str | None
    active: bool
    criteria: list[CritView] = field(default_factory=list)
    files: int = 0
    signatures: list[str] = field(default_factory=list)  # core.signatures.describe() per signature
    held: bool = False  # an unverified sender's newer bid, not in force unless the expert accepts it

    @property
    def gradable(self) -> bool:
        return self.active and not self.late and self.decision != "rejected" and (not self.blocking
                                                                                  or self.decision == "accepted")

    def ungraded(self) -> list[CritView]:
        return [c for c in self.criteria if c.points is None]

    def crit(self, key: str) -> CritView | None:
        return next((c for c in self.criteria if c.key == key), None)


class CardSealed(Exception):
    pass


def load_card(ctx, bid_id: int) -> CardData | None:
    """The card's data, None for an unknown bid; CardSealed before the opening."""
    from hankebot.service.evaluation import blocking_problems

    with ctx.uow() as uow:
        bid = uow.repo.bid(bid_id)
        if bid is None:
            return None
        p = uow.repo.procurement_by_id(bid.procurement_id)
        if is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes):
            raise CardSealed(bid_id)
        bidder = uow.repo.bidder(bid.bidder_id)
        grades = {g.criterion_key: g for g in uow.repo.grades([bid.id])}
        ps = ctx.proc_settings(p.key)
        part = next((x for x in ps.parts if x.number == bid.part_no), None)
        data = CardData(
            bid_id=bid.id, reference=p.reference, bidder=bidder.name if bidder else bid.sender, part_no=bid.part_no,
            part_name=part.name if part else "", price=None if bid.late else bid.price, price_basis=bid.price_basis,
            received_at=ctx.local(bid.received_at), late=bid.late,
            problems=[pr.get("message", "") for pr in (bid.problems or []) if pr.get("code") not in VERDICT_CODES],
            blocking=bool(blocking_problems(bid)),
            signatures=[describe_signature(x) for x in (getattr(bid, "signatures", None) or [])],
            decision=bid.decision, decision_reason=bid.decision_reason, active=bid.status == "active",
            held=bid.status == "held", files=len(bid.forms_found or []))
        for c in ps.criteria_for(bid.part_no):
            if c.kind != "graded":
                continue
            g = grades.get(c.key)
            data.criteria.append(CritView(c.key, c.name, c.weight, list(c.levels), criterion_text(bid.offer, c.key),
                                          g.points if g else None, g.level_name if g else None,
                                          g.justification if g else None))
        return data


def _head(d: CardData) -> list[str]:
    lines = [f"📄 <b>{esc(d.bidder)}</b> · pakkumus #{d.bid_id}",
             f"Hange {esc(d.reference)} · osa {d.part_no}" + (f": {esc(d.part_name)}" if d.part_name else "")]
    if d.price is not None:
        basis = BASIS_ET.get(d.price_basis or "", d.price_basis or "")
        lines.append(f"Hind: <b>{format_eur(d.price)}</b>" + (f" · {esc(basis)}" if basis else ""))
    else:
        lines.append("Hind: avamata (hilinenud pakkumus)" if d.late else "Hind: puudub")
    lines.append(f"Saabus: {datetime_et(d.received_at)}" + (" ⏰ hilinenud" if d.late else ""))
    if d.held:
        lines.append("⏸ Ei ole kehtiv: saatja ei ole tõendatud ja varasem pakkumus jääb kehtima, kui sa seda "
                     f"ei aktsepteeri (/accept {d.bid_id} või /reject {d.bid_id}).")
    elif not d.active:
        lines.append("Asendatud hilisema pakkumusega.")
    for sig in d.signatures:  # the verdict's own problem is left out of `problems`: this line says it
        lines.append(f"✍️ {esc(sig)}")
    for pr in d.problems:
        lines.append(f"⚠️ {esc(pr)}")
    if d.decision in DECISION_ET:
        lines.append(f"Otsus: {DECISION_ET[d.decision]}" + (f" — {esc(d.decision_reason)}" if d.decision_reason else ""))
    elif d.late:
        lines.append(f"⏰ Hilinenud pakkumust ei hinnata; otsus puudub (/reject {d.bid_id}).")
    elif d.blocking:
        lines.append(f"⛔ Otsus puudub: hinnata saab pärast vastuvõtmist (/accept {d.bid_id} või /reject {d.bid_id}).")
    return lines


def _grade_line(c: CritView) -> str:
    if c.points is None:
        return "Hinne: hindamata"
    return f"Hinne: ✅ <b>{format_number(c.points)} p</b> ({esc(c.level_name)}) — {esc(c.justification)}"


def texts_block(d: CardData) -> list[str]:
    """The bidder's own texts, one section per graded criterion (each line its own <i>, never spanning)."""
    out: list[str] = []
    for i, c in enumerate(d.criteria, 1):
        out += ["", f"<b>{i}. {esc(c.name)}</b> (kuni {format_number(c.weight)} p)"]
        if c.text.strip():
            out.append("Pakkuja tekst:")
            out += [f"<i>{esc(line)}</i>" if line.strip() else "" for line in c.text.strip().split("\n")]
        else:
            out.append("Pakkuja tekst: <i>puudub</i>")
    return out


def _criteria_status(d: CardData, pending: dict | None) -> list[str]:
    out = []
    for i, c in enumerate(d.criteria, 1):
        line = f"{i}. {esc(c.name)}: " + _grade_line(c).removeprefix("Hinne: ")
        out.append(line)
    return out


def _prompt(d: CardData, current: str | None, pending: dict | None) -> list[str]:
    if pending:
        c = d.crit(pending["criterion"])
        return ["", f"✍️ <b>{esc(c.name if c else pending['criterion'])}: {format_number(Decimal(pending['points']))} p "
                    f"({esc(pending['level'])})</b>",
                "Kirjuta hinde põhjendus (läheb protokolli). Katkestamiseks /cancel."]
    c = d.crit(current) if current else None
    if c is None:
        if d.criteria and not d.ungraded():
            return ["", "✅ Kõik kriteeriumid on hinnatud."]
        return []
    out = ["", f"👉 <b>Hinda: {esc(c.name)}</b> — vali tase:"]
    for lv in c.levels:
        out.append(f"• <b>{format_number(lv.points)} p — {esc(lv.name)}</b>" + (f": {esc(lv.description)}" if lv.description else ""))
    return out


def card_text(d: CardData, current: str | None = None, pending: dict | None = None,
              with_texts: bool = True) -> str:
    """The card as one HTML text. `current`: the criterion whose levels are offered; `pending`: the grade
    waiting for its justification ({criterion, points, level}). Without texts: a note that they came before."""
    lines = _head(d)
    if with_texts:
        lines += texts_block(d)
        if any(c.points is not None for c in d.criteria):
            lines += ["", "<b>Hinded</b>"] + _criteria_status(d, pending)
    else:
        lines += ["", "Pakkuja tekstid on eespool.", "<b>Hinded</b>"] + _criteria_status(d, pending)
    if not d.criteria:
        lines.append("Selle osa kriteeriumides pole eksperdi hinnatavaid.")
    lines += _prompt(d, current, pending)
    return "\n".join(lines)


def fits(text: str) -> bool:
    return len(text) <= MAX_MESSAGE
