"""Everything Hankebot can tell about one message, without storing anything.

Used by the ingest pipeline (which then stores bids and notifies) and by `hankebot inspect` (an admin
debugging a message). Never raises on bad input: problems are collected instead."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Mapping

from hankebot.core.authres import SenderCheck, check_sender
from hankebot.core.classify import Classification, MessageFacts, classify
from hankebot.core.lifecycle import is_late
from hankebot.core.classify import strip_quoted
from hankebot.core.matching import (
    Assignment, BidderMatch, ProcurementEvidence, assign_procurement, detect_parts, match_bidder,
)
from hankebot.core.models import FormKind, FormSpec, MessageKind, PriceReading
from hankebot.core.problems import Problem
from hankebot.core.signatures import signature_problems
from hankebot.mailer.attachments import Attachment, AttachmentLimits
from hankebot.mailer.mime import ParsedMessage, parse_message
from hankebot.service.config import LoadedConfig
from hankebot.service.config_procurement import ProcurementSettings

MB = 1024 * 1024
UNVERIFIED_TEXT = ("Saatja ei ole tõendatud: vastuvõtva serveri kontroll (SPF/DKIM/DMARC) ebaõnnestus või puudub. "
                   "Kiri võib olla võltsitud; kontrolli saatjaga ja aktsepteeri või lükka tagasi. Kinnitust ei saadetud.")


@dataclass
class FoundForm:
    spec: FormSpec
    attachment: Attachment


@dataclass
class PartBid:
    part_no: int
    price: Decimal | None
    basis: str | None
    cost_form: str | None  # attachment path the price came from
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Extraction:
    parsed: ParsedMessage
    classification: Classification
    procurement: ProcurementSettings | None
    bidder: BidderMatch | None
    received_at: datetime | None
    late: bool | None
    forms: list[FoundForm] = field(default_factory=list)
    missing_forms: list[FormSpec] = field(default_factory=list)
    parts: list[PartBid] = field(default_factory=list)
    offer: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    assignment: Assignment | None = None
    sender_check: SenderCheck | None = None

    @property
    def kind(self) -> MessageKind:
        return self.classification.kind

    def to_json(self) -> dict:
        p = self.parsed
        return {
            "kind": self.kind.value,
            "reasons": self.classification.reasons,
            "sender": p.from_addr,
            "sender_name": p.from_name,
            "subject": p.subject,
            "message_id": p.message_id,
            "bidder": self.bidder.bidder_key if self.bidder and self.bidder.how == "address" else None,
            "bidder_match": None if self.bidder is None else {"key": self.bidder.bidder_key, "how": self.bidder.how},
            "procurement": self.procurement.key if self.procurement else None,
            "assignment": None if self.assignment is None else {"how": self.assignment.how,
                                                                "reasons": self.assignment.reasons},
            "parts": [x.part_no for x in self.parts],
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "late": self.late,
            "attachments": [{"path": a.path, "content_type": a.content_type, "size": a.size, "sha256": a.sha256} for a in p.attachments],
            "forms_found": [{"form": f.spec.key, "title": f.spec.title, "file": f.attachment.path} for f in self.forms],
            "missing_forms": [f.key for f in self.missing_forms],
            "price": {str(x.part_no): {"price": str(x.price) if x.price is not None else None, "basis": x.basis,
                                       "file": x.cost_form} for x in self.parts},
            "offer": self.offer,
            "signatures": [s.as_dict() for s in p.signatures],
            "bounce": None if p.bounce is None else {"failed_recipients": p.bounce.failed_recipients,
                                                     "status": p.bounce.status_codes, "diagnostic": p.bounce.diagnostic,
                                                     "original_message_id": p.bounce.original_message_id},
            "problems": [pr.as_dict() for pr in self.all_problems()],
            "sender_check": None if self.sender_check is None else {"status": self.sender_check.status,
                                                                    "reason": self.sender_check.reason},
        }

    def all_problems(self) -> list[Problem]:
        out, seen = [], set()
        for pr in [*self.parsed.problems, *self.problems, *(q for x in self.parts for q in x.problems)]:
            if (pr.code, pr.message) not in seen:
                seen.add((pr.code, pr.message))
                out.append(pr)
        return out


def _offer_template(cfg: LoadedConfig, proc: ProcurementSettings, form_key: str) -> tuple:
    """The label cells of the procurement's blank offer form (read once per file version); () without one."""
    from hankebot.mailer.forms.template import template_labels

    form = next((f for f in proc.forms if f.key == form_key), None)
    if form is None:
        return ()
    return template_labels(str(cfg.resolve(proc.forms_dir) / form.file), form.labels)


