"""Realistic inbound mail for tests, the demo and benchmarks: bids, declines, questions,
auto-replies, Postfix-style DSN bounces and broken messages. Returns raw bytes.

Attachment contents are arguments (real form files come from hankebot/devstack/sample_forms.py).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import mimetypes
import zipfile
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

TALLINN = dt.timezone(dt.timedelta(hours=2))
PROCURER_ADDR = "hanked@sotsiaalkindlustusamet.ee"
PROCURER_NAME = "Taimi Nilson"
INVITATION_SUBJECT = ('Pakkumuskutse "Kõrge abivajadusega ja riskikäitumisega laste ja noortega töötavate '
                      'spetsialistide baaskoolitused" väikeost!')
INVITATION_TEXT = """Tere,
Teeme ettepaneku pakkumuse esitamiseks II mooduli koolitamiseks väikehankes „Kõrge abivajadusega ja \
riskikäitumisega laste ja noortega töötavate spetsialistide baaskoolitused"
Palume oma pakkumine esitada manuses lisatud vorme kasutades hiljemalt 19.01.2026 kell 15.00
Juhul, kui Te ei soovi pakkumist mingil põhjusel esitada, palun andke sellest teada esimesel võimalusel.
Lugupidamisega
Taimi Nilson
ekspert (KLAT)
laste heaolu osakond
Sotsiaalkindlustusamet"""
DEFAULT_DATE = dt.datetime(2026, 1, 14, 10, 12, tzinfo=TALLINN)


def quoted_invitation(style: str = "outlook", date: dt.datetime | None = None) -> str:
    """The invitation as a mail client quotes it under a reply: "outlook", "gmail" or "thunderbird"."""
    sent = date or dt.datetime(2026, 1, 5, 10, 41, tzinfo=TALLINN)
    if style == "gmail":
        head = f"Kontaktil {PROCURER_NAME} (<{PROCURER_ADDR}>) kirjutas kuupäeval E, 5. jaanuar 2026 kell {sent:%H:%M}:"
        return head + "\n" + "\n".join("> " + line for line in INVITATION_TEXT.splitlines())
    if style == "thunderbird":
        head = f"{sent:%d.%m.%Y %H:%M}, {PROCURER_NAME} kirjutas:"
        return head + "\n" + "\n".join("> " + line for line in INVITATION_TEXT.splitlines())
    return (f"Saatja: {PROCURER_NAME} <{PROCURER_ADDR}>\nSaadetud: esmaspäev, 5. jaanuar 2026 {sent:%H:%M}\n"
            f"Adressaat: pakkujad\nTeema: {INVITATION_SUBJECT}\n\n{INVITATION_TEXT}")


# --- containers ---------------------------------------------------------------------------------

def zip_bytes(files: list[tuple[str, bytes]], name_encoding: str = "utf-8-flagged") -> bytes:
    """A zip of `files`. name_encoding: "utf-8-flagged" (7-Zip, modern tools), "utf-8" without the flag
    (macOS Archive Utility) or "cp775" (the Baltic DOS code page Estonian Windows writes)."""
    buf = io.BytesIO()
    patches: list[tuple[bytes, bytes]] = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(files):
            if name_encoding != "utf-8-flagged" and not name.isascii():
                encoded = name.encode(name_encoding)
                placeholder = (f"@{i}@" + "~" * len(encoded))[: len(encoded)]
                patches.append((placeholder.encode("ascii"), encoded))
                name = placeholder
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 14, 9, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = buf.getvalue()
    for placeholder, encoded in patches:  # same length: offsets stay right; names are outside the CRC
        raw = raw.replace(placeholder, encoded)
    return raw


_SIG_TEMPLATE = """<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" \
xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xades="http://uri.etsi.org/01903/v1.3.2#">\
<ds:Signature Id="S0"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>\
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>\
{refs}<ds:Reference Id="S0-ref-sp" Type="http://uri.etsi.org/01903#SignedProperties" URI="#S0-SignedProperties">\
<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/></ds:Transforms>\
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>SPDIGEST</ds:DigestValue>\
</ds:Reference></ds:SignedInfo><ds:SignatureValue Id="S0-SIG">SIGVALUE</ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
<ds:Object><xades:QualifyingProperties Target="#S0"><xades:SignedProperties Id="S0-SignedProperties">\
<xades:SignedSignatureProperties><xades:SigningTime>{time}</xades:SigningTime>\
<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>\
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{cert_digest}</ds:DigestValue>\
</xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties>\
</xades:SignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature></asic:XAdESSignatures>"""


def build_asice(files: list[tuple[str, bytes]], given_name: str = "MARI-LIIS", surname: str = "MÄNNIK",
                personal_code: str = "47101010033", tamper: bool = False, signed: bool = True) -> bytes:
    """An ASiC-E (.asice) container signed with a throw-away self-signed certificate whose subject
    looks like an Estonian ID card. `tamper` changes a data file after signing (digest mismatch);
    `signed=False` leaves out the signature file."""
    from cryptography import x509  # noqa: PLC0415 - only the asice builder needs it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.x509.oid import NameOID
    from lxml import etree

    manifest = ['<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.etsi.asic-e+zip"/>']
    for name, _ in files:
        mtype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        manifest.append(f'<manifest:file-entry manifest:full-path="{_xml_attr(name)}" manifest:media-type="{mtype}"/>')
    manifest.append("</manifest:manifest>")
    sig_xml = b""
    if signed:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{surname},{given_name},{personal_code}"),
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOEE-{personal_code}"),
        ])
        now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        refs = "".join(
            f'<ds:Reference Id="S0-ref-{i}" URI="{_xml_attr(_uri(name))}">'
            f'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
            f"<ds:DigestValue>{base64.b64encode(hashlib.sha256(data).digest()).decode()}</ds:DigestValue>"
            f"</ds:Reference>" for i, (name, data) in enumerate(files))
        xml = _SIG_TEMPLATE.format(refs=refs, cert=base64.b64encode(der).decode(), time="2026-01-14T08:29:11Z",
                                   cert_digest=base64.b64encode(hashlib.sha256(der).digest()).decode())
        root = etree.fromstring(xml.encode())
        ns = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xades": "http://uri.etsi.org/01903/v1.3.2#"}
        props = root.find(".//xades:SignedProperties", ns)
        sp_digest = hashlib.sha256(etree.tostring(props, method="c14n")).digest()
        root.find(".//ds:Reference[@Id='S0-ref-sp']/ds:DigestValue", ns).text = base64.b64encode(sp_digest).decode()
        signed_info = root.find(".//ds:SignedInfo", ns)
        der_sig = key.sign(etree.tostring(signed_info, method="c14n"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_sig)
        raw_sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # XMLDSig ECDSA: raw r||s
        root.find(".//ds:SignatureValue", ns).text = base64.b64encode(raw_sig).decode()
        sig_xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-e+zip", zipfile.ZIP_STORED)
        for i, (name, data) in enumerate(files):
            zf.writestr(name, data + (b" muudetud" if tamper and i == 0 else b""))
        zf.writestr("META-INF/manifest.xml", "".join(manifest).encode())
        if signed:
            zf.writestr("META-INF/signatures0.xml", sig_xml)
    return buf.getvalue()


def _uri(name: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    return quote(name, safe="/")


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


# --- messages -----------------------------------------------------------------------------------

def _headers(msg, from_addr: str, from_name: str, to_addr: str, subject: str, date: dt.datetime | None,
             message_id: str | None, in_reply_to: str | None, references: list[str] | None = None) -> None:
    domain = from_addr.rpartition("@")[2] or "example.ee"
    msg["Return-Path"] = f"<{from_addr}>"
    when = date or DEFAULT_DATE
    msg["Received"] = (f"from mail.{domain} (mail.{domain} [192.0.2.25]) by mx.sotsiaalkindlustusamet.ee "
                       f"(Postfix) with ESMTPS id 4dQx1k2Z; {format_datetime(when + dt.timedelta(seconds=4))}")
    msg["From"] = formataddr((from_name, from_addr), charset="utf-8")
    msg["To"] = to_addr
    msg["Subject"] = Header(subject, "utf-8") if not subject.isascii() else subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(references or [in_reply_to])
    msg["MIME-Version"] = "1.0"


def _file_part(filename: str, data: bytes, filename_encoding: str = "rfc2231") -> MIMEBase:
    ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    maintype, subtype = ctype.split("/", 1)
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    encoders.encode_base64(part)
    if filename_encoding == "rfc2047" and not filename.isascii():
        encoded = Header(filename, "utf-8").encode()
        del part["Content-Type"]
        part["Content-Type"] = f'{ctype}; name="{encoded}"'
        part["Content-Disposition"] = f'attachment; filename="{encoded}"'
    elif filename_encoding == "none":
        part["Content-Disposition"] = "attachment"
    elif filename_encoding == "ctype_name":
        part.set_param("name", filename)
    elif not filename.isascii():
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
    else:
        part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _text(body: str, charset: str = "utf-8", html: bool = False) -> MIMEText:
    return MIMEText(body, "html" if html else "plain", charset)


def _assemble(body: str, attachments: list[tuple[str, bytes]], charset: str = "utf-8", html_only: bool = False,
              filename_encoding: str = "rfc2231"):
    if html_only:
        paragraphs = "".join(f"<p>{line or '&nbsp;'}</p>" for line in body.splitlines())
        text_part = _text(f"<html><head><style>p{{margin:0}}</style></head><body>{paragraphs}</body></html>",
                          charset, html=True)
    else:
        text_part = _text(body, charset)
    if not attachments:
        return text_part
    outer = MIMEMultipart("mixed")
    outer.attach(text_part)
    for name, data in attachments:
        outer.attach(_file_part(name, data, filename_encoding))
    return outer


def bid_message(from_addr: str, from_name: str, to_addr: str = PROCURER_ADDR, subject: str | None = None,
                body: str | None = None, attachments: list[tuple[str, bytes]] | None = None,
                in_reply_to: str | None = None, date: dt.datetime | None = None, message_id: str | None = None,
                zip_attachments: bool = False, asice: bool = False, forward: bool = False,
                charset: str = "utf-8", html_only: bool = False, filename_encoding: str = "rfc2231",
                quote_style: str = "outlook", zip_name: str = "pakkumus.zip",
                zip_name_encoding: str = "utf-8-flagged") -> bytes:
    """A bidder's reply with the filled-in forms. zip_attachments puts them in `zip_name`; asice in a
    signed "pakkumus.asice"; forward wraps the whole bid as message/rfc822 in a colleague's forward."""
    attachments = list(attachments or [])
    subject = subject if subject is not None else f"RE: {INVITATION_SUBJECT}"
    if body is None:
        body = (f"Tere,\n\nEsitame pakkumuse II mooduli koolitamiseks. Täidetud vormid on manuses.\n\n"
                f"Lugupidamisega\n{from_name}\n\n{quoted_invitation(quote_style)}")
    if asice:
        attachments = [("pakkumus.asice", build_asice(attachments))]
    elif zip_attachments:
        attachments = [(zip_name, zip_bytes(attachments, zip_name_encoding))]
    msg = _assemble(body, attachments, charset, html_only, filename_encoding)
    _headers(msg, from_addr, from_name, to_addr, subject, date, message_id, in_reply_to)
    if not forward:
        return msg.as_bytes()
    fwd = MIMEMultipart("mixed")
    fwd.attach(_text(f"Tere,\n\nsaadan kolleegi palvel edasi meie pakkumuse, tema kiri ei läinud läbi.\n\n"
                     f"Lugupidamisega\nKaarel Kask\n{from_name} kolleeg"))
    fwd.attach(MIMEMessage(msg))
    _headers(fwd, "kaarel.kask@" + from_addr.rpartition("@")[2], "Kaarel Kask", to_addr, f"Fwd: {subject}",
             (date or DEFAULT_DATE) + dt.timedelta(minutes=20), None, in_reply_to)
    return fwd.as_bytes()


