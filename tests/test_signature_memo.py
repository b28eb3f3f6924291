"""What the signature validation remembers or no longer redoes gives the answers of the full work:
the certificate -> issuer checks remembered by exact DER (a tampered certificate never gets the
answer of the good one), the trust store's byte-for-byte anchor test, and signxml's XAdES
verification on our parse of the document without copies of it (signxml's own verifier on the bytes
says the same, also on broken and hostile documents)."""
from __future__ import annotations

import base64
import io
import zipfile
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.verifier import XMLVerifier
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from hankebot.devstack.signing import LocalPKI, Spoil, build_signed_asice
from hankebot.mailer import signature_trust as st
from hankebot.mailer import signature_xml as sx
from hankebot.mailer.signatures import _parse_xml, inspect_signatures

ENVELOPED = SignatureConstructionMethod.enveloped.value
FILES = [("Lisa 2 pakkumuse vorm.docx", b"PK\x03\x04 pakkumuse vorm"), ("maksumus.xlsx", b"PK\x03\x04 hinnad")]


@pytest.fixture(scope="module")
def pki() -> LocalPKI:
    return LocalPKI()


def _tampered(cert: x509.Certificate, at: int) -> x509.Certificate:
    """The same certificate with one byte of its DER changed (near the end: the signature)."""
    der = bytearray(cert.public_bytes(Encoding.DER))
    der[at] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def _pairs(pki: LocalPKI) -> list[tuple[x509.Certificate, x509.Certificate]]:
    other = LocalPKI("Muu TEST Root CA")
    leaf = pki.person().cert
    bad_ca, bad_ocsp = _tampered(pki.issuing.cert, -5), _tampered(pki.ocsp.cert, -3)
    return [(pki.issuing.cert, pki.root.cert), (leaf, pki.issuing.cert), (pki.ocsp.cert, pki.issuing.cert),
            (pki.tsa.cert, pki.root.cert), (pki.root.cert, pki.root.cert), (leaf, pki.root.cert),
            (pki.issuing.cert, other.root.cert), (other.issuing.cert, pki.root.cert),
            (bad_ca, pki.root.cert), (bad_ocsp, pki.issuing.cert), (leaf, bad_ca), (pki.ocsp.cert, bad_ca)]


def test_remembered_issuer_checks_equal_fresh_ones_and_a_tampered_der_is_its_own(pki):
    pairs = _pairs(pki)
    fresh = [st.issued_by_fresh(c, i) for c, i in pairs]
    # a tampered signature of the CA does not change its key: what it issued still verifies under it
    assert fresh == [True, True, True, True, True, False, False, False, False, False, True, True]
    for order in (pairs, pairs[::-1]):  # the good ones remembered first, then the tampered ones first
        st.forget_links()
        for _ in range(2):  # the second time every answer is a remembered one
            assert [st.issued_by(c, i) for c, i in order] == [st.issued_by_fresh(c, i) for c, i in order]
    # the tampered CA has the good one's names: only its bytes tell them apart
    bad = _tampered(pki.issuing.cert, -5)
    assert (bad.subject, bad.issuer) == (pki.issuing.cert.subject, pki.issuing.cert.issuer)
    assert st.issued_by(pki.issuing.cert, pki.root.cert) and not st.issued_by(bad, pki.root.cert)
    assert len(st._links) == len({(st.der(c), st.der(i)) for c, i in pairs})


def test_the_link_memo_is_bounded(pki, monkeypatch):
    monkeypatch.setattr(st, "LINK_MEMO_SIZE", 4)
    st.forget_links()
    pairs = _pairs(pki)
    for _ in range(2):
        assert [st.issued_by(c, i) for c, i in pairs] == [st.issued_by_fresh(c, i) for c, i in pairs]
        assert len(st._links) <= 4
    st.forget_links()


def test_anchor_is_the_same_certificate_byte_for_byte(pki):
    store = st.TrustStore((pki.root.cert, pki.issuing.cert), "test")
    assert store.is_anchor(pki.root.cert) and store.is_anchor(x509.load_der_x509_certificate(st.der(pki.issuing.cert)))
    for cert in (_tampered(pki.issuing.cert, -5), _tampered(pki.root.cert, -2), pki.ocsp.cert, pki.tsa.cert):
        assert not store.is_anchor(cert)
        assert store.is_anchor(cert) == (st.fingerprint(cert) in {st.fingerprint(a) for a in store.anchors})


