"""Evaluation after the opening: price scores, the expert's grades and the results (ranking per part).
Everything here refuses with `Sealed` before the opening time. Decisions are in service/decision.py, the
protocol's data and files in service/report.py."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hankebot.core import lifecycle
from hankebot.core.evaluation import BidForScoring, Criterion, Grade as CoreGrade, Level, PartResult, ScoringRules
from hankebot.core.lifecycle import State
from hankebot.core.signatures import VERDICT_CODES, describe as describe_signature
from hankebot.core.scoring import format_eur, format_number, score_part, validate_grade
from hankebot.core.sealing import is_sealed, opening_time
from hankebot.service.config_procurement import ProcurementSettings
from hankebot.service.context import Context
from hankebot.core.events import ResultsReady
from hankebot.service.notify import publish
from hankebot.storage.tables import Grade, utcnow

# problems that keep a bid out of the ranking until the expert accepts or rejects it
BLOCKING = {"late_bid", "missing_form", "ambiguous_price", "missing_price", "implausible_price", "formula_not_evaluated",
            "price_needs_manual_entry", "unreadable_cost_form", "unknown_sender", "not_invited_address",
            "price_basis_mismatch", "part_unclear", "part_not_invited", "cost_form_part_unclear", "zip_bomb",
            "attachment_too_large", "malformed_message", "form_reader_error", "unknown_procurement",
            "signature_missing", "signature_required", "unverified_sender"}  # the last two only when the config requires a signature


LATE_REASON = "Laekus pärast tähtaega, avamata"


class Sealed(Exception):
    def __init__(self, opens_at: datetime):
        self.opens_at = opens_at
        super().__init__(f"bids are sealed until {opens_at.isoformat()}")


def criteria(ps: ProcurementSettings, part_no: int) -> list[Criterion]:
    out = []
    for c in ps.criteria_for(part_no):
        out.append(Criterion(key=c.key, name=c.name, weight=c.weight, kind=c.kind, formula=c.formula,
                             levels=tuple(Level(lv.points, lv.name, lv.description) for lv in c.levels)))
    return out


def rules(ps: ProcurementSettings) -> ScoringRules:
    s = ps.scoring
    return ScoringRules(rounding_places=s.rounding_places, rounding=s.rounding, tie_break=s.tie_break)


def ensure_opened(ctx: Context, p) -> None:
    """Sealed until the opening: grading, deciding and results wait (Sealed names the opening time)."""
    if is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes):
        raise Sealed(ctx.local(opening_time(p.deadline, p.opening_delay_minutes)))


def ensure_not_final(p) -> None:
    """A decided or cancelled procurement's evaluation is frozen (ValueError, like the other refusals here)."""
    if State(p.state) in lifecycle.FINAL:
        how = "otsustatud" if p.state == State.DECIDED.value else "tühistatud"
        raise ValueError(f"Hange {p.reference} on {how}: hindeid ja otsuseid ei saa enam muuta.")


def blocking_problems(bid) -> list[dict]:
    return [pr for pr in (bid.problems or []) if pr.get("code") in BLOCKING]


def results(ctx: Context, proc_key: str) -> list[PartResult]:
    ps = ctx.proc_settings(proc_key)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        ensure_opened(ctx, p)
        bids = repo.bids(p.id)
        grades = repo.grades(b.id for b in bids)
        bidders = {b.id: b for b in repo.bidders(p.id, active_only=False)}
    by_bid: dict[int, dict[str, CoreGrade]] = {}
    for g in grades:
        by_bid.setdefault(g.bid_id, {})[g.criterion_key] = CoreGrade(g.points, g.level_name, g.justification, g.graded_by, g.graded_at)
    out = []
    parts = {pt.number: pt for pt in ps.parts}
    numbers = sorted({pt.number for pt in ps.parts if pt.invited} | {b.part_no for b in bids if b.part_no in parts})
    for n in numbers:
        scoring = []
        for b in (x for x in bids if x.part_no == n):
            bd = bidders.get(b.bidder_id)
            blocking = blocking_problems(b)
            excluded, reason = False, None
            if b.late:  # not opened: its price is never read into results, letters or the protocol
                excluded, reason = True, LATE_REASON
            elif b.decision == "rejected":
                excluded, reason = True, f"Tagasi lükatud: {b.decision_reason or ''}".strip()
            elif blocking and b.decision != "accepted":
                excluded = True
                reason = "Ootab eksperdi otsust: " + "; ".join(pr["message"] for pr in blocking)
            scoring.append(BidForScoring(bid_id=str(b.id), bidder_key=bd.key if bd else b.sender,
                                         bidder_name=bd.name if bd else b.sender, price=None if b.late else b.price, received_at=b.received_at,
                                         grades=by_bid.get(b.id, {}), excluded=excluded, exclusion_reason=reason,
                                         problems=[LATE_REASON] if b.late else
                                         [pr["message"] for pr in (b.problems or [])
                                          if pr.get("code") not in VERDICT_CODES],  # signatures say it
                                         signatures=[describe_signature(x) for x in (b.signatures or [])]))
        out.append(score_part(criteria(ps, n), scoring, rules(ps), part_no=n, part_name=parts[n].name))
    return out


