"""parse_message on a corpus of realistic inbound mail: headers, bodies, attachments, bounces, signatures."""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hankebot.core.classify import classify
from hankebot.core.models import MessageKind
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.attachments import AttachmentLimits
from hankebot.mailer.mime import html_to_text, parse_message
from hankebot.mailer.signatures import inspect_signatures

CORPUS = Path(__file__).parent / "corpus"
OFFER = ("Lisa 2 pakkumuse vorm.docx", b"PK\x03\x04offer-form-placeholder" * 20)
COST = ("Lisa 3 maksumuse vorm.xlsx", b"PK\x03\x04cost-form-placeholder" * 20)
EST_NAME = "Lisa 3 maksumuse vorm – Õie Tšäžöü.xlsx"


def codes(parsed) -> list[str]:
    return [p.code for p in parsed.problems]


def test_plain_reply_headers_and_body():
    raw = sm.bid_message("Mari.Maasikas@Koolitus.EE", "Mari Männik", attachments=[OFFER, COST],
                         in_reply_to="<inv-302834-7@ska.ee>", message_id="<bid-1@koolitus.ee>")
    p = parse_message(raw)
    assert p.problems == []
    assert p.message_id == "<bid-1@koolitus.ee>"
    assert p.in_reply_to == "<inv-302834-7@ska.ee>"
    assert p.references == ["<inv-302834-7@ska.ee>"]
    assert p.from_addr == "mari.maasikas@koolitus.ee" and p.from_name == "Mari Männik"
    assert p.subject.startswith("RE: Pakkumuskutse \"Kõrge abivajadusega")
    assert p.to == [sm.PROCURER_ADDR]
    assert p.date_header == datetime(2026, 1, 14, 10, 12, tzinfo=timezone(timedelta(hours=2)))
    assert p.received_newest == p.date_header + timedelta(seconds=4)
    assert p.text.startswith("Tere,\n\nEsitame pakkumuse II mooduli")
    assert [a.filename for a in p.attachments] == [OFFER[0], COST[0]]
    assert p.attachments[1].data == COST[1]
    assert p.attachments[1].sha256 == hashlib.sha256(COST[1]).hexdigest()
    assert p.attachments[1].size == len(COST[1])
    assert p.size == len(raw)


@pytest.mark.parametrize("encoding", ["rfc2231", "rfc2047", "ctype_name"])
def test_estonian_filenames_in_every_encoding(encoding):
    raw = sm.bid_message("a@firma.ee", "Õnne Põder", attachments=[(EST_NAME, b"x" * 10)], filename_encoding=encoding)
    p = parse_message(raw)
    assert [a.filename for a in p.attachments] == [EST_NAME]
    assert p.from_name == "Õnne Põder"


def test_missing_filename_derived_from_content_type():
    raw = sm.bid_message("a@firma.ee", "A", attachments=[("x.pdf", b"%PDF-1.4 ...")], filename_encoding="none")
    p = parse_message(raw)
    assert [(a.filename, a.content_type) for a in p.attachments] == [("manus-1.pdf", "application/pdf")]


@pytest.mark.parametrize("charset", ["windows-1257", "iso-8859-13", "iso-8859-15", "utf-8"])
def test_body_charsets(charset):
    body = "Tere,\n\nsaadame pakkumuse. Õpetajad: Šarlota, Žanna, Jüri, Mäe.\n\nLugupidamisega\nÜlle"
    if charset == "iso-8859-15":
        body = body.replace("Õ", "O").replace("õ", "o")  # latin-9 has Š/Ž/ä/ö/ü but not õ
    p = parse_message(sm.bid_message("a@firma.ee", "A", body=body, attachments=[COST], charset=charset))
    assert p.text == body


def test_wrongly_labelled_charset_falls_back():
    raw = (b"From: a@firma.ee\r\nSubject: test\r\nContent-Type: text/plain; charset=x-bogus\r\n\r\n"
           + "Täname, õige".encode("utf-8"))
    assert parse_message(raw).text == "Täname, õige"
    raw = (b"From: a@firma.ee\r\nSubject: test\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Täname, õige".encode("windows-1257"))
    assert parse_message(raw).text == "Täname, õige"


def test_html_only_body_becomes_text():
    body = "Tere,\n\nLisatud on meie pakkumus.\nLugupidamisega\nJaan"
    p = parse_message(sm.bid_message("a@firma.ee", "A", body=body, attachments=[COST], html_only=True))
    assert "Lisatud on meie pakkumus." in p.text
    assert "<p>" not in p.text and "margin" not in p.text
    assert p.text.splitlines()[0] == "Tere,"


