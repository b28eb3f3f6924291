"""Read the signatures of ASiC-E / BDOC containers (Estonian DigiDoc .asice, .sce, .bdoc).

We read who signed (name and personal/registry code from the signing certificate's subject) and
check what can be checked offline: the data files' digests and the signature value over SignedInfo
with the certificate's own key. We do NOT validate OCSP/time-stamp or the certificate chain against
the trust list, so the best status we give is "parsed_not_verified".

pyasice is used for the signature-value check when it imports; on machines where its dependency
oscrypto cannot detect the OpenSSL version (oscrypto 1.3.0 with OpenSSL 3.0.1x) it does not import,
and the same checks are done here with lxml + cryptography, following pyasice's own logic.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

ASICE_EXTENSIONS = (".asice", ".sce", ".bdoc", ".asics", ".scs")
ASICE_MIMETYPE = "application/vnd.etsi.asic-e+zip"
SIGNATURE_FILE_RE = re.compile(r"^META-INF/(?:.*signatures.*|.*signature.*)\.xml$", re.IGNORECASE)

STATUS_PARSED = "parsed_not_verified"
STATUS_INVALID = "invalid"
STATUS_UNREADABLE = "unreadable"

NS = {
    "asic": "http://uri.etsi.org/02918/v1.2.1#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}
_DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1,
    "http://www.w3.org/2001/04/xmldsig-more#sha224": hashlib.sha224,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
           "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class SignatureInfo:
    """One signature found in a container. `status` is one of parsed_not_verified, invalid, unreadable."""

    container: str  # attachment path of the container, e.g. "pakkumus.asice"
    signer_name: str | None
    signer_code: str | None  # personal code (isikukood) or registry code for e-seals
    status: str
    detail: str = ""  # English, for logs: why invalid/unreadable
    signing_time: str | None = None


def is_asice_name(filename: str) -> bool:
    return filename.lower().endswith(ASICE_EXTENSIONS)


def is_signature_file(name: str) -> bool:
    return bool(SIGNATURE_FILE_RE.match(name))


def inspect_signatures(container: str, signature_files: Mapping[str, bytes],
                       data_files: Mapping[str, bytes]) -> list[SignatureInfo]:
    """Judge each META-INF/*signatures*.xml of a container against its data files. Never raises."""
    if not signature_files:
        return [SignatureInfo(container, None, None, STATUS_UNREADABLE, "no signature file in container")]
    out: list[SignatureInfo] = []
    for name in sorted(signature_files):
        try:
            out.extend(_inspect_one(container, signature_files[name], data_files))
        except Exception as exc:  # noqa: BLE001 - a bad signature file is a label, never a crash
            out.append(SignatureInfo(container, None, None, STATUS_UNREADABLE, f"{name}: {exc!r}"[:300]))
    return out


def _parse_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             remove_comments=True, load_dtd=False)
    return etree.fromstring(data, parser=parser)


def _inspect_one(container: str, xml: bytes, data_files: Mapping[str, bytes]) -> list[SignatureInfo]:
    root = _parse_xml(xml)
    sigs = root.findall(".//ds:Signature", NS) if root.tag != f"{{{NS['ds']}}}Signature" else [root]
    if not sigs:
        return [SignatureInfo(container, None, None, STATUS_UNREADABLE, "no ds:Signature element")]
    return [_inspect_signature(container, sig, xml, data_files) for sig in sigs]


def _inspect_signature(container: str, sig: etree._Element, xml: bytes,
                       data_files: Mapping[str, bytes]) -> SignatureInfo:
    cert_node = sig.find("./ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    if cert_node is None or not (cert_node.text or "").strip():
        return SignatureInfo(container, None, None, STATUS_UNREADABLE, "no signing certificate")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_node.text.split())))
    except (ValueError, binascii.Error) as exc:
        return SignatureInfo(container, None, None, STATUS_UNREADABLE, f"bad certificate: {exc}"[:300])
    name, code = signer_from_certificate(cert)
    time_node = sig.find(".//xades:SigningTime", NS)
    signing_time = (time_node.text or "").strip() or None if time_node is not None else None

    def result(status: str, detail: str = "") -> SignatureInfo:
        return SignatureInfo(container, name, code, status, detail, signing_time)

    signed_info = sig.find("./ds:SignedInfo", NS)
    if signed_info is None:
        return result(STATUS_UNREADABLE, "no SignedInfo")
    covered: set[str] = set()
    for ref in signed_info.findall("./ds:Reference", NS):
        uri = ref.get("URI", "")
        method = ref.find("./ds:DigestMethod", NS)
        value = ref.find("./ds:DigestValue", NS)
        algo = _DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if algo is None or value is None:
            return result(STATUS_UNREADABLE, f"reference {uri!r}: unknown digest method")
        expected = base64.b64decode("".join((value.text or "").split()))
        if uri.startswith("#"):
            target = sig.xpath(".//*[@Id=$i]", i=uri[1:])
            if not target:
                return result(STATUS_INVALID, f"reference {uri} points nowhere")
            transform = ref.find("./ds:Transforms/ds:Transform", NS)
            c14n = transform.get("Algorithm") if transform is not None else None
            if algo(_c14n(target[0], c14n)).digest() != expected:
                return result(STATUS_INVALID, f"digest mismatch for {uri}")
            continue
        fname = unquote(uri)
        if fname not in data_files:
            return result(STATUS_INVALID, f"signed file {fname!r} missing from container")
        if algo(data_files[fname]).digest() != expected:
            return result(STATUS_INVALID, f"digest mismatch for {fname!r}")
        covered.add(fname)
    unsigned = sorted(set(data_files) - covered)
    if unsigned:
        return result(STATUS_INVALID, f"files not covered by the signature: {unsigned}")
    ok, why = _verify_signature_value(sig, signed_info, cert, xml)
    if not ok:
        return result(STATUS_INVALID, why)
    return result(STATUS_PARSED, "digests and signature value match; OCSP/TSA/trust list not checked")


def _c14n(node: etree._Element, method: str | None) -> bytes:
    exclusive = bool(method and "xml-exc-c14n" in method)
    return etree.tostring(node, method="c14n", exclusive=exclusive)


def _verify_signature_value(sig: etree._Element, signed_info: etree._Element,
                            cert: x509.Certificate, xml: bytes) -> tuple[bool, str]:
    method_node = signed_info.find("./ds:SignatureMethod", NS)
    algo = (method_node.get("Algorithm", "") if method_node is not None else "").rsplit("#", 1)[-1]
    hash_name = algo.split("-")[-1].lower()
    value_node = sig.find("./ds:SignatureValue", NS)
    if hash_name not in _HASHES or value_node is None:
        return False, f"unsupported signature method {algo!r}"
    pyasice_result = _verify_with_pyasice(xml)
    if pyasice_result is not None:
        return pyasice_result
    c14n_node = signed_info.find("./ds:CanonicalizationMethod", NS)
    data = _c14n(signed_info, c14n_node.get("Algorithm") if c14n_node is not None else None)
    signature = base64.b64decode("".join((value_node.text or "").split()))
    key = cert.public_key()
    chosen = _HASHES[hash_name]()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if not signature.startswith(b"\x30"):  # XMLDSig uses raw r||s; DER starts with SEQUENCE
                half = len(signature) // 2
                signature = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                                 int.from_bytes(signature[half:], "big"))
            key.verify(signature, data, ec.ECDSA(chosen))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), chosen)
        else:
            return False, "unsupported key type"
    except (InvalidSignature, ValueError):
        return False, "signature value does not match SignedInfo"
    return True, ""


def _verify_with_pyasice(xml: bytes) -> tuple[bool, str] | None:
    """pyasice's own check, when pyasice imports on this machine; None when it does not."""
    try:
        from pyasice import SignatureVerificationError, XmlSignature  # noqa: PLC0415 - may fail (oscrypto)
    except Exception:  # noqa: BLE001
        return None
    try:
        XmlSignature(xml).verify()
    except SignatureVerificationError as exc:
        return False, f"pyasice: {exc!r}"[:300]
    except Exception:  # noqa: BLE001 - shape pyasice does not know: use our own check
        return None
    return True, ""


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
    for raw in (serial, org_id, cn_parts[2] if len(cn_parts) == 3 else None):
        if raw:
            code = re.sub(r"^(?:PNO|IDC|PAS|NTR)[A-Z]{2}-", "", raw)
            break
    return name, code
