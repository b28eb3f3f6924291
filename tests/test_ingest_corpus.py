"""Issue 6 end to end: a corpus of realistic inbound mail goes through the real pipeline -- delivered by
Dovecot LMTP (or IMAP APPEND where the INTERNALDATE or the exact bytes matter), fetched by the IMAP
listener, stored, processed -- and every message is classified and extracted as an expert would expect."""
from __future__ import annotations

import email
import email.utils
import hashlib
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import make_msgid

import pytest
from inbound_worker import BIDDERS, rows, settle_new_user, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.imap_listener import connect
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.runner import make_listener
from hankebot.service.sync import sync_config
from hankebot.storage.tables import Bid, InboundMessage, Notification, OutboundMessage

from helpers import TALLINN

OFFER = "Lisa 2 pakkumuse vorm.docx"
COST = "Lisa 3 maksumuse vorm.xlsx"
EXTRA_BIDDERS = [  # key, name, address, person type: for the decline, the out-of-office replies and a bounce
    ("mets", "Metsa Koolitus OÜ", "info@metsakoolitus.example", "legal"),
    ("rebane", "Rein Rebane", "rein.rebane@example.org", "natural"),
    ("kask", "Kase Arenduskeskus OÜ", "vana.aadress@kasearendus.example", "legal"),
]


def _add_bidders(data: dict) -> None:
    data["procurement"][0]["bidders"].extend(
        {"key": k, "name": n, "email": e, "person_type": t} for k, n, e, t in EXTRA_BIDDERS)


def _offer(name: str, code: str = "12345678", parts=(2,)) -> bytes:
    return sf.make_offer_form(name, code, list(parts), ["Mari Maasikas (MA psühholoogia)", "Jaan Tamm (MA sotsiaaltöö)"],
                              "Õppematerjalid: slaidid, juhtumianalüüsid, käsiraamat.",
                              "Meetodid: loeng-arutelu, grupitööd, rollimängud.")


def _legal(price: str) -> bytes:
    return sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price))


def _natural(price: str) -> bytes:
    return sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal(price))


class Corpus:
    """Builds and delivers the messages in order; `uid[label]` is each message's IMAP UID."""

    def __init__(self, server, user: str, password: str, invitations: dict[str, str], deadline: datetime):
        self.server, self.user, self.password, self.inv, self.deadline = server, user, password, invitations, deadline
        self.uid: dict[str, int] = {}
        self.raw: dict[str, bytes] = {}
        self.n = 0

    def lmtp(self, label: str, raw: bytes) -> None:
        self.server.deliver(self.user, raw)
        self._note(label, raw)

    def append(self, label: str, raw: bytes, internaldate: datetime) -> None:
        """IMAP APPEND: the bytes stay exactly as given and INTERNALDATE is `internaldate`."""
        with self.server.mailbox(self.user, self.password) as box:
            box.append(raw, "INBOX", dt=internaldate)
        self._note(label, raw)

    def _note(self, label: str, raw: bytes) -> None:
        self.n += 1
        self.uid[label] = self.n
        self.raw[label] = raw


