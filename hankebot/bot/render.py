"""Domain events (core/events.py) into Estonian staff texts, at delivery: for Telegram and the console alike.

Rendering reads the procurement as it is NOW: while its bids are sealed a problem is shown by what is
wrong (its `sealed_message`, never an amount); after the opening with its detail. A row's text is made
once, when its delivery starts, and stored with it (what was sent).
"""
from __future__ import annotations

from datetime import datetime

from hankebot.bot import texts
from hankebot.bot.texts import esc
from hankebot.core import events as ev
from hankebot.core.et_format import datetime_et
from hankebot.core.sealing import is_sealed
from hankebot.service.context import Context
from hankebot.storage.tables import Notification, Procurement

_WHAT_ET = {"invitation": "kutse", "reminder": "meeldetuletus", "clarification": "selgitus", "receipt": "kinnitus",
            "decision": "otsus", "cancellation": "tühistamise teade"}
_FAILED_ET = {"invitation": "Kutset", "clarification": "Selgitust", "reminder": "Meeldetuletust",
              "receipt": "Kättesaamise kinnitust", "decision": "Otsuse kirja", "cancellation": "Tühistamise kirja"}
_KIND_ET = {"bid": "pakkumus", "decline": "loobumine", "question": "küsimus", "other": "muu kiri"}


def sealed_now(ctx: Context, p: Procurement | None) -> bool:
    """Whether the procurement's bids are sealed at this moment (no procurement: treated as sealed)."""
    return p is None or is_sealed(ctx.now(), p.deadline, p.opening_delay_minutes)


# what a cost-form problem says while the bids are sealed: what is wrong, never the amount
SEALED_PRICE_PROBLEMS = {
    "implausible_price": "Maksumuse vormi hind ei ole oodatud vahemikus (null, negatiivne, alla alampiiri või üle "
                         "ülempiiri). Üksikasjad näeb pärast avamist.",
    "ambiguous_price": "Maksumuse vormis on täidetud mitu hinnalahtrit. Üksikasjad näeb pärast avamist.",
    "price_needs_manual_entry": "Maksumuse vormi hinda ei saanud masinloetavalt lugeda; see tuleb pärast avamist "
                                "käsitsi sisestada.",
    "formula_not_evaluated": "Maksumuse vormi hind on arvutamata valem. Üksikasjad näeb pärast avamist.",
}


def problem_lines(problems, sealed: bool) -> list[str]:
    """Problem texts: with their detail after the opening; while sealed, the `sealed_message` or, for a
    cost-form price problem, what is wrong without the number."""
    if not sealed:
        return [p.message for p in problems]
    return [p.sealed_message or SEALED_PRICE_PROBLEMS.get(p.code) or p.message for p in problems]


def _local(ctx: Context, dt: datetime | None) -> datetime | None:
    return ctx.local(dt) if dt is not None else None


