"""A shared procurement mailbox as it really is: the unrelated mail around a procurement's real replies.

`noise(...)` builds ordinary messages of the kinds an agency's procurement mailbox holds: mail from before
the invitation (old correspondence with the same bidders about an earlier procurement, with its forms),
bids and questions for two other procurements running at the same time, colleagues (some with a budget
.xlsx or a contract .docx, one asking about lunch), newsletters (some from invited bidders' own addresses),
document-register, procurement-register and helpdesk notices, calendar invitations, invoices, spam (one
with a .zip), and bounces and delay notices of colleagues' own mail. None of them is a bid, question,
decline or bounce of the procurement under test. Each comes with the INTERNALDATE to APPEND it with.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf

AGENCY = "ska.example"
MAILBOX = f"hange@{AGENCY}"
OTHER_PROCUREMENTS = (("303100", "Hoone koristusteenus 2027"), ("303555", "Sõidukite rendi raamleping"))
EARLIER_REFERENCE = "298001"


@dataclass(frozen=True)
class NoiseMessage:
    label: str
    raw: bytes
    received: dt.datetime  # INTERNALDATE


def _msg(from_addr: str, from_name: str, subject: str, body: str, when: dt.datetime, *,
         to: str = MAILBOX, files: list[tuple[str, bytes, str]] = (), headers: dict[str, str] | None = None,
         html: str | None = None) -> bytes:
    m = EmailMessage()
    m["From"] = formataddr((from_name, from_addr))
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = make_msgid(domain=from_addr.rpartition("@")[2] or "example.org")
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    if html:
        m.add_alternative(html, subtype="html")
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def _xlsx_budget() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Eelarve 2027"
    for row in [("Kulu", "Summa"), ("Koolitused", 42000), ("Lähetused", 8000), ("Kokku", 50000)]:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _docx_contract() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Töövõtuleping nr 7-3/2026-14", level=1)
    d.add_paragraph("Tellija ja töövõtja lepivad kokku alljärgnevas. Lepingu hind on 12 400 eurot.")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return out.getvalue()


def _pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.drawString(72, 720, text)
    c.save()
    return out.getvalue()


def _ics(summary: str, when: dt.datetime) -> bytes:
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:{stamp}@{AGENCY}\r\n"
            f"DTSTART:{stamp}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def noise(invited: dict[str, tuple[str, str]], invitations_sent: dt.datetime, now: dt.datetime) -> list[NoiseMessage]:
    """At least 60 unrelated messages. `invited`: bidder key -> (name, address) of the procurement under test;
    mail dated before `invitations_sent` is its history, the rest arrives between then and `now`."""
    out: list[NoiseMessage] = []
    step = (now - invitations_sent) / 80

    def recent(i: int) -> dt.datetime:
        return invitations_sent + step * (i + 1)

    def add(label: str, when: dt.datetime, *args, **kw) -> None:
        out.append(NoiseMessage(label, _msg(*args, when=when, **kw), when))

    bidders = list(invited.values())
    offer_old = sf.make_offer_form("Vana Pakkuja OÜ", "12345678", [1], ["Mari Maasikas"], "Slaidid.", "Loengud.")
    cost_old = sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("2500.00"))
    # --- before the invitations: old correspondence, an earlier procurement's bids (with its forms) ---------
    for i, (name, addr) in enumerate(bidders):
        long_ago = invitations_sent - dt.timedelta(days=200 + 30 * i)
        add(f"earlier_bid_{i}", long_ago, addr, name, f"Pakkumus hankele {EARLIER_REFERENCE}",
            "Tere,\n\nesitame pakkumuse. Vormid on manuses.\n\nLugupidamisega\n" + name,
            files=[("Lisa 2 pakkumuse vorm.docx", offer_old, DOCX), ("Lisa 3 maksumuse vorm.xlsx", cost_old, XLSX)])
        add(f"earlier_question_{i}", long_ago + dt.timedelta(days=2), addr, name, "Küsimus",
            "Tere!\n\nKas koolitus toimub Tallinnas või Tartus? Ja kas toitlustus tuleb arvestada?\n\n" + name)
        add(f"pre_invitation_{i}", invitations_sent - dt.timedelta(days=3 + i), addr, name,
            "Meie uued koolitused", "Tere!\n\nSaadame teile meie kevadise kataloogi. Kas soovite pakkumist?",
            files=[("kataloog.pdf", _pdf("Koolituskataloog 2027"), "application/pdf")])
    # --- two other procurements running at the same time ------------------------------------------------------
    for j, (ref, title) in enumerate(OTHER_PROCUREMENTS):
        for k in range(4):
            sender = f"pakkumine{k}@firma{j}{k}.example"
            add(f"other_bid_{ref}_{k}", recent(4 * j + k), sender, f"Firma {j}{k} OÜ", f"Pakkumus: {title} (hange {ref})",
                f"Tere,\n\nesitame pakkumuse hankele {ref} „{title}“. Hind ja vormid on manuses.\n\nFirma {j}{k} OÜ",
                files=[("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(900 + k)),
                        XLSX), ("pakkumus.pdf", _pdf(f"Pakkumus {ref}"), "application/pdf")])
        add(f"other_question_{ref}", recent(10 + j), f"info@kysija{j}.example", "Küsija OÜ",
            f"Küsimus hanke {ref} kohta", f"Tere!\n\nKas hanke {ref} tähtaega saab pikendada? Kas lisa 3 on kohustuslik?")
        add(f"other_decline_{ref}", recent(12 + j), f"info@loobuja{j}.example", "Loobuja OÜ", f"RE: hange {ref}",
            f"Tere,\n\nkahjuks me ei saa seekord hankes {ref} osaleda.")
    # an invited bidder bids for another procurement (naming its reference), with forms
    name, addr = bidders[0]
    add("invited_bids_elsewhere", recent(14), addr, name, f"Pakkumus riigihankele {OTHER_PROCUREMENTS[0][0]}",
        "Tere,\n\nmeie pakkumus koristusteenuse hankele on manuses.\n\n" + name,
        files=[("Lisa 2 pakkumuse vorm.docx", offer_old, DOCX), ("Lisa 3 maksumuse vorm.xlsx", cost_old, XLSX)])
    # --- colleagues -------------------------------------------------------------------------------------------
    colleagues = [("mari.tamm", "Mari Tamm"), ("jaan.kask", "Jaan Kask"), ("liis.mets", "Liis Mets")]
    texts = [
        ("Lõuna?", "Kas lähme täna kell 12 lõunale?", []),
        ("Eelarve 2027", "Tere, eelarve tabel on manuses. Palun vaata üle.", [("eelarve_2027.xlsx", _xlsx_budget(), XLSX)]),
        ("Lepingu projekt", "Lepingu projekt manuses, palun kommentaarid reedeks.",
         [("tooovotuleping_projekt.docx", _docx_contract(), DOCX)]),
        ("Koosolek", "Kas homne koosolek jääb ära?", []),
        ("Puhkuste ajakava", "Palun märkige oma puhkused tabelisse.", [("puhkused.xlsx", _xlsx_budget(), XLSX)]),
        ("RE: Arve kinnitamine", "Kinnitasin arve. Kas sa saad selle edasi saata?", []),
        ("Sünnipäev", "Reedel kell 15 kook köögis!", []),
        ("Küsimus", "Kas sa tead, kus on printeri toonerid?", []),
    ]
    for i, (subject, body, files) in enumerate(texts):
        login, cname = colleagues[i % len(colleagues)]
        add(f"colleague_{i}", recent(16 + i), f"{login}@{AGENCY}", cname, subject, body + f"\n\n{cname}", files=files)
    # --- newsletters, some from invited bidders' own addresses ------------------------------------------------
    list_headers = {"List-Id": "<uudised.example>", "List-Unsubscribe": "<mailto:unsubscribe@uudised.example>",
                    "Precedence": "bulk"}
    for i, (name, addr) in enumerate(bidders):
        add(f"bidder_newsletter_{i}", recent(25 + i), addr, name, f"{name}: uudiskiri",
            "Kas olete juba registreerunud meie kevadkoolitustele? Pakkumine kehtib kuu lõpuni!",
            headers={"List-Unsubscribe": f"<mailto:leave@{addr.rpartition('@')[2]}>", "Precedence": "bulk"})
    for i in range(5):
        add(f"newsletter_{i}", recent(31 + i), f"news@uudised{i}.example", f"Uudised {i}", f"Nädala uudised #{i}",
            "Kas teadsite? Uued hankereeglid jõustuvad 1. jaanuaril. Loe edasi?", headers=list_headers,
            html="<p>Kas teadsite? <b>Uued hankereeglid</b></p>")
    # --- machines: register and helpdesk notices, calendar invitations -----------------------------------------
    machine = {"Auto-Submitted": "auto-generated"}
    for i in range(3):
        add(f"dhs_{i}", recent(37 + i), "delta@dokumendiregister.example", "Dokumendiregister",
            f"Teile on suunatud dokument 2-10/2026-{40 + i}", "Dokument ootab menetlemist. Kas avate selle?",
            headers=machine)
        add(f"riigihanked_{i}", recent(40 + i), "noreply@riigihanked.example", "Riigihangete register",
            f"Hanke {OTHER_PROCUREMENTS[1][0]} teade", f"Hanke {OTHER_PROCUREMENTS[1][0]} pakkumuste avamine on toimunud.",
            headers=machine)
        add(f"helpdesk_{i}", recent(43 + i), "abi@it.example", "IT kasutajatugi", f"[Pilet #{1200 + i}] uuendatud",
            "Teie pöördumist on uuendatud. Kas probleem on lahendatud?", headers=machine)
    for i in range(3):
        when = recent(46 + i)
        add(f"calendar_{i}", when, f"{colleagues[i][0]}@{AGENCY}", colleagues[i][1], f"Kutse: nõupidamine {i + 1}",
            "Kas see aeg sobib?", files=[("invite.ics", _ics(f"Nõupidamine {i + 1}", when), "text/calendar")])
    # --- invoices, spam ----------------------------------------------------------------------------------------
    for i in range(3):
        add(f"invoice_{i}", recent(50 + i), f"arved@teenusepakkuja{i}.example", "Teenusepakkuja AS",
            f"Arve nr {5000 + i}", "Tere, manuses arve. Maksetähtaeg 14 päeva.",
            files=[(f"arve_{5000 + i}.pdf", _pdf(f"Arve {5000 + i}"), "application/pdf")])
    spam = [("Olete võitnud!", "Kas soovite oma auhinda kätte saada? Vajutage lingile!", []),
            ("Urgent invoice", "Please find attached the invoice. Open it now?",
             [("invoice.zip", _zip([("invoice.pdf.exe", b"MZ" + b"\0" * 512)]), "application/zip")]),
            ("Pakkumine: odavad tindikassetid", "Parim pakkumine! Kas tellite?", []),
            ("Re: your account", "Is your mailbox full? Verify here?", [])]
    for i, (subject, body, files) in enumerate(spam):
        add(f"spam_{i}", recent(53 + i), f"promo{i}@spam{i}.example", "Promo", subject, body, files=files)
    # --- a colleague's bounce and a delay notice of a colleague's mail (not ours) -------------------------------
    add("colleague_bounce", recent(58), f"MAILER-DAEMON@mx.{AGENCY}", "Mail Delivery System",
        "Undelivered Mail Returned to Sender",
        f"This is the mail system at host mx.{AGENCY}.\n\nI'm sorry to have to inform you that your message could "
        f"not be delivered.\n\n<vana@kadunud.example>: host mx.kadunud.example said: 550 5.1.1 User unknown\n",
        headers={"Auto-Submitted": "auto-replied"})
    add("colleague_delay", recent(59), f"postmaster@mx.{AGENCY}", "Mail Delivery System",
        "Delivery Status Notification (Delay)",
        "This is an automatically generated Delivery Status Notification.\n\nTHIS IS A WARNING MESSAGE ONLY.\n"
        "YOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\nDelivery to the following recipients has been delayed:\n\n"
        "     aeglane@kaugel.example\n\nStatus: 4.4.1\nWill retry for 4 more days.\n",
        headers={"Auto-Submitted": "auto-replied"})
    return out
