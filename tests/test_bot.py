"""The staff bot end to end: a real PTB Application polling the Telegram stand-in, a real SQLite database."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from hankebot.bot.app import build_application, start_application, stop_application
from hankebot.bot.texts import REFUSAL
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.storage.tables import Bid, Grade
from helpers import PROC_KEY, TALLINN, Clock, add_bid, make_ctx, set_state, utc

STAFF = 5001
STRANGER = 6666
GROUP = -100123
STAFF_CFG = {"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]}
BEFORE = utc(2026, 1, 12, 10, 0)  # deadline 19.01.2026 15:00 Tallinn = 13:00 UTC
AFTER = utc(2026, 1, 20, 9, 0)


@pytest.fixture
def clock():
    return Clock(BEFORE)


@pytest.fixture
def ctx(tmp_path, clock):
    def edit(data):
        data["procurement"][0]["bidders"][0]["name"] = "Arengu <Koolitus> & Partnerid OÜ"

    return make_ctx(tmp_path, clock=clock, telegram=STAFF_CFG, edit=edit)


@pytest.fixture
async def api():
    async with FakeTelegramAPI() as server:
        server.add_chat(STAFF, first_name="Taimi")
        server.add_chat(STRANGER, first_name="Võõras")
        server.add_chat(GROUP, type="supergroup", title="Hankemeeskond")
        server.add_user(STAFF, first_name="Taimi")
        yield server


@pytest.fixture
async def bot(ctx, api):
    app = build_application(ctx, api.token, api.base_url, api.base_file_url)
    await start_application(app, poll_timeout=1)
    try:
        yield app
    finally:
        await stop_application(app)


async def say(api: FakeTelegramAPI, text: str, chat: int = STAFF, user: int = STAFF) -> dict:
    api.user_sends(chat, user, text)
    return await api.wait_for_message(chat, timeout=5)


async def press(api: FakeTelegramAPI, msg: dict, data: str, chat: int = STAFF, user: int = STAFF) -> dict:
    api.user_presses(chat, user, msg["message_id"], data)
    return await api.wait_for_message(chat, timeout=5)


def buttons(msg: dict) -> list[str]:
    return [b["callback_data"] for row in msg.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def audit(ctx, action: str):
    with ctx.uow() as uow:
        return list(uow.repo.audit_rows(action=action))


# ---------------------------------------------------------------- the allow-list


async def test_stranger_is_refused_politely_and_audited(ctx, api, bot):
    reply = await say(api, "/status", chat=STRANGER, user=STRANGER)
    assert reply["text"] == REFUSAL
    rows = audit(ctx, "refused")
    assert [r.actor for r in rows] == [f"telegram:{STRANGER}"]
    api.user_sends(STRANGER, STRANGER, "/bids")
    await api.wait_for_message(STRANGER, timeout=5)
    assert all(m["text"] == REFUSAL for m in api.sent_messages(STRANGER))
    assert len(audit(ctx, "refused")) == 2


async def test_stranger_pressing_a_staff_button_is_refused(ctx, api, bot):
    set_state(ctx, "open")
    msg = await say(api, "/remind", chat=GROUP, user=STAFF)
    assert "rm:1" in buttons(msg)
    api.user_presses(GROUP, STRANGER, msg["message_id"], "rm:1")
    answer = await api.wait_until(lambda: api.callback_answers, timeout=5)
    assert answer[0]["text"] == REFUSAL and answer[0]["show_alert"]
    assert [r.actor for r in audit(ctx, "refused")] == [f"telegram:{STRANGER}"]
    assert [m["message_id"] for m in api.sent_messages(GROUP)] == [msg["message_id"]]  # nothing more was said


async def test_staff_in_a_group_is_answered(ctx, api, bot):
    reply = await say(api, "/help", chat=GROUP, user=STAFF)
    assert "/status" in reply["text"] and "/grade" in reply["text"]


# ---------------------------------------------------------------- status and sealed replies


async def test_status_lists_bidders_and_counts(ctx, api, bot):
    add_bid(ctx, "kadri", price="1234.56")
    reply = await say(api, "/status")
    text = reply["text"]
    assert "Hange 302834" in text
    assert "Arengu <Koolitus> & Partnerid OÜ — pole vastanud" in text
    assert "Kadri Jõgi — pakkumus (osa 2)" in text
    assert "Pakkumusi: 1" in text and "Kutsutud: 5" in text
    assert "jäänud 7 päeva" in text
    assert "1234" not in text and "1 234" not in text
    assert "suletud" in text


async def test_bids_before_the_deadline_show_no_prices(ctx, api, bot):
    add_bid(ctx, "kadri", price="1234.56")
    add_bid(ctx, "koolituskeskus", price="987.65")
    reply = await say(api, "/bids")
    text = reply["text"]
    assert "Pakkumusi: 2" in text and "Kadri Jõgi" in text and "Arengu <Koolitus>" in text
    for leak in ("1234", "1 234", "987", "€"):
        assert leak not in text
    assert "Suletud kuni 19.01.2026 kell 15.00" in text
    for cmd in ("/results", "/grade", "/protocol", "/accept"):
        r = await say(api, cmd)
        assert "suletud" in r["text"].lower() and "€" not in r["text"], cmd
    assert not buttons(r)


async def test_bids_after_opening_show_prices(ctx, api, bot, clock):
    add_bid(ctx, "kadri", price="1234.56")
    clock.set(AFTER)
    text = (await say(api, "/bids"))["text"]
    assert "Kadri Jõgi — 1 234,56 €" in text
    assert "Suletud" not in text


async def test_missing_lists_silent_invitees(ctx, api, bot):
    add_bid(ctx, "kadri")
    text = (await say(api, "/missing"))["text"]
    assert "Ilmar Sepp (ilmar.sepp@example.net)" in text
    assert "Kadri Jõgi (" not in text


async def test_auto_replies_are_quiet_but_listed_on_request(ctx, api, bot):
    from hankebot.storage.tables import InboundMessage

    with ctx.uow() as uow:
        p = uow.repo.procurement(PROC_KEY)
        kadri = next(b for b in uow.repo.bidders(p.id) if b.key == "kadri")
        uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=77, sha256="a" * 64, raw_path="x",
                                    received_at=utc(2026, 1, 12, 9, 30), state="processed", kind="auto_reply",
                                    procurement_id=p.id, bidder_id=kadri.id, sender=kadri.email,
                                    subject="Automaatne vastus: olen puhkusel"))
        uow.commit()
    text = (await say(api, "/auto"))["text"]
    assert "Kadri Jõgi: Automaatne vastus: olen puhkusel" in text and "12.01.2026 kell 11.30" in text
    assert "/auto" in (await say(api, "/help"))["text"]


async def test_other_mail_is_quiet_but_listed_on_request(ctx, api, bot):
    from hankebot.storage.tables import InboundMessage

    with ctx.uow() as uow:
        for uid, subject, kind in [(80, "Lõuna?", "other"), (81, "Nädala uudised #3", "other"),
                                   (82, "Automaatne vastus", "auto_reply")]:
            uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=uid, sha256=f"{uid:064d}", raw_path="x",
                                        received_at=utc(2026, 1, 12, 9, 30), state="processed", kind=kind,
                                        sender="mari.tamm@ska.example", subject=subject))
        uow.commit()
    text = (await say(api, "/other"))["text"]
    assert "Muud kirjad" in text and ": 2" in text
    assert "mari.tamm@ska.example: Nädala uudised #3" in text and "Lõuna?" in text
    assert "Automaatne vastus" not in text  # auto-replies have /auto
    assert "/other" in (await say(api, "/help"))["text"]


# ---------------------------------------------------------------- grading and decisions


async def test_grading_flow_end_to_end(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    clock.set(AFTER)
    m = await say(api, "/grade")  # the card of the only bid, at its first criterion
    assert buttons(m) == [f"g:{bid_id}:materials:30", f"g:{bid_id}:materials:15", f"g:{bid_id}:materials:5",
                          f"ga:{bid_id}"]
    assert "vastab osaliselt" in m["text"] and "Õppevahendid- ja materjalid" in m["text"]
    api.user_presses(STAFF, STAFF, m["message_id"], f"g:{bid_id}:materials:15")
    await api.wait_until(lambda: "Kirjuta hinde põhjendus" in api.sent_messages(STAFF)[-1]["text"], timeout=5)
    api.user_sends(STAFF, STAFF, "Materjalid toetavad enamikku õpiväljunditest.")
    card = await api.wait_until(lambda: next((x for x in api.sent_messages(STAFF) if x["message_id"] == m["message_id"]
                                              and "Kirjuta hinde põhjendus" not in x["text"]
                                              and x["edit_count"] == 2), None), timeout=5)
    assert "15 p</b>" not in card["text"] and "15 p" in card["text"]  # the saved grade, on the same card
    with ctx.uow() as uow:
        g = uow.repo.grade(bid_id, "materials")
    assert g is not None and g.points == Decimal("15") and g.level_name == "vastab osaliselt"
    assert g.justification == "Materjalid toetavad enamikku õpiväljunditest." and g.graded_by == "Taimi Nilson"
    assert buttons(card)[0] == f"g:{bid_id}:methods:30"  # straight on to the next criterion
    assert len(api.sent_messages(STAFF)) == 1


async def test_text_without_a_question_is_not_a_grade(ctx, api, bot, clock):
    clock.set(AFTER)
    r = await say(api, "lihtsalt tekst")
    assert "/help" in r["text"]
    with ctx.uow() as uow:
        assert uow.repo.count(Grade) == 0


async def test_reject_a_problem_bid_with_a_reason(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "ilmar", problems=[{"code": "missing_form", "message": "Puudub Lisa 2 pakkumuse vorm"}])
    clock.set(AFTER)
    m = await say(api, "/reject")
    assert "Puudub Lisa 2 pakkumuse vorm" in m["text"] and buttons(m) == [f"dr:{bid_id}"]
    m = await press(api, m, f"dr:{bid_id}")
    assert "põhjendus" in m["text"].lower()
    api.user_sends(STAFF, STAFF, "Pakkumuse vorm puudub ka pärast selgitustaotlust.")
    done = await api.wait_for_message(STAFF, timeout=5)
    assert "lükati tagasi" in done["text"]
    with ctx.uow() as uow:
        bid = uow.repo.bid(bid_id)
    assert bid.decision == "rejected" and bid.decision_reason.startswith("Pakkumuse vorm puudub")


async def test_accept_with_arguments(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "ilmar", problems=[{"code": "missing_form", "message": "x"}])
    clock.set(AFTER)
    done = await say(api, f"/accept {bid_id} Vorm saabus eraldi kirjaga")
    assert "võeti vastu" in done["text"]
    with ctx.uow() as uow:
        assert uow.repo.bid(bid_id).decision == "accepted"


async def test_results_after_opening(ctx, api, bot, clock):
    add_bid(ctx, "kadri", price="1000")
    clock.set(AFTER)
    text = (await say(api, "/results"))["text"]
    assert "Osa 2" in text and "Kadri Jõgi: hindamata" in text


# ---------------------------------------------------------------- deadline extension


async def test_extend_asks_for_confirmation_then_moves_the_deadline(ctx, api, bot):
    m = await say(api, "/extend 26.01.2026 15:00")
    assert "19.01.2026 kell 15.00 → 26.01.2026 kell 15.00" in m["text"]
    (confirm, cancel) = buttons(m)
    with ctx.uow() as uow:
        assert ctx.local(uow.repo.procurement(PROC_KEY).deadline).day == 19  # not yet
    done = await press(api, m, confirm)
    assert "uus tähtaeg on 26.01.2026 kell 15.00" in done["text"]
    with ctx.uow() as uow:
        assert uow.repo.procurement(PROC_KEY).deadline == datetime(2026, 1, 26, 15, 0, tzinfo=TALLINN)
    assert [r.actor for r in audit(ctx, "deadline_extended")] == [f"telegram:{STAFF}"]


async def test_extend_rejects_an_earlier_date(ctx, api, bot):
    m = await say(api, "/extend 18.01.2026")
    assert "hilisem" in m["text"] and not buttons(m)


# ---------------------------------------------------------------- several procurements


async def test_with_two_procurements_the_bot_asks_which(tmp_path, api):
    def edit(data):
        import copy

        second = copy.deepcopy(data["procurement"][0])
        second["key"], second["reference"] = "900001", "900001"
        data["procurement"].append(second)

    ctx = make_ctx(tmp_path, clock=Clock(BEFORE), telegram=STAFF_CFG, edit=edit)
    app = build_application(ctx, api.token, api.base_url, api.base_file_url)
    await start_application(app, poll_timeout=1)
    try:
        m = await say(api, "/status")
        assert len(buttons(m)) == 2 and all(b.startswith("p:status:") for b in buttons(m))
        with ctx.uow() as uow:
            pid = uow.repo.procurement("900001").id
        r = await press(api, m, f"p:status:{pid}")
        assert "Hange 900001" in r["text"]
        r = await say(api, "/status 302834")
        assert "Hange 302834" in r["text"]
    finally:
        await stop_application(app)


# ---------------------------------------------------------------- actions reaching bidders (through the real service)


async def test_question_button_leads_to_a_confirmed_clarification(ctx, api, bot):
    from hankebot.bot.outbox_worker import TelegramSender, drain_once
    from hankebot.bot.texts import question_payload, question_text
    from helpers import enqueue_text

    with ctx.uow() as uow:
        pid = uow.repo.procurement(PROC_KEY).id
        enqueue_text(ctx, uow.repo, "question", question_text("302834", "Kadri Jõgi", ctx.local(BEFORE), "Küsimus",
                                                              "Kas võib pakkuda kahte gruppi?"), "q1", pid,
                     payload=question_payload(pid))
        uow.commit()
    assert await drain_once(ctx, TelegramSender(bot.bot)) == 1
    note = await api.wait_for_message(STAFF, timeout=5)
    assert buttons(note) == [f"cl:{pid}"]
    ask = await press(api, note, f"cl:{pid}")
    assert "kirjuta tekst" in ask["text"]
    api.user_sends(STAFF, STAFF, "Jah, kahte gruppi võib pakkuda.")
    preview = await api.wait_for_message(STAFF, timeout=5)
    assert "Jah, kahte gruppi võib pakkuda." in preview["text"] and buttons(preview) == [f"cs:{pid}", "x"]
    done = await press(api, preview, f"cs:{pid}")
    # the procurement is still a draft: the outbound service refuses, and the expert is told why
    assert "Selgitus – hange 302834" in done["text"] and "mustand" in done["text"] and "draft" not in done["text"]
    assert not buttons(api.sent_messages(STAFF)[-2])  # the confirmation cannot be pressed twice


async def test_remind_confirmation_runs_the_reminder_batch(ctx, api, bot):
    set_state(ctx, "open")
    m = await say(api, "/remind")
    assert "Ilmar Sepp" in m["text"] and buttons(m) == ["rm:1", "x"]
    done = await press(api, m, "rm:1")
    assert "Meeldetuletused – hange 302834" in done["text"]
    with pytest.raises(ValueError):  # the keyboard is gone
        api.user_presses(STAFF, STAFF, m["message_id"], "rm:1")


async def test_cancel_button_forgets_the_clarification(ctx, api, bot):
    m = await say(api, "/clarify 302834 Tekst kõigile")
    assert buttons(m) == ["cs:1", "x"]
    api.user_presses(STAFF, STAFF, m["message_id"], "x")
    await api.wait_until(lambda: api.callback_answers, timeout=5)
    await api.wait_until(lambda: not api.sent_messages(STAFF)[-1].get("reply_markup"), timeout=5)
    r = await say(api, "/cancel")
    assert "Pooleli tegevust polnud" in r["text"]


async def test_protocol_sends_xlsx_pdf_and_chart(ctx, api, bot, clock):
    from hankebot.service.evaluation import grade_bid

    a = add_bid(ctx, "kadri", price="1000")
    b = add_bid(ctx, "ilmar", price="1200")
    clock.set(AFTER)
    for bid, pts in ((a, 30), (b, 15)):
        for crit in ("materials", "methods"):
            grade_bid(ctx, bid, crit, Decimal(pts), "Põhjendus.", "Taimi Nilson")
    api.user_sends(STAFF, STAFF, "/protocol")
    await api.wait_until(lambda: len(api.sent_messages(STAFF)) >= 3, timeout=30)
    msgs = api.sent_messages(STAFF)
    assert [m["method"] for m in msgs] == ["sendDocument", "sendDocument", "sendPhoto"]
    assert msgs[0]["document"]["file_name"].endswith(".xlsx") and msgs[1]["document"]["file_name"].endswith(".pdf")
    assert msgs[1]["file_bytes"].startswith(b"%PDF")
    api.user_sends(STAFF, STAFF, "/results")
    text = (await api.wait_for_message(STAFF, lambda m: m["method"] == "sendMessage", timeout=5))["text"]
    assert "1. Kadri Jõgi" in text and "1 000,00 €" in text
