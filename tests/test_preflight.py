"""Pre-flight checks (pure): every fault listed with an English code and an Estonian message."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hankebot.core.preflight import FormFileFact, InviteeFact, is_valid_address, preflight

TLN = ZoneInfo("Europe/Tallinn")
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=TLN)
DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TLN)  # Monday, a working day, office hours
MB = 1024 * 1024

FORMS = [
    FormFileFact("offer_form", "Lisa 2 pakkumuse vorm", "Lisa 2 pakkumuse vorm.docx", True, 40_000),
    FormFileFact("cost_form", "Lisa 3 maksumuse vorm", "Lisa 3 maksumuse vorm.xlsx", True, 20_000),
]
INVITEES = [
    InviteeFact("a", "Arengu Koolituskeskus OÜ", "info@arengukoolitus.example"),
    InviteeFact("b", "Tugiteenused MTÜ", "pakkumused@tugiteenused.example"),
    InviteeFact("c", "Kadri Jõgi", "kadri.jogi@example.com"),
]


def run(**kw):
    args = dict(forms=FORMS, invitees=INVITEES, deadline=DEADLINE, now=NOW, max_file_bytes=25 * MB,
                max_total_bytes=50 * MB)
    args.update(kw)
    return preflight(**args)


def codes(problems):
    return [p.code for p in problems]


def test_clean_batch_has_no_problems():
    rep = run()
    assert rep.ok and rep.errors == [] and rep.warnings == []
    assert "korras" in rep.format_et()


def test_missing_required_form_is_an_error_naming_the_file():
    forms = [FORMS[0], FormFileFact("cost_form", "Lisa 3 maksumuse vorm", "Lisa 3 maksumuse vorm.xlsx", True,
                                    None, "No such file or directory")]
    rep = run(forms=forms)
    assert codes(rep.errors) == ["form_missing"]
    assert "Lisa 3 maksumuse vorm.xlsx" in rep.errors[0].message
    assert not rep.ok


def test_missing_optional_form_is_a_warning():
    forms = FORMS + [FormFileFact("extra", "Lisa 4 näidis", "Lisa 4.pdf", False, None, "puudub")]
    rep = run(forms=forms)
    assert rep.ok and codes(rep.warnings) == ["optional_form_missing"]


def test_size_limits_per_file_and_total():
    big = [FormFileFact("x", "Suur", "suur.docx", True, 30 * MB), FormFileFact("y", "Teine", "t.xlsx", True, 24 * MB)]
    rep = run(forms=big)
    assert codes(rep.errors) == ["attachment_too_large", "attachments_too_large"]
    assert "30,0 MB" in rep.errors[0].message


def test_empty_form_file_is_an_error():
    rep = run(forms=[FormFileFact("x", "Tühi", "t.docx", True, 0)])
    assert codes(rep.errors) == ["form_empty"]


def test_deadline_in_the_past_or_now_is_an_error():
    assert codes(run(now=DEADLINE).errors) == ["deadline_past"]
    rep = run(deadline=datetime(2026, 1, 2, 15, 0, tzinfo=TLN))
    assert codes(rep.errors) == ["deadline_past"]
    assert "02.01.2026 kell 15.00" in rep.errors[0].message


def test_deadline_on_a_holiday_names_it():
    rep = run(now=datetime(2026, 2, 1, 10, tzinfo=TLN), deadline=datetime(2026, 2, 24, 12, 0, tzinfo=TLN))
    assert codes(rep.warnings) == ["deadline_not_working_day"]
    assert "riigipüha (iseseisvuspäev)" in rep.warnings[0].message
    assert rep.ok  # a warning does not stop the batch


def test_deadline_on_a_weekend_and_outside_office_hours():
    rep = run(deadline=datetime(2026, 1, 17, 18, 30, tzinfo=TLN))  # Saturday evening
    assert codes(rep.warnings) == ["deadline_not_working_day", "deadline_outside_office_hours"]
    assert "laupäev" in rep.warnings[0].message
    assert "09.00–17.00" in rep.warnings[1].message


def test_invalid_and_repeated_addresses():
    inv = INVITEES + [InviteeFact("d", "Vigane", "ilmar.sepp@example"), InviteeFact("e", "Topelt", "KADRI.JOGI@example.com")]
    rep = run(invitees=inv)
    assert codes(rep.errors) == ["invalid_address", "repeated_address"]
    assert "Kadri Jõgi" in rep.errors[1].message and "Topelt" in rep.errors[1].message


def test_fewer_than_three_invitees_warns_in_estonian():
    rep = run(invitees=INVITEES[:2])
    assert codes(rep.warnings) == ["few_invitees"]
    assert "väikehankes oodatakse vähemalt kolme pakkujat" in rep.warnings[0].message
    assert codes(run(invitees=[]).errors) == ["no_invitees"]


def test_template_errors_are_errors_once_each():
    rep = run(render_errors=["invitation.body.j2: 'deadline_et' is undefined"] * 3)
    assert codes(rep.errors) == ["template_error"]
    assert "deadline_et" in rep.format_et()


def test_everything_wrong_is_listed_at_once():
    forms = [FormFileFact("x", "X", "x.docx", True, None, "puudub"), FormFileFact("y", "Y", "y.xlsx", True, 60 * MB)]
    inv = [InviteeFact("a", "A", "not-an-address"), InviteeFact("b", "B", "b@example.com"),
           InviteeFact("c", "C", "b@example.com")]
    rep = run(forms=forms, invitees=inv, now=DEADLINE, render_errors=["x"])
    assert set(codes(rep.errors)) == {"form_missing", "attachment_too_large", "attachments_too_large", "deadline_past",
                                      "invalid_address", "repeated_address", "template_error"}


@pytest.mark.parametrize("addr,ok", [
    ("info@arengukoolitus.example", True), ("a.b+c@sub.example.ee", True),
    ("a@b", False), ("a@@b.ee", False), ("a b@c.ee", False), (" a@b.ee", False), ("a..b@c.ee", False),
    ("a@-b.ee", False), ("a@b.e", False), ("õun@b.ee", False), ("", False), ("a@b.ee>", False),
    ("x" * 65 + "@b.ee", False),
])
def test_address_validity(addr, ok):
    assert is_valid_address(addr) is ok
