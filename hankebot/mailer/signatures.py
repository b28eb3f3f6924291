"""Validate the signatures of ASiC-E / BDOC containers (Estonian DigiDoc .asice, .sce, .bdoc), offline.

Per signature (META-INF/*signatures*.xml):
- the XML signature (data-file digests, SignedProperties, the signature value, the signing
  certificate digest) is checked by signxml's XAdESVerifier;
- the signing certificate's chain must reach a trust anchor (signature_trust.TrustStore);
- the signing time comes from what the container carries: the RFC 3161 signature time-stamp
  (XAdES_BASELINE_LT / T) or, for BDOC time-marks (LT_TM), the OCSP response's producedAt;
- the embedded OCSP response must be signed by a trusted responder and say the certificate was
  not revoked at that time; the certificate must have been valid then.
The result is a core.signatures.SignatureReport (SiVa-shaped). No network is used.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from hankebot.core import signatures as s
from hankebot.core.signatures import SignatureReport
from hankebot.mailer.forms.text import is_fatal
from hankebot.mailer.signature_trust import (
    TrustStore,
    build_chain,
    common_name,
    load_certificates,
    load_trust_store,
    nonce_binds,
    valid_at,
    verify_ocsp,
    verify_timestamp,
)

ASICE_EXTENSIONS = (".asice", ".sce", ".bdoc", ".asics", ".scs")
ASICE_MIMETYPE = "application/vnd.etsi.asic-e+zip"
SIGNATURE_FILE_RE = re.compile(r"^META-INF/(?:.*signatures.*|.*signature.*)\.xml$", re.IGNORECASE)

SignatureInfo = SignatureReport  # the name the MIME layer has always used

NS = {
    "asic": "http://uri.etsi.org/02918/v1.2.1#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}
_C14N_DEFAULT = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def _der_oid(dotted: str) -> bytes:
    """DER of an OBJECT IDENTIFIER. cryptography leaves qcStatements (EN 319 412-5) unparsed, so
    the statements are found as their encoded OIDs inside the extension's bytes."""
    nums = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            chunk.append(0x80 | (n & 0x7F))
        body.extend(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)


_QC_COMPLIANCE = _der_oid("0.4.0.1862.1.1")
_QC_SSCD = _der_oid("0.4.0.1862.1.4")
_QC_TYPE_ESEAL = _der_oid("0.4.0.1862.1.6.2")

_REASONS = {
    s.FORMAT_FAILURE: "allkirjafail on vigane või mittetoetatud kujul",
    s.HASH_FAILURE: "allkirjastatud faili on pärast allkirjastamist muudetud",
    s.SIG_CRYPTO_FAILURE: "allkirja väärtus ei vasta allkirjastatud andmetele (allkiri on rikutud)",
    s.SIGNED_DATA_NOT_FOUND: "allkirjastatud fail puudub konteinerist",
    s.NO_SIGNING_CERTIFICATE_FOUND: "allkirjastaja sertifikaat puudub",
    s.NO_CERTIFICATE_CHAIN_FOUND: "allkirjastaja sertifikaat ei ole välja antud usaldatud sertifitseerimiskeskuse poolt",
    s.NO_POE: "allkirjal puudub kehtiv ajatempel ja kehtivuskinnitus, allkirjastamise aeg on tõendamata",
    s.TRY_LATER: "allkirjal puudub kehtiv kehtivuskinnitus (OCSP)",
    s.EXPIRED: "allkirjastaja sertifikaat oli allkirjastamise ajal aegunud",
    s.NOT_YET_VALID: "allkirjastaja sertifikaat ei kehtinud allkirjastamise ajal veel",
    s.REVOKED: "allkirjastaja sertifikaat oli allkirjastamise ajal tühistatud",
}


def is_asice_name(filename: str) -> bool:
    return filename.lower().endswith(ASICE_EXTENSIONS)


def is_signature_file(name: str) -> bool:
    return bool(SIGNATURE_FILE_RE.match(name))


def inspect_signatures(container: str, signature_files: Mapping[str, bytes], data_files: Mapping[str, bytes],
                       trust: TrustStore | None = None) -> list[SignatureReport]:
    """Validate each META-INF/*signatures*.xml of a container against its data files. Never raises."""
    store = trust if trust is not None else load_trust_store()
    if not signature_files:
        return [SignatureReport(container, s.TOTAL_FAILED, s.FORMAT_FAILURE, "konteineris ei ole ühtegi allkirja",
                                errors=("no signature file in container",))]
    out: list[SignatureReport] = []
    for name in sorted(signature_files):
        try:
            out.extend(_inspect_file(container, signature_files[name], data_files, store))
        except BaseException as exc:  # noqa: BLE001 - a bad signature file is a result, never a crash (a
            if is_fatal(exc):  # Rust library's panic too)
                raise
            out.append(_fail(container, s.TOTAL_FAILED, s.FORMAT_FAILURE, f"{name}: {exc!r}"))
    return out


