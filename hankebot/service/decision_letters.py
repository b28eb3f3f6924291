"""Decision letters to every bidder and cancellation letters to every invitee.

Sent through the shared send engine (service/send_engine.py: rows written first with a fixed Message-ID,
claimed one at a time, resumed after a crash by send_resume.resume_unsent): one message per bidder, To: that
bidder only, idempotent (dedupe key per procurement and bidder).

Decision letter, one per bidder covering each of their parts:
- the successful bidder: the decision, their points (per criterion, how computed), next steps, and the
  contract draft (procurement.contract_form in forms_dir) attached when configured;
- another admitted bidder: their points and rank, the successful bidder's name and points, the computation;
- a rejected bidder: the reason recorded with the expert's decision;
- a late bidder: the bid arrived after the deadline and was not opened (no price anywhere).
"""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import State, state_et
from hankebot.core.problems import Problem
from hankebot.core.scoring import format_number
from hankebot.mailer.compose import OutgoingAttachment
from hankebot.service.context import Context
from hankebot.service.letters import (
    bidder_values,
    letter,
    load_attachments,
    procurement_values,
    sent_invitees,
    templates_for,
)
from hankebot.service.send_engine import (
    OutboundOptions,
    Planned,
    load_procurement,
    queue,
    send_all,
    smtp_password,
    write_dry_run,
)
from hankebot.service.send_report import SendReport
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Procurement


def decision_entries(ctx: Context, proc_key: str) -> dict[int, list[dict]]:
    """bidder id -> one entry per part the bidder bid for (role winner | other | rejected | late)."""
    from hankebot.service.decision import decisions
    from hankebot.service.evaluation import results

    ps = ctx.proc_settings(proc_key)
    places = ps.scoring.rounding_places
    res = {r.part_no: r for r in results(ctx, ps.key)}
    with ctx.uow() as uow:
        p = uow.repo.procurement(ps.key)
        bids = uow.repo.bids(p.id)
        chosen = {d.part_no: d for d in decisions(uow.repo, p.id)}
    out: dict[int, list[dict]] = {}
    n_parts = len({b.part_no for b in bids})
    for b in sorted(bids, key=lambda x: x.part_no):
        if b.bidder_id is None:
            continue
        r = res.get(b.part_no)
        if r is None:
            continue
        e = {"part_no": b.part_no, "part_name": r.part_name, "part_count": n_parts,
             "received_et": datetime_et(ctx.local(b.received_at))}
        d = chosen.get(b.part_no)
        scored = next((s for s in r.ranked if s.bid.bid_id == str(b.id)), None)
        if b.late:
            e["role"] = "late"
        elif b.decision == "rejected":
            e.update(role="rejected", reason=b.decision_reason or "")
        elif scored is not None and d is not None:
            win = next(s for s in r.ranked if s.bid.bid_id == str(d.bid_id))
            names = {c.key: c for c in r.criteria}
            e.update(role="winner" if d.bid_id == b.id else "other", rank=scored.rank, ranked_count=len(r.ranked),
                     points=format_number(scored.total, places),
                     max_points=format_number(sum(c.weight for c in r.criteria), 0),
                     winner_name=win.bid.bidder_name, winner_points=format_number(win.total, places),
                     reason=d.reason if d.bid_id == b.id else None,
                     criteria=[{"name": names[s.criterion_key].name, "weight": format_number(names[s.criterion_key].weight, 0),
                                "points": format_number(s.points, places), "explanation": s.explanation}
                               for s in scored.scores])
        else:
            continue  # a part without a decision (no letter about it)
        out.setdefault(b.bidder_id, []).append(e)
    return out