def test_html_blockquote_marked_as_quote():
    text = html_to_text("<div>Loobume.</div><blockquote><p>Juhul, kui Te ei soovi</p></blockquote>")
    assert text.splitlines()[0] == "Loobume."
    assert any(line.startswith("> Juhul") for line in text.splitlines())


def test_zip_members_extracted_with_paths():
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[OFFER, (EST_NAME, b"cost")],
                                     zip_attachments=True))
    assert [a.path for a in p.attachments] == [f"pakkumus.zip/{OFFER[0]}", f"pakkumus.zip/{EST_NAME}"]
    assert p.attachments[1].data == b"cost"
    assert p.attachments[1].content_type.startswith("application/vnd.openxmlformats")


@pytest.mark.parametrize("encoding", ["utf-8", "cp775"])
def test_zip_member_names_without_utf8_flag(encoding):
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[(EST_NAME.replace("–", "-"), b"c")],
                                     zip_attachments=True, zip_name_encoding=encoding))
    assert [a.filename for a in p.attachments] == [EST_NAME.replace("–", "-")]


def test_zip_inside_zip_and_folders():
    inner = sm.zip_bytes([("kaust/Lisa 2.docx", b"d")])
    outer = sm.zip_bytes([("sisemine.zip", inner), ("__MACOSX/._x", b"junk")])
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", outer)]))
    assert [a.path for a in p.attachments] == ["pakkumus.zip/sisemine.zip/kaust/Lisa 2.docx"]


def test_forwarded_bid_attachments_found():
    p = parse_message(sm.bid_message("mari@koolitus.ee", "Mari", attachments=[OFFER, COST], forward=True,
                                     subject="Pakkumus II moodul"))
    assert p.from_addr == "kaarel.kask@koolitus.ee"
    assert p.subject == "Fwd: Pakkumus II moodul"
    assert [a.path for a in p.attachments] == [f"Pakkumus II moodul/{OFFER[0]}", f"Pakkumus II moodul/{COST[0]}"]
    assert "saadan kolleegi palvel edasi" in p.text
    assert classify(p.facts()).kind is MessageKind.BID


def test_asice_container_files_and_signer():
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[OFFER, COST], asice=True))
    assert [a.path for a in p.attachments] == [f"pakkumus.asice/{OFFER[0]}", f"pakkumus.asice/{COST[0]}"]
    assert len(p.signatures) == 1
    sig = p.signatures[0]
    # the sample is signed with a self-made certificate: read, but not trusted
    assert (sig.container, sig.signer_name, sig.signer_code, sig.indication, sig.sub_indication) == (
        "pakkumus.asice", "Mari-Liis Männik", "47101010033", "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")


def _asice_parts(container: bytes) -> tuple[dict, dict]:
    with zipfile.ZipFile(io.BytesIO(container)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    sigs = {n: d for n, d in members.items() if n.startswith("META-INF/signatures")}
    data = {n: d for n, d in members.items() if n != "mimetype" and not n.startswith("META-INF/")}
    return sigs, data


def test_asice_tampered_file_is_invalid():
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[OFFER, COST], asice=False,
                                     body="Pakkumus lisatud."))
    assert p.signatures == []
    container = sm.build_asice([OFFER, COST], tamper=True)
    sigs, data = _asice_parts(container)
    [info] = inspect_signatures("x.asice", sigs, data)
    assert (info.indication, info.sub_indication) == ("TOTAL-FAILED", "HASH_FAILURE")
    assert "muudetud" in info.reason and "Digest mismatch" in info.errors[0]
    assert info.signer_code == "47101010033"


def test_asice_forged_signature_value_is_invalid():
    sigs, data = _asice_parts(sm.build_asice([COST]))
    xml = sigs["META-INF/signatures0.xml"]
    start = xml.index(b'Id="S0-SIG">') + len(b'Id="S0-SIG">')
    value = base64.b64decode(xml[start:xml.index(b"<", start)])
    forged = base64.b64encode(bytes([value[0] ^ 1]) + value[1:])
    sigs["META-INF/signatures0.xml"] = xml[:start] + forged + xml[xml.index(b"<", start):]
    [info] = inspect_signatures("x.asice", sigs, data)
    assert (info.indication, info.sub_indication) == ("TOTAL-FAILED", "SIG_CRYPTO_FAILURE")
    assert "rikutud" in info.reason


