"""classify() and strip_quoted() on Estonian and English phrasing, with quoted invitations below."""
from __future__ import annotations

import pytest

from hankebot.core.classify import MessageFacts, classify, strip_quoted
from hankebot.core.models import MessageKind
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.mime import parse_message

QUOTED = sm.quoted_invitation("outlook")


def kind(text: str = "", subject: str = "RE: Pakkumuskutse", files: tuple[str, ...] = (), forms: bool = False,
         headers: dict | None = None, from_addr: str = "mari@firma.ee", about: bool = True) -> MessageKind:
    """`about`: the message is in our thread or names the procurement (the assignment's verdict)."""
    return classify(MessageFacts(subject=subject, text=text, from_addr=from_addr, headers=headers or {},
                                 attachment_names=files, has_form_attachments=forms, about_procurement=about)).kind


@pytest.mark.parametrize("style", ["outlook", "gmail", "thunderbird"])
def test_strip_quoted_removes_invitation(style):
    text = "Tere,\n\nAitäh, saadame homme.\n\nLugupidamisega\nMari\n\n" + sm.quoted_invitation(style)
    own = strip_quoted(text)
    assert own.startswith("Tere,") and "saadame homme" in own
    assert "ei soovi" not in own and "Juhul" not in own


def test_strip_quoted_english_and_signature():
    text = "Thanks, see attached.\n-- \nJohn\n\nOn Mon, 5 Jan 2026 at 10:41, Taimi <t@ska.ee> wrote:\n> quoted"
    assert strip_quoted(text) == "Thanks, see attached."
    assert strip_quoted("Hi\n-----Original Message-----\nFrom: x\nbody") == "Hi"
    assert strip_quoted("> only quote\n> more") == ""


@pytest.mark.parametrize("sentence", [
    "Me ei soovi seekord pakkumust esitada.",
    "Kahjuks ei esita me sel korral pakkumust.",
    "Ei esita pakkumust.",
    "Loobume pakkumuse esitamisest.",
    "Seekord me ei osale.",
    "Meil ei ole võimalik pakkumust teha.",
    "Kahjuks ei saa me seekord osaleda, koolitajad on hõivatud.",
    "Jätame seekord pakkumuse esitamata.",
    "Ei ole huvitatud.",
    "Unfortunately we will not submit a bid this time.",
    "We must decline the invitation.",
    "We are not able to bid for this tender.",
    "Sorry, we won't be able to participate.",
])
def test_decline_phrasings(sentence):
    assert kind(f"Tere,\n\n{sentence}\n\nLugupidamisega\nMari\n\n{QUOTED}") is MessageKind.DECLINE


def test_quoted_invitation_alone_is_not_a_decline():
    # the invitation's own "Juhul, kui Te ei soovi pakkumist ... esitada" sits in the quote
    assert kind(f"Tere,\n\nSaime kätte, aitäh!\n\nMari\n\n{QUOTED}") is MessageKind.OTHER
    # and unquoted (pasted without markers) it is a conditional, still not a decline
    assert kind("Tere\nJuhul, kui Te ei soovi pakkumist mingil põhjusel esitada, palun andke teada.") is MessageKind.OTHER
    assert kind("If you decline, please let us know.") is MessageKind.OTHER


def test_negated_decline_is_not_decline():
    assert kind("Tere, me ei loobu, pakkumus tuleb homme.") is not MessageKind.DECLINE


def test_bid_with_forms_wins_over_partial_decline():
    text = "Esitame pakkumuse II moodulile. Teistele osadele pakkumust ei esita."
    assert kind(text, files=("Lisa 2.docx", "Lisa 3.xlsx"), forms=True) is MessageKind.BID


def test_bid_by_words_and_attachments():
    assert kind("Tere, manuses meie pakkumine.", files=("dokumendid.pdf",)) is MessageKind.BID
    assert kind("Please find attached our offer.", files=("docs.pdf",)) is MessageKind.BID
    assert kind("", subject="", files=("Lisa 3 maksumuse vorm.xlsx",)) is MessageKind.BID  # bid without text
    assert kind("", subject="", files=("image001.png",)) is MessageKind.OTHER  # a logo is not a bid


@pytest.mark.parametrize("text", [
    "Tere! Kas koolituse toitlustus tuleb maksumusse arvestada?",
    "Palun täpsustada, mitu osalejat on grupis.",
    "Meil on küsimus tehnilise kirjelduse punkti 4.3 kohta.",
    "Could you clarify the number of participants?",
    "A question about the cost form: is VAT included",
])
def test_questions(text):
    assert kind(f"{text}\n\n{QUOTED}") is MessageKind.QUESTION


def test_question_with_forms_is_bid():
    assert kind("Saadame pakkumuse. Kas vajate ka CV-sid?", files=("Lisa 2.docx",), forms=True) is MessageKind.BID