def render_event(ctx: Context, e: ev.Event) -> tuple[str, dict]:
    """(Telegram HTML, payload additions such as buttons) for one event."""
    with ctx.uow() as uow:
        p = uow.repo.procurement_by_id(e.procurement_id) if e.procurement_id is not None else None
        if p is not None:
            uow.session.expunge(p)
    ref = p.reference if p is not None else None
    sealed = sealed_now(ctx, p)
    if isinstance(e, ev.BidReceived):
        return texts.new_bid_text(ref, e.bidder_name, list(e.parts), _local(ctx, e.received_at), list(e.missing_forms),
                                  problem_lines(e.problems, sealed), replaces_earlier=e.replaces_earlier,
                                  signatures=list(e.signatures)), {}
    if isinstance(e, ev.BidLate):
        return texts.late_bid_text(ref, e.bidder_name, _local(ctx, e.received_at), _local(ctx, e.deadline)), {}
    if isinstance(e, ev.Declined):
        return texts.decline_text(ref, e.bidder_name, _local(ctx, e.received_at), e.reason), {}
    if isinstance(e, ev.QuestionAsked):
        extra = texts.question_payload(e.procurement_id, e.inbound_id) if e.procurement_id else {}
        return texts.question_text(ref, e.sender_name, _local(ctx, e.received_at), e.subject, e.excerpt), extra
    if isinstance(e, ev.AutoReplied):
        return f"🤖 Automaatne vastus: {esc(e.sender_name)} ({esc(e.subject[:100])})", {}
    if isinstance(e, ev.Bounced):
        rcpts = ", ".join(e.recipients) or "?"
        return texts.bounce_text(ref or "?", rcpts, e.bidder_name, e.reason, _WHAT_ET.get(e.what, e.what)), {}
    if isinstance(e, ev.ForeignBounce):
        return f"↩️ Tagastatud kiri (mitte hanke oma): {esc(e.subject[:120])}", {}
    if isinstance(e, ev.OtherMail):
        return f"✉️ Muu kiri ({esc(ref or '–')}): {esc(e.sender_name)} – {esc(e.subject[:120])}", {}
    if isinstance(e, ev.UnknownSender):
        return texts.unknown_sender_text(ref, e.sender, e.subject, _local(ctx, e.received_at),
                                         _KIND_ET.get(e.looks_like or "")), {}
    if isinstance(e, ev.NotInvitedAddress):
        return texts.problems_text(ref or "?", e.bidder_name, problem_lines(e.problems, sealed)), {}
    if isinstance(e, ev.Quarantined):
        return (f"⚠️ Kirja #{e.inbound_id} töötlemine ebaõnnestus ja see pandi karantiini: {esc(e.error[:300])}. "
                f"Kiri on alles; vaata `hankebot inspect`."), {}
    if isinstance(e, (ev.DeadlineApproaching, ev.DeadlinePassed)):
        from hankebot.service.status import procurement_status

        st = procurement_status(ctx, e.proc_key)
        if isinstance(e, ev.DeadlinePassed):
            return texts.deadline_passed_text(st), {}
        return texts.deadline_warning_text(st, e.label), {}
    if isinstance(e, ev.DeadlineExtended):
        return (f"⏰ Hanke {esc(e.reference)} tähtaeg pikendati: {datetime_et(_local(ctx, e.old))} → "
                f"<b>{datetime_et(_local(ctx, e.new))}</b> ({esc(e.actor)}). Uuenda ka config.toml."), {}
    if isinstance(e, ev.PricesOpened):
        return f"🔓 Hanke {esc(e.reference)} pakkumused on avatud: hinnad on nähtavad (/results).", {}
    if isinstance(e, ev.ResultsReady):
        winners = [(part, f"{name} ({points} p)") for part, name, points in e.winners]
        return texts.results_ready_text(e.reference, e.title, e.parts_ranked, e.parts_total, winners), {}
    if isinstance(e, ev.ConfigRejected):
        if e.last_good_saved is not None:
            return (f"⚠️ config.toml on vigane: teenus käivitus viimase korrektse seadistusega ({esc(e.last_good_saved)}).\n"
                    "Paranda fail; parandus võetakse kasutusele ilma taaskäivituseta.\n" + esc(e.error[:3000])), {}
        return ("⚠️ config.toml muudatus lükati tagasi; kehtib eelmine korrektne seadistus.\n"
                + esc(e.error[:3000])), {}
    if isinstance(e, ev.OutboundStopped):
        return (f"⚠️ Hange {esc(e.proc_key)}: Saatmine peatati: {esc(e.error)}. Saatmata jäi {e.left} kirja; need "
                "saadetakse, kui käsku korratakse või teenus taaskäivitub."), {}
    if isinstance(e, ev.OutboundFailed):
        return (f"⚠️ Hange {esc(e.proc_key)}: {_FAILED_ET.get(e.what, 'Kirja')} ei õnnestunud saata aadressile "
                f"{esc(e.recipient)}.\nPõhjus: {esc(e.error)}"), {}
    if isinstance(e, ev.NoBids):
        buttons = [[{"text": "Tühista hange", "data": f"nc:{e.procurement_id}"},
                    {"text": "Pikenda tähtaega", "data": f"ne:{e.procurement_id}"}]]
        return (f"⚠️ Hange {esc(e.reference)}: {esc(e.reason)}\nKas tühistada hange (kiri kõigile kutsututele) või "
                "pikendada tähtaega?"), {"buttons": buttons}
    if isinstance(e, ev.Rendered):
        return e.text, {}
    raise KeyError(e.KIND)


def render(ctx: Context, row: Notification) -> tuple[str, dict]:
    """The text to deliver for an outbox row and its payload (stored payload + rendered buttons). A row
    whose text was made already (delivery started, or made before events existed) keeps it."""
    payload = dict(row.payload or {})
    if row.text:
        return row.text, payload
    facts = row.facts or {}
    if not facts:
        return "", payload
    text, extra = render_event(ctx, ev.event_from_facts(facts))
    return text, {**payload, **extra}
