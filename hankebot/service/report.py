"""The protocol of a procurement: its data gathered from the results, the decisions and the invitees'
answers (`protocol_data`), and the files the agency signs (`write_report`: xlsx, pdf, chart)."""
from __future__ import annotations

from pathlib import Path

from hankebot.core.evaluation import BidEntry, BidVerdict, Participant, PartVerdict, ProtocolData
from hankebot.service.context import Context
from hankebot.service.decision import cancel_reason, decisions
from hankebot.service.evaluation import LATE_REASON, blocking_problems, results, rules


BASIS_ET = {"legal_with_vat": "maksumus koos käibemaksuga", "natural_total": "füüsilise isiku kogukulu"}


def _participants(ctx: Context, repo, p) -> list[Participant]:
    """Every invitee with its answer and each bid's arrival and price basis (a late bid: no basis, no price)."""
    invited: dict[int, object] = {}
    for o in repo.outbound(p.id, kind="invitation"):
        if o.state == "sent" and o.bidder_id is not None:
            invited.setdefault(o.bidder_id, o.sent_at)
    bids = repo.bids(p.id)
    inbound = repo.inbound_for(p.id)
    out = []
    for b in repo.bidders(p.id, active_only=False):
        if b.id not in invited and not any(x.bidder_id == b.id for x in bids):
            continue
        mine = sorted((x for x in bids if x.bidder_id == b.id), key=lambda x: (x.part_no, x.received_at))
        entries = tuple(BidEntry(x.part_no, ctx.local(x.received_at), x.late,
                                 None if x.late else BASIS_ET.get(x.price_basis or "", x.price_basis)) for x in mine)
        msgs = [m for m in inbound if m.bidder_id == b.id]
        if mine:
            answer, at = "bid", min(x.received_at for x in mine)
        elif any(m.kind == "decline" for m in msgs):
            answer, at = "declined", min(m.received_at for m in msgs if m.kind == "decline")
        elif any(m.kind == "bounce" for m in msgs):
            answer, at = "bounced", min(m.received_at for m in msgs if m.kind == "bounce")
        else:
            answer, at = "silent", None
        when = invited.get(b.id)
        out.append(Participant(b.name, ctx.local(when) if when else None, answer, ctx.local(at) if at else None, entries))
    return out


def protocol_data(ctx: Context, proc_key: str, prepared_by: str | None = None) -> ProtocolData:
    ps = ctx.proc_settings(proc_key)
    res = results(ctx, proc_key)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        bids = repo.bids(p.id)
        graders = sorted({g.graded_by for g in repo.grades(b.id for b in bids)})
        names = {b.id: b.name for b in repo.bidders(p.id, active_only=False)}
        participants = _participants(ctx, repo, p)
        verdicts = [BidVerdict(names.get(b.bidder_id, b.sender), b.part_no, b.decision == "accepted",
                               (LATE_REASON,) if b.late else tuple(pr["message"] for pr in blocking_problems(b)),
                               b.decision_reason or "", b.decided_by or "", ctx.local(b.decided_at) if b.decided_at else None)
                    for b in sorted(bids, key=lambda x: (x.part_no, x.received_at)) if b.decision in ("accepted", "rejected")]
        by_id = {b.id: b for b in bids}
        parts = [PartVerdict(d.part_no, names.get(by_id[d.bid_id].bidder_id, "") if d.bid_id in by_id else "", d.total,
                             d.top_ranked, d.reason, d.decided_by, ctx.local(d.decided_at)) for d in decisions(repo, p.id)]
        cancelled = cancel_reason(repo, p.id)
    return ProtocolData(procurement_ref=ps.reference, title=ps.title, procurer_name=ps.procurer,
                        deadline=ctx.local(p.deadline), generated_at=ctx.local(ctx.now()), parts=res, rules=rules(ps),
                        graded_by=graders, prepared_by=prepared_by or ps.expert_name, participants=participants,
                        bid_verdicts=verdicts, part_verdicts=parts,
                        cancelled=(cancelled[0], cancelled[1], ctx.local(cancelled[2])) if cancelled else None)


def write_report(ctx: Context, proc_key: str, out_dir: Path | None = None, actor: str = "cli"):
    from hankebot.service.protocol import write_protocol  # reportlab and matplotlib: only when writing

    data = protocol_data(ctx, proc_key)
    out = Path(out_dir) if out_dir else ctx.cfg.data_dir / "protocols" / proc_key
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = write_protocol(data, out)
    for f in (files.xlsx, files.pdf, files.chart_png):  # prices and grades: not for other users of the machine
        f.chmod(0o600)
    out.chmod(0o700)
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        uow.repo.audit(actor, "protocol_written", p.id, xlsx=str(files.xlsx), pdf=str(files.pdf))
        uow.commit()
    return files