@pytest.mark.parametrize("headers,subject,text", [
    ({"auto-submitted": "auto-replied"}, "RE: Pakkumuskutse", "Tere"),
    ({"x-autoreply": "yes"}, "RE: Pakkumuskutse", "Tere"),
    ({"x-autorespond": "yes"}, "Pakkumuskutse", ""),
    ({"precedence": "auto_reply"}, "Pakkumuskutse", ""),
    ({}, "Automaatne vastus: Pakkumuskutse", "Tere"),
    ({}, "Automatic reply: Pakkumuskutse", ""),
    ({}, "Out of Office: Pakkumuskutse", ""),
    ({}, "Abwesenheitsnotiz: Pakkumuskutse", ""),
    ({}, "RE: Pakkumuskutse", "Tere! Olen puhkusel kuni 16.01. Kontoris tagasi 19.01."),
    ({}, "RE: Pakkumuskutse", "I am out of the office until Monday with limited access to email."),
])
def test_auto_replies(headers, subject, text):
    assert kind(text, subject=subject, headers=headers) is MessageKind.AUTO_REPLY


@pytest.mark.parametrize("text", [
    "Tere! Kas koolituse toitlustus tuleb maksumusse arvestada?",
    "Kas lähme lõunale?",
    "Could you clarify the number of participants?",
])
def test_a_question_not_about_a_procurement_is_other(text):
    assert kind(text, subject="Küsimus", about=False) is MessageKind.OTHER


@pytest.mark.parametrize("headers", [
    {"precedence": "bulk"}, {"precedence": "junk"}, {"precedence": "list"},
    {"list-id": "<uudised.koolitus.example>"}, {"list-unsubscribe": "<mailto:leave@koolitus.example>"},
])
def test_bulk_and_list_mail_is_a_newsletter_not_an_auto_reply(headers):
    text = "Uued koolitused kevadeks! Kas oled juba registreerunud? Vaata lisa."
    c = classify(MessageFacts(subject="Uudiskiri", text=text, headers=headers, about_procurement=True))
    assert c.kind is MessageKind.OTHER and "newsletter" in c.reasons[0]
    auto = classify(MessageFacts(subject="Uudiskiri", text=text, headers={**headers, "auto-submitted": "auto-replied"}))
    assert auto.kind is MessageKind.AUTO_REPLY


def test_delay_notice_is_not_a_failure():
    c = classify(MessageFacts(has_bounce=True, bounce_permanent=False, text="will retry"))
    assert c.kind is MessageKind.AUTO_REPLY and "delay" in c.reasons[0]


def test_unreadable_attachments_from_an_invited_bidder_are_a_bid():
    facts = dict(subject="RE: Pakkumuskutse", text="Tere,\n\nvt lisa.", attachment_names=(),
                 unreadable_attachments=True)
    assert classify(MessageFacts(**facts, about_procurement=True, from_invited=True)).kind is MessageKind.BID
    assert classify(MessageFacts(**facts, about_procurement=True)).kind is MessageKind.OTHER
    assert classify(MessageFacts(**facts, from_invited=True)).kind is MessageKind.OTHER


def test_auto_submitted_no_is_a_person():
    assert kind("Loobume.", headers={"auto-submitted": "no"}) is MessageKind.DECLINE


def test_auto_reply_saying_decline_words_is_still_auto_reply():
    text = "Olen puhkusel. Kahjuks ei saa ma praegu osaleda koosolekutel."
    assert kind(text, subject="Automaatne vastus: Pakkumuskutse") is MessageKind.AUTO_REPLY


def test_bounces():
    assert classify(MessageFacts(has_bounce=True, text="Loobume")).kind is MessageKind.BOUNCE
    assert kind("whatever", from_addr="MAILER-DAEMON@mx.firma.ee") is MessageKind.BOUNCE


def test_sample_messages_end_to_end():
    cases = {
        sm.decline_message("a@firma.ee", "Anu Kask"): MessageKind.DECLINE,
        sm.decline_message("a@firma.ee", "Anu Kask", quote_style="gmail",
                           body="Tere,\n\nmeie seekord ei osale.\n\nAnu\n\n" + sm.quoted_invitation("gmail")):
            MessageKind.DECLINE,
        sm.question_message("a@firma.ee", "Anu Kask"): MessageKind.QUESTION,
        sm.auto_reply_message("a@firma.ee", "Anu Kask"): MessageKind.AUTO_REPLY,
        sm.auto_reply_message("a@firma.ee", "Anu Kask", language="en", headers=False): MessageKind.AUTO_REPLY,
        sm.bounce_message("a@firma.ee", "<x@ska.ee>"): MessageKind.BOUNCE,
        sm.bid_message("a@firma.ee", "Anu Kask", attachments=[("Lisa 3 maksumuse vorm.xlsx", b"x")]): MessageKind.BID,
        sm.bid_message("a@firma.ee", "Anu Kask", body="", attachments=[("scan.pdf", b"x")],
                       subject="pakkumus"): MessageKind.BID,
    }
    for raw, expected in cases.items():
        p = parse_message(raw)
        assert classify(p.facts(about_procurement=True)).kind is expected, (p.subject, p.text[:80])
