"""Issue 14 point 1 end to end: before the opening no staff- or bidder-visible text carries a bid's amount.

Five bids whose cost forms have price problems (over max_price, under min_price, both sheets filled, the
price typed as text) arrive by Dovecot LMTP in the procurement mailbox, the IMAP listener stores and
processes them, receipts go out through Postfix into the bidders' own mailboxes. While sealed every
notification as the outbox worker renders it (printed in console mode, and delivered through the Bot API
stand-in), the bot's replies (stand-in Bot API) to /status,
/bids, /missing, /bid N, /results, all console output, every log record at DEBUG and every receipt are
searched for the amounts in every spelling. Then the clock passes the opening and the detail is shown."""
from __future__ import annotations

import email
import logging
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email import policy

import pytest
from sqlmodel import select
from telegram import Bot

from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.bot.outbox_worker import TelegramSender, drain_once
from hankebot.bot.render import render_event
from hankebot.core import events as ev
from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.mailer.imap_listener import connect
from hankebot.service.receipts import send_receipt
from hankebot.service.send_engine import OutboundOptions
from hankebot.service.runner import make_listener
from hankebot.storage.tables import Bid, Notification
from test_faults_env import MailEnv, _own_mail_server, future_deadline, inbound_rows, mail  # noqa: F401

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(90)]

STAFF = 5001
CHAT = STAFF  # a private chat: a group gets only "a new mail arrived" while sealed
_SP = "[ \u00a0\u202f]"  # normal, non-breaking and narrow no-break space
#: the amounts in every spelling: 123456.78 / 123 456,78 / 123456,78 / 123456, and the min-price bid's 876.54
LEAK = re.compile(rf"(?<![\w.,])(123{_SP}?456([.,]78)?|876[.,]54|876)(?![\w])")


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [m.group(0) for m in LEAK.finditer(text)]


def test_leak_pattern_sees_every_spelling():
    for s in ("123456.78", "123 456,78", "123\u00a0456,78", "123\u202f456,78", "123456,78", "123456", "876,54",
              "876.54", "hind 876 €"):
        assert leaks(f"x {s} y"), s
    assert leaks("1234567 99561.92 a876b1") == []


def _edit(data: dict) -> None:
    for f in data["procurement"][0]["forms"]:
        if f["kind"] == "cost":
            f["min_price"], f["max_price"] = "1000", "100000"
    data["telegram"]["staff"] = [{"name": "Taimi Nilson", "user_id": STAFF, "chat_id": CHAT}]


def _decoded(raw: bytes) -> str:
    m = email.message_from_bytes(raw, policy=policy.default)
    out = [f"{k}: {v}" for k, v in m.items()]
    for part in m.walk():
        if part.get_content_maintype() == "text":
            out.append(part.get_content())
    return "\n".join(out)


