"""Pure text builders: Estonian wording, HTML escaping, no prices, splitting on line boundaries."""
from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, strategies as st

from hankebot.bot.texts import (
    bounce_text,
    decline_text,
    deadline_passed_text,
    deadline_warning_text,
    esc,
    late_bid_text,
    new_bid_text,
    question_payload,
    question_text,
    results_ready_text,
    split_html,
    strip_html,
    unknown_sender_text,
)
from hankebot.service.status import BidderStatus, ProcurementStatus
from helpers import TALLINN

T = datetime(2026, 1, 14, 9, 5, tzinfo=TALLINN)
DL = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)


def status(now: datetime, sealed: bool = True) -> ProcurementStatus:
    bidders = [
        BidderStatus("a", "A & <Firma> OÜ", "a@x.ee", True, "bid", [2], ["Lisa 3 maksumuse vorm"]),
        BidderStatus("b", "Kadri Jõgi", "k@x.ee", True, "declined"),
        BidderStatus("c", "Ilmar Sepp", "i@x.ee", True, "silent"),
    ]
    return ProcurementStatus(key="302834", reference="302834", title="Baaskoolitused", state="open", deadline=DL,
                             now=now, sealed=sealed, invitations_sent=3, bidders=bidders, bids=1, late_bids=0,
                             declines=1, questions=0, bounces=0, unknown_senders=0, problems=0)


def test_new_bid_text_escapes_and_lists_missing_forms():
    t = new_bid_text("302834", "A & <Firma> OÜ", [2], T, ["Lisa 3 maksumuse vorm"], ["Allkiri puudub"])
    assert "A &amp; &lt;Firma&gt; OÜ" in t and "<Firma>" not in t
    assert "Puuduvad vormid" in t and "Lisa 3 maksumuse vorm" in t and "Allkiri puudub" in t
    assert "14.01.2026 kell 09.05" in t and "Osa: 2" in t
    assert "Hind on avamiseni suletud" in t


def test_other_builders():
    assert "Põhjus: ei jõua" in decline_text("302834", "Kadri", T, "ei jõua")
    q = question_text("302834", "Kadri", T, "Küsimus <1>", "Kas & kuidas?", answer_by=DL)
    assert "&lt;1&gt;" in q and "Kas &amp; kuidas?" in q and "19.01.2026 kell 15.00" in q
    assert question_payload(7, 12) == {"buttons": [[{"text": "Vasta kõigile", "data": "cl:7:12"}]]}
    assert "x@y.ee (Kadri)" in bounce_text("302834", "x@y.ee", "Kadri", "550 no such user")
    late = late_bid_text("302834", "Kadri", DL + timedelta(minutes=5), DL)
    assert "hilines 5 minutit" in late
    assert "võõras@x.ee" in unknown_sender_text(None, "võõras@x.ee", None, T)
    r = results_ready_text("302834", "Baaskoolitused", 1, 1, [(2, "A & B")])
    assert "Osa 2: A &amp; B" in r and "/results" in r


def test_deadline_texts_name_bidders_without_prices():
    w = deadline_warning_text(status(DL - timedelta(days=3)), "3wd")
    assert "Tähtaeg 3 tööpäeva pärast" in w and "Ilmar Sepp" in w and "/remind" in w
    assert "A &amp; &lt;Firma&gt; OÜ: puudub Lisa 3 maksumuse vorm" in w
    assert "2 tunni" in deadline_warning_text(status(DL - timedelta(hours=2)), "2h")
    p = deadline_passed_text(status(DL + timedelta(minutes=1), sealed=False))
    assert "Pakkumuse esitasid" in p and "Loobusid" in p and "Ei vastanud" in p and "Ilmar Sepp" in p
    assert "€" not in p and "€" not in w


def test_split_html_keeps_lines_whole():
    text = "\n".join(f"<b>{i}</b> " + "a" * 300 for i in range(40))
    chunks = split_html(text, 4096)
    assert chunks is not None and len(chunks) > 1
    assert all(len(c) <= 4096 for c in chunks)
    assert "\n".join(chunks) == text
    assert split_html("x" * 5000) is None


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=200), max_size=60),
       st.integers(min_value=200, max_value=1000))
def test_split_html_never_exceeds_and_never_loses(lines, limit):
    text = "\n".join(lines)
    chunks = split_html(text, limit)
    assert chunks is not None
    assert all(len(c) <= limit for c in chunks)
    # only whitespace-only chunks are dropped (Telegram refuses an empty message)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_escape_round_trip():
    s = "<a href='x'>&amp;</a>"
    assert strip_html(f"<b>{esc(s)}</b>") == s
