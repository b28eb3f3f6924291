"""The Telegram stand-in driven by a real python-telegram-bot ``Bot`` over HTTP."""
from __future__ import annotations

import asyncio
import datetime as dtm
import io
import json
import warnings

import httpx
import pytest
from PIL import Image
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from hankebot.devstack.telegram_api import FakeTelegramAPI

CHAT = 5001
OTHER_CHAT = 5002


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(CHAT, first_name="Mari", username="mari_ekspert")
        yield server


def make_bot(api: FakeTelegramAPI, token: str | None = None, read_timeout: float = 2.0) -> Bot:
    request = HTTPXRequest(connect_timeout=1.0, read_timeout=read_timeout, write_timeout=2.0, pool_timeout=1.0)
    return Bot(token or api.token, base_url=api.base_url, base_file_url=api.base_file_url, request=request)


@pytest.fixture
async def bot(api):
    async with make_bot(api) as b:
        yield b


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me_returns_configured_identity(api, bot):
    me = await bot.get_me()
    assert me.username == "hankebot_test_bot"
    assert me.is_bot is True
    assert me.id == int(api.token.split(":")[0])


async def test_wrong_token_is_unauthorized(api):
    with pytest.raises(InvalidToken):
        async with make_bot(api, token="999:wrong"):
            pass
    assert api.requests[-1].status == 401


async def test_unknown_method_is_404(api):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{api.base_url}{api.token}/sendTeleport", data={"chat_id": CHAT})
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_send_message_is_recorded_with_html_entities(api, bot):
    msg = await bot.send_message(CHAT, "<b>Tähtaeg</b> 19.01.2026 &lt;15:00&gt;", parse_mode=ParseMode.HTML)
    assert msg.text == "Tähtaeg 19.01.2026 <15:00>"
    assert msg.entities[0].type == "bold" and msg.entities[0].length == 7
    sent = api.sent_messages(CHAT)
    assert [m["text"] for m in sent] == ["Tähtaeg 19.01.2026 <15:00>"]
    assert sent[0]["message_id"] == msg.message_id
    assert api.requests_for("sendMessage")[0].params["parse_mode"] == "HTML"


async def test_message_too_long_and_empty(api, bot):
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT, "ä" * 4097)
    # length is counted after entity parsing: 4096 visible characters plus tags is fine
    ok = await bot.send_message(CHAT, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(ok.text) == 4096
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "   ")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "<b></b>", parse_mode="HTML")


@pytest.mark.parametrize("text", [
    "<p>lõik</p>", "a < b", "<b>paks", "<b>x</i>", "Tom & Jerry", "<span>x</span>",
])
async def test_bad_html_is_rejected(api, bot, text):
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(CHAT, text, parse_mode=ParseMode.HTML)
    assert api.sent_messages(CHAT) == []


async def test_bad_markdown_v2_is_rejected(api, bot):
    with pytest.raises(BadRequest, match="is reserved and must be escaped"):
        await bot.send_message(CHAT, "Tähtaeg 19.01.2026", parse_mode=ParseMode.MARKDOWN_V2)
    msg = await bot.send_message(CHAT, r"*Tähtaeg* 19\.01\.2026", parse_mode=ParseMode.MARKDOWN_V2)
    assert msg.text == "Tähtaeg 19.01.2026"
    assert msg.entities[0].type == "bold"


async def test_unknown_chat_is_chat_not_found(api, bot):
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(OTHER_CHAT, "tere")


async def test_blocked_user_is_forbidden(api, bot):
    api.block_bot(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "tere")


async def test_send_document_round_trips_bytes_and_filename(api, bot):
    payload = bytes(range(256)) * 40 + "õäöü".encode()
    msg = await bot.send_document(CHAT, document=payload, filename="Lisa 3 maksumuse vorm.xlsx",
                                  caption="<i>Maksumus</i>", parse_mode="HTML")
    assert msg.document.file_name == "Lisa 3 maksumuse vorm.xlsx"
    assert msg.caption == "Maksumus" and msg.caption_entities[0].type == "italic"
    sent = api.sent_messages(CHAT)[-1]
    assert sent["file_bytes"] == payload
    assert sent["document"]["file_name"] == "Lisa 3 maksumuse vorm.xlsx"
    # the bot can download it again through getFile + base_file_url
    file = await bot.get_file(msg.document.file_id)
    assert bytes(await file.download_as_bytearray()) == payload