def decline_message(from_addr: str, from_name: str, to_addr: str = PROCURER_ADDR, body: str | None = None,
                    subject: str | None = None, in_reply_to: str | None = None, date: dt.datetime | None = None,
                    message_id: str | None = None, quote_style: str = "outlook", charset: str = "utf-8") -> bytes:
    """A bidder saying they will not bid, with the invitation quoted below."""
    if body is None:
        body = (f"Tere,\n\nTäname kutse eest! Kahjuks ei ole meil sel korral võimalik pakkumust esitada, "
                f"kuna koolitajad on jaanuaris ja veebruaris hõivatud.\n\nLugupidamisega\n{from_name}\n\n"
                f"{quoted_invitation(quote_style)}")
    msg = _text(body, charset)
    _headers(msg, from_addr, from_name, to_addr, subject if subject is not None else f"RE: {INVITATION_SUBJECT}",
             date, message_id, in_reply_to)
    return msg.as_bytes()


def question_message(from_addr: str, from_name: str, to_addr: str = PROCURER_ADDR, body: str | None = None,
                     subject: str | None = None, in_reply_to: str | None = None, date: dt.datetime | None = None,
                     message_id: str | None = None, quote_style: str = "gmail") -> bytes:
    """A request for clarification."""
    if body is None:
        body = (f"Tere!\n\nMeil on pakkumuskutse kohta täpsustav küsimus. Kas koolituse toimumiskoha ja toitlustuse "
                f"kulud peavad sisalduma maksumuse vormis või katab need tellija?\n\nTänan ette!\n{from_name}\n\n"
                f"{quoted_invitation(quote_style)}")
    msg = _text(body)
    _headers(msg, from_addr, from_name, to_addr, subject if subject is not None else f"Re: {INVITATION_SUBJECT}",
             date, message_id, in_reply_to)
    return msg.as_bytes()


