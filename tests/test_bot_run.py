"""run_bot as `hankebot run` uses it: polling plus the outbox worker, or only the console without a token."""
from __future__ import annotations

import asyncio
import logging

import pytest

from hankebot.bot.app import run_bot
from hankebot.devstack.telegram_api import FakeTelegramAPI
from helpers import Clock, enqueue_text, make_ctx, utc

STAFF = 5001


def notify(ctx, text: str, key: str, chats=None) -> None:
    with ctx.uow() as uow:
        enqueue_text(ctx, uow.repo, "test", text, key, chats=chats)
        uow.commit()


async def test_run_bot_polls_and_drains_the_outbox(tmp_path, monkeypatch):
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        monkeypatch.setenv("HANKEBOT_TELEGRAM_TOKEN", api.token)
        ctx = make_ctx(tmp_path, clock=Clock(utc(2026, 1, 12, 10, 0)),
                       telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF}],
                                 "base_url": api.base_url, "base_file_url": api.base_file_url})
        notify(ctx, "Uus pakkumus", "n1")
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(ctx, stop, poll_timeout=1, outbox_poll_seconds=0.1))
        try:
            m = await api.wait_for_message(STAFF, timeout=10)
            assert m["text"] == "Uus pakkumus"
            api.user_sends(STAFF, STAFF, "/status")
            m = await api.wait_for_message(STAFF, timeout=10)
            assert "Hange 302834" in m["text"]
            notify(ctx, "Teine teade", "n2")  # enqueued while running
            m = await api.wait_for_message(STAFF, timeout=10)
            assert m["text"] == "Teine teade"
            assert any(r.method == "setMyCommands" for r in api.requests)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=15)
        assert len(api.sent_messages(STAFF)) == 3


async def test_run_bot_without_a_token_prints_console_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HANKEBOT_TELEGRAM_TOKEN", raising=False)
    ctx = make_ctx(tmp_path, clock=Clock(utc(2026, 1, 12, 10, 0)), telegram={"staff": []})  # chat 0
    notify(ctx, "<b>Konsooli</b> teade", "c1")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(ctx, stop, outbox_poll_seconds=0.05))
    for _ in range(100):
        if "Konsooli teade" in capsys.readouterr().out:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the console worker printed nothing")
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    with ctx.uow() as uow:
        assert [r.state for r in uow.repo.notifications()] == ["sent"]


async def test_run_bot_without_a_token_prints_every_row_and_never_starves(tmp_path, monkeypatch, capsys):
    """Staff configured, no token: every row is printed (the README's promise), staff chats' rows too; 200
    due staff rows (four worker batches) do not hold back the rows enqueued after them."""
    monkeypatch.delenv("HANKEBOT_TELEGRAM_TOKEN", raising=False)
    ctx = make_ctx(tmp_path, clock=Clock(utc(2026, 1, 12, 10, 0)),
                   telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]})
    for i in range(200):
        notify(ctx, f"Vana teade {i}", f"old{i}")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(ctx, stop, outbox_poll_seconds=0.05))
    try:
        notify(ctx, "Konfiguratsiooni viga", "late-staff")  # enqueued while running, behind the 200
        notify(ctx, "Tähtaeg on möödas", "late-console", chats=[0])
        for _ in range(400):
            with ctx.uow() as uow:
                states = [r.state for r in uow.repo.notifications()]
            if states.count("sent") == len(states) == 202:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"not every row was printed: {sorted(set(states))}, {states.count('sent')} sent")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    out = capsys.readouterr().out
    assert out.count("--- Hankebot teade") == 202
    assert f"→ vestlus {STAFF}\nKonfiguratsiooni viga" in out and "Tähtaeg on möödas" in out
    assert all(f"Vana teade {i}\n" in out for i in range(200))


async def test_run_bot_waits_for_telegram_that_is_down_at_start(tmp_path, monkeypatch, caplog):
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        monkeypatch.setenv("HANKEBOT_TELEGRAM_TOKEN", api.token)
        ctx = make_ctx(tmp_path, clock=Clock(utc(2026, 1, 12, 10, 0)),
                       telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF}],
                                 "base_url": api.base_url, "base_file_url": api.base_file_url})
        notify(ctx, "Ootas katkestuse ära", "n1")
        await api.go_down()
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(ctx, stop, poll_timeout=1, outbox_poll_seconds=0.1,
                                           start_retry_seconds=0.1))
        caplog.set_level(logging.WARNING, logger="hankebot.bot.app")
        try:
            # the positive signal that the bot tried and found Telegram down (no pause): its retry warnings
            for _ in range(200):
                if sum("Telegram unreachable at start" in r.getMessage() for r in caplog.records) >= 2:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the bot never reported Telegram unreachable")
            assert not task.done()
            with ctx.uow() as uow:
                assert [r.state for r in uow.repo.notifications()] == ["pending"]
            await api.come_up()
            m = await api.wait_for_message(STAFF, timeout=10)
            assert m["text"] == "Ootas katkestuse ära"
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=15)
        assert len(api.sent_messages(STAFF)) == 1
