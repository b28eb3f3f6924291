"""The decision per part and the procurement's cancellation.

`decide_part` records the successful bid of a part (the top-ranked admitted bid unless the expert names
another with a written reason); once every part with ranked bids is decided the procurement is 'decided'.
`decide_bid` accepts or rejects one bid that has problems. `cancel_procurement` stops it for good (any state but decided) with a reason. Both write the audit log;
the letters to bidders are sent by service.decision_letters."""
from __future__ import annotations

from dataclasses import dataclass

from hankebot.core import lifecycle
from hankebot.core.decision import Choice, DecisionError, choose
from hankebot.core.events import NoBids
from hankebot.core.lifecycle import LifecycleError, State
from hankebot.core.scoring import format_number
from hankebot.service.context import Context
from hankebot.service.active_bids import settle
from hankebot.service.evaluation import ensure_not_final, ensure_opened, refresh_state, results
from hankebot.storage.tables import PartDecision, utcnow

__all__ = ["DecisionError", "decide_bid", "decide_part", "preview_decision", "decisions", "cancel_procurement", "cancel_reason"]


@dataclass
class DecisionPreview:
    proc_key: str
    choices: list[Choice]
    places: int

    def format_et(self) -> str:
        lines = [f"Otsus – hange {self.proc_key}"]
        for c in self.choices:
            how = "pingereas esimene" if c.default else f"pingereas {c.bid.rank}. (põhjendus: {c.reason})"
            lines.append(f"Osa {c.part_no}: edukas pakkumus – {c.bid.bid.bidder_name}, "
                         f"{format_number(c.bid.total, self.places)} punkti ({how})")
        return "\n".join(lines)


def _choices(ctx: Context, proc_key: str, part_no: int | None, bid_id: int | None, why: str | None) -> list[Choice]:
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        done = {d.part_no for d in decisions(uow.repo, p.id)}
        state = State(p.state)
    if state != State.EVALUATED:
        raise DecisionError(f"Hange on olekus „{lifecycle.state_et(state)}“: "
                            "otsuse saab teha alles siis, kui kõik pakkumused on hinnatud.")
    res = results(ctx, proc_key)
    if part_no is not None:
        r = next((x for x in res if x.part_no == part_no), None)
        if r is None:
            raise DecisionError(f"Osa {part_no} selles hankes ei ole.")
        if part_no in done:
            raise DecisionError(f"Osa {part_no} otsus on juba tehtud.")
        return [choose(r, None if bid_id is None else str(bid_id), why)]
    if bid_id is not None:
        r = next((x for x in res if any(s.bid.bid_id == str(bid_id) for s in x.ranked)), None)
        if r is None:
            raise DecisionError(f"Pakkumus nr {bid_id} ei ole ühegi osa järjestatud pakkumuste hulgas.")
        return [choose(r, str(bid_id), why)]
    out = [choose(r, None, why) for r in res if r.ranked and r.part_no not in done]
    if not out:
        raise DecisionError("Otsustamata osi, millel oleks järjestatud pakkumusi, ei ole.")
    return out


def preview_decision(ctx: Context, proc_key: str, part_no: int | None = None, bid_id: int | None = None,
                     why: str | None = None) -> DecisionPreview:
    """What `decide_part` would record (raises DecisionError with the reason it would refuse)."""
    ps = ctx.proc_settings(proc_key)
    return DecisionPreview(ps.key, _choices(ctx, ps.key, part_no, bid_id, why), ps.scoring.rounding_places)


def decisions(repo, pid: int) -> list[PartDecision]:
    from sqlmodel import select

    return list(repo.s.exec(select(PartDecision).where(PartDecision.procurement_id == pid).order_by(PartDecision.part_no)))


def decide_part(ctx: Context, proc_key: str, part_no: int | None = None, bid_id: int | None = None,
                why: str | None = None, actor: str = "cli") -> list[PartDecision]:
    """Record the successful bid of `part_no` (every undecided part with ranked bids when None). Once
    every part with ranked bids is decided the procurement becomes 'decided'. Returns the new rows."""
    ps = ctx.proc_settings(proc_key)
    choices = _choices(ctx, ps.key, part_no, bid_id, why)
    res = results(ctx, ps.key)
    rows = []
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        for c in choices:
            row = PartDecision(procurement_id=p.id, part_no=c.part_no, bid_id=int(c.bid.bid.bid_id), top_ranked=c.default,
                               reason=c.reason, total=c.bid.total, decided_by=actor, decided_at=ctx.now())
            repo.s.add(row)
            rows.append(row)
            repo.audit(actor, "part_decided", p.id, part_no=c.part_no, bid_id=int(c.bid.bid.bid_id),
                       bidder=c.bid.bid.bidder_name, total=c.bid.total, top_ranked=c.default, reason=c.reason)
        repo.s.flush()
        decided = {d.part_no for d in decisions(repo, p.id)}
        if all(r.part_no in decided for r in res if r.ranked):
            p.state = lifecycle.decide(State(p.state)).value
            p.updated_at = ctx.now()
            repo.s.add(p)
            repo.audit(actor, "decided", p.id, parts=sorted(decided))
        uow.commit()
        for r in rows:
            repo.s.refresh(r)
    return rows