@pytest.fixture(scope="module")
def processed(tmp_path_factory, mail_server):
    """The whole corpus delivered, then one listener sync (stores, processes after each chunk).

    Everything is delivered before the deadline, except the late bid, which LMTP delivers after it while
    its Date header claims a minute before. (Dovecot ignores an APPEND date in the future, so APPEND can
    only place messages in the past.) The dates in the corpus are relative to a provisional deadline; the
    procurement's real deadline is set once the on-time corpus is in the mailbox, just after its last
    arrival, so a slow machine never turns an on-time message late."""
    tmp = tmp_path_factory.mktemp("corpus")
    user, password = "corpus-tender@example.test", "corpus-pw"
    mail_server.add_user(user, password)
    deadline = (datetime.now(TALLINN) + timedelta(seconds=6)).replace(microsecond=0)
    settle_new_user()
    ctx = open_context(load_config(write_config(tmp, mail_server, user, password, edit=_add_bidders,
                                                deadline=deadline.replace(tzinfo=None))))
    invitations = _insert_invitations(ctx)
    name = {k: v[0] for k, v in BIDDERS.items()} | {k: n for k, n, _, _ in EXTRA_BIDDERS}
    addr = {k: v[1] for k, v in BIDDERS.items()} | {k: e for k, _, e, _ in EXTRA_BIDDERS}
    c = Corpus(mail_server, user, password, invitations, deadline)

    c.lmtp("question", sm.question_message(addr["ilmar"], name["ilmar"], in_reply_to=invitations["ilmar"]))
    c.lmtp("decline", sm.decline_message(addr["mets"], name["mets"], in_reply_to=invitations["mets"]))
    c.lmtp("ooo_et", sm.auto_reply_message(addr["rebane"], name["rebane"], language="et"))
    c.lmtp("ooo_en", sm.auto_reply_message(addr["mets"], name["mets"], language="en", in_reply_to=invitations["mets"]))
    c.lmtp("bounce", sm.bounce_message(addr["kask"], invitations["kask"], from_addr="hange@example.ee"))
    c.lmtp("kadri_1", sm.bid_message(addr["kadri"], name["kadri"], in_reply_to=invitations["kadri"], quote_style="gmail",
                                      attachments=[("Lisa 2 pakkumuse vorm – Kadri Jõgi.docx", _offer(name["kadri"])),
                                                   ("Lisa 3 maksumuse vorm – Kadri Jõgi.xlsx", _natural("3900.00"))]))
    c.lmtp("zip", sm.bid_message(addr["tugiteenused"], name["tugiteenused"], in_reply_to=invitations["tugiteenused"],
                                 zip_attachments=True, zip_name_encoding="cp775", zip_name="Pakkumus_Tugiteenused.zip",
                                 attachments=[("Lisa 2 pakkumuse vorm.docx", _offer(name["tugiteenused"])),
                                              ("Lisa 3 maksumuse vorm - hinnapäring.xlsx", _legal("5600.00"))]))
    c.lmtp("asice", sm.bid_message(addr["lastekaitse"], name["lastekaitse"], in_reply_to=invitations["lastekaitse"],
                                   asice=True, attachments=[(OFFER, _offer(name["lastekaitse"])), (COST, _legal("6100.00"))]))
    c.lmtp("forward", sm.bid_message(addr["koolituskeskus"], name["koolituskeskus"], forward=True,
                                     attachments=[(OFFER, _offer(name["koolituskeskus"])), (COST, _legal("4800.00"))]))
    c.lmtp("unknown", sm.bid_message("pakkumine@tundmatu.example", "Tundmatu Firma OÜ",
                                     attachments=[(OFFER, _offer("Tundmatu Firma OÜ")), (COST, _legal("999.00"))]))
    c.lmtp("kadri_2", sm.bid_message(addr["kadri"], name["kadri"], in_reply_to=invitations["kadri"],
                                      filename_encoding="rfc2047",
                                      body="Tere,\n\nsaadan parandatud pakkumuse, eelmine kehtetu.\n\nKadri Jõgi",
                                      attachments=[("Lisa 2 pakkumuse vorm – Kadri Jõgi.docx", _offer(name["kadri"])),
                                                   ("Lisa 3 maksumuse vorm – Kadri Jõgi (parandatud).xlsx",
                                                    _natural("3700.00"))]))
    c.lmtp("kadri_1_again", c.raw["kadri_1"])  # the same mail delivered again (same Message-ID)
    c.lmtp("broken_headers", sm.broken_message_variants()[4])
    c.lmtp("broken_multipart", sm.broken_message_variants()[6])
    c.lmtp("truncated", sm.broken_message_variants()[9])
    c.lmtp("own_copy", _own_copy(invitations["rebane"]))
    c.lmtp("expert_note", sm.question_message("taimi.nilson@example.ee", "Taimi Nilson", to_addr="hange@example.ee",
                                              subject="Fwd: küsimus hanke kohta", body="Palun vaata see üle.\n\nTaimi"))
    # byte-identical resend: APPEND keeps the bytes (LMTP would add its own Received header on top)
    ilmar_bid = sm.bid_message(addr["ilmar"], name["ilmar"], in_reply_to=invitations["ilmar"],
                               date=deadline - timedelta(hours=2),
                               attachments=[(OFFER, _offer(name["ilmar"], "37505050000")), (COST, _natural("3500.00"))])
    c.append("ilmar_ontime", ilmar_bid, deadline - timedelta(hours=2) + timedelta(seconds=5))
    c.append("ilmar_resend", ilmar_bid, deadline - timedelta(hours=1))
    # the reverse lie: Date header three hours after the deadline, received before it -> on time
    c.append("date_after", sm.bid_message(addr["rebane"], name["rebane"], in_reply_to=invitations["rebane"],
                                          date=deadline + timedelta(hours=3),
                                          attachments=[(OFFER, _offer(name["rebane"], "38001010000")),
                                                       (COST, _natural("4200.00"))]),
             deadline - timedelta(seconds=30))
    late = sm.bid_message(addr["ilmar"], name["ilmar"], in_reply_to=invitations["ilmar"],
                          date=deadline - timedelta(minutes=1), body="Tere,\n\nuus hind.\n\nIlmar Sepp",
                          attachments=[(OFFER, _offer(name["ilmar"], "37505050000")), (COST, _natural("3100.00"))])
    # the real deadline: after every on-time arrival (server times have whole seconds), never before the
    # provisional one the corpus's dates were built around
    real = max(deadline, (datetime.now(TALLINN) + timedelta(seconds=1)).replace(microsecond=0) + timedelta(seconds=1))
    ctx.cfg = load_config(write_config(tmp, mail_server, user, password, edit=_add_bidders,
                                       deadline=real.replace(tzinfo=None)))
    sync_config(ctx)
    with ctx.uow() as uow:
        assert uow.repo.procurement("302834").deadline == real
    c.deadline = deadline = real
    time.sleep(max(0.0, (deadline - datetime.now(TALLINN)).total_seconds()) + 1.1)  # wall time must pass it
    c.lmtp("late", late)  # after the deadline; its Date header says (over) a minute before

    listener = make_listener(ctx)
    box = connect(listener.ep)
    try:
        stored = listener.sync_once(box)
    finally:
        box.logout()
    assert stored == c.n
    msgs = {m.uid: m for m in rows(ctx, InboundMessage)}
    return ctx, c, {label: msgs[uid] for label, uid in c.uid.items()}