def _fail(container: str, indication: str, sub: str, error: str, **kw) -> SignatureReport:
    return SignatureReport(container, indication, sub, _REASONS[sub], errors=(error[:300],), **kw)


def _parse_xml(data: bytes) -> etree._Element:
    """With signxml's parser options (resolve_entities=False; the rest are lxml's defaults), so that
    signxml can be given this tree (signature_xml.verify_xades)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    return etree.fromstring(data, parser=parser)


def _inspect_file(container: str, xml: bytes, data_files: Mapping[str, bytes], store: TrustStore) -> list[SignatureReport]:
    try:
        root = _parse_xml(xml)
    except etree.XMLSyntaxError as exc:
        return [_fail(container, s.TOTAL_FAILED, s.FORMAT_FAILURE, f"not XML: {exc}")]
    sigs = root.findall(".//ds:Signature", NS) if root.tag != f"{{{NS['ds']}}}Signature" else [root]
    if not sigs:
        return [_fail(container, s.TOTAL_FAILED, s.FORMAT_FAILURE, "no ds:Signature element")]
    if len(sigs) > 1:  # DigiDoc writes one signature per file; signxml verifies one per document
        return [_fail(container, s.TOTAL_FAILED, s.FORMAT_FAILURE, f"{len(sigs)} signatures in one file")]
    return [_inspect_signature(container, sigs[0], xml, root, data_files, store)]


def _b64(text: str | None) -> bytes:
    return base64.b64decode("".join((text or "").split()))


def _b64_or_empty(text: str | None) -> bytes:
    """Bad base64 in an unsigned property: empty bytes, which the OCSP / time-stamp check then refuses."""
    try:
        return _b64(text)
    except (ValueError, binascii.Error):
        return b""


def _inspect_signature(container: str, sig: etree._Element, xml: bytes, root: etree._Element,
                       data_files: Mapping[str, bytes], store: TrustStore) -> SignatureReport:
    cert_nodes = sig.findall("./ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    try:
        key_certs = [x509.load_der_x509_certificate(_b64(n.text)) for n in cert_nodes]
    except (ValueError, binascii.Error) as exc:
        return _fail(container, s.INDETERMINATE, s.NO_SIGNING_CERTIFICATE_FOUND, f"bad certificate: {exc}")
    if not key_certs:
        return _fail(container, s.INDETERMINATE, s.NO_SIGNING_CERTIFICATE_FOUND, "no signing certificate")
    cert = key_certs[0]
    name, code = signer_from_certificate(cert)
    claimed = _text(sig, ".//xades:SignedSignatureProperties/xades:SigningTime")
    legal = _is_legal_person(cert)
    ident = {"signer_name": name, "signer_code": code, "signed_by": _signed_by(cert, name, code),
             "claimed_signing_time": claimed, "legal_person": legal}

    # 1. the XML signature itself (signxml)
    refs = [r.get("URI", "") for r in sig.findall("./ds:SignedInfo/ds:Reference", NS)]
    signed_files = {unquote(u) for u in refs if u and not u.startswith("#")}
    missing = sorted(signed_files - set(data_files))
    if missing:
        return _fail(container, s.TOTAL_FAILED, s.SIGNED_DATA_NOT_FOUND, f"signed files missing: {missing}", **ident)
    unsigned = sorted(set(data_files) - signed_files)
    if unsigned:
        return SignatureReport(container, s.TOTAL_FAILED, s.FORMAT_FAILURE,
                               "konteineris on allkirjaga katmata faile: " + ", ".join(unsigned),
                               errors=(f"files not covered by the signature: {unsigned}",), **ident)
    crypto_error = _verify_xml(xml, root, cert, data_files)
    if crypto_error is not None:
        sub, detail = crypto_error
        return _fail(container, s.TOTAL_FAILED, sub, detail, **ident)

    # 2. what the container carries for later validation
    unsigned_props = sig.find(".//xades:UnsignedSignatureProperties", NS)
    extra = list(key_certs[1:])
    ocsp_ders: list[bytes] = []
    ts_tokens: list[tuple[bytes, str]] = []
    if unsigned_props is not None:
        for n in unsigned_props.findall("./xades:CertificateValues/xades:EncapsulatedX509Certificate", NS):
            try:
                extra.extend(load_certificates(_b64(n.text)))
            except (ValueError, binascii.Error):
                continue
        ocsp_ders = [_b64_or_empty(n.text) for n in
                     unsigned_props.findall("./xades:RevocationValues/xades:OCSPValues/xades:EncapsulatedOCSPValue", NS)]
        for ts in unsigned_props.findall("./xades:SignatureTimeStamp", NS):
            method = ts.find("./ds:CanonicalizationMethod", NS)
            token = ts.find("./xades:EncapsulatedTimeStamp", NS)
            if token is not None:
                ts_tokens.append((_b64_or_empty(token.text),
                                  method.get("Algorithm") if method is not None else _C14N_DEFAULT))
    fmt = ("XAdES_BASELINE_LT" if ts_tokens and ocsp_ders else "XAdES_BASELINE_T" if ts_tokens
           else "XAdES_BASELINE_LT_TM" if ocsp_ders else "XAdES_BASELINE_B")
    ident["signature_format"] = fmt

    # 3. the chain to a trust anchor
    chain = build_chain(cert, store, extra)
    if not chain.trusted:
        return _fail(container, s.INDETERMINATE, s.NO_CERTIFICATE_CHAIN_FOUND, f"chain: {chain.detail}",
                     signature_level=s.NOT_ADES, **ident)
    ident["trust_anchor"] = common_name(chain.certs[-1])
    ident["signature_level"] = _level(cert)
    issuer = chain.issuer_of_leaf()
    warnings: list[str] = []

    # 4. the signing time
    best: datetime | None = None
    errors: list[str] = []
    value_node = sig.find("./ds:SignatureValue", NS)
    for token, method in ts_tokens:
        message = _c14n(value_node, method)
        ts = verify_timestamp(token, message, store, extra)
        if ts.ok:
            best = ts.gen_time
            break
        errors.append(ts.detail)
    ocsp_results = [verify_ocsp(der, cert, issuer, store, extra) for der in ocsp_ders]
    good_ocsp = [o for o in ocsp_results if o.ok]
    errors.extend(o.detail for o in ocsp_results if not o.ok)
    if best is None and not ts_tokens and good_ocsp:  # BDOC time-mark: OCSP producedAt is the signing time
        bound = [o for o in good_ocsp if nonce_binds(o.nonce, _b64(value_node.text if value_node is not None else ""))]
        if not bound:
            errors.append("time-mark OCSP nonce does not match the signature value")
        good_ocsp = bound
        best = min((o.produced_at for o in bound), default=None)
    if best is None:
        return _fail(container, s.INDETERMINATE, s.NO_POE, "; ".join(errors) or "no time-stamp or OCSP", **ident)
    ident["best_signature_time"] = best.isoformat()

    # 5. the certificate at that time
    state = valid_at(cert, best)
    if state == "expired":
        return _fail(container, s.TOTAL_FAILED, s.EXPIRED, f"certificate expired {cert.not_valid_after_utc}", **ident)
    if state == "not_yet_valid":
        return _fail(container, s.TOTAL_FAILED, s.NOT_YET_VALID,
                     f"certificate valid from {cert.not_valid_before_utc}", **ident)
    for ca in chain.certs[1:]:
        if valid_at(ca, best):
            return _fail(container, s.INDETERMINATE, s.NO_CERTIFICATE_CHAIN_FOUND,
                         f"CA {common_name(ca)} not valid at {best}", **ident)
    if not good_ocsp:
        return _fail(container, s.INDETERMINATE, s.TRY_LATER, "; ".join(errors) or "no OCSP response", **ident)
    ocsp_result = max(good_ocsp, key=lambda o: o.produced_at)
    if ocsp_result.status == "revoked":
        if ocsp_result.revoked_at is None or ocsp_result.revoked_at <= best:
            return _fail(container, s.TOTAL_FAILED, s.REVOKED, f"revoked at {ocsp_result.revoked_at}", **ident)
        warnings.append(f"certificate revoked after signing, at {ocsp_result.revoked_at}")
    elif ocsp_result.status != "good":
        return _fail(container, s.INDETERMINATE, s.TRY_LATER, "OCSP status unknown", **ident)
    if ts_tokens and ocsp_result.produced_at < best:
        warnings.append("OCSP response is older than the time-stamp")
    return SignatureReport(container, s.TOTAL_PASSED, None, "", errors=tuple(errors), warnings=tuple(warnings),
                           **ident)


def _verify_xml(xml: bytes, root: etree._Element, cert: x509.Certificate,
                data_files: Mapping[str, bytes]) -> tuple[str, str] | None:
    """signxml's XAdES verification with our certificate (the chain is ours to check, see above), on
    our parse of the document (`root`, see signature_xml)."""
    from signxml import InvalidDigest, InvalidInput, InvalidSignature  # noqa: PLC0415
    from signxml.xades import XAdESSignatureConfiguration  # noqa: PLC0415

    from hankebot.mailer.signature_xml import verify_xades  # noqa: PLC0415 - imports signxml

    def resolve(uri: str) -> bytes | None:
        return data_files.get(unquote(uri))

    # the certificate's validity is judged below at the best signature time, not "now": signxml
    # checks the cryptography at a moment inside the validity period
    config = XAdESSignatureConfiguration(require_x509=True, expect_references=True,
                                         verification_time=cert.not_valid_before_utc)
    try:
        verify_xades(xml, root, x509_cert=cert, uri_resolver=resolve, expect_config=config)
    except InvalidDigest as exc:
        # a data file's digest, or SignedProperties / the signing-certificate digest
        return (s.HASH_FAILURE if "certificate" not in str(exc) else s.SIG_CRYPTO_FAILURE), f"signxml: {exc}"
    except InvalidSignature as exc:
        return s.SIG_CRYPTO_FAILURE, f"signxml: {exc}"
    except (InvalidInput, ValueError, etree.LxmlError) as exc:  # DocumentInvalid: against the XAdES schema
        return s.FORMAT_FAILURE, f"signxml: {exc!r}"
    except Exception as exc:  # noqa: BLE001 - any other refusal is still a failed signature, with its signer
        return s.FORMAT_FAILURE, f"signxml: {exc!r}"
    return None


def _c14n(node: etree._Element | None, method: str | None) -> bytes:
    if node is None:
        return b""
    return etree.tostring(node, method="c14n", exclusive=bool(method and "xml-exc-c14n" in method),
                          with_comments=bool(method and method.endswith("WithComments")))


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, NS)
    return (found.text or "").strip() or None if found is not None else None


def _qc_statements(cert: x509.Certificate) -> bytes:
    try:
        ext = cert.extensions.get_extension_for_oid(_QC_STATEMENTS).value
    except x509.ExtensionNotFound:
        return b""
    return getattr(ext, "value", b"") or b""


def _level(cert: x509.Certificate) -> str:
    """From the certificate's QC statements (EN 319 412-5), not from the EU trusted list."""
    qc = _qc_statements(cert)
    if _QC_COMPLIANCE in qc:
        return s.QESIG if _QC_SSCD in qc else s.ADESIG_QC
    return s.ADESIG