def auto_reply_message(from_addr: str, from_name: str, to_addr: str = PROCURER_ADDR, language: str = "et",
                       in_reply_to: str | None = None, date: dt.datetime | None = None, headers: bool = True,
                       message_id: str | None = None) -> bytes:
    """An out-of-office reply (Outlook/Exchange style). headers=False leaves out Auto-Submitted & co,
    as some cheap autoresponders do."""
    if language == "en":
        subject = f"Automatic reply: {INVITATION_SUBJECT}"
        body = (f"Thank you for your message. I am out of the office until 19.01.2026 with limited access to e-mail.\n"
                f"For urgent matters please contact info@{from_addr.rpartition('@')[2]}.\n\n{from_name}")
    else:
        subject = f"Automaatne vastus: {INVITATION_SUBJECT}"
        body = (f"Tere!\n\nOlen puhkusel kuni 16.01.2026. Kontoris tagasi 19.01.2026.\nKiireloomulistes küsimustes "
                f"palun pöörduge info@{from_addr.rpartition('@')[2]}.\n\nParimat\n{from_name}")
    msg = _text(body)
    _headers(msg, from_addr, from_name, to_addr, subject if headers else INVITATION_SUBJECT, date, message_id,
             in_reply_to)
    if headers:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-MS-Exchange-Generated-Message-Source"] = "Mailbox Rules Agent"
    return msg.as_bytes()


