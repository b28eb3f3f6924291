"""Sealed bids and the staff allow-list, end to end.

Two real bids (prices in their cost forms) go through the real ingest pipeline before the deadline (real
clock, deadline a month ahead). Then every CLI command (subprocess), every bot reply and document, every
notification delivered through the Bot API stand-in and the deadline-warning texts are searched for the
price digits: none may appear; `results`/`report` exit 3. A stranger's commands and a stranger pressing
a staff message's button get the refusal and an audit row, nothing else."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from telegram import Bot

from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.bot.outbox_worker import TelegramSender, drain_once
from hankebot.bot.texts import REFUSAL
from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.deadline import warn_deadline
from hankebot.service.ingest import process_pending, store_raw
from helpers import REPO, make_config, set_state
from test_faults_env import future_deadline, inbound_rows, notification_rows

pytestmark = pytest.mark.timeout(90)

STAFF, STRANGER, GROUP = 5001, 6666, -100777
PRICES = ("48213", "48 213", "48\u00a0213", "48.213", "213,77", "213.77",
          "39175", "39 175", "39\u00a0175", "39.175", "175,43", "175.43")


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [p for p in PRICES if p in text]


def _bid(addr: str, name: str, basis: PriceBasis, price: str) -> bytes:
    return sm.bid_message(addr, name, "hange@example.ee", attachments=[
        ("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "Slaidid.", "Arutelu.")),
        ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(basis, Decimal(price)))])


@pytest.fixture
def sealed(tmp_path):
    cfg = make_config(tmp_path, deadline=future_deadline(),
                      telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF, "chat_id": GROUP}]})
    ctx = open_context(load_config(cfg))
    now = datetime.now(timezone.utc)
    store_raw(ctx, "INBOX", 1, 1, _bid("info@arengukoolitus.example", "Arengu Koolituskeskus OÜ",
                                       PriceBasis.LEGAL_WITH_VAT, "48213.77"), now)
    store_raw(ctx, "INBOX", 1, 2, _bid("kadri.jogi@example.com", "Kadri Jõgi", PriceBasis.NATURAL_TOTAL, "39175.43"), now)
    store_raw(ctx, "INBOX", 1, 3, sm.question_message("kadri.jogi@example.com", "Kadri Jõgi", "hange@example.ee"), now)
    assert process_pending(ctx) == 3
    with ctx.uow() as uow:  # the prices really are in the database
        assert sorted(str(b.price) for b in uow.repo.bids(uow.repo.procurement("302834").id)) == ["39175.43", "48213.77"]
    return cfg, ctx


def cli(cfg, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hankebot", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_shows_no_price_before_the_deadline(sealed, tmp_path):
    cfg, ctx = sealed
    outputs = {}
    for args, code in [(("status",), 0), (("status", "--json"), 0), (("status", "302834"), 0),
                       (("results", "302834"), 3), (("results", "302834", "--json"), 3),
                       (("report", "302834", "--out", str(tmp_path / "rep")), 3)]:
        r = cli(cfg, *args)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        outputs[args] = r.stdout + r.stderr
        assert leaks(r.stdout + r.stderr) == [], (args, r.stdout + r.stderr)
    assert json.loads(cli(cfg, "status", "--json").stdout)[0]["bids"] == 2
    assert not (tmp_path / "rep").exists() or not any((tmp_path / "rep").iterdir())
    assert "sealed" in outputs[("results", "302834")]
    print(f"\nsurvived: {len(outputs)} CLI commands with 2 priced bids in the database: 0 prices shown, "
          f"results/report exit 3")


async def test_bot_notifications_and_warnings_show_no_price_and_strangers_get_nothing(sealed):
    cfg, ctx = sealed
    set_state(ctx, "open")  # invitations out: the warnings apply
    for label in ("3wd", "1d", "2h"):
        assert warn_deadline(ctx, "302834", label)
    notes = notification_rows(ctx)
    kinds = {n.kind for n in notes}
    assert {"new_bid", "question", "deadline_warning"} <= kinds, kinds
    for n in notes:
        assert leaks(n.text + json.dumps(n.payload, ensure_ascii=False)) == [], n.text

    async with FakeTelegramAPI() as api:
        api.add_chat(GROUP, type="supergroup", title="Hankemeeskond")
        api.add_chat(STRANGER, first_name="Võõras")
        api.add_user(STAFF, first_name="Taimi")
        bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:  # deliver every notification through the Bot API
            assert await drain_once(ctx, TelegramSender(bot), limit=200) == len(notes)
        app = build_application(ctx, api.token, api.base_url, api.base_file_url)
        await start_application(app, poll_timeout=1)
        try:
            staff_cmds = ["/status", "/bids", "/missing", "/questions", "/results", "/protocol", "/grade", "/held",
                          "/accept", "/help"]
            for cmd in staff_cmds:
                api.user_sends(GROUP, STAFF, cmd)
                await api.wait_for_message(GROUP, timeout=5)
            # some commands answer in several messages: a second /help is the marker whose answer is the
            # positive signal that all of them are in (updates are handled one at a time, in order)
            def helps() -> int:
                return sum("/status — ülevaade" in m.get("text", "") for m in api.sent_messages(GROUP))

            api.user_sends(GROUP, STAFF, "/help")
            await api.wait_until(lambda: helps() == 2, timeout=10)
            delivered = api.sent_messages(GROUP)
            question = next(m for m in delivered if m.get("reply_markup"))
            data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            before_group = len(api.sent_messages(GROUP))

            for cmd in ["/status", "/bids", "/results", "/protocol", "/questions"]:
                api.user_sends(STRANGER, STRANGER, cmd)
                await api.wait_for_message(STRANGER, timeout=5)
            api.user_sends(GROUP, STRANGER, "/bids")  # a stranger in the staff group
            await api.wait_for_message(GROUP, timeout=5)
            api.user_presses(GROUP, STRANGER, question["message_id"], data)  # and pressing a staff button
            await api.wait_until(lambda: api.callback_answers, timeout=5)
        finally:
            await stop_application(app)

    everything = [m.get("text", "") + m.get("caption", "") for m in api.sent_messages()]
    files = [m["file_bytes"] for m in api.sent_messages() if m.get("file_bytes")]
    for t in everything:
        assert leaks(t) == [], t
    for b in files:
        assert leaks(b) == []
    stranger_msgs = api.sent_messages(STRANGER)
    assert [m["text"] for m in stranger_msgs] == [REFUSAL] * 5
    group_after = api.sent_messages(GROUP)[before_group:]
    assert [m["text"] for m in group_after] == [REFUSAL]  # the stranger's /bids in the group: the refusal only
    assert api.callback_answers[-1]["text"] == REFUSAL and api.callback_answers[-1]["show_alert"]
    with ctx.uow() as uow:
        refused = list(uow.repo.audit_rows(action="refused"))
    assert [r.actor for r in refused] == [f"telegram:{STRANGER}"] * 7
    assert all(r.state != "stored" for r in inbound_rows(ctx))
    print(f"\nsurvived: {len(notes)} notifications (incl. 3 deadline warnings) delivered, {len(staff_cmds)} staff "
          f"commands answered, {len(everything)} bot messages + {len(files)} files searched: 0 prices; "
          f"stranger: 6 commands + 1 button press -> 7 refusals, 7 audit rows, no data")
