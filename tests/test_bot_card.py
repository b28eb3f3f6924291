"""The bid card and grading on it, driven through the Telegram stand-in: the bidder's texts on the card,
3 bids x 2 criteria graded in 6 taps + 6 justifications with the card edited in place, problem bids kept
out of grading until accepted, the original files, and every error case answered in Estonian."""
from __future__ import annotations

import re
from decimal import Decimal
from email.message import EmailMessage

from hankebot.storage.tables import InboundMessage
from helpers import add_bid
from test_bot import AFTER, STAFF, api, bot, buttons, clock, ctx, press, say  # noqa: F401 - fixtures

MATERIALS = "Töövihik „Arvuti algajale“ ja 12 videot.\nIga osaleja saab USB-pulga õppematerjalidega."
METHODS = "Praktilised harjutused paarides; iga teema lõpus lühitest."
ENGLISH = re.compile(r"\b(no bid|not found|error|None|materials|methods|open|draft)\b")


def with_offer(ctx, bid_id: int, materials: str = MATERIALS, methods: str = METHODS) -> None:
    with ctx.uow() as uow:
        b = uow.repo.bid(bid_id)
        b.offer = {"bidder_name": "x", "materials": materials, "methods": methods}
        uow.repo.s.add(b)
        uow.commit()


def bot_texts(api) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in api.sent_messages(STAFF)]


def assert_estonian(text: str) -> None:
    assert not ENGLISH.search(text), text


