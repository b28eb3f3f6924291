"""Estonian HTML replies to staff commands, built from plain data. Sealed rules: the callers pass prices
only when the procurement is open (`bids_text(..., sealed=False)`); a sealed reply never shows one."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Sequence

from hankebot.bot.texts import esc
from hankebot.core.lifecycle import STATE_ET as _STATE_ET
from hankebot.core.et_format import datetime_et, duration_et
from hankebot.core.scoring import format_eur, format_number

STATE_ET = _STATE_ET
ANSWER_ET = {"bid": "pakkumus", "declined": "loobus", "question": "küsis, pakkumust pole",
             "silent": "pole vastanud", "bounced": "kutse ei jõudnud kohale"}
BASIS_ET = {"natural_total": "kogukulu (füüsiline isik)", "legal_with_vat": "kogukulu km-ga"}

HELP = """<b>Hankebot</b> — hanke käik Telegramis
/status — ülevaade: kutsutud, vastanud, loobunud, pakkumused, aega jäänud
/bids — pakkumused (enne avamist ainult arv ja nimed, pärast avamist hinnad)
/missing — puuduvad vormid ja vastamata pakkujad
/questions — pakkujate küsimused
/auto — automaatsed vastused (puhkuseteated jms; neist ei teavitata eraldi)
/other — muud kirjad (kolleegid, uudiskirjad, teavitused, teiste hangete kirjad; neist ei teavitata)
/remind — meeldetuletus vastamata pakkujatele (kinnitusega)
/clarify — selgitus kõigile pakkujatele (kinnitusega)
/extend — tähtaja pikendamine, nt <code>/extend 26.01.2026 15:00</code>
/bid — pakkumuse kaart: pakkuja tekstid, failid, hindamine, nt <code>/bid 3</code>
/grade — hindamine kaardil: tase → põhjendus → järgmine kriteerium ja pakkumus
/accept, /reject — otsus probleemiga pakkumuse kohta (põhjendusega)
/results — hindamise tulemused
/protocol — hindamise protokoll (xlsx, pdf, joonis)
/held — teated, mille kohalejõudmine jäi teadmata
/decide — otsus (edukas pakkumus osade kaupa) ja kirjad kõigile pakkujatele, eelvaate ja kinnitusega
/cancel — katkesta pooleli tegevus (ka /stop); <code>/cancel 302834 põhjus</code> tühistab hanke (kinnitusega, kiri kõigile kutsututele)
Mitme hanke korral lisa käsule hanke number, nt <code>/status 302834</code>."""


def status_text(st) -> str:
    """/status for one procurement (a service.status.ProcurementStatus): counts and names only."""
    left = duration_et(st.time_left)
    lines = [f"📊 <b>Hange {esc(st.reference)}</b>", esc(st.title),
             f"Olek: {esc(STATE_ET.get(st.state, st.state))}",
             f"Tähtaeg: {datetime_et(st.deadline)}" + (f" (jäänud {left})" if st.time_left.total_seconds() > 0 else " (möödas)"),
             f"Kutsutud: {len(st.bidders)} · kutse saadetud: {st.invitations_sent}",
             f"Pakkumusi: {st.bids} · loobunud: {st.declines} · küsimusi: {st.questions} · "
             f"tagastatud kirju: {st.bounces}" + (f" · hilinenud: {st.late_bids}" if st.late_bids else ""),
             "", "<b>Pakkujad</b>"]
    for b in st.bidders:
        line = f"• {esc(b.name)} — {esc(ANSWER_ET.get(b.answer, b.answer))}"
        if b.bid_parts:
            line += f" (osa {', '.join(map(str, b.bid_parts))})"
        if b.missing_forms:
            line += f"; puudub: {esc(', '.join(b.missing_forms))}"
        if b.late:
            line += " ⏰ hilinenud"
        lines.append(line)
    extra = []
    if st.unknown_senders:
        extra.append(f"tundmatuid saatjaid: {st.unknown_senders}")
    if st.problems:
        extra.append(f"otsust ootavaid probleeme: {st.problems}")
    if extra:
        lines += ["", "⚠️ " + "; ".join(extra)]
    lines.append("🔒 Pakkumused on avamiseni suletud." if st.sealed else "🔓 Pakkumused on avatud.")
    return "\n".join(lines)


@dataclass
class BidLine:
    """One bid as /bids shows it."""

    bid_id: int
    part_no: int
    bidder_name: str
    received_at: datetime  # local
    late: bool
    price: Decimal | None = None
    price_basis: str | None = None
    missing_forms: Sequence[str] = ()
    problems: Sequence[str] = ()
    decision: str = "none"


def bids_text(reference: str, lines: Sequence[BidLine], sealed: bool, opens_at: datetime | None) -> str:
    """/bids. Sealed: the count and who bid for which part — `price` is ignored even if given."""
    out = [f"📥 <b>Pakkumused · hange {esc(reference)}</b>", f"Pakkumusi: {len(lines)}"]
    if sealed:
        out.append(f"🔒 Suletud kuni {datetime_et(opens_at)}; hinnad selguvad avamisel." if opens_at
                   else "🔒 Suletud; hinnad selguvad avamisel.")
    for part in sorted({x.part_no for x in lines}):
        out += ["", f"<b>Osa {part}</b>"]
        for x in (y for y in lines if y.part_no == part):
            row = f"• {esc(x.bidder_name)}" if sealed else f"• #{x.bid_id} {esc(x.bidder_name)}"
            if not sealed:
                row += (f" — {format_eur(x.price)}" if x.price is not None
                        else " — avamata" if x.late else " — hind puudub")
                if x.price is not None and x.price_basis:
                    row += f", {esc(BASIS_ET.get(x.price_basis, x.price_basis))}"
            row += f"; saabus {datetime_et(x.received_at)}"
            if x.late:
                row += " ⏰ hilinenud"
            if x.missing_forms:
                row += f"; puudub: {esc(', '.join(x.missing_forms))}"
            if not sealed and x.problems:
                row += "; ⚠️ " + esc("; ".join(x.problems))
            if x.decision != "none":
                row += f"; otsus: {'vastu võetud' if x.decision == 'accepted' else 'tagasi lükatud'}"
            out.append(row)
    return "\n".join(out)


def missing_text(st) -> str:
    """/missing: incomplete bids and silent invitees (names and form titles only)."""
    out = [f"📋 <b>Puudu · hange {esc(st.reference)}</b>"]
    incomplete = [b for b in st.bidders if b.missing_forms]
    out.append("Puuduvad vormid:" if incomplete else "Puuduvate vormidega pakkumusi pole.")
    out += [f"• {esc(b.name)}: {esc(', '.join(b.missing_forms))}" for b in incomplete]
    quiet = [b for b in st.bidders if b.answer in ("silent", "question")]
    out.append("Pole pakkumust ega loobumist saatnud:" if quiet else "Kõik kutsutud on vastanud.")
    out += [f"• {esc(b.name)} ({esc(b.email)})" for b in quiet]
    bounced = [b for b in st.bidders if b.answer == "bounced"]
    if bounced:
        out.append("Kutse ei jõudnud kohale:")
        out += [f"• {esc(b.name)} ({esc(b.email)})" for b in bounced]
    return "\n".join(out)


def results_text(reference: str, parts) -> str:
    """/results from service.evaluation.results (list of core.evaluation.PartResult); after opening only."""
    out = [f"🏁 <b>Tulemused · hange {esc(reference)}</b>"]
    for r in parts:
        places = getattr(r.rules, "rounding_places", 2)
        out += ["", f"<b>Osa {r.part_no}</b>: {esc(r.part_name)}"]
        for s in r.ranked:
            price = format_eur(s.bid.price) if s.bid.price is not None else "—"
            out.append(f"{s.rank}. {esc(s.bid.bidder_name)} — <b>{_pts(s.total, places)} p</b> · hind {price}"
                       + (f" <i>{esc(s.tie_note)}</i>" if s.tie_note else ""))
            out += _per_criterion(r, s, places)
        for s in r.pending:
            out.append(f"– {esc(s.bid.bidder_name)}: hindamata — {esc(', '.join(s.missing))}")
            out += _per_criterion(r, s, places)
        for b in r.excluded:
            out.append(f"✗ {esc(b.bidder_name)}: {esc(b.exclusion_reason or 'kõrvale jäetud')}")
        if not (r.ranked or r.pending or r.excluded):
            out.append("Pakkumusi pole.")
    return "\n".join(out)


def _pts(value: Decimal | None, places: int) -> str:
    return "—" if value is None else format_number(Decimal(value), places)


def _per_criterion(r, s, places: int) -> list[str]:
    """One line per criterion with the points it gave (names, never keys)."""
    out = []
    for c in r.criteria:
        sc = s.score_for(c.key)
        if sc is not None:
            out.append(f"   {esc(c.name)}: {_pts(sc.points, places)} / {format_number(c.weight)} p")
    return out