def bounce_message(failed_rcpt: str, original_message_id: str, original_subject: str = INVITATION_SUBJECT,
                   from_addr: str = PROCURER_ADDR, date: dt.datetime | None = None,
                   status: str = "5.1.1", action: str = "failed",
                   diagnostic: str | None = None, reporting_mta: str = "mx.sotsiaalkindlustusamet.ee") -> bytes:
    """A Postfix-style RFC 3464 DSN: multipart/report with text, message/delivery-status, text/rfc822-headers."""
    when = date or dt.datetime(2026, 1, 5, 10, 42, 3, tzinfo=TALLINN)
    rdomain = failed_rcpt.rpartition("@")[2]
    diagnostic = diagnostic or (f"smtp; 550 {status} <{failed_rcpt}>: Recipient address rejected: "
                                f"User unknown in virtual mailbox table")
    boundary = "4dQx2B1fGzz4wJ.1767602523/" + reporting_mta
    human = (f"This is the mail system at host {reporting_mta}.\n\n"
             "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. "
             "It's attached below.\n\nFor further assistance, please send mail to postmaster.\n\n"
             "If you do so, please include this problem report. You can\ndelete your own text from the attached "
             "returned message.\n\n                   The mail system\n\n"
             f"<{failed_rcpt}>: host mx.{rdomain}[192.0.2.80] said: {diagnostic.split(';', 1)[-1].strip()} "
             "(in reply to RCPT TO command)\n")
    subject_hdr = Header(original_subject, "utf-8").encode() if not original_subject.isascii() else original_subject
    raw = f"""Return-Path: <>
Received: by {reporting_mta} (Postfix)
\tid 4dQx2B1fGzz4wJ; {format_datetime(when)}
Date: {format_datetime(when)}
From: MAILER-DAEMON@{reporting_mta} (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {from_addr}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: <20260105084203.4dQx2B1fGzz4wJ@{reporting_mta}>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

{human}
--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporting_mta}
X-Postfix-Queue-ID: 4dQx2B1fGzz4wJ
X-Postfix-Sender: rfc822; {from_addr}
Arrival-Date: {format_datetime(when - dt.timedelta(seconds=2))}

Final-Recipient: rfc822; {failed_rcpt}
Original-Recipient: rfc822;{failed_rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.{rdomain}
Diagnostic-Code: {diagnostic}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <{from_addr}>
From: {PROCURER_NAME} <{from_addr}>
To: {failed_rcpt}
Subject: {subject_hdr}
Date: {format_datetime(when - dt.timedelta(seconds=3))}
Message-ID: {original_message_id}

--{boundary}--
"""
    return raw.replace("\n", "\r\n").encode("utf-8")


