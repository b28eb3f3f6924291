"""match_bidder, assign_procurement (procurement on evidence), detect_parts."""
from __future__ import annotations

import pytest

from hankebot.core.matching import ProcurementEvidence, assign_procurement, detect_parts, match_bidder
from hankebot.devstack import sample_mail as sm

INVITED = [("b1", "mari@koolitus.ee"), ("b1", "info@koolitus.ee"), ("b2", "jaan.tamm@gmail.com"),
           ("b3", "kati@firma.ee"), ("b4", "peeter@firma.ee"), ("b5", "anu@mail.ee")]


def test_exact_address_case_insensitive_and_plus_tag():
    assert match_bidder("Mari@Koolitus.EE", INVITED).how == "address"
    m = match_bidder("<mari+hange@koolitus.ee>", INVITED)
    assert (m.bidder_key, m.how, m.problem) == ("b1", "address", None)
    assert match_bidder("jaan.tamm@gmail.com", INVITED).bidder_key == "b2"


def test_same_domain_one_bidder():
    m = match_bidder("raamatupidaja@koolitus.ee", INVITED)
    assert (m.bidder_key, m.how) == ("b1", "domain")
    assert m.problem.code == "not_invited_address" and "koolitus.ee" in m.problem.message


def test_domain_shared_by_two_bidders_is_unknown():
    m = match_bidder("boss@firma.ee", INVITED)
    assert (m.bidder_key, m.how, m.problem.code) == (None, "unknown", "unknown_sender")


@pytest.mark.parametrize("sender", ["someone@gmail.com", "x@mail.ee", "y@hot.ee", "z@outlook.com"])
def test_free_mail_never_matches_by_domain(sender):
    m = match_bidder(sender, INVITED)
    assert (m.bidder_key, m.how, m.problem.code) == (None, "unknown", "unknown_sender")


def test_unknown_and_empty_sender():
    assert match_bidder("", INVITED).problem.code == "unknown_sender"
    assert match_bidder("x@muu.ee", []).how == "unknown"


PROCS = [("p1", "302834", "Kõrge abivajadusega ja riskikäitumisega laste ja noortega töötavate spetsialistide "
          "baaskoolitused"), ("p2", "299001", "Peretoetaja kompetentsimudeli rakendamise koolitus")]
INVS = {"<inv-302834-1@ska.ee>": "p1", "<inv-299001-1@ska.ee>": "p2"}


def match_procurement(in_reply_to, references, subject, text, invitations, procurements):
    """The key assign_procurement gives a message from an uninvited sender, no dates, no forms."""
    evidence = [ProcurementEvidence(k, r, t) for k, r, t in procurements]
    return assign_procurement(in_reply_to, references, subject, text, "x@muu.ee", None, invitations, evidence).key


def test_procurement_by_in_reply_to_and_references():
    assert match_procurement("<inv-299001-1@ska.ee>", [], "Re: 302834", "", INVS, PROCS) == "p2"
    assert match_procurement(None, ["<other@x>", "inv-302834-1@ska.ee"], "", "", INVS, PROCS) == "p1"


def test_procurement_by_reference_or_title():
    assert match_procurement(None, [], "Pakkumus hankele 302834", "", INVS, PROCS) == "p1"
    assert match_procurement(None, [], "Pakkumus 3028345", "", INVS, PROCS) is None  # no partial numbers
    assert match_procurement(None, [], sm.INVITATION_SUBJECT, "", INVS, PROCS) == "p1"
    assert match_procurement(None, [], "pakkumus", "Viitenumber 299001, lisatud vormid", INVS, PROCS) == "p2"
    assert match_procurement(None, [], "Küsimus", "kas toitlustus on hinnas?", INVS, PROCS) is None
    assert match_procurement(None, [], "302834 ja 299001", "", INVS, PROCS) is None  # ambiguous


@pytest.mark.parametrize("text,subject,expected", [
    ("Esitame pakkumuse OSA 2 kohta.", "", [2]),
    ("Pakkumus osa II", "", [2]),
    ("", "Pakkumus: II moodul", [2]),
    ("Esitame pakkumuse 2. moodulile ja 5. moodulile.", "", [2, 5]),
    ("Our bid for module 3", "", [3]),
    ("Pakkume osadele 1, 3 ja 7.", "", [1, 3, 7]),
    ("Pakkumus osad 1-3", "", [1, 2, 3]),
    ("VII moodul ja IV moodul", "", [4, 7]),
    ("Tere, saadame pakkumuse.", "", []),
    ("Lisa 2 ja Lisa 3 on manuses.", "", []),
])
def test_detect_parts(text, subject, expected):
    assert detect_parts(text, subject) == expected


