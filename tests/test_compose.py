"""Message composition: one recipient, no Cc/Bcc, byte-identical attachments with Estonian names."""
from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy
from pathlib import Path

import pytest

from hankebot.mailer.compose import (
    OutgoingAttachment,
    Templates,
    TemplateError,
    build_message,
    make_message_id,
    mime_type_for,
    to_bytes,
)
from hankebot.service.letters import DEFAULT_TEMPLATES

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _msg(**kw):
    args = dict(from_name="Taimi Nilson", from_addr="taimi.nilson@example.ee", reply_to="hange@example.ee",
                to_name="Kadri Jõgi", to_addr="kadri.jogi@example.com", subject="Pakkumuskutse: „Õppekava“",
                body="Tere!\nPalume esitada pakkumus hiljemalt 19.01.2026 kell 15.00.\n",
                message_id=make_message_id("302834", "invitation", "invitation", "kadri", "example.ee", "abc"),
                date=datetime(2026, 1, 5, 8, 41, tzinfo=timezone.utc))
    args.update(kw)
    return build_message(**args)


def test_headers_one_recipient_no_copies_and_human_mail():
    raw = to_bytes(_msg())
    m = email.message_from_bytes(raw, policy=policy.default)
    assert m["From"].addresses[0].addr_spec == "taimi.nilson@example.ee"
    assert m["From"].addresses[0].display_name == "Taimi Nilson"
    assert [a.addr_spec for a in m["To"].addresses] == ["kadri.jogi@example.com"]
    assert m["To"].addresses[0].display_name == "Kadri Jõgi"
    assert m["Reply-To"].addresses[0].addr_spec == "hange@example.ee"
    assert m["Cc"] is None and m["Bcc"] is None
    assert m["Auto-Submitted"] is None  # an invitation is human mail
    assert m["Message-ID"] == "<hankebot.302834.invitation.kadri.abc@example.ee>"
    assert m["Subject"] == "Pakkumuskutse: „Õppekava“"
    assert m["Date"].datetime == datetime(2026, 1, 5, 8, 41, tzinfo=timezone.utc)
    assert "19.01.2026 kell 15.00" in m.get_body(("plain",)).get_content()
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_receipt_headers_mark_machine_mail():
    m = email.message_from_bytes(to_bytes(_msg(auto_submitted="auto-replied", in_reply_to="<q1@bidder.example>")),
                                 policy=policy.default)
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["In-Reply-To"] == "<q1@bidder.example>"


def test_attachments_byte_identical_with_estonian_names_and_types():
    data1 = bytes(range(256)) * 300
    data2 = b"PK\x03\x04" + bytes(reversed(range(256))) * 50
    names = ["Lisa 2 pakkumuse vorm – füüsiline isik, õppekava.docx", "Lisa 3 maksumuse vorm.xlsx"]
    atts = [OutgoingAttachment(names[0], data1, mime_type_for(names[0])),
            OutgoingAttachment(names[1], data2, mime_type_for(names[1]))]
    raw = to_bytes(_msg(attachments=atts))
    assert b"filename*" in raw  # RFC 2231 for the non-ASCII name
    m = email.message_from_bytes(raw, policy=policy.default)
    got = [(a.get_filename(), a.get_content_type(), a.get_content()) for a in m.iter_attachments()]
    assert got == [(names[0], DOCX, data1), (names[1], XLSX, data2)]
    assert m.get_body(("plain",)) is not None


def test_message_id_sanitised_and_random_unless_given():
    a = make_message_id("302834", "clarification", "clarification:ab12", "kadri jõgi", "example.ee")
    b = make_message_id("302834", "clarification", "clarification:ab12", "kadri jõgi", "example.ee")
    assert a != b
    assert a.startswith("<hankebot.302834.clarification.ab12.kadri-j-gi.") and a.endswith("@example.ee>")
    assert " " not in a and ":" not in a


@pytest.mark.parametrize("name,mime", [("a.DOCX", DOCX), ("b.xlsx", XLSX), ("c.pdf", "application/pdf"),
                                       ("d.asice", "application/vnd.etsi.asic-e+zip"),
                                       ("e.unknownext", "application/octet-stream")])
def test_mime_types(name, mime):
    assert mime_type_for(name) == mime


def test_templates_strict_and_overridable(tmp_path: Path):
    t = Templates([DEFAULT_TEMPLATES])
    with pytest.raises(TemplateError) as e:
        t.subject_and_body("invitation", procurement={"title": "X", "reference": "1", "procurer": "SKA"})
    assert "undefined" in str(e.value)
    with pytest.raises(TemplateError):
        t.render("nonexistent.j2")
    (tmp_path / "invitation.subject.j2").write_text("Kutse {{ procurement.reference }}\n", "utf-8")
    t2 = Templates([tmp_path, DEFAULT_TEMPLATES])
    assert t2.render("invitation.subject.j2", procurement={"reference": "302834"}) == "Kutse 302834\n"
    # the body still comes from the packaged default
    assert "{{ deadline_et }}" in (DEFAULT_TEMPLATES / "invitation.body.j2").read_text("utf-8")
    with pytest.raises(TemplateError):
        t2.render("invitation.body.j2")


def test_admin_templates_dir_overrides_a_packaged_template(tmp_path):
    """service.templates_dir: a file there wins over the packaged one of the same name; others still come
    from the package."""
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context
    from hankebot.service.letters import templates_for
    from tests.helpers import make_config

    (tmp_path / "mytemplates").mkdir()
    (tmp_path / "mytemplates" / "invitation.subject.j2").write_text("Kutse {{ reference }} (muudetud)", "utf-8")
    ctx = open_context(load_config(make_config(tmp_path, service={"templates_dir": "mytemplates"})))
    t = templates_for(ctx)
    assert t.render("invitation.subject.j2", reference="302834").strip() == "Kutse 302834 (muudetud)"
    packaged = t.render("reminder.subject.j2", deadline_et="19.01.2026 kell 15.00", procurement={"title": "Koolitus"})
    assert packaged.strip() == "Meeldetuletus: pakkumuste tähtaeg 19.01.2026 kell 15.00 – Koolitus"