async def test_send_document_caption_too_long(api, bot):
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(CHAT, document=b"x", filename="a.txt", caption="c" * 1025)


async def test_send_photo_checks_the_image(api, bot):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, format="PNG")
    msg = await bot.send_photo(CHAT, photo=buffer.getvalue())
    assert (msg.photo[-1].width, msg.photo[-1].height) == (40, 30)
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(CHAT, photo=b"not an image at all")


async def test_inline_keyboard_callback_data_limit(api, bot):
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("Kinnita", callback_data="ä" * 32)]])  # 64 bytes
    await bot.send_message(CHAT, "Kinnitad?", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("Kinnita", callback_data="a" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "Kinnitad?", reply_markup=too_long)
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "Kinnitad?", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Kinnita", callback_data="ä" * 33)]]))  # 66 bytes, 33 characters


async def test_edit_message_text_rules(api, bot):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    msg = await bot.send_message(CHAT, "esialgne", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("esialgne", chat_id=CHAT, message_id=msg.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("uus", chat_id=CHAT, message_id=9999)
    edited = await bot.edit_message_text("uus", chat_id=CHAT, message_id=msg.message_id)
    assert edited.text == "uus"
    view = api.sent_messages(CHAT)[0]
    assert view["text"] == "uus" and view["edit_count"] == 1
    # like the real API, an edit without reply_markup drops the inline keyboard
    assert "reply_markup" not in view
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=msg.message_id, reply_markup=keyboard)
    assert api.sent_messages(CHAT)[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ok"


async def test_delete_message(api, bot):
    msg = await bot.send_message(CHAT, "kustuta mind")
    assert await bot.delete_message(CHAT, msg.message_id) is True
    assert api.sent_messages(CHAT) == []
    assert api.sent_messages(CHAT, include_deleted=True)[0]["deleted"] is True
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(CHAT, msg.message_id)


async def test_commands_chat_action_webhook(api, bot):
    await bot.set_my_commands([BotCommand("status", "Hanke seis"), BotCommand("start", "Alusta")])
    assert [c.command for c in await bot.get_my_commands()] == ["status", "start"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Status!", "vale")])
    assert await bot.send_chat_action(CHAT, "upload_document") is True
    assert api.chat_actions[-1]["action"] == "upload_document"
    assert await bot.delete_webhook() is True
    info = await bot.get_webhook_info()
    assert info.url == ""


async def test_get_updates_offset_confirmation(api, bot):
    api.add_chat(CHAT + 10, first_name="Jaan")
    api.user_sends(CHAT, CHAT, "/status")
    api.user_sends(CHAT + 10, CHAT + 10, "tere")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates] == ["/status", "tere"]
    assert updates[0].message.entities[0].type == "bot_command"
    # not confirmed yet: delivered again
    assert len(await bot.get_updates(timeout=0)) == 2
    again = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.message.text for u in again] == ["tere"]
    assert await bot.get_updates(offset=updates[1].update_id + 1, timeout=0) == ()


async def test_get_updates_long_poll_returns_when_update_arrives(api, bot):
    async def later():
        await asyncio.sleep(0.2)
        api.user_sends(CHAT, CHAT, "hiline")

    task = asyncio.create_task(later())
    updates = await bot.get_updates(timeout=5, read_timeout=6)
    await task
    assert [u.message.text for u in updates] == ["hiline"]


async def test_rate_limit_surfaces_as_retry_after(api, bot):
    api.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "tere")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert seconds(caught.value.retry_after) == 7
    assert api.sent_messages(CHAT) == []
    await bot.send_message(CHAT, "tere")  # the fault was used up
    assert len(api.sent_messages(CHAT)) == 1


async def test_bad_gateway_is_network_error(api, bot):
    api.fail_next("sendMessage", status=502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(CHAT, "tere")
    await bot.send_message(CHAT, "tere")


async def test_dropped_connection_is_network_error(api, bot):
    api.fail_next("sendMessage", status=0)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "tere")
    assert api.sent_messages(CHAT) == []


async def test_failure_after_processing_still_delivers(api, bot):
    api.fail_next("sendMessage", status=502, after_processing=True)
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "kaks korda?")
    assert [m["text"] for m in api.sent_messages(CHAT)] == ["kaks korda?"]