def test_detect_parts_ignores_quoted_invitation():
    text = "Tere, esitame pakkumuse OSA 4 kohta.\n\n" + sm.quoted_invitation("gmail")  # quote names II moodul
    assert detect_parts(text, "") == [4]


def test_inflected_keyword_is_not_read_as_a_roman_numeral():
    # "mooduli" once matched as keyword "moodul" + roman "i" (= part 1)
    assert detect_parts("Esitame pakkumuse II mooduli koolitamiseks.") == [2]
    assert detect_parts("Pakkumus moodulile V") == [5]


# --- assignment on evidence -------------------------------------------------------------------

from datetime import datetime, timedelta, timezone  # noqa: E402

from hankebot.core.matching import ProcurementEvidence, assign_procurement, foreign_references  # noqa: E402

_SENT = datetime(2026, 1, 5, 8, 41, tzinfo=timezone.utc)
_OURS = ProcurementEvidence("302834", "302834", "Laste ja noortega töötavate spetsialistide baaskoolitused",
                            ("mari@firma.ee",), _SENT, _SENT + timedelta(days=30))
_OTHER = ProcurementEvidence("303100", "303100", "Hoone koristusteenus", ("anu@puhas.ee",), _SENT, None)


def _assign(subject="", text="", sender="mari@firma.ee", received=_SENT + timedelta(days=1), irt=None, refs=(),
            forms=None, quoted="", procs=(_OURS,)):
    return assign_procurement(irt, list(refs), subject, text, sender, received, {"<inv-1@ska.ee>": "302834"},
                              list(procs), forms_from=forms, quoted_text=quoted)


def test_a_reply_in_our_thread_is_ours():
    assert _assign(irt="<inv-1@ska.ee>").how == "thread"
    assert _assign(refs=["<x@y>", "<inv-1@ska.ee>"]).key == "302834"


def test_reference_or_title_is_evidence_one_procurement_is_not():
    assert _assign(subject="Pakkumus hankele 302834").how == "reference"
    assert _assign(text="Saadame pakkumuse: laste ja noortega töötavate spetsialistide baaskoolitused").how == "title"
    a = _assign(subject="Lõuna?", text="Kas lähme täna lõunale?")
    assert (a.key, a.how) == (None, "none")  # the only configured procurement is no evidence


def test_naming_another_reference_is_not_ours():
    a = _assign(subject="Pakkumus riigihankele 301777", forms={"302834": True})
    assert (a.key, a.how) == (None, "other_reference")
    assert foreign_references("hange nr 302834 ja viitenumber 301777", [_OURS]) == ["301777"]
    assert foreign_references("tel 5551234, reg.kood 12345678, summa 100000", [_OURS]) == []


def test_forms_from_an_invited_address_inside_the_window():
    assert _assign(forms={"302834": True}).how == "forms"
    assert _assign(forms={"302834": True}, sender="kolleeg@ska.ee").key is None  # not invited
    assert _assign(forms={"302834": False}).key is None
    late = _SENT + timedelta(days=31)
    assert _assign(forms={"302834": True}, received=late).key is None  # after deadline + grace


def test_mail_before_the_invitations_is_never_ours():
    early = _SENT - timedelta(days=40)
    a = _assign(subject="RE: hange 302834", received=early)
    assert (a.key, a.how) == (None, "before_invitations")
    assert _assign(forms={"302834": True}, received=early).key is None
    # INTERNALDATE has whole seconds: a reply a moment after sending stays in the window
    assert _assign(subject="hange 302834", received=_SENT - timedelta(seconds=1)).key == "302834"


def test_two_procurements_each_get_their_own():
    both = (_OURS, _OTHER)
    assert _assign(subject="Pakkumus: hoone koristusteenus", procs=both).key == "303100"
    assert _assign(subject="Pakkumus 302834", procs=both).key == "302834"
    assert _assign(forms={"303100": True}, sender="anu@puhas.ee", procs=both).key == "303100"


def test_quoted_invitation_counts_unless_the_sender_names_another():
    quoted = "> Pakkumuskutse: hange 302834"
    assert _assign(text="Vt lisa.", quoted=quoted).key == "302834"
    assert _assign(text="Pakkumus hankele 301777.", quoted=quoted).key is None