def _follow_template(cfg: LoadedConfig, proc: ProcurementSettings, found: FoundForm):
    """The cost form's price cells, moved to follow the template's labels in the bidder's copy, and notes."""
    from hankebot.mailer.forms.cost_template import relocate, template_cell_labels

    form = next((f for f in proc.forms if f.key == found.spec.key), None)
    if form is None or found.spec.cost is None:
        return found.spec.cost, []
    labels = template_cell_labels(str(cfg.resolve(proc.forms_dir) / form.file), found.spec.cost)
    return relocate(found.attachment.data, found.spec.cost, labels)


def limits_from(cfg: LoadedConfig) -> AttachmentLimits:
    a = cfg.settings.attachments
    trust = cfg.settings.signatures.trust_dir
    return AttachmentLimits(max_total_bytes=int(a.max_total_mb * MB), max_file_bytes=int(a.max_file_mb * MB),
                            max_depth=a.max_depth, max_ratio=a.max_ratio, max_files=a.max_files,
                            trust_dir=str(cfg.resolve(trust)) if trust else None)


def extract(
    cfg: LoadedConfig,
    raw: bytes,
    received_at: datetime | None,
    invitations: Mapping[str, str] | None = None,
    deadlines: Mapping[str, datetime] | None = None,
    invitations_sent: Mapping[str, datetime] | None = None,
) -> Extraction:
    """`invitations`: our outgoing Message-IDs -> procurement key; `deadlines`: procurement key -> the
    deadline in force (the database's, which may have been extended); config's deadline otherwise;
    `invitations_sent`: procurement key -> when its first invitation went out (the start of its window)."""
    from hankebot.mailer.forms.memo import read_once

    with read_once():  # each attachment is sniffed, zip-checked and parsed once, for recognising and reading
        return _extract(cfg, raw, received_at, invitations, deadlines, invitations_sent or {})


# attachment trouble that leaves nothing readable (a zip bomb, a broken archive, an oversized file)
UNREADABLE_CODES = frozenset({"zip_bomb", "broken_archive", "attachment_too_large", "too_many_files", "too_deep",
                              "tnef_not_supported", "unreadable_zip"})


def _recognise(parsed: ParsedMessage, specs: list[FormSpec], problems: list[Problem]) -> list[FoundForm]:
    from hankebot.mailer.forms.recognize import recognize_form

    forms: list[FoundForm] = []
    for att in parsed.attachments:
        try:
            spec = recognize_form(att.data, att.filename, specs) if specs else None
        except Exception as e:  # a reader bug must not lose the message
            spec = None
            problem = Problem("form_reader_error", f"Faili {att.path} ei õnnestunud lugeda: {type(e).__name__}")
            if problem not in problems:
                problems.append(problem)
        if spec is not None:
            forms.append(FoundForm(spec, att))
    return forms


