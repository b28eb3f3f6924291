"""A shared procurement mailbox as it really is, through the real IMAP listener on a real Dovecot: dozens of
unrelated messages (history from before the invitations, two other procurements' bids and questions,
colleagues with budgets and contracts, newsletters from the invited bidders' own addresses, register and
helpdesk notices, calendar invitations, invoices, spam with a .zip, a colleague's bounce and delay notice)
around the procurement's real replies. Only the real events are pushed, each exactly once; a first start
reads from the earliest invitation date, not the folder's history; `fetch --since` backfills on request."""
from __future__ import annotations

import io
import zipfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import make_msgid

import pytest
from inbound_worker import BIDDERS, rows, settle_new_user, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import noisy_mail as nm
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.imap_listener import connect
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.runner import first_read_since, make_listener
from hankebot.storage.tables import Bid, InboundMessage, Notification, OutboundMessage

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SENT = NOW - timedelta(days=10)  # when the invitations went out
OFFER, COST = "Lisa 2 pakkumuse vorm.docx", "Lisa 3 maksumuse vorm.xlsx"


def _invite(ctx) -> dict[str, str]:
    out = {}
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement("302834")
        for b in repo.bidders(p.id):
            mid = make_msgid(domain="ska.example")
            repo.add(OutboundMessage(procurement_id=p.id, bidder_id=b.id, kind="invitation", batch="invitation",
                                     dedupe_key=f"invitation:invitation:{b.key}", message_id=mid, recipient=b.email,
                                     subject=sm.INVITATION_SUBJECT, raw_sha256="0" * 64, raw_path=f"out/{b.key}.eml",
                                     state="sent", sent_at=SENT))
            out[b.key] = mid
        uow.commit()
    return out


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pakkumus.docx", b"\0" * (20 * 1024 * 1024))  # ~1000:1, far past the allowed ratio
    return out.getvalue()