def _members(blob: bytes) -> tuple[bytes, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        m = {n: zf.read(n) for n in zf.namelist()}
    data = {n: d for n, d in m.items() if n != "mimetype" and not n.startswith("META-INF/")}
    return m["META-INF/signatures0.xml"], data


def _outcome(verify, xml: bytes, cert: x509.Certificate, data: dict[str, bytes]):
    config = XAdESSignatureConfiguration(require_x509=True, expect_references=True,
                                         verification_time=cert.not_valid_before_utc)
    try:
        results = verify(xml, x509_cert=cert, uri_resolver=lambda u: data.get(unquote(u)), expect_config=config)
    except Exception as exc:  # noqa: BLE001 - the refusal is the outcome compared
        return ("raised", type(exc).__name__, str(exc))
    return [(r.signed_data, r.signature_key, type(r).__name__) for r in results]


def _resigned(xml: bytes, key) -> bytes:
    """The document with its SignedInfo signed again (so that signxml goes on to the references)."""
    root = etree.fromstring(xml)
    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    der = key.sign(etree.tostring(root.find(".//ds:SignedInfo", ns), method="c14n"), ec.ECDSA(hashes.SHA256()))
    r, s_ = decode_dss_signature(der)
    root.find(".//ds:SignatureValue", ns).text = base64.b64encode(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root)


def _xml_cases(pki: LocalPKI):
    signer = pki.person()
    xml, data = _members(build_signed_asice(FILES, signer, pki))
    yield from _signed_info_cases(xml, data, signer.key)
    yield "good", xml, data
    yield "file changed", xml, {**data, FILES[0][0]: data[FILES[0][0]] + b"!"}
    yield "file missing", xml, {FILES[1][0]: data[FILES[1][0]]}
    yield "file is XML", *_members(build_signed_asice([("a.xml", b"<a>x</a>"), ("b.txt", b"b")], signer, pki))
    yield "signature value", *_members(build_signed_asice(FILES, signer, pki, Spoil(signature_value=True)))
    yield "digest garbled", xml.replace(b"<ds:DigestValue>", b"<ds:DigestValue>AAAA", 1), data
    yield "digest method", xml.replace(b'xmlenc#sha256"/><ds:DigestValue>', b'xmldsig#sha1"/><ds:DigestValue>', 1), data
    yield "unknown digest", xml.replace(b"http://www.w3.org/2001/04/xmlenc#sha256", b"urn:x", 1), data
    yield "no digest method", xml.replace(b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>',
                                          b"", 1), data
    yield "properties changed", xml.replace(b"<xades:SigningTime>2", b"<xades:SigningTime>1"), data
    body = xml.split(b"\n", 1)[1]
    yield "DTD", b'<!DOCTYPE x [<!ELEMENT x ANY>]>' + body, data
    yield "entity", b'<!DOCTYPE x [<!ENTITY e "z">]>' + body.replace(b"<xades:MimeType>", b"<xades:MimeType>&e;", 1), data
    yield "comment before", b"<!-- a -->" + body, data


def _transform(algorithm: str) -> bytes:
    return f'<ds:Transform Algorithm="{algorithm}"/>'.encode()


def _signed_info_cases(xml: bytes, data: dict[str, bytes], key):
    """References changed and SignedInfo signed again: signxml's reference steps run."""
    name = FILES[0][0].replace(" ", "%20")
    c14n11, enveloped = _transform("http://www.w3.org/2006/12/xml-c14n11"), _transform(ENVELOPED)
    props = b'URI="#S0-SignedProperties"'
    for label, changed in [
        ("transform on a file", xml.replace(f'URI="{name}">'.encode(),
                                            f'URI="{name}"><ds:Transforms>'.encode() + enveloped + b"</ds:Transforms>")),
        ("c14n transform on a file", xml.replace(f'URI="{name}">'.encode(),
                                                 f'URI="{name}"><ds:Transforms>'.encode() + c14n11 + b"</ds:Transforms>")),
        ("reference id", xml.replace(props, b'URI="#S1-SignedProperties"')),
        ("properties enveloped", xml.replace(c14n11, enveloped, 1)),
        ("properties enveloped and c14n", xml.replace(c14n11, enveloped + c14n11, 1)),
        ("properties exclusive c14n", xml.replace(c14n11, _transform("http://www.w3.org/2001/10/xml-exc-c14n#"), 1)),
        ("properties no transform", xml.replace(b"<ds:Transforms>" + c14n11 + b"</ds:Transforms>", b"", 1)),
        ("properties base64", xml.replace(c14n11, _transform("http://www.w3.org/2000/09/xmldsig#base64"), 1)),
        ("whole document", xml.replace(props, b'URI=""')),
        ("the signature value", xml.replace(props, b'URI="#S0-SIG"')),
        ("no URI", xml.replace(props, b"")),
        ("xpointer", xml.replace(props, b'URI="#xpointer(/)"')),
        ("ambiguous id", xml.replace(b"<xades:SigningTime>", b'<xades:SigningTime Id="S0-SignedProperties">')),
        ("resigned", xml),
    ]:
        yield label, _resigned(changed, key), data


def test_verification_on_our_tree_says_what_signxml_says_on_the_bytes(pki, monkeypatch):
    assert sx.signxml_as_read()  # the installed signxml is the one read: the shared tree is what runs
    used, get_root = [], sx.SharedTreeVerifier.get_root
    monkeypatch.setattr(sx.SharedTreeVerifier, "get_root", lambda self, d: used.append(d) or get_root(self, d))
    outcomes = {}
    for label, xml, data in _xml_cases(pki):
        cert = x509.load_pem_x509_certificate(
            b"-----BEGIN CERTIFICATE-----\n"
            + xml.split(b"<ds:X509Certificate>")[1].split(b"</ds:X509Certificate>")[0]
            + b"\n-----END CERTIFICATE-----\n")
        root = _parse_xml(xml)
        ours = _outcome(lambda x, **kw: sx.verify_xades(x, root, **kw), xml, cert, data)  # noqa: B023
        assert ours == _outcome(XAdESVerifier().verify, xml, cert, data), label
        assert etree.tostring(root) == etree.tostring(_parse_xml(xml)), label  # signxml left our tree as it was
        outcomes[label] = ours if ours[0] == "raised" else "verified"
    assert len(used) == len(outcomes) and all(isinstance(d, sx.Parsed) for d in used)
    kinds = {label: o if o == "verified" else o[1] for label, o in outcomes.items()}
    assert kinds == {
        "good": "verified", "file is XML": "verified", "comment before": "verified", "resigned": "verified",
        "properties no transform": "verified", "transform on a file": "verified",
        "file changed": "InvalidDigest", "properties changed": "InvalidDigest", "whole document": "InvalidDigest",
        "the signature value": "InvalidDigest", "properties exclusive c14n": "InvalidDigest",
        "properties enveloped": "InvalidDigest", "properties enveloped and c14n": "InvalidDigest",
        "signature value": "InvalidSignature", "digest garbled": "InvalidSignature", "digest method": "InvalidSignature",
        "unknown digest": "InvalidSignature", "file missing": "InvalidInput", "reference id": "InvalidInput",
        "no URI": "InvalidInput", "xpointer": "InvalidInput", "DTD": "InvalidInput", "entity": "InvalidInput",
        "ambiguous id": "DocumentInvalid", "no digest method": "DocumentInvalid",
        "c14n transform on a file": "TypeError", "properties base64": "TypeError"}


def test_other_signxml_code_gets_signxmls_own_verifier(monkeypatch):
    sx.signxml_as_read.cache_clear()
    monkeypatch.setitem(sx._CHECKED, (XMLVerifier, "_verify_reference"), "0" * 64)
    calls = []
    monkeypatch.setattr(XAdESVerifier, "verify", lambda self, data, **kw: calls.append((type(self), data, kw)))
    try:
        assert not sx.signxml_as_read()
        sx.verify_xades(b"<x/>", etree.fromstring(b"<x/>"), x509_cert=None)
        assert calls == [(XAdESVerifier, b"<x/>", {"x509_cert": None})]  # signxml's own, on the bytes
    finally:
        sx.signxml_as_read.cache_clear()


def test_reports_with_remembered_links_equal_reports_without(pki, tmp_path):
    store = st.load_trust_store(pki.write_trust_dir(tmp_path / "trust"))
    other = LocalPKI("Muu TEST Root CA")
    blobs = [build_signed_asice(FILES, pki.person(), pki), build_signed_asice(FILES, pki.e_seal(), pki),
             build_signed_asice(FILES, pki.person(self_signed=True), pki), build_signed_asice(FILES, other.person(), other),
             build_signed_asice(FILES, pki.person(), pki, Spoil(embed_chain=[_tampered(pki.issuing.cert, -5)])),
             build_signed_asice(FILES, pki.person(), pki, Spoil(ocsp_status="revoked")),
             build_signed_asice(FILES, pki.person(), pki, Spoil(change_file=True)),
             build_signed_asice(FILES, pki.person(), pki, Spoil(no_timestamp=True))]

    def reports():
        out = []
        for blob in blobs:
            xml, data = _members(blob)
            out.append(inspect_signatures("pakkumus.asice", {"META-INF/signatures0.xml": xml}, data, store))
        return out

    st.forget_links()
    first = reports()
    assert reports() == first  # everything remembered now
    st.forget_links()
    assert reports() == first
    assert [r[0].indication for r in first] == ["TOTAL-PASSED", "TOTAL-PASSED", "INDETERMINATE", "INDETERMINATE",
                                                "TOTAL-PASSED", "TOTAL-FAILED", "TOTAL-FAILED", "TOTAL-PASSED"]
