"""`hankebot demo --bot`'s expert, driven against a real bot (stand-in + SQLite): the printed conversation
shows what she sees and taps, and her grades and decisions reach the database."""
from __future__ import annotations

from hankebot.service.demo_bot import STAFF_ID, Expert, expert_evaluates
from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.devstack.telegram_api import FakeTelegramAPI
from helpers import Clock, add_bid, make_ctx, utc


async def test_the_demo_expert_grades_and_decides_in_telegram(tmp_path):
    ctx = make_ctx(tmp_path, clock=Clock(utc(2026, 1, 20, 9, 0)),
                   telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF_ID}]})
    a = add_bid(ctx, "kadri", price="1000")
    b = add_bid(ctx, "koolituskeskus", price="1200")
    c = add_bid(ctx, "ilmar", price=None, problems=[{"code": "missing_form", "message": "Puudub Lisa 3"}])
    lines: list[str] = []
    async with FakeTelegramAPI() as api:
        api.add_user(STAFF_ID, first_name="Taimi")
        api.add_chat(STAFF_ID, first_name="Taimi")
        app = build_application(ctx, api.token, api.base_url, api.base_file_url)
        await start_application(app, poll_timeout=1)
        try:
            expert = Expert(api, out=lines.append)
            await expert_evaluates(expert, {"Kadri Jõgi": (15, 30), "Arengu Koolituskeskus OÜ": (30, 30)}, "Vorm puudub.")
        finally:
            await stop_application(app)
    out = "\n".join(lines)
    assert "👩 ekspert kirjutab: /grade" in out and "👆 ekspert vajutab: [15 p — vastab osaliselt]" in out
    assert out.count("👆 ekspert vajutab: [") == 4 + 1  # 2 bids x 2 criteria, and one rejection
    assert "🤖 bot muutis sõnumit" in out  # the card is edited in place, and the transcript says so
    assert "1. Kadri Jõgi" in out or "1. Arengu Koolituskeskus OÜ" in out  # /results at the end
    with ctx.uow() as uow:
        grades = {(g.bid_id, g.criterion_key): int(g.points) for g in uow.repo.grades([a, b, c])}
        assert uow.repo.bid(c).decision == "rejected"
    assert grades == {(a, "materials"): 15, (a, "methods"): 30, (b, "materials"): 30, (b, "methods"): 30}