async def send_decision_letters(ctx: Context, proc_key: str, dry_run: bool = False, out_dir: Path | None = None,
                                opts: OutboundOptions | None = None) -> SendReport:
    """One decision letter to every bidder (after `decide`). Idempotent; resumable after a crash."""
    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "decision", "decision", dry_run=dry_run)
    loaded = load_procurement(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    if State(p.state) != State.DECIDED:
        report.errors.append(Problem("wrong_state", f"Hange on olekus „{state_et(p.state)}“: otsuse kirjad saab saata "
                                                    "alles pärast otsust (decide)."))
        return report
    entries = decision_entries(ctx, ps.key)
    contract: list[OutgoingAttachment] = []
    if ps.contract_form:
        contract, probs = load_attachments(ctx, [ctx.cfg.resolve(ps.forms_dir) / ps.contract_form])
        report.errors += probs
    if report.errors:
        return report
    with ctx.uow() as uow:
        bidders = {b.id: b for b in uow.repo.bidders(p.id, active_only=False)}
    tpl = templates_for(ctx)
    base = procurement_values(ps, p, ctx)
    planned = []
    for bid_id, es in entries.items():
        b = bidders[bid_id]
        won = any(e["role"] == "winner" for e in es)
        atts = contract if won else []
        values = dict(base, bidder=bidder_values(b), entries=es, won=won,
                      contract=atts[0].filename if atts else None)

        def compose(mid: str, values=values, b=b, atts=atts) -> EmailMessage:
            subject, body = tpl.subject_and_body("decision", **values)
            return letter(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body,
                            message_id=mid, attachments=atts)

        planned.append(Planned(f"decision:{ps.key}:{b.key}", b.id, b.key, b.email, compose))
    return await _finish(ctx, ps, p, "decision", planned, report, dry_run, out_dir, opts)


async def send_cancellation_letters(ctx: Context, proc_key: str, dry_run: bool = False, out_dir: Path | None = None,
                                    opts: OutboundOptions | None = None, preview_reason: str | None = None) -> SendReport:
    """The cancellation and its reason to every invitee whose invitation went out. Idempotent.
    `preview_reason` with dry_run: the letters as they would be, before the procurement is cancelled."""
    from hankebot.service.decision import cancel_reason

    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "cancellation", "cancellation", dry_run=dry_run)
    loaded = load_procurement(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    report.state = p.state
    with ctx.uow() as uow:
        why = cancel_reason(uow.repo, p.id)
        invitees = sent_invitees(uow.repo, p.id)
        bid_by = {b.bidder_id for b in uow.repo.bids(p.id)}
    if dry_run and preview_reason:
        why = (preview_reason.strip(), opts.actor, ctx.now())
    elif State(p.state) != State.CANCELLED or why is None:
        report.errors.append(Problem("wrong_state", "Hange ei ole tühistatud: tühistamise kirju ei saadeta."))
        return report
    tpl = templates_for(ctx)
    base = procurement_values(ps, p, ctx)
    planned = []
    for b in invitees:
        values = dict(base, bidder=bidder_values(b), reason=why[0], had_bid=b.id in bid_by)

        def compose(mid: str, values=values, b=b) -> EmailMessage:
            subject, body = tpl.subject_and_body("cancellation", **values)
            return letter(ps, ctx, to_name=b.name, to_addr=b.email, subject=subject, body=body, message_id=mid)

        planned.append(Planned(f"cancellation:{ps.key}:{b.key}", b.id, b.key, b.email, compose))
    return await _finish(ctx, ps, p, "cancellation", planned, report, dry_run, out_dir, opts)


async def _finish(ctx: Context, ps, p: Procurement, kind: str, planned: list[Planned], report: SendReport,
                  dry_run: bool, out_dir: Path | None, opts: OutboundOptions) -> SendReport:
    if not planned:
        report.warnings.append(Problem("no_recipients", "Pole kellelegi kirja saata."))
        return report
    if dry_run:
        write_dry_run(ctx, ps, kind, planned, out_dir, report)
        return report
    password = smtp_password(ctx, report)
    if report.errors:
        return report

    def audit(repo: Repository, proc: Procurement) -> None:
        repo.audit(opts.actor, f"{kind}_letters_queued", proc.id, recipients=[pl.recipient for pl in planned])

    ids = queue(ctx, ps, p, kind, kind, planned, report, on_commit=audit, retry_failed=True, actor=opts.actor)
    if ids is None:
        return report
    await send_all(ctx, ids, report, opts, password)
    return report
