"""`hankebot register PROC`: the letters register of a procurement exported as XLSX and CSV.

Every message sent (outbound rows in state 'sent') and received (inbound rows assigned to the
procurement; our own copies and duplicates left out), in time order, numbered '<reference>/<n>'.
Bids are restricted until the decision (or cancellation); natural persons appear by initials."""
from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import FINAL, State
from hankebot.core.register import HEADERS, IN, IN_KINDS, OUT, OUT_KINDS, RegisterRow, access, counterpart
from hankebot.service.context import Context

_SKIP_IN = ("own_copy", "duplicate")


def register_rows(ctx: Context, proc_key: str) -> list[RegisterRow]:
    ps = ctx.proc_settings(proc_key)
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(ps.key)
        decided = State(p.state) in FINAL
        bidders = {b.id: b for b in repo.bidders(p.id, active_only=False)}
        items = []
        for o in repo.outbound(p.id):
            if o.state != "sent":
                continue
            b = bidders.get(o.bidder_id)
            items.append((o.sent_at or o.created_at, OUT, counterpart(b.name if b else None, o.recipient,
                                                                      bool(b and b.person_type == "natural")),
                          o.subject, OUT_KINDS.get(o.kind, o.kind), access(OUT, o.kind, decided)))
        for m in repo.inbound_for(p.id):
            if m.state in _SKIP_IN:
                continue
            b = bidders.get(m.bidder_id)
            kind = m.kind or "other"
            items.append((m.received_at, IN, counterpart(b.name if b else None, m.sender,
                                                         bool(b and b.person_type == "natural")),
                          (m.subject or "").strip() or "(teemata)", IN_KINDS.get(kind, kind), access(IN, kind, decided)))
    items.sort(key=lambda x: x[0])
    return [RegisterRow(f"{ps.reference}/{i}", ctx.local(at), d, cp, subj, kind, acc)
            for i, (at, d, cp, subj, kind, acc) in enumerate(items, 1)]


def _values(r: RegisterRow) -> list[str]:
    return [r.reference, datetime_et(r.at), r.type_et, r.direction, r.counterpart, r.subject, r.kind, r.access]


def write_register(ctx: Context, proc_key: str, out_dir: Path | None = None, actor: str = "cli") -> tuple[Path, Path]:
    """Write kirjaregister-<key>.xlsx and .csv (UTF-8 with BOM, ';' as Estonian spreadsheets expect)."""
    ps = ctx.proc_settings(proc_key)
    rows = register_rows(ctx, ps.key)
    out = Path(out_dir) if out_dir else ctx.cfg.data_dir / "register" / ps.key
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    xlsx, csv_path = out / f"kirjaregister-{ps.key}.xlsx", out / f"kirjaregister-{ps.key}.csv"
    wb = Workbook()
    ws = wb.active
    ws.title = "Kirjaregister"
    ws.append([f"Kirjaregister – {ps.procurer}: {ps.title} (viitenumber {ps.reference})"])
    ws["A1"].font = Font(bold=True)
    ws.append(list(HEADERS))
    for c in ws[2]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append(_values(r))
    for col, width in zip("ABCDEFGH", (12, 17, 12, 8, 28, 60, 20, 28)):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=3):
        row[5].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"
    wb.save(xlsx)
    with csv_path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(HEADERS)
        w.writerows(_values(r) for r in rows)
    for f in (xlsx, csv_path):
        f.chmod(0o600)
    with ctx.uow() as uow:
        uow.repo.audit(actor, "register_written", uow.repo.procurement(ps.key).id, xlsx=str(xlsx), csv=str(csv_path),
                       rows=len(rows))
        uow.commit()
    return xlsx, csv_path
