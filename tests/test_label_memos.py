"""match_label, and the template alignment's _norm and stems, remember short texts' answers: every call
answers as the computation itself, for label spellings, variants of them and any text (strict and loose),
asked repeatedly."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.mailer.forms import offer_labels, template
from hankebot.mailer.forms.offer_labels import LABELS, match_label

_SPELLINGS = [a for aliases in LABELS.values() for a in aliases]
_TEXT = st.one_of(
    st.text(max_size=60),
    st.builds(lambda pre, a, post, up: (pre + (a.upper() if up else a) + post),
              st.sampled_from(["", "1. ", " 2) ", "\u00a0"]), st.sampled_from(_SPELLINGS),
              st.sampled_from(["", ":", ": Koolitus OÜ", " Koolitus OÜ", " (märkige) :", "*", " x" * 150]),
              st.booleans()),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.booleans()), min_size=1, max_size=6))
def test_remembered_answers_equal_the_computation(calls):
    for text, loose in calls + calls:  # each asked twice: the second from memory
        assert match_label(text, loose) == offer_labels._match_label(text, loose), (text, loose)


def test_strict_and_loose_are_remembered_apart():
    offer_labels._match_label_memo.cache_clear()
    text = "Pakkuja nimi Koolitus OÜ"
    assert match_label(text, False) is None
    assert match_label(text, True) == ("bidder_name", "Koolitus OÜ")
    assert match_label(text, False) is None
    assert offer_labels._match_label_memo.cache_info().hits == 1  # not vacuous: from memory


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.none()), min_size=1, max_size=6))
def test_remembered_norm_and_stems_equal_the_computation(texts):
    for text in texts + texts:
        assert template._norm(text) == template._norm_text(text), text
        if text is not None:
            assert template.stems(text) == template._stems(text), text


def test_norm_and_stems_come_from_memory():
    template._stems_memo.cache_clear()
    template._norm_memo.cache_clear()
    a = template.stems("Õppevahendid ja -materjalid:")
    assert template.stems("Õppevahendid ja -materjalid:") == a == ("õppevahend", "materjal")
    assert template._stems_memo.cache_info().hits == 1 and template._norm("1. Pakkuja (nimi):") == "pakkuja"