def undecided(ctx: Context, proc_key: str) -> list:
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        return [b for b in uow.repo.bids(p.id) if blocking_problems(b) and b.decision == "none"]


def grade_bid(ctx: Context, bid_id: int, criterion_key: str, points: Decimal, justification: str, actor: str) -> Grade:
    if not justification or not justification.strip():
        raise ValueError("Hinde põhjendus on kohustuslik.")
    with ctx.uow() as uow:
        repo = uow.repo
        bid = repo.bid(bid_id)
        if bid is None or bid.status != "active":
            raise KeyError(f"no active bid #{bid_id}")
        p = repo.procurement_by_id(bid.procurement_id)
        ensure_opened(ctx, p)
        ensure_not_final(p)
        ps = ctx.proc_settings(p.key)
        crit = next((c for c in criteria(ps, bid.part_no) if c.key == criterion_key), None)
        if crit is None:
            raise KeyError(f"no criterion {criterion_key!r} for part {bid.part_no}")
        level = validate_grade(crit, Decimal(points))
        g = repo.grade(bid.id, criterion_key) or Grade(bid_id=bid.id, criterion_key=criterion_key, points=level.points,
                                                       level_name=level.name, justification="", graded_by=actor)
        old = (str(g.points), g.justification) if g.id else None
        g.points, g.level_name, g.justification, g.graded_by, g.graded_at = level.points, level.name, justification.strip(), actor, utcnow()
        repo.s.add(g)
        repo.audit(actor, "graded", p.id, bid_id=bid.id, criterion=criterion_key, points=level.points, previous=old)
        if p.state == State.EVALUATED.value:
            p.state = lifecycle.reopen_evaluation(State(p.state)).value
            repo.s.add(p)
        uow.commit()
    refresh_state(ctx, p.key)
    return g


def refresh_state(ctx: Context, proc_key: str) -> bool:
    """Mark the procurement evaluated (and tell staff) once every admitted bid is fully scored and every
    problem bid decided. Returns True when it is evaluated."""
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        if p.state != State.CLOSED.value or is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes):
            return p.state == State.EVALUATED.value
    res = results(ctx, proc_key)
    complete = all(not r.pending for r in res) and not undecided(ctx, proc_key) and any(r.ranked for r in res)
    if not complete:
        return False
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(proc_key)
        p.state = lifecycle.mark_evaluated(State(p.state), True).value
        repo.s.add(p)
        # one notice per evaluation: a re-evaluation after a regrade is announced again, a replay is not
        round_no = len(repo.audit_rows(p.id, "evaluated")) + 1
        repo.audit("system", "evaluated", p.id)
        winners = tuple((r.part_no, r.ranked[0].bid.bidder_name, format_number(r.ranked[0].total, r.rules.rounding_places))
                        for r in res if r.ranked)
        publish(ctx, repo, "results_ready",
                ResultsReady(procurement_id=p.id, reference=p.reference, title=p.title,
                             parts_ranked=sum(1 for r in res if r.ranked), parts_total=len(res), winners=winners),
                f"results:{p.key}:{round_no}", p.id)
        uow.commit()
    return True


def format_results(ctx: Context, res: list[PartResult]) -> str:
    """Plain text ranking for the CLI and the demo."""
    lines = []
    for r in res:
        lines.append(f"Osa {r.part_no}: {r.part_name}")
        for s in r.ranked:
            pr = next((c.points for c in s.scores if c.criterion_key == "price"), None)
            lines.append(f"  {s.rank}. {s.bid.bidder_name:<32} hind {format_eur(s.bid.price):>12}  "
                         f"hinnapunktid {format_number(pr, r.rules.rounding_places):>6}  kokku {format_number(s.total, r.rules.rounding_places):>6}"
                         + (f"  ({s.tie_note})" if s.tie_note else ""))
        for s in r.pending:
            lines.append(f"  –  {s.bid.bidder_name:<32} hindamata: {', '.join(s.missing)}")
        for b in r.excluded:
            lines.append(f"  ✗  {b.bidder_name:<32} {b.exclusion_reason}")
    return "\n".join(lines)
