"""The notification worker (real PTB Bot over HTTP, real clock) while the Bot API stand-in goes down for a few
seconds ("minutes" in production), answers 429 with retry_after, a 502, and once drops the connection after
delivering. Notifications keep being queued meanwhile; all arrive after recovery, none twice, and the
worker task never dies."""
from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from telegram import Bot

from hankebot.bot.outbox_worker import TelegramSender, run_outbox
from hankebot.devstack.telegram_api import FakeTelegramAPI
from helpers import enqueue_text, make_ctx
from test_faults_env import notification_rows

pytestmark = pytest.mark.timeout(60)

STAFF = 5001
STAFF_CFG = {"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]}


def _notify(ctx, i: int) -> None:
    with ctx.uow() as uow:
        enqueue_text(ctx, uow.repo, "test", f"Teade nr {i}", f"fault-test:{i}")
        uow.commit()


async def _until(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_outage_429_and_502_lose_nothing_and_duplicate_nothing(tmp_path):
    ctx = make_ctx(tmp_path, telegram=STAFF_CFG)  # the real clock: back-off and retry_after are real seconds
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_outbox(ctx, TelegramSender(bot), stop, poll_seconds=0.2))
            texts = lambda: [m["text"] for m in api.sent_messages(STAFF)]  # noqa: E731
            n = 0
            for _ in range(3):
                n += 1
                _notify(ctx, n)
            await _until(lambda: len(texts()) == 3, 10, "the first three")

            t0 = time.monotonic()
            await api.go_down()  # an outage: connection refused
            for _ in range(6):  # events keep happening meanwhile
                n += 1
                _notify(ctx, n)
                await asyncio.sleep(0.6)
            assert len(texts()) == 3 and not worker.done()
            await api.come_up()
            outage = time.monotonic() - t0
            await _until(lambda: len(texts()) == n, 20, "the notifications queued during the outage")

            api.fail_next("sendMessage", status=429, retry_after=2, count=2)
            for _ in range(3):
                n += 1
                _notify(ctx, n)
            await _until(lambda: len(texts()) == n, 20, "the notifications after 429s")

            api.fail_next("sendMessage", status=502)
            api.fail_next("sendMessage", status=0, after_processing=True)  # delivered, but the answer is lost
            for _ in range(3):
                n += 1
                _notify(ctx, n)
            await _until(lambda: len(texts()) == n and all(r.state in ("sent", "held") for r in notification_rows(ctx)),
                         30, "the notifications after a 502 and a dropped answer")
            # a positive signal instead of a pause: one more row, sent after every earlier one (the worker
            # goes oldest first), so a duplicate of an earlier row would have been sent before it
            _notify(ctx, 0)
            await _until(lambda: "Teade nr 0" in texts(), 20, "the marker notification")
            assert not worker.done(), "the worker died"
            stop.set()
            await asyncio.wait_for(worker, 10)

    sent = Counter(texts())
    assert sent == {f"Teade nr {i}": 1 for i in range(0, n + 1)}, sent  # every one delivered, none twice
    rows = notification_rows(ctx)
    states = Counter(r.state for r in rows)
    held = [r for r in rows if r.state == "held"]
    assert states["sent"] == n and len(held) == 1  # the dropped answer: held for staff, not resent
    assert sum(1 for r in api.requests_for("sendMessage")) > n  # the failures really happened
    print(f"\nsurvived: Bot API down {outage:.1f} s, 2x 429 retry_after=2, 1x 502, 1 answer lost after delivery; "
          f"{n} notifications: {len(sent)} delivered exactly once, {len(held)} held (not resent), worker alive")
