"""Forged senders and receipt abuse through the real Postfix/Dovecot, the IMAP sync and the ingest
pipeline: 20 forged bids (From: an invited address, the receiving server's Authentication-Results
spf=fail dkim=fail dmarc=fail, a foreign Received chain) do not replace the genuine bid and get no receipt;
phishing-subject mail from non-invited addresses gets no receipt echoing its words; the per-recipient
hourly receipt limit holds; every receipt sent or refused is in the audit log."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.imap_listener import connect
from hankebot.service.ingest import process_pending
from hankebot.service.receipts import send_receipt
from hankebot.service.send_engine import OutboundOptions
from hankebot.service.runner import make_listener
from helpers import with_text
from hankebot.storage.tables import AuditLog, Bid, InboundMessage
from inbound_worker import rows, wait_until
from test_outbound import FAST, Env, user_pool  # noqa: F401 (fixture)

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(240)]
MX = "mx.hankebot.test"
PHISH = "Hange 302834: TEIE KONTO SULETAKSE, logige sisse http://phish.example/login"


def _env(mail_server, user_pool, tmp_path, monkeypatch, per_hour: int = 5) -> Env:  # noqa: F811
    def edit(data):
        data["procurement"][0]["deadline"] = "2030-01-18T15:00:00"
        data["mail"]["authentication"] = {"authserv_id": MX, "required": True}
        data["mail"]["receipts_per_hour"] = per_hour

    return Env(mail_server, user_pool, tmp_path, monkeypatch, edit=edit)


def _with_headers(raw: bytes, *headers: str) -> bytes:
    return "".join(h + "\r\n" for h in headers).encode() + raw


def _genuine(addr: str) -> list[str]:
    dom = addr.split("@")[1]
    return [f"Authentication-Results: {MX}; spf=pass smtp.mailfrom={addr}; dkim=pass header.d={dom}; "
            f"dmarc=pass header.from={dom}",
            f"Received: from mail.{dom} (mail.{dom} [192.0.2.10]) by {MX} with ESMTPS; Tue, 1 Dec 2026 10:00:00 +0000"]


def _forged(addr: str) -> list[str]:
    dom = addr.split("@")[1]
    return [f"Authentication-Results: {MX}; spf=fail (domain of {addr} does not designate 203.0.113.66) "
            f"smtp.mailfrom={addr}; dkim=fail header.d={dom}; dmarc=fail (p=REJECT) header.from={dom}",
            f"Received: from evil.example (evil.example [203.0.113.66]) by {MX}; Tue, 1 Dec 2026 10:05:00 +0000",
            "Received: from localhost (bulletproof.example [198.51.100.9]) by evil.example; "
            "Tue, 1 Dec 2026 10:04:59 +0000",
            # a sender can put any number of "pass" results lower down: they are not the receiving server's
            f"Authentication-Results: {MX}; spf=pass smtp.mailfrom={addr}; dkim=pass header.d={dom}; dmarc=pass"]


def _bid(addr: str, name: str, price: str, n: int) -> bytes:
    return sm.bid_message(addr, name, message_id=f"<forgery-{n}@test>",
                          attachments=[("Lisa 2 pakkumuse vorm.docx",
                                        sf.make_offer_form(name, "12345678", [2], ["Mari"], "S.", "R.")),
                                       ("Lisa 3 maksumuse vorm.xlsx",
                                        sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))])


async def _deliver_and_process(env: Env, raws: list[bytes]) -> list[int]:
    """Deliver through Postfix to the procurement mailbox, sync over IMAP, process; then send the receipts
    the pipeline asked for (as the service's receipt task does). Returns the new inbound ids."""
    due: list = []
    env.ctx.listeners.append(lambda ev, **kw: due.append(kw) if ev == "receipt_due" else None)
    before = env.count(env.tender)
    for raw in raws:
        env.ms.deliver(env.tender[0], raw)
    assert wait_until(lambda: env.count(env.tender) >= before + len(raws), 30)
    listener = make_listener(env.ctx)
    box = connect(listener.ep)
    try:
        listener.sync_once(box)
    finally:
        box.logout()
    process_pending(env.ctx)
    for kw in due:
        await send_receipt(env.ctx, kw["inbound_id"], kw["files"], opts=OutboundOptions(**FAST))
    return [kw["inbound_id"] for kw in due]


def _receipts_to(env: Env, user) -> list:
    import email
    from email import policy

    return [email.message_from_bytes(r, policy=policy.default) for r in env.raws(user) if b".receipt." in r]


async def test_forged_bids_do_not_replace_the_genuine_bid_and_get_no_receipt(mail_server, user_pool, tmp_path,
                                                                              monkeypatch):  # noqa: F811
    env = _env(mail_server, user_pool, tmp_path, monkeypatch)
    addr, name = env.bidders[0][0], "Pakkuja 1 OÜ"
    await _deliver_and_process(env, [_with_headers(_bid(addr, name, "4800", 0), *_genuine(addr))])
    forged = [_with_headers(_bid(addr, name, f"{9000 + i}", i + 1), *_forged(addr)) for i in range(19)]
    forged.append(_with_headers(_bid(addr, name, "9999", 99), *_forged(addr)))
    await _deliver_and_process(env, forged)

    msgs = [m for m in rows(env.ctx, InboundMessage) if m.state != "own_copy"]  # (our receipt's copy)
    assert len(msgs) == 21 and {m.state for m in msgs} == {"processed"}
    bids = rows(env.ctx, Bid)
    active = [b for b in bids if b.status == "active"]
    assert [(b.sender, b.price) for b in active] == [(addr, Decimal("4800"))]  # the genuine bid stays in force
    held = [b for b in bids if b.status == "held"]
    assert len(held) == 20 and all("unverified_sender" in {p["code"] for p in b.problems} for b in held)
    assert env.wait_counts({env.bidders[0]: 1}) == {env.bidders[0]: 1}
    (receipt,) = _receipts_to(env, env.bidders[0])  # only the genuine bid's
    assert receipt["In-Reply-To"] == "<forgery-0@test>"
    refused = [a for a in rows(env.ctx, AuditLog) if a.action == "receipt_refused"]
    assert len(refused) == 20 and all("tõendatud" in a.details["reason"] for a in refused)
    with env.ctx.uow() as uow:
        notes = [n.text for n in with_text(env.ctx, uow.repo.notifications(kind="new_bid"))]
    assert sum("Saatja ei ole tõendatud" in t for t in notes) == 20
    print(f"\nsurvived: 20 forged bids (dmarc=fail at {MX}, forged pass lower down): active bid still the genuine "
          f"4 800 €, 20 held as unverified, 1 receipt (the genuine one), 20 refusals audited")

    # the expert accepts the last forged one (existing accept flow): then it is the bid in force
    from hankebot.service.decision import decide_bid

    from datetime import datetime

    from helpers import TALLINN

    env.clock.set(datetime(2030, 1, 18, 16, 0, tzinfo=TALLINN))  # decisions come after the opening
    last = max(held, key=lambda b: (b.received_at, b.inbound_message_id))
    decide_bid(env.ctx, last.id, True, "Pakkuja kinnitas telefonitsi", "telegram:1")
    active = [b for b in rows(env.ctx, Bid) if b.status == "active"]
    assert [b.id for b in active] == [last.id]


async def test_phishing_subjects_from_strangers_get_no_receipt(mail_server, user_pool, tmp_path,
                                                              monkeypatch):  # noqa: F811
    env = _env(mail_server, user_pool, tmp_path, monkeypatch)
    strangers = [f"konto{i}@phish.example" for i in range(5)]
    raws = [_with_headers(sm.question_message(a, "Klienditugi", subject=PHISH, body=f"Tere,\n\n{PHISH}\n"),
                          *_genuine(a)) for a in strangers]
    addr = env.bidders[1][0]
    raws.append(_with_headers(sm.question_message(addr, "Pakkuja 2", subject=PHISH + " (hange 302834)"),
                              *_genuine(addr)))
    await _deliver_and_process(env, raws)
    assert env.wait_counts({env.bidders[1]: 1}) == {env.bidders[1]: 1}
    out = env.rows("receipt")
    assert [r.recipient for r in out] == [addr]  # strangers get nothing
    (receipt,) = _receipts_to(env, env.bidders[1])
    assert "TEIE KONTO" not in str(receipt["Subject"]) and "phish" not in receipt.as_string().lower()
    assert str(receipt["Subject"]).startswith("Kättesaamise kinnitus: ")  # our own words
    print(f"\nsurvived: 5 phishing-subject messages from non-invited addresses: 0 receipts; the invited bidder's "
          f"receipt has our subject {str(receipt['Subject'])!r}")


async def test_receipts_per_recipient_per_hour_are_limited(mail_server, user_pool, tmp_path,
                                                           monkeypatch):  # noqa: F811
    env = _env(mail_server, user_pool, tmp_path, monkeypatch, per_hour=3)
    addr = env.bidders[2][0]
    raws = [_with_headers(sm.question_message(addr, "Mari", subject=f"Küsimus {i} hange 302834",
                                              message_id=f"<q{i}@test>"), *_genuine(addr)) for i in range(8)]
    await _deliver_and_process(env, raws)
    assert len(env.rows("receipt")) == 3
    assert env.wait_counts({env.bidders[2]: 3}) == {env.bidders[2]: 3}
    audits = rows(env.ctx, AuditLog)
    assert sum(a.action == "outbound_sent" and a.details.get("kind") == "receipt" for a in audits) == 3
    limited = [a for a in audits if a.action == "receipt_refused" and "piir" in a.details["reason"]]
    assert len(limited) == 5
    from hankebot.service.runner import owed_receipts

    assert owed_receipts(env.ctx) == []  # refused receipts are not owed again after a restart
    print("\nsurvived: 8 verified questions from one bidder within the hour: 3 receipts (the limit), 5 refusals "
          "audited, none owed after a restart")