def _is_legal_person(cert: x509.Certificate) -> bool:
    org_id = cert.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))
    return bool(org_id) or _QC_TYPE_ESEAL in _qc_statements(cert)


def _signed_by(cert: x509.Certificate, name: str | None, code: str | None) -> str | None:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cn and len(str(cn[0].value).split(",")) == 3:
        return str(cn[0].value)
    return ",".join(x for x in (name, code) if x) or None


def signer_from_certificate(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """Name and code from an Estonian ID/e-seal certificate subject.

    ID cards: CN "SURNAME,GIVEN,47101010033", SN/GN, serialNumber "PNOEE-47101010033".
    E-seals: CN company name, organizationIdentifier "NTREE-12345678"."""
    subj = cert.subject

    def first(oid: x509.ObjectIdentifier) -> str | None:
        attrs = subj.get_attributes_for_oid(oid)
        return str(attrs[0].value).strip() if attrs else None

    given, surname, cn = first(NameOID.GIVEN_NAME), first(NameOID.SURNAME), first(NameOID.COMMON_NAME)
    serial = first(NameOID.SERIAL_NUMBER)
    org_id = first(x509.ObjectIdentifier("2.5.4.97"))
    cn_parts = [p.strip() for p in (cn or "").split(",")]
    if given and surname:
        name = f"{given.title()} {surname.title()}"
    elif len(cn_parts) == 3:
        name = f"{cn_parts[1].title()} {cn_parts[0].title()}"
    else:
        name = cn
    code = None
    for raw in (org_id, serial, cn_parts[2] if len(cn_parts) == 3 else None):
        if raw:
            code = re.sub(r"^(?:PNO|IDC|PAS|NTR)[A-Z]{2}-", "", raw)
            break
    return name, code


def trust_store_for(trust_dir: str | Path | None) -> TrustStore:
    return load_trust_store(trust_dir)