def cancel_procurement(ctx: Context, proc_key: str, why: str, actor: str = "cli") -> None:
    """Cancel (any state but decided) with a written reason. Invitations, reminders and clarifications not
    yet sent are withdrawn (marked failed: they must never go out after the cancellation)."""
    if not (why or "").strip():
        raise DecisionError("Tühistamise põhjendus on kohustuslik (--why).")
    ps = ctx.proc_settings(proc_key)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        if p.state == State.CANCELLED.value:
            return
        try:
            p.state = lifecycle.cancel(State(p.state)).value
        except LifecycleError:
            raise DecisionError("Otsustatud hanget ei saa tühistada.") from None
        p.updated_at = utcnow()
        repo.s.add(p)
        withdrawn = []
        for o in repo.outbound(p.id):
            if o.state == "pending" and o.kind in ("invitation", "reminder", "clarification"):
                o.state, o.last_error = "failed", "hange tühistati enne saatmist"
                repo.s.add(o)
                withdrawn.append(o.recipient)
        repo.audit(actor, "cancelled", p.id, reason=why.strip(), withdrawn=withdrawn)
        uow.commit()


def cancel_reason(repo, pid: int) -> tuple[str, str, object] | None:
    """(reason, actor, when) of the cancellation, or None."""
    rows = repo.audit_rows(pid, "cancelled")
    if not rows:
        return None
    a = rows[-1]
    return a.details.get("reason", ""), a.actor, a.at



NO_BIDS_REASON = "Tähtajaks ei laekunud ühtegi vastuvõetavat pakkumust."


def admissible_bids(repo, p) -> list:
    """Active on-time bids not rejected by the expert (a late bid is never admissible)."""
    return [b for b in repo.bids(p.id) if not b.late and b.decision != "rejected"]


def ask_no_bids(ctx: Context, repo, p, why: str) -> None:
    """Ask the expert, with buttons, to cancel the procurement or extend the deadline (idempotent per deadline)."""
    from hankebot.service.notify import publish

    publish(ctx, repo, "no_bids", NoBids(procurement_id=p.id, reference=p.reference, reason=why),
            f"no_bids:{p.key}:{p.deadline.isoformat()}")


def decide_bid(ctx: Context, bid_id: int, accept: bool, reason: str, actor: str) -> None:
    """Accept or reject one bid that has problems (late, missing forms, unverified sender, ...), with a reason."""
    if not reason or not reason.strip():
        raise ValueError("Otsuse põhjendus on kohustuslik.")
    with ctx.uow() as uow:
        repo = uow.repo
        bid = repo.bid(bid_id)
        if bid is None:
            raise KeyError(f"no bid #{bid_id}")
        p = repo.procurement_by_id(bid.procurement_id)
        ensure_opened(ctx, p)
        ensure_not_final(p)
        bid.decision = "accepted" if accept else "rejected"
        bid.decision_reason, bid.decided_by, bid.decided_at = reason.strip(), actor, ctx.now()
        repo.s.add(bid)
        repo.audit(actor, "bid_accepted" if accept else "bid_rejected", p.id, bid_id=bid.id, reason=reason.strip())
        if not bid.late:  # accepting an unverified bid lets it replace the earlier one (core.active_bid)
            settle(repo, p.id, bid.part_no, bid.bidder_id, actor)
        if not accept:
            repo.s.flush()
            if not admissible_bids(repo, p):  # the last admissible bid rejected: cancel or extend?
                ask_no_bids(ctx, repo, p, "Ükski laekunud pakkumus ei ole vastuvõetav.")
        if p.state == State.EVALUATED.value:
            p.state = lifecycle.reopen_evaluation(State(p.state)).value
            repo.s.add(p)
        uow.commit()
    refresh_state(ctx, p.key)