def _real_replies(inv: dict[str, str]) -> dict[str, tuple[bytes, datetime, tuple[str, ...]]]:
    """label -> (raw, INTERNALDATE, the pushed notification kinds expected; () = quiet). The forwarded bid
    comes from a colleague's address of the invited bidder's domain: the expert is asked to check it."""
    b = BIDDERS
    at = lambda days: NOW - timedelta(days=days)  # noqa: E731
    offer = lambda key: sf.make_offer_form(b[key][0], "12345678", [2], ["Mari Maasikas (MA)"],  # noqa: E731
                                           "Slaidid ja käsiraamat.", "Loeng ja rühmatöö.")
    return {
        "bid_kadri": (sm.bid_message(b["kadri"][1], b["kadri"][0], in_reply_to=inv["kadri"], attachments=[
            (OFFER, offer("kadri")), (COST, sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("3900.00")))]),
            at(5), ("new_bid",)),
        "bid_forwarded": (sm.bid_message(b["koolituskeskus"][1], b["koolituskeskus"][0], forward=True, attachments=[
            (OFFER, offer("koolituskeskus")), (COST, sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800")))]),
            at(4), ("new_bid", "not_invited_address")),
        "bid_zip_bomb": (sm.bid_message(b["tugiteenused"][1], b["tugiteenused"][0], in_reply_to=inv["tugiteenused"],
                                        body="Tere,\n\nvt manust.\n\nTugiteenused MTÜ",
                                        attachments=[("dokumendid.zip", _bomb())]), at(4), ("new_bid",)),
        "question": (sm.question_message(b["ilmar"][1], b["ilmar"][0], in_reply_to=inv["ilmar"]), at(3), ("question",)),
        "decline": (sm.decline_message(b["lastekaitse"][1], b["lastekaitse"][0], in_reply_to=inv["lastekaitse"]),
                    at(3), ("decline",)),
        "auto_reply": (sm.auto_reply_message(b["koolituskeskus"][1], b["koolituskeskus"][0],
                                             in_reply_to=inv["koolituskeskus"]), at(9), ()),
        "bounce": (sm.bounce_message(b["ilmar"][1], inv["ilmar"], from_addr=nm.MAILBOX), at(9), ("bounce",)),
    }


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory, mail_server):
    tmp = tmp_path_factory.mktemp("noisy")
    user, password = "noisy-tender@example.test", "noisy-pw"
    mail_server.add_user(user, password)
    settle_new_user()
    ctx = open_context(load_config(write_config(tmp, mail_server, user, password)))
    inv = _invite(ctx)
    noise = nm.noise({k: (v[0], v[1]) for k, v in BIDDERS.items()}, SENT, NOW)
    real = _real_replies(inv)
    with mail_server.mailbox(user, password) as box:
        for m in noise:
            box.append(m.raw, "INBOX", dt=m.received)
        for raw, when, _ in real.values():
            box.append(raw, "INBOX", dt=when)
    listener = make_listener(ctx)
    box = connect(listener.ep)
    try:
        stored = listener.sync_once(box)
    finally:
        box.logout()
    return ctx, noise, real, stored


def _mid(raw: bytes) -> str:
    import email

    return email.message_from_bytes(raw)["Message-ID"].strip()


def _row(ctx, raw: bytes) -> InboundMessage:
    return next(m for m in rows(ctx, InboundMessage) if m.message_id == _mid(raw))


def _pushed(ctx) -> list[Notification]:
    return rows(ctx, Notification, Notification.quiet == False)  # noqa: E712


def test_the_mailbox_is_realistic(mailbox):
    _, noise, _, _ = mailbox
    assert len(noise) >= 60
    assert sum(1 for m in noise if b"Content-Disposition: attachment" in m.raw) >= 20
    assert sum(1 for m in noise if m.received < SENT) >= 10


def test_first_start_reads_from_the_earliest_invitation_date(mailbox):
    ctx, noise, real, stored = mailbox
    since = first_read_since(ctx)
    assert since == (SENT.astimezone(ctx.cfg.tz).date() - timedelta(days=1))
    old = [m for m in noise if m.received.date() < since]
    assert len(old) >= 10  # years of history stay on the server
    assert stored == len(noise) - len(old) + len(real)


def test_only_real_events_are_pushed_each_once(mailbox):
    ctx, noise, real, _ = mailbox
    expected = Counter(kind for _, _, kinds in real.values() for kind in kinds)
    pushed = _pushed(ctx)
    assert Counter(n.kind for n in pushed) == expected  # 0 false pushes, no "unknown sender" alerts
    assert len({n.dedupe_key for n in pushed}) == len(pushed)
    for label, (raw, _, kinds) in real.items():
        m = _row(ctx, raw)
        assert m.procurement_id is not None, label
        assert sorted(n.kind for n in pushed if n.dedupe_key.startswith(f"in:{m.id}")) == sorted(kinds), label


def test_no_unrelated_message_becomes_an_event_of_the_procurement(mailbox):
    ctx, noise, real, _ = mailbox
    real_ids = {_mid(r) for r, _, _ in real.values()}
    unrelated = [m for m in rows(ctx, InboundMessage) if m.message_id not in real_ids]
    assert len(unrelated) >= 40
    for m in unrelated:
        assert m.kind not in ("bid", "question", "decline"), (m.subject, m.kind, m.summary.get("reasons"))
        assert m.procurement_id is None, (m.subject, m.summary.get("assignment"))
    assert rows(ctx, Bid, Bid.inbound_message_id.is_(None)) == []


def test_a_reply_whose_only_attachment_is_a_zip_bomb_is_a_bid_with_its_problems(mailbox):
    ctx, _, real, _ = mailbox
    bomb = _row(ctx, real["bid_zip_bomb"][0])
    assert bomb.kind == "bid"
    bid = rows(ctx, Bid, Bid.inbound_message_id == bomb.id)[0]
    assert len(bid.missing_forms) == 2  # both forms named as missing
    assert "zip_bomb" in {p["code"] for p in bid.problems}


def test_a_backfill_with_since_reads_the_history_and_still_pushes_nothing_false(mailbox, capsys):
    from hankebot.service.cli import main

    ctx, noise, real, stored = mailbox
    assert main(["--config", str(ctx.cfg.path), "fetch", "--since", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    old = len(noise) + len(real) - stored
    assert f"{old} new" in out
    assert len(rows(ctx, InboundMessage)) == len(noise) + len(real)
    expected = Counter(kind for _, _, kinds in real.values() for kind in kinds)
    assert Counter(n.kind for n in _pushed(ctx)) == expected
    for m in rows(ctx, InboundMessage):  # history, old bids for an earlier procurement included: none is ours
        if m.message_id not in {_mid(r) for r, _, _ in real.values()}:
            assert m.procurement_id is None and m.kind not in ("bid", "question", "decline"), m.subject
    assert main(["--config", str(ctx.cfg.path), "fetch", "--since", "5.1.2026"]) == 2  # a clear usage error


def test_status_counts_and_lists_the_quiet_mail(mailbox, capsys):
    from hankebot.service.cli import main

    ctx, noise, real, _ = mailbox
    capsys.readouterr()
    assert main(["--config", str(ctx.cfg.path), "status", "--other"]) == 0
    out = capsys.readouterr().out
    n_other = sum(1 for m in rows(ctx, InboundMessage) if m.kind == "other")
    assert n_other >= 40 and f"other mail (no procurement's event, never pushed): {n_other}" in out
    assert "Lõuna?" in out or "Arve nr" in out