def _insert_invitations(ctx) -> dict[str, str]:
    """An invitation row per bidder (as outbound.send_invitations leaves them): bidder key -> Message-ID."""
    out = {}
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement("302834")
        for b in repo.bidders(p.id):
            mid = make_msgid(domain="example.ee")
            repo.add(OutboundMessage(procurement_id=p.id, bidder_id=b.id, kind="invitation", batch="invitation",
                                     dedupe_key=f"invitation:invitation:{b.key}", message_id=mid, recipient=b.email,
                                     subject=sm.INVITATION_SUBJECT, raw_sha256="0" * 64, raw_path=f"out/{b.key}.eml",
                                     state="sent", sent_at=datetime.now(timezone.utc)))
            out[b.key] = mid
        uow.commit()
    return out


def _own_copy(message_id: str) -> bytes:
    """Our own invitation as it shows up in the mailbox (Bcc to self / a server copy)."""
    return (f"From: Taimi Nilson <hange@example.ee>\r\nTo: rein.rebane@example.org\r\nSubject: {sm.INVITATION_SUBJECT}"
            f"\r\nDate: Mon, 5 Jan 2026 10:41:00 +0200\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{sm.INVITATION_TEXT}\r\n"
            ).encode("utf-8")


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _bids_of(ctx, m: InboundMessage) -> list[Bid]:
    return rows(ctx, Bid, Bid.inbound_message_id == m.id)


def _notes(ctx, m: InboundMessage) -> dict[str, Notification]:
    """Notifications of one inbound message, by kind."""
    from sqlmodel import col

    from helpers import with_text

    return {n.kind: n for n in with_text(ctx, rows(ctx, Notification, col(Notification.dedupe_key).startswith(f"in:{m.id}:")
                                                   | col(Notification.dedupe_key).startswith(f"in:{m.id}@")))}


def _codes(problems: list[dict]) -> set[str]:
    return {p["code"] for p in problems}


# ------------------------------------------------------------------ every message: kept, exactly once


