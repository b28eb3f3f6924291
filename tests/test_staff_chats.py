"""Staff chats that are groups: check-config warns (negative ids, and the Bot API's getChat type asked of
the local stand-in, which answers as the real API does), and before the opening a group gets no sealed
bid detail unless telegram.sealed_detail_in_groups allows it."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from telegram import Bot

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.service.ingest import process_pending, store_raw
from hankebot.service.notify import GROUP_NOTICE
from helpers import make_config, make_ctx
from test_faults_env import future_deadline

HANKEBOT = str(Path(sys.executable).with_name("hankebot"))
PRIVATE, GROUP, UNKNOWN_GROUP = 5001, -1001234567890, -42
BIDDER = "info@arengukoolitus.example"


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(PRIVATE, first_name="Taimi")
        server.add_chat(GROUP, type="supergroup", title="Hankemeeskond", user_id=5002)
        yield server


async def test_the_stand_in_answers_getchat_like_the_real_api(api):
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        group, private = await bot.get_chat(GROUP), await bot.get_chat(PRIVATE)
        assert (group.type, group.title, private.type) == ("supergroup", "Hankemeeskond", "private")
        from telegram.error import BadRequest

        with pytest.raises(BadRequest, match="[Cc]hat not found"):
            await bot.get_chat(UNKNOWN_GROUP)


async def test_check_config_warns_about_group_staff_chats(api, tmp_path):
    staff = [{"name": "Taimi", "user_id": PRIVATE}, {"name": "Meeskond", "user_id": 5002, "chat_id": GROUP},
             {"name": "Vana grupp", "user_id": 5003, "chat_id": UNKNOWN_GROUP}]
    cfg = make_config(tmp_path, telegram={"staff": staff, "base_url": api.base_url})
    env = {**os.environ, "HANKEBOT_TELEGRAM_TOKEN": api.token, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = await asyncio.create_subprocess_exec(HANKEBOT, "check-config", "--no-files", str(cfg), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    lines = [line for line in text.splitlines() if "telegram.staff" in line]
    assert any(f"chat {GROUP} is a supergroup" in line and line.strip().startswith("warning") for line in lines), text
    assert any(f"chat {UNKNOWN_GROUP} is a group or channel" in line for line in lines), text  # by its negative id
    assert any(f"chat {UNKNOWN_GROUP}: could not ask Telegram" in line for line in lines), text
    assert not any(f"chat {PRIVATE} is" in line for line in lines), text


def _bid_notes(tmp_path: Path, allow: bool) -> dict[int, str]:
    staff = [{"name": "Taimi", "user_id": PRIVATE}, {"name": "Meeskond", "user_id": 5002, "chat_id": GROUP}]
    ctx = make_ctx(tmp_path, deadline=future_deadline(),
                   telegram={"staff": staff, "sealed_detail_in_groups": allow})
    raw = sm.bid_message(BIDDER, "Arengu Koolituskeskus OÜ", attachments=[
        ("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form("Arengu Koolituskeskus OÜ", "12345678", [2], ["M"], "S", "R")),
        ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800")))])
    store_raw(ctx, "INBOX", 1, 1, raw, datetime.now(timezone.utc))
    process_pending(ctx)
    with ctx.uow() as uow:
        out = uow.repo.notifications(kind="new_bid")
        for n in out:
            uow.repo.s.expunge(n)
    from helpers import with_text

    return {n.chat_id: n.text for n in with_text(ctx, out)}


def test_a_group_chat_gets_no_sealed_detail_before_the_opening(tmp_path):
    notes = _bid_notes(tmp_path / "a", allow=False)
    assert "Arengu Koolituskeskus" in notes[PRIVATE]
    assert notes[GROUP] == GROUP_NOTICE and "Arengu" not in notes[GROUP]
    allowed = _bid_notes(tmp_path / "b", allow=True)
    assert allowed[GROUP] == allowed[PRIVATE] and "Arengu Koolituskeskus" in allowed[GROUP]
