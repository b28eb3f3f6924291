"""Invitations: pre-flight, then one private invitation per bidder (To: that bidder only) with the forms
attached, through the send engine. The procurement goes invited -> open once every invitation is sent."""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from hankebot.core.lifecycle import LifecycleError, State, start_inviting
from hankebot.core.models import FormKind, PersonType, PriceBasis
from hankebot.core.preflight import FormFileFact, InviteeFact, is_valid_address, preflight
from hankebot.core.problems import Problem
from hankebot.mailer.compose import OutgoingAttachment, TemplateError, mime_type_for
from hankebot.service.config_procurement import ProcurementSettings
from hankebot.service.context import Context
from hankebot.service.letters import bidder_values, letter, procurement_values, templates_for
from hankebot.service.send_engine import (
    OutboundOptions,
    Planned,
    complete_invitations,
    load_procurement,
    queue,
    send_all,
    smtp_password,
    write_dry_run,
)
from hankebot.service.send_report import SendReport
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Procurement


def _price_hint(ps: ProcurementSettings, person_type) -> dict | None:
    want = PriceBasis.NATURAL_TOTAL if PersonType(person_type) == PersonType.NATURAL else PriceBasis.LEGAL_WITH_VAT
    for f in ps.forms:
        if f.kind == FormKind.COST:
            for c in f.price_cells:
                if c.basis == want:
                    return {"sheet": c.sheet, "cell": c.cell}
    return None


def _form_facts(ctx: Context, ps: ProcurementSettings) -> tuple[list[FormFileFact], list[OutgoingAttachment]]:
    fdir = ctx.cfg.resolve(ps.forms_dir)
    facts, atts = [], []
    for f in ps.forms:
        path = fdir / f.file
        try:
            data = path.read_bytes()
        except OSError as e:
            facts.append(FormFileFact(f.key, f.title, f.file, f.required, None, e.strerror or str(e)))
            continue
        facts.append(FormFileFact(f.key, f.title, f.file, f.required, len(data)))
        atts.append(OutgoingAttachment(Path(f.file).name, data, mime_type_for(f.file)))
    return facts, atts


async def send_invitations(ctx: Context, proc_key: str, dry_run: bool = False, out_dir: Path | None = None,
                           opts: OutboundOptions | None = None) -> SendReport:
    """Pre-flight, then one invitation per bidder (To: that bidder only), forms attached. Idempotent."""
    opts = opts or OutboundOptions()
    report = SendReport(proc_key, "invitation", "invitation", dry_run=dry_run)
    loaded = load_procurement(ctx, proc_key, report)
    if loaded is None:
        return report
    ps, p = loaded
    tpl = templates_for(ctx)
    facts, atts = _form_facts(ctx, ps)
    form_values = [{"key": f.key, "title": f.title, "filename": f.filename} for f in facts if f.size is not None]
    with ctx.uow() as uow:
        db_bidders = {b.key: b for b in uow.repo.bidders(p.id)}
    base = procurement_values(ps, p, ctx)
    part_names = {x.number: x.name for x in ps.parts}

    planned: list[Planned] = []
    invitees: list[InviteeFact] = []
    render_errors: list[str] = []
    for bs in ps.bidders:
        parts = ps.invited_parts(bs)
        if not parts:
            report.warnings.append(Problem("bidder_no_parts", f"Pakkujal „{bs.name}“ pole ühtegi kutsutud osa: kutset ei saadeta."))
            continue
        db = db_bidders.get(bs.key)
        invitees.append(InviteeFact(bs.key, bs.name, bs.email))
        values = dict(base, bidder=bidder_values(bs), forms=form_values,
                      parts=[{"number": n, "name": part_names[n]} for n in parts],
                      price_hint=_price_hint(ps, bs.person_type))

        def compose(mid: str, values=values, bs=bs) -> EmailMessage:
            subject, body = tpl.subject_and_body("invitation", **values)
            return letter(ps, ctx, to_name=bs.name, to_addr=bs.email, subject=subject, body=body,
                            message_id=mid, attachments=atts)

        try:  # render once now, so pre-flight can list template faults
            tpl.subject_and_body("invitation", **values)
        except TemplateError as e:
            render_errors.append(str(e))
        if is_valid_address(bs.email):
            planned.append(Planned(f"invitation:{ps.key}:{bs.key}", db.id if db else None, bs.key, bs.email, compose))

    lim = ctx.settings.attachments
    pre = preflight(forms=facts, invitees=invitees, deadline=ctx.local(p.deadline), now=ctx.now(),
                    max_file_bytes=int(lim.max_file_mb * 1024 * 1024),
                    max_total_bytes=int(lim.max_total_mb * 1024 * 1024), render_errors=render_errors)
    report.errors += pre.errors
    report.warnings += pre.warnings
    if dry_run:
        if not render_errors:
            write_dry_run(ctx, ps, "invitation", planned, out_dir, report)
        report.state = p.state
        return report
    if report.errors:
        report.state = p.state
        return report
    password = smtp_password(ctx, report)
    if report.errors:
        return report

    def begin(repo: Repository, proc: Procurement) -> None:
        state = State(proc.state)
        if state == State.OPEN:  # a bidder added after the batch: invited alone, the state stays open
            return
        proc.state = start_inviting(state, ctx.now(), proc.deadline).value
        repo.add(proc)
        repo.audit(opts.actor, "invitations_queued", proc.id, recipients=[pl.recipient for pl in planned])

    try:
        ids = queue(ctx, ps, p, "invitation", "invitation", planned, report, on_commit=begin, actor=opts.actor)
    except LifecycleError as e:
        report.errors.append(Problem("wrong_state", f"Kutseid ei saa saata: {e}"))
        return report
    if ids is None:
        return report
    await send_all(ctx, ids, report, opts, password)
    report.state = complete_invitations(ctx, p.id, opts)
    return report