async def test_slow_response_times_out_but_is_delivered(api):
    async with make_bot(api, read_timeout=0.3) as slow_bot:
        api.delay_next("sendMessage", 1.0)
        with pytest.raises(TimedOut):
            await slow_bot.send_message(CHAT, "aeglane")
    message = await api.wait_for_message(CHAT, timeout=5)
    assert message["text"] == "aeglane"


async def test_flood_control_per_chat(api, bot):
    api.set_flood_control(per_chat=2, window=60.0, retry_after=5)
    await bot.send_message(CHAT, "1")
    await bot.send_message(CHAT, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "3")
    api.set_flood_control(None)
    await bot.send_message(CHAT, "3")
    assert [m["text"] for m in api.sent_messages(CHAT)] == ["1", "2", "3"]


async def test_go_down_and_come_up(api, bot):
    await bot.send_message(CHAT, "enne")
    port = api.port
    await api.go_down()
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "katkestus")
    await api.come_up()
    assert api.port == port
    await bot.send_message(CHAT, "pärast")
    assert [m["text"] for m in api.sent_messages(CHAT)] == ["enne", "pärast"]


async def test_json_body_is_accepted_like_the_real_api(api):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{api.base_url}{api.token}/sendMessage",
            json={"chat_id": CHAT, "text": "json", "reply_markup": {"inline_keyboard": [[{"text": "x"}]]}},
        )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: text buttons are unallowed in the inline keyboard"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{api.base_url}{api.token}/sendmessage",
                                     content=json.dumps({"chat_id": CHAT, "text": "json"}),
                                     headers={"Content-Type": "application/json"})
    assert response.json()["result"]["text"] == "json"


async def test_concurrent_get_updates_conflict(api, bot):
    """Two bot instances polling at once: the older long poll is terminated with 409."""
    first = asyncio.create_task(bot.get_updates(timeout=3, read_timeout=4))
    await asyncio.wait_for(api.wait_until(lambda: api.requests_for("getUpdates")), 2)
    async with make_bot(api) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_get_updates_refused_while_webhook_is_set(api, bot):
    await bot.set_webhook("https://example.invalid/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_user_document_can_be_downloaded(api, bot):
    api.user_sends_document(CHAT, CHAT, b"PK\x03\x04 pakkumus", "Lisa 2 pakkumuse vorm.docx")
    (update,) = await bot.get_updates(timeout=0)
    assert update.message.document.file_name == "Lisa 2 pakkumuse vorm.docx"
    file = await update.message.document.get_file()
    assert bytes(await file.download_as_bytearray()) == b"PK\x03\x04 pakkumus"


async def test_garbage_parameters_get_api_errors_not_crashes(api):
    """Arbitrary parameter values always get a JSON answer; the stand-in itself never fails."""
    import random

    rng = random.Random(302834)
    methods = ["sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument", "sendPhoto",
               "answerCallbackQuery", "deleteMessage", "getUpdates", "setMyCommands", "sendChatAction",
               "getFile", "getMyCommands"]
    keys = ["chat_id", "text", "parse_mode", "reply_markup", "message_id", "caption", "document", "photo",
            "callback_query_id", "offset", "limit", "timeout", "commands", "action", "file_id",
            "reply_parameters", "entities"]
    values = ["", "0", str(CHAT), "-1", "1e9", "HTML", "MarkdownV2", "<b>", "&", "null", "[]", "{}",
              '{"inline_keyboard": 5}', '{"inline_keyboard": [[{"text": "", "callback_data": "x"}]]}',
              '[{"command": 1}]', '{"message_id": "x"}', "ä" * 5000, "attach://nothing", "\x00",
              '[{"offset": "a"}]', "[5]", '[{"type": "bold", "offset": 0, "length": 99}]', '"x"',
              '{"inline_keyboard": [[{"text": "a", "callback_data": 5}]]}', '{"keyboard": [[5]]}']
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            # mostly valid requests with one to three garbled parameters reach the deep checks
            params = {"chat_id": str(CHAT), "text": "x", "message_id": "1"} if rng.random() < 0.7 else {}
            params.update({k: rng.choice(values) for k in rng.sample(keys, rng.randint(1, 3))})
            if "timeout" in params:
                params["timeout"] = "0"
            method = rng.choice(methods)
            response = await client.post(f"{api.base_url}{api.token}/{method}", data=params)
            body = response.json()
            assert body["ok"] is (response.status_code == 200), (method, params, body)
    assert api.internal_errors == []
