"""The notification outbox worker against the Telegram stand-in (real PTB Bot over HTTP)."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from telegram import Bot

from hankebot.bot.console import ConsoleSender
from hankebot.bot.outbox_worker import TelegramSender, drain_once, plan_steps, recover_interrupted, release_held
from hankebot.bot.texts import new_bid_text
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.storage.tables import Notification
from helpers import Clock, enqueue_text, make_ctx, utc

STAFF = 5001
STAFF_CFG = {"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]}


@pytest.fixture
def clock():
    return Clock(utc(2026, 1, 12, 10, 0))


@pytest.fixture
def ctx(tmp_path, clock):
    return make_ctx(tmp_path, clock=clock, telegram=STAFF_CFG)


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(STAFF, first_name="Taimi")
        yield server


@pytest.fixture
async def sender(api):
    bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
    async with bot:
        yield TelegramSender(bot)


def notify(ctx, text: str, key: str, chats=None, quiet: bool = False, payload=None) -> None:
    with ctx.uow() as uow:
        enqueue_text(ctx, uow.repo, "test", text, key, quiet=quiet, payload=payload, chats=chats)
        uow.commit()


def rows(ctx) -> list[Notification]:
    with ctx.uow() as uow:
        return uow.repo.notifications()


async def test_sends_pending_row_once_and_marks_it_sent(ctx, api, sender):
    notify(ctx, "<b>Tere</b>", "e1")
    assert await drain_once(ctx, sender) == 1
    assert await drain_once(ctx, sender) == 0
    msgs = api.sent_messages(STAFF)
    assert [m["text"] for m in msgs] == ["Tere"]
    assert msgs[0]["entities"][0]["type"] == "bold"
    (row,) = rows(ctx)
    assert row.state == "sent" and row.sent_at == ctx.now() and row.attempts == 1


async def test_429_retry_after_is_honoured(ctx, api, sender, clock):
    notify(ctx, "esimene", "e1")
    notify(ctx, "teine", "e2")
    api.fail_next("sendMessage", status=429, retry_after=7)
    assert await drain_once(ctx, sender) == 0
    first, second = rows(ctx)
    assert first.state == "pending" and first.attempts == 1
    assert first.next_attempt_at == clock.t + timedelta(seconds=7)
    assert "retry" in (first.last_error or "").lower()
    assert second.next_attempt_at == clock.t + timedelta(seconds=7)  # held back too: order kept
    assert await drain_once(ctx, sender) == 0  # not due yet
    assert api.sent_messages(STAFF) == []
    clock.advance(seconds=7)
    assert await drain_once(ctx, sender) == 2
    assert [m["text"] for m in api.sent_messages(STAFF)] == ["esimene", "teine"]


async def test_outage_then_recovery_and_restart_lose_nothing_and_send_nothing_twice(ctx, api, sender, clock):
    for i in range(3):
        notify(ctx, f"teade {i}", f"e{i}")
    await api.go_down()
    for _ in range(3):  # minutes of outage: every try fails, back-off grows
        assert await drain_once(ctx, sender) == 0
        clock.advance(minutes=1)
    first = rows(ctx)[0]
    assert first.state == "pending" and first.attempts == 3 and "ConnectError" in first.last_error
    assert all(r.state == "pending" for r in rows(ctx))
    await api.come_up()
    clock.advance(minutes=5)
    assert await drain_once(ctx, sender) == 3
    assert [m["text"] for m in api.sent_messages(STAFF)] == ["teade 0", "teade 1", "teade 2"]
    # a restart: a new bot and worker on the same database send nothing again
    assert recover_interrupted(ctx) == 0
    bot2 = Bot(api.token, base_url=api.base_url)
    async with bot2:
        assert await drain_once(ctx, TelegramSender(bot2)) == 0
    assert len(api.sent_messages(STAFF)) == 3
    assert len(api.requests_for("sendMessage")) == 3


async def test_502_backs_off_exponentially(ctx, api, sender, clock):
    notify(ctx, "x", "e1")
    api.fail_next("sendMessage", status=502, count=2)
    t0 = clock.t
    assert await drain_once(ctx, sender) == 0
    assert rows(ctx)[0].next_attempt_at == t0 + timedelta(seconds=5)
    clock.set(t0 + timedelta(seconds=5))
    assert await drain_once(ctx, sender) == 0
    assert rows(ctx)[0].next_attempt_at == clock.t + timedelta(seconds=10)
    clock.advance(seconds=10)
    assert await drain_once(ctx, sender) == 1
    assert len(api.sent_messages(STAFF)) == 1


async def test_interrupted_send_is_held_not_repeated(ctx, api, sender):
    notify(ctx, "katkes", "e1")
    with ctx.uow() as uow:  # a crash after the claim: the API call may have gone through
        row = uow.repo.notifications()[0]
        row.state = "sending"
        uow.session.add(row)
        uow.commit()
    assert recover_interrupted(ctx) == 1
    assert rows(ctx)[0].state == "held"
    assert await drain_once(ctx, sender) == 0
    assert api.sent_messages(STAFF) == []
    assert release_held(ctx) == 1  # staff chose to send it again
    assert await drain_once(ctx, sender) == 1
    assert len(api.sent_messages(STAFF)) == 1


async def test_dropped_connection_is_held(ctx, api, sender):
    notify(ctx, "kadunud vastus", "e1")
    api.fail_next("sendMessage", status=0, after_processing=True)  # delivered, but the answer is lost
    assert await drain_once(ctx, sender) == 0
    (row,) = rows(ctx)
    assert row.state == "held"
    assert await drain_once(ctx, sender) == 0
    assert len(api.sent_messages(STAFF)) == 1  # the one delivery; never a second


async def test_long_text_is_split_on_lines_and_accepted(ctx, api, sender):
    text = "\n".join(f"{i:04d} " + "x" * 95 for i in range(50))
    assert len(text) > 5000
    notify(ctx, text, "long")
    assert await drain_once(ctx, sender) == 1
    msgs = api.sent_messages(STAFF)
    assert len(msgs) == 2 and all(len(m["text"]) <= 4096 for m in msgs)
    assert "\n".join(m["text"] for m in msgs) == text


async def test_single_long_line_goes_as_a_document(ctx, api, sender):
    text = "<b>Pealkiri</b>\n" + "y" * 5000
    notify(ctx, text, "doc")
    assert await drain_once(ctx, sender) == 1
    (m,) = api.sent_messages(STAFF)
    assert m["method"] == "sendDocument" and m["document"]["file_name"] == "teade.txt"
    assert m["file_bytes"].decode() == "Pealkiri\n" + "y" * 5000
    assert m["caption"].startswith("Pealkiri")


async def test_bidder_name_with_html_is_escaped_and_accepted(ctx, api, sender, clock):
    text = new_bid_text("302834", "Koolitus <Pluss> & Partnerid OÜ", [2], ctx.local(clock.t),
                        missing_forms=["Lisa 3 maksumuse vorm"])
    notify(ctx, text, "bid1")
    assert await drain_once(ctx, sender) == 1
    (m,) = api.sent_messages(STAFF)
    assert "Koolitus <Pluss> & Partnerid OÜ" in m["text"]
    assert "Lisa 3 maksumuse vorm" in m["text"]
    assert rows(ctx)[0].state == "sent"


async def test_broken_html_falls_back_to_plain_text(ctx, api, sender):
    notify(ctx, "<b>lõpetamata", "bad")
    assert await drain_once(ctx, sender) == 1
    (m,) = api.sent_messages(STAFF)
    assert m["text"] == "lõpetamata"


async def test_steps_resume_after_a_failure_without_repeating_the_text(ctx, api, sender, tmp_path, clock):
    f = tmp_path / "protokoll.pdf"
    f.write_bytes(b"%PDF-1.4 test")
    notify(ctx, "Protokoll on valmis", "proto", payload={"document": str(f)})
    api.fail_next("sendDocument", status=429, retry_after=2)
    assert await drain_once(ctx, sender) == 0
    assert rows(ctx)[0].payload["_done"] == 1
    clock.advance(seconds=2)
    assert await drain_once(ctx, sender) == 1
    assert [m["method"] for m in api.sent_messages(STAFF)] == ["sendMessage", "sendDocument"]
    assert len(api.requests_for("sendMessage")) == 1


async def test_question_button_payload(ctx, api, sender):
    notify(ctx, "Küsimus", "q1", payload={"buttons": [[{"text": "Vasta kõigile", "data": "cl:1"}]]})
    assert await drain_once(ctx, sender) == 1
    (m,) = api.sent_messages(STAFF)
    assert m["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cl:1"


async def test_console_chat_and_quiet_rows(ctx, api, sender):
    notify(ctx, "<b>Konsool</b> &amp; teade", "c1", chats=[0])
    notify(ctx, "vaikne", "q1", quiet=True)
    out = io.StringIO()
    assert await drain_once(ctx, sender, ConsoleSender(out)) == 1
    assert "Konsool & teade" in out.getvalue()
    assert api.sent_messages() == []
    states = {r.dedupe_key: r.state for r in rows(ctx)}
    assert states == {"c1@0": "sent", f"q1@{STAFF}": "pending"}


async def test_without_a_bot_staff_rows_wait(ctx):
    notify(ctx, "ootab", "w1")
    notify(ctx, "konsool", "w2", chats=[0])
    out = io.StringIO()
    assert await drain_once(ctx, None, ConsoleSender(out)) == 1
    assert "konsool" in out.getvalue() and "ootab" not in out.getvalue()
    assert {r.dedupe_key: r.state for r in rows(ctx)} == {f"w1@{STAFF}": "pending", "w2@0": "sent"}


async def test_console_only_worker_never_starves_on_staff_rows(ctx):
    """A bot that cannot run (e.g. a refused token): staff rows wait, but 200 of them, four times the worker's
    batch, never keep a later chat-0 row from printing (the query selects only chat-0 rows)."""
    for i in range(200):
        notify(ctx, f"ootab {i}", f"s{i}")
    notify(ctx, "Tähtaeg on möödas", "late", chats=[0])
    out = io.StringIO()
    assert await drain_once(ctx, None, ConsoleSender(out)) == 1
    assert "Tähtaeg on möödas" in out.getvalue() and "ootab" not in out.getvalue()
    states = [r.state for r in rows(ctx)]
    assert states.count("pending") == 200 and states.count("sent") == 1


async def test_no_token_prints_staff_rows_too(ctx):
    notify(ctx, "<b>Uus</b> pakkumus", "n1")
    out = io.StringIO()
    assert await drain_once(ctx, None, ConsoleSender(out), console_all=True) == 1
    assert out.getvalue().startswith("--- Hankebot teade [test]") and f"→ vestlus {STAFF}\nUus pakkumus" in out.getvalue()
    assert [r.state for r in rows(ctx)] == ["sent"]


async def test_blocked_bot_fails_for_good(ctx, api, sender):
    api.block_bot(STAFF)
    notify(ctx, "x", "b1")
    assert await drain_once(ctx, sender) == 0
    (row,) = rows(ctx)
    assert row.state == "failed" and "blocked" in row.last_error


def test_plan_steps_many_chunks_become_a_document():
    text = "\n".join("z" * 4000 for _ in range(5))
    (step,) = plan_steps(text, {})
    assert step.kind == "textdoc"