def test_asice_extra_unsigned_file_is_invalid():
    sigs, data = _asice_parts(sm.build_asice([COST]))
    data["lisatud hiljem.txt"] = b"x"
    [info] = inspect_signatures("x.asice", sigs, data)
    assert info.indication == "TOTAL-FAILED" and "lisatud hiljem.txt" in info.reason


def test_asice_unsigned_or_garbage_is_a_failed_signature():
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("p.asice", sm.build_asice([COST], signed=False))]))
    assert [a.filename for a in p.attachments] == [COST[0]]
    assert [(s.indication, s.sub_indication) for s in p.signatures] == [("TOTAL-FAILED", "FORMAT_FAILURE")]
    for garbage in (b"<not xml", b"<a/>"):
        [info] = inspect_signatures("x", {"META-INF/signatures0.xml": garbage}, {})
        assert (info.indication, info.sub_indication) == ("TOTAL-FAILED", "FORMAT_FAILURE") and info.reason


def test_tnef_reported_not_crashed():
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("winmail.dat", b"\x78\x9f\x3e\x22" + b"\0" * 50)]))
    assert [a.filename for a in p.attachments] == ["winmail.dat"]
    assert codes(p) == ["tnef_not_supported"]
    assert p.attachments[0].problems[0].code == "tnef_not_supported"


# --- limits ---------------------------------------------------------------------------------------

def test_too_large_attachment_skipped_message_kept():
    raw = sm.bid_message("a@firma.ee", "A", attachments=[("suur.pdf", b"x" * 5000), COST])
    p = parse_message(raw, AttachmentLimits(max_file_bytes=2000))
    assert codes(p) == ["attachment_too_large"]
    assert [a.filename for a in p.attachments] == [COST[0]]
    assert p.text.startswith("Tere")


def test_total_size_limit():
    raw = sm.bid_message("a@firma.ee", "A", attachments=[("a.pdf", b"a" * 600), ("b.pdf", b"b" * 600)])
    p = parse_message(raw, AttachmentLimits(max_total_bytes=1000))
    assert [a.filename for a in p.attachments] == ["a.pdf"]
    assert codes(p) == ["attachment_too_large"]


def test_zip_bomb_by_ratio():
    bomb = sm.zip_bytes([("nullid.xlsx", b"\0" * (4 * 1024 * 1024)), COST])
    assert len(bomb) < 20_000
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", bomb)]))
    assert codes(p) == ["zip_bomb"]
    assert [a.filename for a in p.attachments] == [COST[0]]


def test_zip_lying_directory_sizes_are_not_trusted():
    real = b"A" * 100_000
    data = sm.zip_bytes([("vale.txt", real)])
    # claim an uncompressed size of 10 bytes in both the local header and the central directory
    size = len(real).to_bytes(4, "little")
    patched = data.replace(size, (10).to_bytes(4, "little"))
    assert patched != data
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", patched)]))
    assert all(a.size <= 10 for a in p.attachments)
    assert codes(p) and set(codes(p)) <= {"broken_archive", "zip_bomb"}


def test_too_deep_nesting():
    blob = sm.zip_bytes([("Lisa 3.xlsx", b"c")])
    for level in range(6):
        blob = sm.zip_bytes([(f"tase{level}.zip", blob)])
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", blob)]))
    assert "too_deep" in codes(p)
    assert all(a.filename != "Lisa 3.xlsx" for a in p.attachments)


def test_too_many_files():
    many = sm.zip_bytes([(f"fail{i}.txt", b"x") for i in range(30)])
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("palju.zip", many)]),
                      AttachmentLimits(max_files=10))
    assert codes(p) == ["too_many_files"]
    assert len(p.attachments) == 10


def test_truncated_zip_is_broken_archive_kept_whole():
    data = sm.zip_bytes([COST, OFFER])[:-40]
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", data)]))
    assert codes(p) == ["broken_archive"]
    assert [a.filename for a in p.attachments] == ["pakkumus.zip"]


# --- bounces ----------------------------------------------------------------------------------------

def test_postfix_dsn_bounce():
    p = parse_message(sm.bounce_message("vana.aadress@firma.ee", "<inv-302834-3@ska.ee>"))
    b = p.bounce
    assert b is not None and b.is_dsn and b.permanent
    assert b.failed_recipients == ["vana.aadress@firma.ee"]
    assert b.status_codes == ["5.1.1"]
    assert "User unknown" in b.diagnostic
    assert b.original_message_id == "<inv-302834-3@ska.ee>"
    assert p.attachments == []
    assert classify(p.facts()).kind is MessageKind.BOUNCE