def _extract(
    cfg: LoadedConfig,
    raw: bytes,
    received_at: datetime | None,
    invitations: Mapping[str, str] | None,
    deadlines: Mapping[str, datetime] | None,
    invitations_sent: Mapping[str, datetime],
) -> Extraction:
    from hankebot.mailer.forms.recognize import missing_forms

    parsed = parse_message(raw, limits_from(cfg))
    procs = cfg.settings.procurements
    problems: list[Problem] = []
    own_text = strip_quoted(parsed.text)

    # which procurement, only on evidence: our thread, its reference or title, its forms from an invited address
    evidence, forms_by_key = [], {}
    for p in procs:
        deadline = (deadlines or {}).get(p.key) or p.deadline_at(cfg.tz)
        evidence.append(ProcurementEvidence(p.key, p.reference, p.title, tuple(b.email for b in p.bidders),
                                            invitations_sent.get(p.key), deadline + timedelta(days=p.grace_days)))
        if parsed.attachments and match_bidder(parsed.from_addr, [(b.key, b.email) for b in p.bidders]).how == "address":
            forms_by_key[p.key] = _recognise(parsed, p.form_specs(), problems)
    assignment = assign_procurement(parsed.in_reply_to, parsed.references, parsed.subject, own_text, parsed.from_addr,
                                    received_at, invitations or {}, evidence,
                                    forms_from={k: bool(v) for k, v in forms_by_key.items()}, quoted_text=parsed.text)
    key = assignment.key
    if key is None and parsed.bounce and parsed.bounce.original_message_id and invitations:
        key = invitations.get(parsed.bounce.original_message_id)
        if key is not None:
            assignment = Assignment(key, "thread", ["bounce of our message"])
    proc = next((p for p in procs if p.key == key), None)

    specs = proc.form_specs() if proc else []
    forms = forms_by_key[proc.key] if proc is not None and proc.key in forms_by_key else \
        _recognise(parsed, specs, problems) if proc is not None else []

    bidder_of_proc = match_bidder(parsed.from_addr, [(b.key, b.email) for b in proc.bidders]) if proc else None
    unreadable = [pr for pr in parsed.problems if pr.code in UNREADABLE_CODES] + \
        [pr for a in parsed.attachments for pr in a.problems if pr.code in UNREADABLE_CODES]
    facts = MessageFacts(subject=parsed.subject, text=parsed.text, from_addr=parsed.from_addr,
                         headers=parsed.loop_headers, has_bounce=parsed.bounce is not None,
                         bounce_permanent=parsed.bounce.permanent if parsed.bounce else True,
                         attachment_names=tuple(a.filename for a in parsed.attachments),
                         has_form_attachments=bool(forms), about_procurement=proc is not None,
                         from_invited=bidder_of_proc is not None and bidder_of_proc.how == "address",
                         unreadable_attachments=bool(unreadable) and not forms)
    cls = classify(facts)
    own = proc is not None and parsed.from_addr in (proc.expert_email, proc.mailbox) and cls.kind != MessageKind.BOUNCE
    if own:
        # our own mail (an invitation's copy, a clarification) is never a bidder's bid or question
        cls = Classification(MessageKind.OTHER, ["sent from the procurement's own address"])
        problems.append(Problem("own_address", "Kiri on saadetud hanke enda aadressilt (ekspert või hankepostkast)."))
    if proc is None and cls.kind in (MessageKind.BID, MessageKind.QUESTION, MessageKind.DECLINE):
        # looks like one, but nothing ties it to a procurement of ours: stored and listed, never pushed
        cls = Classification(MessageKind.OTHER, [f"looks like a {cls.kind.value} but {'; '.join(assignment.reasons)}",
                                                 *cls.reasons])
        problems.append(Problem("unknown_procurement", "Ei õnnestunud kindlaks teha, millise hanke kohta kiri on."))

    bidder = None
    if proc is not None and not own and cls.kind not in (MessageKind.BOUNCE, MessageKind.AUTO_REPLY):
        # (our own address is no bidder: no "unknown sender" flag and staff alert about the expert herself)
        bidder = bidder_of_proc
        if bidder.problem and cls.kind != MessageKind.OTHER:
            problems.append(bidder.problem)
    elif proc is not None and cls.kind == MessageKind.BOUNCE and parsed.bounce:
        for r in parsed.bounce.failed_recipients:
            m = match_bidder(r, [(b.key, b.email) for b in proc.bidders])
            if m.how == "address":
                bidder = m
                break

    late = None
    if proc is not None and received_at is not None:
        deadline = (deadlines or {}).get(proc.key) or proc.deadline_at(cfg.tz)
        late = is_late(received_at, deadline)

    auth = cfg.settings.mail.authentication
    sender_check = check_sender(parsed.auth_results, parsed.from_addr, auth.authserv_id, auth.required)
    if proc is not None and cls.kind in (MessageKind.BID, MessageKind.QUESTION, MessageKind.DECLINE) \
            and sender_check.status == "unverified":
        problems.append(Problem("unverified_sender", UNVERIFIED_TEXT))
    ex = Extraction(parsed, cls, proc, bidder, received_at, late, forms, problems=problems, assignment=assignment,
                    sender_check=sender_check)
    if proc is None or cls.kind != MessageKind.BID:
        return ex

    ex.missing_forms = list(missing_forms([f.spec for f in forms], specs))
    for f in ex.missing_forms:
        problems.append(Problem("missing_form", f"Puudub vorm: {f.title}"))
    if late:
        problems.append(Problem("late_bid", "Pakkumus saabus pärast tähtaega (serveri vastuvõtuaja järgi)."))

    offer = next((f for f in forms if f.spec.kind == FormKind.OFFER), None)
    offer_parts: list[int] = []
    reading = None
    if offer is not None:
        from hankebot.mailer.forms.offer_form import read_offer_form

        try:
            reading = read_offer_form(offer.attachment.data, offer.attachment.filename,
                                      _offer_template(cfg, proc, offer.spec.key))
            ex.offer = {"file": offer.attachment.path, "bidder_name": reading.bidder_name,
                        "registry_code": reading.registry_code, "parts": reading.parts, "trainers": reading.trainers,
                        "materials": reading.materials, "methods": reading.methods}
            offer_parts = list(reading.parts)
            problems.extend(reading.problems)
        except Exception as e:
            problems.append(Problem("form_reader_error", f"Pakkumuse vormi ei õnnestunud lugeda: {type(e).__name__}"))
    problems.extend(signature_problems(parsed.signatures, required=cfg.settings.signatures.required,
                                       offer_code=reading.registry_code if reading else None,
                                       offer_text=reading.full_text if reading else ""))

    configured = {p.number for p in proc.parts}
    invited = [p.number for p in proc.parts if p.invited]
    parts = [n for n in detect_parts(parsed.text, parsed.subject) if n in configured] or \
            [n for n in offer_parts if n in configured]
    if not parts:
        bs = next((b for b in proc.bidders if bidder and b.key == bidder.bidder_key), None)
        parts = proc.invited_parts(bs) if bs else invited
        if len(parts) != 1:
            problems.append(Problem("part_unclear", "Pakkumusest ei selgu, millisele hanke osale see on esitatud."))
            parts = parts[:1] or invited[:1]
    for n in parts:
        if n not in invited:
            problems.append(Problem("part_not_invited", f"Pakkumus on esitatud osale {n}, mille kohta kutset ei saadetud."))

    cost_forms = [f for f in forms if f.spec.kind == FormKind.COST]
    for n in sorted(set(parts)):
        pb = PartBid(n, None, None, None)
        chosen = cost_forms[0] if len(cost_forms) == 1 else next(
            (f for f in cost_forms if n in detect_parts(f.attachment.filename, "")), None)
        if chosen is None and cost_forms:
            pb.problems.append(Problem("cost_form_part_unclear",
                                       f"Mitu maksumuse vormi: ei selgu, milline kuulub osale {n}. Kontrolli käsitsi."))
        if chosen is not None:
            from hankebot.mailer.forms.cost_form import read_cost_form

            try:
                cost_spec, moved = _follow_template(cfg, proc, chosen)
                reading: PriceReading = read_cost_form(chosen.attachment.data, chosen.attachment.filename, cost_spec)
                pb.problems.extend(moved)
                pb.price, pb.basis, pb.cost_form = reading.price, reading.basis.value if reading.basis else None, chosen.attachment.path
                pb.problems.extend(reading.problems)
            except Exception as e:
                pb.problems.append(Problem("form_reader_error", f"Maksumuse vormi ei õnnestunud lugeda: {type(e).__name__}"))
        bs = next((b for b in proc.bidders if bidder and b.key == bidder.bidder_key), None)
        if bs is not None and pb.basis is not None:
            expect = "natural_total" if bs.person_type.value == "natural" else "legal_with_vat"
            if pb.basis != expect:
                pb.problems.append(Problem("price_basis_mismatch",
                                           f"Pakkuja on konfiguratsioonis {'füüsiline' if expect == 'natural_total' else 'juriidiline'} isik, "
                                           f"kuid hind on teise isikutüübi lehel."))
        ex.parts.append(pb)
    return ex
