"""A flow in progress survives a restart of the bot: the same database and stand-in, a new Application."""
from __future__ import annotations

from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.storage.tables import BotState
from helpers import add_bid
from test_bot import AFTER, STAFF, api, buttons, clock, ctx  # noqa: F401 - fixtures

ASK = "Kirjuta hinde põhjendus"


async def _start(ctx, api):
    app = build_application(ctx, api.token, api.base_url, api.base_file_url)
    await start_application(app, poll_timeout=1)
    return app


def _card(api, message_id: int) -> dict:
    return next(m for m in api.sent_messages(STAFF) if m["message_id"] == message_id)


async def test_a_justification_being_typed_survives_a_restart(ctx, api, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    clock.set(AFTER)
    app = await _start(ctx, api)
    try:
        api.user_sends(STAFF, STAFF, "/grade")
        card = await api.wait_for_message(STAFF, timeout=5)
        api.user_presses(STAFF, STAFF, card["message_id"], f"g:{bid_id}:materials:15")
        await api.wait_until(lambda: ASK in _card(api, card["message_id"])["text"], timeout=5)
        with ctx.uow() as uow:  # written at the tap, not only at a clean shutdown
            rows = list(uow.repo.s.exec(__import__("sqlmodel").select(BotState)))
        assert [r.data["awaiting"]["criterion"] for r in rows] == ["materials"]
    finally:
        await stop_application(app)

    app = await _start(ctx, api)  # the service restarted
    try:
        api.user_sends(STAFF, STAFF, "Materjalid katavad kõik teemad.")
        await api.wait_until(lambda: ASK not in _card(api, card["message_id"])["text"], timeout=5)
        with ctx.uow() as uow:
            g = uow.repo.grade(bid_id, "materials")
        assert g is not None and g.justification == "Materjalid katavad kõik teemad." and str(g.points) == "15"
        now = _card(api, card["message_id"])
        assert buttons(now)[0] == f"g:{bid_id}:methods:30"  # the same card, edited on
        api.user_presses(STAFF, STAFF, card["message_id"], f"g:{bid_id}:methods:30")  # its buttons still work
        await api.wait_until(lambda: ASK in _card(api, card["message_id"])["text"], timeout=5)
    finally:
        await stop_application(app)
    assert len(api.sent_messages(STAFF)) == 1