def test_every_message_is_stored_with_its_exact_bytes_and_processed_once(processed):
    ctx, c, m = processed
    assert len(rows(ctx, InboundMessage)) == c.n
    for label, row in m.items():
        assert row.state in ("processed", "duplicate", "own_copy"), (label, row.state, row.error)
        data = ctx.raw.get(row.raw_path)
        assert hashlib.sha256(data).hexdigest() == row.sha256 and len(data) == row.size
    for label in ("ilmar_ontime", "ilmar_resend", "date_after"):  # APPENDed: byte for byte (imaplib sends CRLF)
        assert ctx.raw.get(m[label].raw_path) == _crlf(c.raw[label])
    for label in ("question", "kadri_1", "late"):  # LMTP adds trace headers on top of the sender's bytes
        assert _crlf(c.raw[label]).split(b"\r\n", 1)[1].rstrip() in ctx.raw.get(m[label].raw_path)
    with ctx.uow() as uow:
        assert uow.repo.checkpoint("INBOX").last_uid == c.n
    bid_msgs = {b.inbound_message_id for b in rows(ctx, Bid)}
    assert len(rows(ctx, Bid)) == len(bid_msgs)  # one part each: one bid row per bid message


# ------------------------------------------------------------------ kinds


def test_question_reply_with_quoted_invitation(processed):
    ctx, _, m = processed
    q = m["question"]
    assert (q.state, q.kind, q.sender) == ("processed", "question", "ilmar.sepp@example.net")
    assert q.procurement_id is not None and q.bidder_id is not None
    note = _notes(ctx, q)["question"]
    assert "toitlustuse" in note.text  # the question itself ...
    assert "Teeme ettepaneku" not in note.text  # ... without the quoted invitation
    assert note.payload["question_inbound_id"] == q.id
    assert _bids_of(ctx, q) == []


def test_decline(processed):
    ctx, _, m = processed
    d = m["decline"]
    assert (d.state, d.kind) == ("processed", "decline")
    assert "hõivatud" in _notes(ctx, d)["decline"].text
    assert _bids_of(ctx, d) == []


@pytest.mark.parametrize("label", ["ooo_et", "ooo_en"])
def test_out_of_office_replies_are_quiet_and_never_bids(processed, label):
    ctx, _, m = processed
    a = m[label]
    assert (a.state, a.kind) == ("processed", "auto_reply")
    notes = _notes(ctx, a)
    assert set(notes) == {"auto_reply"} and notes["auto_reply"].quiet is True
    assert _bids_of(ctx, a) == []


def test_dsn_bounce_of_our_invitation(processed):
    ctx, _, m = processed
    b = m["bounce"]
    assert (b.state, b.kind) == ("processed", "bounce")
    assert b.summary["bounce"]["failed_recipients"] == ["vana.aadress@kasearendus.example"]
    text = _notes(ctx, b)["bounce"].text
    assert "vana.aadress@kasearendus.example" in text and "Kase Arenduskeskus OÜ" in text and "kutse" in text
    assert "unknown_sender" not in _notes(ctx, b)


def test_own_copy_of_our_invitation_is_recognised(processed):
    ctx, _, m = processed
    o = m["own_copy"]
    assert o.state == "own_copy"
    assert _bids_of(ctx, o) == [] and _notes(ctx, o) == {}
    assert _codes(o.problems) == {"own_address"}


def test_mail_from_the_expert_is_neither_a_bid_nor_an_unknown_sender(processed):
    ctx, _, m = processed
    e = m["expert_note"]
    assert (e.state, e.kind, e.bidder_id, e.procurement_id) == ("processed", "other", None, None)
    assert e.summary["assignment"]["how"] == "none"  # names no procurement: nothing ties it to one
    assert not _codes(e.problems) & {"unknown_sender", "unknown_procurement"}
    notes = _notes(ctx, e)
    assert set(notes) == {"other"} and notes["other"].quiet  # listed on request, never pushed


# ------------------------------------------------------------------ bids: containers, names, prices


def test_zip_with_baltic_dos_file_names(processed):
    ctx, _, m = processed
    z = m["zip"]
    assert (z.state, z.kind) == ("processed", "bid")
    [bid] = _bids_of(ctx, z)
    assert (bid.part_no, bid.price, bid.price_basis, bid.late) == (2, Decimal("5600.00"), "legal_with_vat", False)
    assert sorted(bid.forms_found) == ["cost_form", "offer_form"] and bid.missing_forms == []
    paths = [a["path"] for a in z.summary["attachments"]]
    assert any(p.endswith("Lisa 3 maksumuse vorm - hinnapäring.xlsx") for p in paths), paths
    assert bid.problems == []
    assert "new_bid" in _notes(ctx, z)


