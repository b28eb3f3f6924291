"""The last act from the phone through the Bot API stand-in: /decide with a preview and a button, /cancel
with a reason and a button (plain /cancel still aborts a step), and the deadline with no bids asking the
expert with two buttons that both work (cancel; extend -> date -> confirm reopens the procurement)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.bot.outbox_worker import TelegramSender, drain_once
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.service.deadline import close_if_due
from hankebot.service.evaluation import grade_bid
from hankebot.service.send_engine import OutboundOptions
from helpers import PROC_KEY, Clock, add_bid, get_state, make_ctx, set_state, utc

STAFF = 5001
DEADLINE = utc(2026, 1, 19, 13, 0)
JUST = "Põhjendus: kirjeldatud"


async def _no_send(raw, sender, rcpts, smtp, password):  # the letters' mail path is tested in test_decision_letters
    return "250 ok"


@pytest.fixture
def clock():
    return Clock(DEADLINE + timedelta(hours=1))


@pytest.fixture
def ctx(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", "x")
    return make_ctx(tmp_path, clock=clock, telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]})


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(STAFF, first_name="Taimi")
        server.add_user(STAFF, first_name="Taimi")
        yield server


@pytest.fixture
async def bot(ctx, api):
    app = build_application(ctx, api.token, api.base_url, api.base_file_url,
                            outbound_opts=OutboundOptions(send_fn=_no_send))
    await start_application(app, poll_timeout=1)
    try:
        yield app
    finally:
        await stop_application(app)


async def say(api, text):
    api.user_sends(STAFF, STAFF, text)
    return await api.wait_for_message(STAFF, timeout=5)


async def press(api, msg, data):
    api.user_presses(STAFF, STAFF, msg["message_id"], data)
    return await api.wait_for_message(STAFF, timeout=10)


def buttons(msg):
    return [b["callback_data"] for row in msg.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def _invited(ctx):
    """Every bidder's invitation recorded as sent (the mail path is another test's)."""
    from hankebot.storage.tables import OutboundMessage

    with ctx.uow() as uow:
        p = uow.repo.procurement(PROC_KEY)
        for b in uow.repo.bidders(p.id):
            uow.repo.add(OutboundMessage(procurement_id=p.id, bidder_id=b.id, kind="invitation", batch="invitation",
                                         dedupe_key=f"invitation:{PROC_KEY}:{b.key}", message_id=f"<i.{b.key}@x>",
                                         recipient=b.email, subject="Pakkumuskutse", raw_sha256="0" * 64,
                                         raw_path="x", state="sent", sent_at=DEADLINE - timedelta(days=10)))
        uow.commit()


async def test_decide_with_preview_and_confirmation(ctx, api, bot):
    set_state(ctx, "closed")
    a = add_bid(ctx, "koolituskeskus", price="1200")
    b = add_bid(ctx, "tugiteenused", price="1000")
    for x, pts in ((a, 30), (b, 15)):
        grade_bid(ctx, x, "materials", D(pts), JUST, "expert")
        grade_bid(ctx, x, "methods", D(pts), JUST, "expert")
    assert get_state(ctx) == "evaluated"
    msg = await say(api, f"/decide {PROC_KEY}")
    assert "Osa 2: edukas pakkumus – Arengu Koolituskeskus OÜ" in msg["text"] and "Kinnitad?" in msg["text"]
    assert buttons(msg) == [f"dc:{1}", "x"]
    assert get_state(ctx) == "evaluated"  # the preview records nothing
    done = await press(api, msg, "dc:1")
    assert "Otsus on salvestatud" in done["text"] and "Saadetud (2)" in done["text"]
    assert get_state(ctx) == "decided"
    with ctx.uow() as uow:
        (row,) = uow.repo.audit_rows(action="part_decided")
        assert row.actor == f"telegram:{STAFF}"
    again = await say(api, "/decide")
    assert "Otsust ei saa teha" in again["text"]


async def test_cancel_is_context_dependent_and_confirmed(ctx, api, bot):
    set_state(ctx, "open")
    ctx.clock.set(DEADLINE - timedelta(days=2))
    _invited(ctx)
    plain = await say(api, "/cancel")
    assert plain["text"] == "Pooleli tegevust polnud."
    msg = await say(api, f"/cancel {PROC_KEY} Eelarve vähenes")
    assert "Tühistad hanke" in msg["text"] and "Põhjus: Eelarve vähenes" in msg["text"] and "5 kutsutule" in msg["text"]
    assert get_state(ctx) == "open"
    done = await press(api, msg, buttons(msg)[0])
    assert "on tühistatud" in done["text"] and "Saadetud (5)" in done["text"]
    assert get_state(ctx) == "cancelled"


async def _question(ctx, api):
    _invited(ctx)
    set_state(ctx, "open")
    assert close_if_due(ctx, PROC_KEY)
    sender = TelegramSender(__import__("telegram").Bot(api.token, base_url=api.base_url))
    async with sender.bot:
        await drain_once(ctx, sender)
    first, second = await api.wait_for_message(STAFF), await api.wait_for_message(STAFF)  # deadline notice, question
    assert "Tähtaeg on möödas" in first["text"]
    q = second
    assert "Tähtajaks ei laekunud ühtegi pakkumust" in q["text"]
    assert len([m for m in api.sent_messages(STAFF) if "nc:" in str(m.get("reply_markup"))]) == 1
    return q


async def test_no_bids_at_the_deadline_cancel_button(ctx, api, bot):
    q = await _question(ctx, api)
    assert buttons(q) == ["nc:1", "ne:1"]
    done = await press(api, q, "nc:1")
    assert "on tühistatud" in done["text"] and "Saadetud (5)" in done["text"]
    assert get_state(ctx) == "cancelled"
    with ctx.uow() as uow:
        (a,) = uow.repo.audit_rows(action="cancelled")
        assert a.details["reason"] == "Tähtajaks ei laekunud ühtegi vastuvõetavat pakkumust."


async def test_no_bids_at_the_deadline_extend_button(ctx, api, bot):
    q = await _question(ctx, api)
    ask = await press(api, q, "ne:1")
    assert "uus tähtaeg" in ask["text"]
    conf = await say(api, "26.01.2026 15:00")
    assert "Kinnitad?" in conf["text"]
    done = await press(api, conf, buttons(conf)[0])
    assert "uus tähtaeg on 26.01.2026" in done["text"], done["text"]
    assert get_state(ctx) == "open"
    with ctx.uow() as uow:
        assert uow.repo.procurement(PROC_KEY).deadline == utc(2026, 1, 26, 13, 0)


async def test_a_late_bid_shows_no_price_in_the_bot(ctx, api, bot):
    from hankebot.storage.tables import Bid

    set_state(ctx, "closed")
    add_bid(ctx, "koolituskeskus", price="1200")
    late = add_bid(ctx, "tugiteenused", price="987.65", received_at=DEADLINE + timedelta(minutes=5))
    with ctx.uow() as uow:
        b = uow.repo.s.get(Bid, late)
        b.late = True
        uow.repo.s.add(b)
        uow.commit()
    listing = await say(api, "/bids")
    assert "1 200,00" in listing["text"] and "987" not in listing["text"] and "avamata" in listing["text"]
    card = await say(api, f"/bid {late}")
    assert "987" not in card["text"] and "Hind: avamata (hilinenud pakkumus)" in card["text"]
    res = await say(api, "/results")
    assert "987" not in res["text"]