async def test_no_amount_anywhere_while_sealed_and_the_detail_after_the_opening(mail, tmp_path, monkeypatch,
                                                                                capsys, caplog):
    caplog.set_level(logging.DEBUG)
    env = MailEnv(mail, tmp_path, n_bidders=5, edit=_edit, receipts=True)
    clock = {"now": None}
    ctx = env.open(monkeypatch, clock=lambda: clock["now"] or datetime.now(timezone.utc))
    names = [r["name"] for r in env.bidder_rows]
    b = [a for a, _ in env.bidders]
    L = PriceBasis.LEGAL_WITH_VAT
    forms = [sf.make_cost_form(L, Decimal("123456.78")),                   # over max_price
             sf.make_cost_form(L, Decimal("876.54")),                      # under min_price
             sf.make_cost_form(L, Decimal("123456.78"), both_filled=True),  # both sheets
             sf.make_cost_form(L, None, as_text="123 456,78 eurot"),        # typed as text, still read
             sf.make_cost_form(L, None, as_text="umbes 123 456,78 eurot")]  # typed as text: manual entry
    for i, cost in enumerate(forms):
        env.deliver(sm.bid_message(b[i], names[i], env.tender[0], attachments=[
            ("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form(names[i], "12345678", [2], ["Mari Maasikas"], "Slaidid.",
                                                              "Arutelu.")),
            ("Lisa 3 maksumuse vorm.xlsx", cost)]))
    listener = make_listener(ctx)
    box = connect(listener.ep)
    try:
        assert listener.sync_once(box) == 5
    finally:
        box.logout()
    bids = [m for m in inbound_rows(ctx) if m.kind == "bid"]
    assert len(bids) == 5, [(m.kind, m.state) for m in inbound_rows(ctx)]
    with ctx.uow() as uow:  # the prices and their problems really are in the database
        stored = uow.session.exec(select(Bid)).all()
        codes = sorted(p["code"] for x in stored for p in (x.problems or []))
        notes = uow.session.exec(select(Notification)).all()
        facts = [n.facts for n in notes if n.facts and n.facts.get("event") == "bid_received"]
    assert {"implausible_price", "ambiguous_price", "price_needs_manual_entry"} <= set(codes), codes
    assert "876.54" in {str(x.price) for x in stored}
    assert len(facts) >= 5, [(n.kind, n.chat_id, n.facts) for n in notes]
    assert any(leaks(str(f)) for f in facts)  # the facts hold the detail; texts must not

    opts = OutboundOptions(backoff_base_seconds=0.01)
    for m in bids:
        rep = await send_receipt(ctx, m.id, ["Lisa 2 pakkumuse vorm.docx", "Lisa 3 maksumuse vorm.xlsx"], opts=opts)
        assert len(rep.sent) == 1, rep.format()

    # every notification as the worker renders it (console mode: every chat's row is printed)
    delivered = await drain_once(ctx, None, limit=200, console_all=True)
    assert delivered >= 5
    with ctx.uow() as uow:
        texts = [n.text for n in uow.session.exec(select(Notification)).all()]
    assert sum("Maksumuse vormi" in t for t in texts) >= 4, texts  # the problems are named, without amounts

    async with FakeTelegramAPI() as api:
        api.add_chat(CHAT, first_name="Taimi")
        # the same events delivered once more, now through the Bot API: rendered afresh by the worker
        with ctx.uow() as uow:
            for n in uow.session.exec(select(Notification)).all():
                n.state, n.text, n.sent_at = "pending", "", None
                uow.session.add(n)
            uow.commit()
        async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
            assert await drain_once(ctx, TelegramSender(bot), limit=200) == len(texts)
        transcript = [m.get("text", "") for m in api.sent_messages(CHAT)]
        assert sum("Maksumuse vormi" in t for t in transcript) >= 4, transcript
        app = build_application(ctx, api.token, api.base_url, api.base_file_url)
        await start_application(app, poll_timeout=1)
        try:
            cmds = ["/status", "/bids", "/missing", *[f"/bid {x.id}" for x in stored], "/results"]
            for cmd in cmds:
                n = len(api.sent_messages(CHAT))
                api.user_sends(CHAT, STAFF, cmd)
                await api.wait_until(lambda: len(api.sent_messages(CHAT)) > n, timeout=10)
            api.user_sends(CHAT, STAFF, "/help")  # marker: its answer comes after every earlier reply
            await api.wait_until(lambda: any("/status — ülevaade" in m.get("text", "")
                                             for m in api.sent_messages(CHAT)), timeout=10)
            replies = [m.get("text", "") + m.get("caption", "") for m in api.sent_messages()]
            files = [m["file_bytes"] for m in api.sent_messages() if m.get("file_bytes")]

            receipts = env.wait_counts({u: 1 for u in env.bidders})
            assert all(n == 1 for n in receipts.values()), receipts
            receipt_texts = [_decoded(raw) for u in env.bidders for raw in env.raws(u)]

            console = capsys.readouterr()
            logs = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
            surfaces = {"notification": texts, "telegram notification": transcript, "bot reply": replies, "bot file": files, "receipt": receipt_texts,
                        "console": [console.out, console.err], "log": logs}
            found = {k: [x for v in vs for x in leaks(v)] for k, vs in surfaces.items()}
            assert all(not v for v in found.values()), found
            assert len(replies) > len(cmds) and console.out and logs

            # the opening: the same events rendered now carry the detail, and the bot card shows the price
            with ctx.uow() as uow:
                p = uow.repo.procurement("302834")
                clock["now"] = p.deadline.astimezone(timezone.utc) + timedelta(minutes=p.opening_delay_minutes + 1)
            opened = [render_event(ctx, ev.event_from_facts(f))[0] for f in facts]
            assert sum(bool(leaks(t)) for t in opened) >= 5, opened
            over = next(x for x in stored if str(x.price) == "876.54")
            n = len(api.sent_messages(CHAT))
            api.user_sends(CHAT, STAFF, f"/bid {over.id}")
            await api.wait_until(lambda: len(api.sent_messages(CHAT)) > n, timeout=10)
            card = " ".join(m.get("text", "") for m in api.sent_messages(CHAT)[n:])
        finally:
            await stop_application(app)
    assert re.search(r"876[.,]54", card), card
    print(f"\nsurvived: {len(texts)} notifications (console and Bot API), {len(replies)} bot replies, {len(files)} files, "
          f"{len(receipt_texts)} receipts, console, {len(logs)} log records: 0 amounts while sealed; "
          f"after the opening {sum(bool(leaks(t)) for t in opened)} re-rendered notifications + the card show them")