def test_signed_asice_container(processed):
    ctx, _, m = processed
    a = m["asice"]
    [bid] = _bids_of(ctx, a)
    assert (bid.price, bid.price_basis) == (Decimal("6100.00"), "legal_with_vat")
    assert sorted(bid.forms_found) == ["cost_form", "offer_form"]
    [sig] = a.summary["signatures"]
    assert sig["signer"] and "MÄNNIK" in sig["signer"].upper()
    # the sample is signed with a self-made certificate: stored on the bid, a problem, and on the notification
    assert bid.signatures == a.summary["signatures"] and sig["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert "signature_indeterminate" in _codes(bid.problems)
    note = _notes(ctx, a)["new_bid"]
    assert "✍️ Digiallkiri:" in note.text and "allkirja kehtivust ei õnnestunud tuvastada" in note.text


def test_rfc2231_and_rfc2047_estonian_file_names(processed):
    ctx, _, m = processed
    first = [a["path"] for a in m["kadri_1"].summary["attachments"]]
    assert "Lisa 3 maksumuse vorm – Kadri Jõgi.xlsx" in first  # RFC 2231
    second = [a["path"] for a in m["kadri_2"].summary["attachments"]]
    assert "Lisa 3 maksumuse vorm – Kadri Jõgi (parandatud).xlsx" in second  # RFC 2047 encoded-words
    for label in ("kadri_1", "kadri_2"):
        [bid] = _bids_of(ctx, m[label])
        assert bid.price_basis == "natural_total" and sorted(bid.forms_found) == ["cost_form", "offer_form"]


def test_later_bid_before_the_deadline_supersedes_the_earlier_and_keeps_it(processed):
    ctx, _, m = processed
    [old] = _bids_of(ctx, m["kadri_1"])
    [new] = _bids_of(ctx, m["kadri_2"])
    assert (old.price, new.price) == (Decimal("3900.00"), Decimal("3700.00"))
    assert (old.status, old.superseded_by) == ("superseded", new.id)
    assert new.status == "active" and new.superseded_by is None
    assert "asendab sama pakkuja varasema pakkumuse" in _notes(ctx, m["kadri_2"])["new_bid"].text
    assert "asendab" not in _notes(ctx, m["kadri_1"])["new_bid"].text


def test_same_mail_delivered_again_is_a_duplicate(processed):
    ctx, _, m = processed
    again = m["kadri_1_again"]
    assert (again.state, again.duplicate_of) == ("duplicate", m["kadri_1"].id)
    assert _bids_of(ctx, again) == [] and _notes(ctx, again) == {}


def test_byte_identical_resend_is_a_duplicate(processed):
    ctx, _, m = processed
    first, resend = m["ilmar_ontime"], m["ilmar_resend"]
    assert first.sha256 == resend.sha256 and first.raw_path == resend.raw_path  # one file for both
    assert (resend.state, resend.duplicate_of) == ("duplicate", first.id)
    assert _bids_of(ctx, resend) == [] and _notes(ctx, resend) == {}
    [bid] = _bids_of(ctx, first)
    assert (bid.price, bid.late, bid.status) == (Decimal("3500.00"), False, "active")


def test_late_bid_is_judged_by_internaldate_not_the_date_header(processed):
    ctx, c, m = processed
    late = m["late"]
    assert late.received_at > c.deadline  # INTERNALDATE: delivered after the deadline ...
    assert late.summary["received_at"] == late.received_at.isoformat()
    date_hdr = email.utils.parsedate_to_datetime(email.message_from_bytes(c.raw["late"])["Date"])
    assert date_hdr < c.deadline  # ... while the Date header claims before it
    assert late.late is True
    [bid] = _bids_of(ctx, late)
    assert bid.late is True and bid.price == Decimal("3100.00")
    assert "late_bid" in _codes(bid.problems)
    notes = _notes(ctx, late)
    assert "late_bid" in notes and "new_bid" not in notes
    # a late bid never supersedes the bidder's bid that came in time
    [ontime] = _bids_of(ctx, m["ilmar_ontime"])
    assert ontime.status == "active" and ontime.superseded_by is None


def test_date_header_after_the_deadline_does_not_make_a_bid_late(processed):
    ctx, _, m = processed
    row = m["date_after"]
    assert row.late is False
    [bid] = _bids_of(ctx, row)
    assert bid.late is False and "late_bid" not in _codes(bid.problems)
    assert "new_bid" in _notes(ctx, row)


# ------------------------------------------------------------------ senders


def test_unknown_sender_is_kept_flagged_and_notified(processed):
    ctx, _, m = processed
    u = m["unknown"]
    assert (u.state, u.kind, u.bidder_id) == ("processed", "bid", None)
    [bid] = _bids_of(ctx, u)
    assert bid.bidder_id is None and bid.sender == "pakkumine@tundmatu.example"
    assert _codes(u.problems) == {"unknown_sender"} and _codes(bid.problems) == {"unknown_sender"}
    assert "pakkumine@tundmatu.example" in u.problems[0]["message"]
    notes = _notes(ctx, u)
    assert "unknown_sender" in notes and "pakkumine@tundmatu.example" in notes["unknown_sender"].text


def test_forward_from_a_colleague_on_the_invited_domain_is_flagged(processed):
    ctx, _, m = processed
    f = m["forward"]
    assert (f.state, f.kind, f.sender) == ("processed", "bid", "kaarel.kask@arengukoolitus.example")
    [bid] = _bids_of(ctx, f)
    assert (bid.price, bid.price_basis) == (Decimal("4800.00"), "legal_with_vat")  # forms inside the forwarded mail
    assert f.bidder_id is not None  # matched to Arengu Koolituskeskus by its domain ...
    assert _codes(bid.problems) == {"not_invited_address"}  # ... but flagged: not the invited address
    assert "kaarel.kask@arengukoolitus.example" in _notes(ctx, f)["not_invited_address"].text


# ------------------------------------------------------------------ broken mail


@pytest.mark.parametrize("label", ["broken_headers", "broken_multipart", "truncated"])
def test_malformed_message_is_kept_and_never_blocks_the_others(processed, label):
    ctx, _, m = processed
    row = m[label]
    # malformed MIME is read as far as it goes and processed, never quarantined (quarantine is for a real
    # processing failure: tests/test_quarantine.py)
    assert row.state == "processed" and row.error is None, (row.state, row.error)
    assert ctx.raw.exists(row.raw_path)
    assert row.kind and row.summary  # classified, with what could be read
    # the ones after it were processed normally
    assert m["own_copy"].state == "own_copy" and m["ilmar_ontime"].state == "processed"


def test_question_text_is_kept_for_the_bot_and_a_bid_text_is_not(tmp_path):
    """/questions shows the question itself (quotes stripped); a bid's words (which may name its price) are
    not copied into the summary."""
    from hankebot.devstack import sample_mail as sm
    from hankebot.service.ingest import process_pending, store_raw
    from sqlmodel import select

    from hankebot.storage.tables import InboundMessage
    from helpers import make_ctx, utc

    ctx = make_ctx(tmp_path)
    q = sm.question_message("kadri.jogi@example.com", "Kadri Jõgi", "hange@example.ee",
                            body="Tere! Kas koolitus võib toimuda ka veebis?\n\n> Tere, teeme ettepaneku ...")
    b = sm.bid_message("kadri.jogi@example.com", "Kadri Jõgi", "hange@example.ee",
                       body="Meie hind on 4 800 eurot.", attachments=[("Lisa 3 maksumuse vorm.xlsx", b"x")])
    store_raw(ctx, "INBOX", 1, 1, q, utc(2026, 1, 12, 9))
    store_raw(ctx, "INBOX", 1, 2, b, utc(2026, 1, 12, 10))
    process_pending(ctx)
    with ctx.uow() as uow:
        rows = {m.uid: m for m in uow.repo.s.exec(select(InboundMessage))}
    assert rows[1].kind == "question" and rows[1].summary["excerpt"].startswith("Tere! Kas koolitus võib toimuda ka veebis?")
    assert "teeme ettepaneku" not in rows[1].summary["excerpt"]
    assert "excerpt" not in rows[2].summary and "4 800" not in str(rows[2].summary)