def test_delayed_dsn_is_not_permanent():
    p = parse_message(sm.bounce_message("x@firma.ee", "<i@ska.ee>", status="4.4.1", action="delayed",
                                        diagnostic="smtp; 451 4.4.1 try again later"))
    assert p.bounce is not None and not p.bounce.permanent and p.bounce.status_codes == ["4.4.1"]


def test_non_dsn_bounce_best_effort():
    p = parse_message(sm.plain_bounce_message("kadunud@firma.ee", "<inv-9@ska.ee>"))
    assert p.bounce is not None and not p.bounce.is_dsn
    assert p.bounce.failed_recipients == ["kadunud@firma.ee"]
    assert p.bounce.original_message_id == "<inv-9@ska.ee>"
    assert p.bounce.status_codes == ["5.1.1"]


def test_ordinary_mail_is_not_bounce():
    assert parse_message(sm.question_message("a@firma.ee", "A")).bounce is None


# --- hand-written corpus (.eml files written the way real clients write them) ----------------------

def test_corpus_outlook_windows1257_quoted_printable():
    p = parse_message((CORPUS / "outlook_cp1257_rfc2047_name.eml").read_bytes())
    assert p.problems == []
    assert p.subject == "VS: Pakkumuskutse väikeost - II moodul"
    assert "Saadame pakkumuse II mooduli koolituse läbiviimiseks" in p.text
    assert [a.filename for a in p.attachments] == ["Lisa 3 maksumuse vorm_Õppekeskus.xlsx"]
    assert p.attachments[0].data == b"fake-xlsx-bytes"
    assert p.from_name == "Jüri Õunapuu" and p.from_addr == "juri@oppekeskus.ee"
    assert classify(p.facts()).kind is MessageKind.BID


def test_corpus_gmail_html_alternative_prefers_plain():
    p = parse_message((CORPUS / "gmail_alternative_decline.eml").read_bytes())
    assert p.text.startswith("Tere!\n\nTäname kutse eest, kuid seekord loobume")
    assert p.in_reply_to == "<inv-302834-2@sotsiaalkindlustusamet.ee>"
    assert classify(p.facts()).kind is MessageKind.DECLINE


def test_corpus_exchange_ndr_with_returned_message():
    p = parse_message((CORPUS / "exchange_ndr.eml").read_bytes())
    assert p.bounce is not None and p.bounce.failed_recipients == ["ei.ole@firma.ee"]
    assert p.bounce.original_message_id == "<inv-302834-5@sotsiaalkindlustusamet.ee>"
    assert p.attachments == []  # the returned invitation's forms are ours, not the sender's


def test_broken_variants_never_raise():
    for raw in sm.broken_message_variants():
        p = parse_message(raw)
        classify(p.facts())
    assert "malformed_message" in codes(parse_message(b""))
    assert "broken_archive" in codes(parse_message(sm.broken_message_variants()[13]))
    assert "too_deep" in codes(parse_message(sm.broken_message_variants()[11]))


def test_password_protected_member_is_reported():
    data = bytearray(sm.zip_bytes([("salajane.xlsx", b"secret" * 10), COST]))
    # set the "encrypted" flag bit of the first member in its local header (offset 6) and central entry (offset 8)
    data[6] |= 0x1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1
    p = parse_message(sm.bid_message("a@firma.ee", "A", attachments=[("pakkumus.zip", bytes(data))]))
    assert codes(p) == ["broken_archive"] and "parool" in p.problems[0].message
    assert [a.filename for a in p.attachments] == [COST[0]]


def test_asice_sent_as_octet_stream_still_opened():
    container = sm.build_asice([COST])
    raw = sm.bid_message("a@firma.ee", "A", attachments=[("Pakkumus_allkirjastatud.bdoc", container)])
    p = parse_message(raw)
    assert [a.path for a in p.attachments] == [f"Pakkumus_allkirjastatud.bdoc/{COST[0]}"]
    assert p.signatures[0].signer_code == "47101010033" and p.signatures[0].indication == "INDETERMINATE"


def test_raw_eight_bit_headers_decode_as_utf8_or_windows_1257():
    # Estonian Windows mailers sometimes send headers as raw bytes without RFC 2047
    latin = parse_message(b"From: Mari <m@x.ee>\r\nSubject: T\xe4\xe4n \xf5ige \xf0\xfe\r\n\r\nbody\r\n")
    assert latin.subject == "Tään õige šž"
    utf8 = parse_message(b"From: Mari <m@x.ee>\r\nSubject: T\xc3\xa4\xc3\xa4n\r\n\r\nbody\r\n")
    assert utf8.subject == "Tään"