def plain_bounce_message(failed_rcpt: str, original_message_id: str, from_addr: str = PROCURER_ADDR) -> bytes:
    """A non-DSN bounce (old qmail style): text only, recipients named in the text."""
    msg = _text(f"Hi. This is the qmail-send program at mail.example.net.\nI'm afraid I wasn't able to deliver your "
                f"message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work "
                f"out.\n\n<{failed_rcpt}>:\n192.0.2.80 does not like recipient.\nRemote host said: 550 5.1.1 "
                f"mailbox unavailable\nGiving up on 192.0.2.80.\n\n--- Below this line is a copy of the message.\n\n"
                f"Return-Path: <{from_addr}>\nMessage-ID: {original_message_id}\nFrom: {from_addr}\n"
                f"To: {failed_rcpt}\nSubject: Pakkumuskutse\n")
    msg["From"] = "MAILER-DAEMON@mail.example.net"
    msg["To"] = from_addr
    msg["Subject"] = "failure notice"
    msg["Date"] = format_datetime(DEFAULT_DATE)
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    return msg.as_bytes()


def broken_message_variants() -> list[bytes]:
    """Messages that break parsers: every one must parse to a result with problems, never an exception."""
    good = bid_message("mari@koolitus.ee", "Mari Maasikas", attachments=[("Lisa 3 maksumuse vorm.xlsx", b"PK" * 50)])
    boundary_start = good.find(b"boundary=")
    nested = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(300))
    return [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"Subject: only headers, no body",
        b"From: =?utf-8?B?!!!notbase64?= <x@y.ee>\r\nSubject: =?unknown-charset?Q?=C3=B5?=\r\n\r\nbody",
        b"From: \xc3\xb5nne\xff <raw8bit@firma.ee>\r\nSubject: T\xe4\xe4n \xf5\r\nDate: not a date\r\n"
        b"Message-ID: <<<>>>\r\n\r\nTekst \xf5\xe4\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all\r\n",
        b"Content-Type: multipart/mixed; boundary=zzz\r\n\r\n--zzz\r\nContent-Type: text/plain\r\n\r\nopen, never closed",
        b"Content-Type: text/plain; charset=x-no-such-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!====",
        b"Content-Type: text/plain; charset=\"windows-1257\r\n\r\nunterminated quote \xf5",
        good[: len(good) // 2],
        good.replace(b"boundary=", b"boundary=X", 1) if boundary_start > 0 else good,
        nested,
        b"Subject: " + b"x" * 20000 + b"\r\n\r\nlong header",
        b"Content-Type: application/zip; name=broken.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"PK\x03\x04" + b"\x00" * 40),
        b"From: a@b.ee\rSubject: lone CR\r\rbody\r",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
    ]
