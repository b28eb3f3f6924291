"""A local certification hierarchy and ASiC-E containers signed with it, for tests and the demo.

LocalPKI makes, with cryptography: a root CA, an issuing CA for ID-card-like certificates, an OCSP
responder (id-kp-OCSPSigning, issued by the issuing CA) and a time-stamping unit (critical
id-kp-timeStamping, issued by the root). Signer certificates have an Estonian ID-card subject
(C=EE, CN "SURNAME,GIVEN,CODE", SN, GN, serialNumber PNOEE-CODE), non-repudiation key usage and the
QcCompliance + QcSSCD statements. build_signed_asice writes mimetype, the data files,
META-INF/manifest.xml and META-INF/signatures0.xml (XAdES with SigningCertificateV2), adds the
RFC 3161 signature time-stamp made by `openssl ts` and an OCSP response made by cryptography's
OCSPResponseBuilder (XAdES_BASELINE_LT), and can spoil one thing for negative tests.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import mimetypes
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

UTC = dt.timezone.utc
# qcStatements: SEQUENCE { SEQUENCE { QcCompliance }, SEQUENCE { QcSSCD } } (EN 319 412-5)
QC_STATEMENTS_QES = bytes.fromhex("3014" "3008" "060604008e460101" "3008" "060604008e460104")
# ... plus QcType e-seal: SEQUENCE { id-etsi-qct (0.4.0.1862.1.6), SEQUENCE { id-etsi-qct-eseal } }
QC_STATEMENTS_ESEAL = bytes.fromhex("3029" "3008" "060604008e460101" "3008" "060604008e460104"
                                    "3013" "060604008e460106" "3009" "060704008e46010602")
_QC_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")

DS, XADES = "http://www.w3.org/2000/09/xmldsig#", "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}


@dataclass
class Party:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str, org: str | None = "Hankebot TEST") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "EE")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _build(subject: x509.Name, key, issuer: Party | None, *, ca: bool, not_before: dt.datetime,
           not_after: dt.datetime, eku: list | None = None, eku_critical: bool = False,
           key_usage: dict | None = None, qc: bytes | None = None) -> x509.Certificate:
    signer_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.cert.subject if issuer else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    ku = {"digital_signature": False, "content_commitment": False, "key_encipherment": False,
          "data_encipherment": False, "key_agreement": False, "key_cert_sign": ca, "crl_sign": ca,
          "encipher_only": False, "decipher_only": False}
    ku.update(key_usage or {})
    b = b.add_extension(x509.KeyUsage(**ku), critical=True)
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                            critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    if qc:
        b = b.add_extension(x509.UnrecognizedExtension(_QC_OID, qc), critical=False)
    return b.sign(signer_key, hashes.SHA256())


class LocalPKI:
    """Root -> "TEST of ESTEID-HB 2026" (ID cards) -> signers; OCSP responder; time-stamping unit."""

    def __init__(self, name: str = "Hankebot TEST Root CA", now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(UTC).replace(microsecond=0)
        start, end = self.now - dt.timedelta(days=3650), self.now + dt.timedelta(days=3650)
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = Party(root_key, _build(_name(name), root_key, None, ca=True, not_before=start, not_after=end))
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.issuing = Party(ca_key, _build(_name("TEST of ESTEID-HB 2026"), ca_key, self.root, ca=True,
                                            not_before=start, not_after=end))
        ocsp_key = ec.generate_private_key(ec.SECP256R1())
        self.ocsp = Party(ocsp_key, _build(_name("TEST of ESTEID-HB 2026 AIA OCSP RESPONDER"), ocsp_key,
                                           self.issuing, ca=False, not_before=start, not_after=end,
                                           eku=[ExtendedKeyUsageOID.OCSP_SIGNING],
                                           key_usage={"digital_signature": True}))
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        self.tsa = Party(tsa_key, _build(_name("TEST of Hankebot TIME-STAMPING UNIT"), tsa_key, self.root,
                                         ca=False, not_before=start, not_after=end,
                                         eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=True,
                                         key_usage={"digital_signature": True, "content_commitment": True}))

    def anchors_pem(self) -> bytes:
        """What an admin would put in the trust folder: the root and the issuing CA."""
        return self.root.pem() + self.issuing.pem()

    def write_trust_dir(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "test-root.pem").write_bytes(self.root.pem())
        (folder / "test-esteid-hb-2026.pem").write_bytes(self.issuing.pem())
        return folder

    def person(self, given: str = "MARI-LIIS", surname: str = "MÄNNIK", code: str = "47101010033", *,
               not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
               issuer: Party | None = None, self_signed: bool = False) -> Party:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{surname},{given},{code}"),
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, given),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOEE-{code}"),
        ])
        cert = _build(subject, key, None if self_signed else (issuer or self.issuing), ca=False,
                      not_before=not_before or self.now - dt.timedelta(days=30),
                      not_after=not_after or self.now + dt.timedelta(days=365 * 5),
                      key_usage={"content_commitment": True}, qc=QC_STATEMENTS_QES)
        return Party(key, cert)

    def e_seal(self, company: str = "Koolitus OÜ", registry_code: str = "12345678") -> Party:
        """A qualified e-seal certificate of a company (organizationIdentifier NTREE-code)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, company),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), f"NTREE-{registry_code}"),
            x509.NameAttribute(NameOID.COMMON_NAME, company),
        ])
        cert = _build(subject, key, self.issuing, ca=False, not_before=self.now - dt.timedelta(days=30),
                      not_after=self.now + dt.timedelta(days=365 * 3), key_usage={"content_commitment": True},
                      qc=QC_STATEMENTS_ESEAL)
        return Party(key, cert)

    def ocsp_response(self, signer: Party, status: str = "good", revoked_at: dt.datetime | None = None,
                      issuer: Party | None = None, nonce: bytes | None = None) -> bytes:
        issuer = issuer or self.issuing
        cert_status = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                       "unknown": ocsp.OCSPCertStatus.UNKNOWN}[status]
        now = dt.datetime.now(UTC)
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=signer.cert, issuer=issuer.cert, algorithm=hashes.SHA256(), cert_status=cert_status,
            this_update=now, next_update=None,
            revocation_time=(revoked_at or now - dt.timedelta(hours=1)) if status == "revoked" else None,
            revocation_reason=x509.ReasonFlags.key_compromise if status == "revoked" else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp.cert).certificates([self.ocsp.cert])
        if nonce is not None:
            b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
        return b.sign(self.ocsp.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def timestamp(self, message: bytes) -> bytes:
        """An RFC 3161 TimeStampToken over SHA-256(message), made by `openssl ts -reply`."""
        with tempfile.TemporaryDirectory(prefix="hb-tsa-") as tmp:
            d = Path(tmp)
            (d / "msg").write_bytes(message)
            (d / "tsa.pem").write_bytes(self.tsa.pem())
            (d / "tsa.key").write_bytes(self.tsa.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            (d / "serial").write_text("01\n")
            (d / "tsa.cnf").write_text(
                "[tsa]\ndefault_tsa = tsa1\n[tsa1]\n"
                f"serial = {d / 'serial'}\ndefault_policy = 1.3.6.1.4.1.10015.4.1\n"
                "digests = sha256\nsigner_digest = sha256\ness_cert_id_alg = sha256\naccuracy = secs:1\n")
            run = lambda *a: subprocess.run(["openssl", "ts", *a], check=True, capture_output=True, cwd=d)  # noqa: E731
            run("-query", "-data", "msg", "-sha256", "-cert", "-out", "req.tsq")
            run("-reply", "-config", "tsa.cnf", "-queryfile", "req.tsq", "-signer", "tsa.pem", "-inkey", "tsa.key",
                "-token_out", "-out", "token.der")
            return (d / "token.der").read_bytes()


@dataclass
class Spoil:
    """What to break in a container (negative tests). Default: nothing."""

    change_file: bool = False  # a data file changed after signing
    signature_value: bool = False  # one byte of SignatureValue flipped
    no_ocsp: bool = False
    no_timestamp: bool = False
    ocsp_status: str = "good"
    revoked_at: dt.datetime | None = None
    extra_unsigned_file: bool = False
    wrong_nonce: bool = False  # time-mark OCSP nonce over other data
    embed_chain: list[x509.Certificate] = field(default_factory=list)  # CertificateValues


_SIG = """<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" \
xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xades="http://uri.etsi.org/01903/v1.3.2#">\
<ds:Signature Id="S0"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>\
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>\
{refs}<ds:Reference Id="S0-ref-sp" Type="http://uri.etsi.org/01903#SignedProperties" URI="#S0-SignedProperties">\
<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/></ds:Transforms>\
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>SP</ds:DigestValue>\
</ds:Reference></ds:SignedInfo><ds:SignatureValue Id="S0-SIG">SV</ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
<ds:Object><xades:QualifyingProperties Target="#S0"><xades:SignedProperties Id="S0-SignedProperties">\
<xades:SignedSignatureProperties><xades:SigningTime>{time}</xades:SigningTime>\
<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>\
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{cert_digest}</ds:DigestValue>\
</xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties>\
<xades:SignedDataObjectProperties>{formats}</xades:SignedDataObjectProperties>\
</xades:SignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature></asic:XAdESSignatures>"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_signed_asice(files: list[tuple[str, bytes]], signer: Party, pki: LocalPKI | None,
                       spoil: Spoil | None = None) -> bytes:
    """An ASiC-E container with one XAdES signature by `signer`; LT level when `pki` is given."""
    spoil = spoil or Spoil()
    der = signer.cert.public_bytes(serialization.Encoding.DER)
    refs = "".join(f'<ds:Reference Id="S0-RefId{i}" URI="{quote(n, safe="/")}">'
                   f'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
                   f"<ds:DigestValue>{_b64(hashlib.sha256(d).digest())}</ds:DigestValue></ds:Reference>"
                   for i, (n, d) in enumerate(files))
    formats = "".join(f'<xades:DataObjectFormat ObjectReference="#S0-RefId{i}"><xades:MimeType>'
                      f"{mimetypes.guess_type(n)[0] or 'application/octet-stream'}</xades:MimeType>"
                      f"</xades:DataObjectFormat>" for i, (n, _) in enumerate(files))
    signing_time = dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = etree.fromstring(_SIG.format(refs=refs, cert=_b64(der), time=signing_time, formats=formats,
                                        cert_digest=_b64(hashlib.sha256(der).digest())).encode())
    props = root.find(".//xades:SignedProperties", NS)
    root.find(".//ds:Reference[@Id='S0-ref-sp']/ds:DigestValue", NS).text = _b64(
        hashlib.sha256(etree.tostring(props, method="c14n")).digest())
    signed_info = root.find(".//ds:SignedInfo", NS)
    r, s = decode_dss_signature(signer.key.sign(etree.tostring(signed_info, method="c14n"), ec.ECDSA(hashes.SHA256())))
    raw = bytearray(r.to_bytes(32, "big") + s.to_bytes(32, "big"))  # XMLDSig ECDSA: raw r||s
    if spoil.signature_value:
        raw[5] ^= 0x01
    value = root.find(".//ds:SignatureValue", NS)
    value.text = _b64(bytes(raw))
    if pki is not None:
        qp = root.find(".//xades:QualifyingProperties", NS)
        usp = etree.SubElement(etree.SubElement(qp, f"{{{XADES}}}UnsignedProperties"),
                               f"{{{XADES}}}UnsignedSignatureProperties")
        if not spoil.no_timestamp:
            ts = etree.SubElement(usp, f"{{{XADES}}}SignatureTimeStamp", Id="S0-T0")
            etree.SubElement(ts, f"{{{DS}}}CanonicalizationMethod", Algorithm="http://www.w3.org/2006/12/xml-c14n11")
            etree.SubElement(ts, f"{{{XADES}}}EncapsulatedTimeStamp").text = _b64(
                pki.timestamp(etree.tostring(value, method="c14n")))
        chain = spoil.embed_chain or [pki.issuing.cert]
        cv = etree.SubElement(usp, f"{{{XADES}}}CertificateValues")
        for c in chain:
            etree.SubElement(cv, f"{{{XADES}}}EncapsulatedX509Certificate").text = _b64(
                c.public_bytes(serialization.Encoding.DER))
        if not spoil.no_ocsp:
            ov = etree.SubElement(etree.SubElement(usp, f"{{{XADES}}}RevocationValues"), f"{{{XADES}}}OCSPValues")
            # a time-mark (no time-stamp) binds the OCSP response to the signature through its nonce:
            # DER DigestInfo { sha256, SHA-256(signature value) } as BDOC 2.1 has it
            nonce = None if not spoil.no_timestamp else (
                bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(bytes(raw)).digest())
            if spoil.wrong_nonce and nonce:
                nonce = nonce[:-1] + bytes([nonce[-1] ^ 1])
            etree.SubElement(ov, f"{{{XADES}}}EncapsulatedOCSPValue").text = _b64(
                pki.ocsp_response(signer, spoil.ocsp_status, spoil.revoked_at, nonce=nonce))
    sig_xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root)
    manifest = ['<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.etsi.asic-e+zip"/>']
    stored = list(files) + ([("lisa.txt", b"allkirjastamata lisa")] if spoil.extra_unsigned_file else [])
    for n, _ in stored:
        manifest.append(f'<manifest:file-entry manifest:full-path="{n}" '
                        f'manifest:media-type="{mimetypes.guess_type(n)[0] or "application/octet-stream"}"/>')
    manifest.append("</manifest:manifest>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.etsi.asic-e+zip", zipfile.ZIP_STORED)
        for i, (n, d) in enumerate(stored):
            zf.writestr(n, d + (b" muudetud" if spoil.change_file and i == 0 else b""))
        zf.writestr("META-INF/manifest.xml", "".join(manifest).encode())
        zf.writestr("META-INF/signatures0.xml", sig_xml)
    return buf.getvalue()