async def test_card_shows_the_bidders_texts_price_and_problems(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1234.5")
    with_offer(ctx, bid_id)
    clock.set(AFTER)
    m = await say(api, f"/bid {bid_id}")
    text = m["text"]
    assert "Kadri Jõgi" in text and "osa 2" in text and "1 234,50 €" in text and "kogukulu km-ga" in text
    assert "Saabus: 19.01.2026 kell 14.00" in text
    assert "Töövihik „Arvuti algajale“ ja 12 videot." in text and "Iga osaleja saab USB-pulga" in text
    assert METHODS in text
    assert "Õppevahendid" in text and "materials" not in text
    assert buttons(m)[:3] == [f"g:{bid_id}:materials:30", f"g:{bid_id}:materials:15", f"g:{bid_id}:materials:5"]
    labels = [b["text"] for row in m["reply_markup"]["inline_keyboard"] for b in row]
    assert all(len(lb) <= 38 and not lb.endswith("…") for lb in labels), labels


async def test_three_bids_two_criteria_in_six_taps_edited_in_place(ctx, api, bot, clock):
    ids = [add_bid(ctx, k, price=p) for k, p in (("kadri", "1000"), ("ilmar", "1200"), ("koolituskeskus", "900"))]
    for i in ids:
        with_offer(ctx, i)
    problem = add_bid(ctx, "tugiteenused", price=None, problems=[{"code": "missing_price", "message": "Hind puudub"}])
    clock.set(AFTER)
    card = await say(api, "/grade")
    taps = 0
    graded = []
    ask = "Kirjuta hinde põhjendus"
    while buttons(card) and buttons(card)[0].startswith("g:"):
        level = buttons(card)[1]  # the middle level
        api.user_presses(STAFF, STAFF, card["message_id"], level)
        taps += 1
        await api.wait_until(lambda: ask in _current(api, card)["text"], timeout=5)
        assert not any(b.startswith("g:") for b in buttons(_current(api, card)))  # levels gone while typing
        bid_id, crit = level.split(":")[1:3]
        graded.append((int(bid_id), crit))
        api.user_sends(STAFF, STAFF, f"Põhjendus {taps}: vastab osaliselt.")
        await api.wait_until(lambda: ask not in _current(api, card)["text"], timeout=5)
        now = _current(api, card)
        if any(b.startswith("g:") for b in buttons(now)):
            assert f"Põhjendus {taps}: vastab osaliselt." in now["text"]  # the grade is on the card
            card = now  # the same card, edited on to the next criterion
        else:
            assert buttons(now) == [f"ga:{bid_id}"]  # finished: only the files button stays
            card = await api.wait_for_message(STAFF, lambda m: m["message_id"] > now["message_id"], timeout=5)
        assert taps <= 6
    assert taps == 6
    assert sorted(graded) == sorted((b, c) for b in ids for c in ("materials", "methods"))
    assert "Kõik hinnatavad pakkumused on hinnatud" in card["text"]
    msgs = api.sent_messages(STAFF)
    assert len(msgs) == 4  # three cards (each edited in place 4 times) and the closing line
    assert [m["edit_count"] for m in msgs[:3]] == [4, 4, 4]
    with ctx.uow() as uow:
        assert len(uow.repo.grades(ids)) == 6
        assert not uow.repo.grades([problem])  # the undecided problem bid was never offered


def _current(api, msg: dict) -> dict:
    return next(m for m in api.sent_messages(STAFF) if m["message_id"] == msg["message_id"])


async def test_undecided_problem_bid_is_not_offered_until_accepted(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "ilmar", price=None, problems=[{"code": "missing_price", "message": "Hind puudub"}])
    clock.set(AFTER)
    r = await say(api, "/grade")
    assert "Kõik hinnatavad pakkumused on hinnatud" in r["text"] and "Otsust ootab 1" in r["text"]
    card = await say(api, f"/bid {bid_id}")
    assert "Otsus puudub" in card["text"] and buttons(card) == [f"da:{bid_id}", f"dr:{bid_id}", f"ga:{bid_id}"]
    ask = await press(api, card, f"da:{bid_id}")
    assert "põhjendus" in ask["text"].lower()
    api.user_sends(STAFF, STAFF, "Hind selgus selgitustaotlusest.")
    done = await api.wait_for_message(STAFF, timeout=5)
    assert "võeti vastu" in done["text"] and "Ilmar Sepp" in done["text"]
    card = await api.wait_for_message(STAFF, timeout=5)  # the accepted bid's card, ready for grading
    assert buttons(card)[0] == f"g:{bid_id}:materials:30"


async def test_card_is_refused_while_sealed(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    with_offer(ctx, bid_id)
    r = await say(api, f"/bid {bid_id}")
    assert "suletud" in r["text"] and "1 000" not in r["text"] and MATERIALS[:10] not in r["text"]
    assert not buttons(r)


async def test_files_button_sends_the_original_attachments(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "kadri@example.net", "hange@example.ee", "Pakkumus"
    msg.set_content("Pakkumus lisatud.")
    msg.add_attachment(b"PK\x03\x04 offer bytes", maintype="application", subtype="octet-stream",
                       filename="Lisa 2 pakkumuse vorm.docx")
    _, rel = ctx.raw.put(msg.as_bytes())
    with ctx.uow() as uow:
        b = uow.repo.bid(bid_id)
        m = uow.repo.inbound(b.inbound_message_id)
        m.raw_path = rel
        uow.repo.s.add(m)
        uow.commit()
    clock.set(AFTER)
    card = await say(api, f"/bid {bid_id}")
    doc = await press(api, card, f"ga:{bid_id}")
    assert doc["method"] == "sendDocument" and doc["document"]["file_name"] == "Lisa 2 pakkumuse vorm.docx"
    assert doc["file_bytes"] == b"PK\x03\x04 offer bytes"


async def test_long_texts_go_before_the_card_split_at_4096(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    long = "\n".join(f"Rida {i}: " + "õppematerjal " * 20 for i in range(40))  # ~10 000 characters
    with_offer(ctx, bid_id, materials=long)
    clock.set(AFTER)
    api.user_sends(STAFF, STAFF, f"/bid {bid_id}")
    card = await api.wait_for_message(STAFF, lambda m: bool(m.get("reply_markup")), timeout=5)
    msgs = api.sent_messages(STAFF)
    assert all(len(m.get("text", "")) <= 4096 for m in msgs)
    before = [m for m in msgs if m["message_id"] < card["message_id"]]
    shown = "\n".join(m.get("text", "") for m in before) or before[0]["file_bytes"].decode()
    assert "Rida 0:" in shown and "Rida 39:" in shown
    assert "Pakkuja tekstid on eespool" in card["text"]


async def test_every_error_case_answered_in_estonian(ctx, api, bot, clock):
    add_bid(ctx, "kadri", price="1000")
    clock.set(AFTER)
    cases = {
        "/statsu": "Kas mõtlesid /status?",
        "/status 999999": "Hanget „999999“ pole",
        "/grade 999": "Pakkumust #999 pole",
        "/bid 999": "Pakkumust #999 pole",
        "/bid kolm": "pole pakkumuse number",
        "/accept 999 x": "Pakkumust #999 pole",
        "/reject 999": "Pakkumust #999 pole",
        "/tundmatu": "Kõik käsud: /help",
    }
    for cmd, expected in cases.items():
        r = await say(api, cmd)
        assert expected in r["text"], (cmd, r["text"])
        assert_estonian(r["text"])


async def test_bids_list_opens_a_card_and_names_missing_forms_once(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000",
                     problems=[{"code": "missing_form", "message": "Puudub vorm: Lisa 3 maksumuse vorm"}])
    with ctx.uow() as uow:
        b = uow.repo.bid(bid_id)
        b.missing_forms = ["cost_form"]
        uow.repo.s.add(b)
        uow.commit()
    clock.set(AFTER)
    m = await say(api, "/bids")
    assert m["text"].count("Lisa 3 maksumuse vorm") == 1
    assert "[" not in m["text"] and "((" not in m["text"]
    assert buttons(m) == [f"gb:{bid_id}"]
    card = await press(api, m, f"gb:{bid_id}")
    assert "Kadri Jõgi" in card["text"] and "pakkumus #" in card["text"]


async def test_results_show_points_per_criterion_with_the_same_places(ctx, api, bot, clock):
    from hankebot.service.evaluation import grade_bid

    a = add_bid(ctx, "kadri", price="1000")
    b = add_bid(ctx, "ilmar", price="1300")
    clock.set(AFTER)
    for bid in (a, b):
        grade_bid(ctx, bid, "materials", Decimal(15), "P.", "Taimi Nilson")
        grade_bid(ctx, bid, "methods", Decimal(30), "P.", "Taimi Nilson")
    text = (await say(api, "/results"))["text"]
    totals = re.findall(r"— <b>?([\d ,]+) p", text) or re.findall(r"— ([\d ,]+) p", text)
    assert len(totals) == 2 and all("," in t for t in totals), text
    assert "Õppevahendid" in text and "15,00 / 30 p" in text
    assert_estonian(text)


async def test_clarification_preview_warns_of_a_short_deadline_and_the_reply_has_no_state_key(ctx, api, bot, clock):
    from helpers import set_state, utc

    set_state(ctx, "open")
    clock.set(utc(2026, 1, 16, 9, 0))  # Friday before the Monday deadline
    preview = await say(api, "/clarify 302834 Tekst kõigile")
    assert "Tähtajani on jäänud" in preview["text"] and preview["text"].index("Tähtajani") < preview["text"].index("Kas saadan")
    done = await press(api, preview, buttons(preview)[0])
    assert "Selgitus – hange 302834" in done["text"]
    assert "Hanke olek" not in done["text"]
    assert_estonian(done["text"])
    clock.set(utc(2026, 1, 5, 9, 0))  # two weeks ahead: no warning
    preview = await say(api, "/clarify 302834 Teine tekst")
    assert "Tähtajani" not in preview["text"]


def test_service_refusals_read_in_estonian():
    from datetime import datetime, timedelta, timezone

    import pytest

    from hankebot.bot.errors import GENERIC, et_error
    from hankebot.core import lifecycle
    from hankebot.core.lifecycle import LifecycleError, State

    now = datetime(2026, 1, 12, tzinfo=timezone.utc)
    calls = [
        lambda: lifecycle.extend_deadline(State.OPEN, now, now + timedelta(days=2), now + timedelta(days=1)),
        lambda: lifecycle.extend_deadline(State.OPEN, now, now - timedelta(days=2), now - timedelta(days=1)),
        lambda: lifecycle.mark_evaluated(State.CLOSED, False),
        lambda: lifecycle.cancel(State.DECIDED),
        lambda: lifecycle.start_inviting(State.CLOSED, now, now + timedelta(days=1)),
    ]
    seen = set()
    for call in calls:
        with pytest.raises(LifecycleError) as exc:
            call()
        text = et_error(exc.value)
        assert_estonian(text)
        assert not re.search(r"\b(the|cannot|procurement|deadline)\b", text), text
        seen.add(text)
    assert len(seen) == len(calls)  # each refusal says its own reason
    assert et_error(KeyError("no active bid #9")) != "no active bid #9"
    assert et_error(RuntimeError("boom")) == GENERIC


async def test_an_identical_edit_is_not_an_error(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")
    clock.set(AFTER)
    card = await say(api, f"/bid {bid_id}")
    api.user_presses(STAFF, STAFF, card["message_id"], f"g:{bid_id}:materials:15")
    await api.wait_until(lambda: "Kirjuta hinde põhjendus" in _current(api, card)["text"], timeout=5)
    api.user_presses(STAFF, STAFF, card["message_id"], f"gc:{bid_id}:materials")  # back to the levels
    await api.wait_until(lambda: "Kirjuta hinde põhjendus" not in _current(api, card)["text"], timeout=5)
    edits = _current(api, card)["edit_count"]
    # a second tap of the same (now gone) button, e.g. from a slow phone: the stand-in, like Telegram,
    # refuses an edit to the same content ("message is not modified"); the bot takes that as done
    api.user_presses(STAFF, STAFF, card["message_id"], f"gc:{bid_id}:materials", check_button=False)
    await api.wait_until(lambda: len(api.callback_answers) == 3, timeout=5)
    await api.wait_until(lambda: any("not modified" in str(r.response) for r in api.requests_for("editMessageText")),
                         timeout=5)
    assert _current(api, card)["edit_count"] == edits
    assert len(api.sent_messages(STAFF)) == 1  # no error message, no new card


async def test_a_late_bid_card_offers_only_rejection(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "ilmar", price="900", problems=[{"code": "late_bid", "message": "Pakkumus saabus pärast tähtaega"}])
    with ctx.uow() as uow:
        b = uow.repo.bid(bid_id)
        b.late = True
        uow.repo.s.add(b)
        uow.commit()
    clock.set(AFTER)
    card = await say(api, f"/bid {bid_id}")
    assert "Hilinenud pakkumust ei hinnata" in card["text"] and buttons(card) == [f"dr:{bid_id}", f"ga:{bid_id}"]


async def test_auto_reply_from_a_bidders_address_is_listed_under_the_bidders_name(ctx, api, bot):
    from helpers import PROC_KEY, utc

    with ctx.uow() as uow:
        p = uow.repo.procurement(PROC_KEY)
        kadri = next(b for b in uow.repo.bidders(p.id) if b.key == "kadri")
        uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=991, sha256="b" * 64, raw_path="x",
                                    received_at=utc(2026, 1, 12, 9, 30), state="processed", kind="auto_reply",
                                    procurement_id=p.id, bidder_id=None, sender=kadri.email.upper(),
                                    subject="Olen puhkusel"))
        uow.commit()
    text = (await say(api, "/auto"))["text"]
    assert "Kadri Jõgi: Olen puhkusel" in text and "@" not in text


async def test_files_of_a_purged_message_are_said_to_be_gone(ctx, api, bot, clock):
    bid_id = add_bid(ctx, "kadri", price="1000")  # its raw path names no stored file
    clock.set(AFTER)
    card = await say(api, f"/bid {bid_id}")
    r = await press(api, card, f"ga:{bid_id}")
    assert "algset kirja pole enam hoidlas" in r["text"]
    assert_estonian(r["text"])
