"""Trust anchors, certificate chains, embedded OCSP responses and RFC 3161 time-stamps, all offline.

Trust anchors: by default the SK ID Solutions (and Zetes) production certificates that the
`esteid-certificates` package ships (test and demo certificates left out); an admin can point
`[signatures] trust_dir` at a folder of PEM/DER files instead (see README "Digital signatures").
A chain is trusted when it reaches a certificate of the store, like a trusted list, which names the
issuing CAs (ESTEID2018, EID-SK 2016, ...) as well as the roots.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hankebot.mailer.forms.text import is_fatal

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
MAX_CHAIN = 8
LINK_MEMO_SIZE = 1024  # remembered certificate -> issuer signature checks (process-wide)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def der(cert: x509.Certificate) -> bytes:
    """The certificate's DER encoding (what its fingerprint is the SHA-256 of)."""
    return cert.public_bytes(serialization.Encoding.DER)


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, or the one DER certificate."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


@dataclass(frozen=True)
class TrustStore:
    anchors: tuple[x509.Certificate, ...]
    source: str  # where they came from, for logs and check-config
    problems: tuple[str, ...] = field(default_factory=tuple)  # files that could not be read

    @functools.cached_property
    def _ders(self) -> frozenset[bytes]:
        return frozenset(der(c) for c in self.anchors)

    def is_anchor(self, cert: x509.Certificate) -> bool:
        """The certificate is one of the anchors, byte for byte (the same DER, so the same fingerprint)."""
        return der(cert) in self._ders


def _production_file(path: Path) -> bool:
    low = path.name.lower()
    return path.suffix.lower() in CERT_SUFFIXES and not low.startswith(("test", "demo"))


def default_anchor_files() -> list[Path]:
    """The production certificates shipped by the esteid-certificates package (SK ID Solutions, Zetes)."""
    try:
        import esteid_certificates  # noqa: PLC0415 - optional at import time, a dependency in pyproject
    except ImportError:
        return []
    files = Path(esteid_certificates.__file__).parent / "files"
    return sorted(p for p in files.rglob("*") if p.is_file() and _production_file(p))


def load_trust_store(trust_dir: str | Path | None = None) -> TrustStore:
    """The admin's folder (every PEM/DER certificate file in it) or the packaged SK certificates."""
    if trust_dir:
        folder = Path(trust_dir).expanduser()
        if not folder.is_dir():
            return TrustStore((), str(folder), (f"{folder}: no such folder",))
        files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in CERT_SUFFIXES)
        source = str(folder)
    else:
        files, source = default_anchor_files(), "esteid-certificates"
    stamped = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        stamped.append((f, st.st_mtime_ns, st.st_size))
    return _load_files(tuple(stamped), source)  # a replaced file (new mtime/size) is read again


@functools.lru_cache(maxsize=8)
def _load_files(files: tuple[tuple[Path, int, int], ...], source: str) -> TrustStore:
    anchors, problems, seen = [], [], set()
    for f, _, _ in files:
        try:
            certs = load_certificates(f.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"{f.name}: {exc}")
            continue
        for c in certs:
            if fingerprint(c) not in seen:
                seen.add(fingerprint(c))
                anchors.append(c)
    return TrustStore(tuple(anchors), source, tuple(problems))


# --- chains ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    certs: tuple[x509.Certificate, ...]  # leaf first; the last one is the anchor when trusted
    trusted: bool
    detail: str = ""

    @property
    def anchor(self) -> x509.Certificate | None:
        return self.certs[-1] if self.trusted else None

    def issuer_of_leaf(self) -> x509.Certificate | None:
        return self.certs[1] if len(self.certs) > 1 else None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # old roots carry no extensions


def issued_by_fresh(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """cryptography checks the issuer name and the signature (RSA, RSA-PSS, ECDSA, Ed25519)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


_links: dict[tuple[bytes, bytes], bool] = {}
_links_lock = threading.Lock()


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """issued_by_fresh, remembered by the two certificates' exact DER bytes: the answer depends on
    nothing else (no time, no store), and the same CA and OCSP responder certificates come in
    every bid. The oldest answer goes when LINK_MEMO_SIZE are kept; an error is not remembered."""
    key = (der(cert), der(issuer))
    with _links_lock:
        known = _links.get(key)
    if known is not None:
        return known
    answer = issued_by_fresh(cert, issuer)
    with _links_lock:
        if len(_links) >= LINK_MEMO_SIZE:
            del _links[next(iter(_links))]
        _links[key] = answer
    return answer


def forget_links() -> None:
    with _links_lock:
        _links.clear()


def build_chain(leaf: x509.Certificate, store: TrustStore, extra: Iterable[x509.Certificate] = ()) -> Chain:
    """Path building from the leaf to a trust anchor through `extra` (certificates the container
    carries) and the store. cryptography's own verifier (x509.verification) enforces the Web PKI
    profile (TLS key usages, subjectAltName), which signing certificates do not meet, so the path is
    walked here and each link is checked by cryptography's verify_directly_issued_by."""
    pool = list(store.anchors) + [c for c in extra if not store.is_anchor(c)]
    chain = [leaf]
    while len(chain) <= MAX_CHAIN:
        cur = chain[-1]
        if store.is_anchor(cur):
            return Chain(tuple(chain), True)
        nxt = next((c for c in pool if c.subject == cur.issuer and c not in chain and _is_ca(c)
                    and issued_by(cur, c)), None)
        if nxt is None:
            self_signed = cur.subject == cur.issuer and issued_by(cur, cur)
            return Chain(tuple(chain), False, "self-signed, not a trust anchor" if self_signed
                         else f"issuer {cur.issuer.rfc4514_string()} not found")
        chain.append(nxt)
    return Chain(tuple(chain), False, "chain too long")


def valid_at(cert: x509.Certificate, when: datetime) -> str | None:
    """None when `when` lies in the validity period, else "expired" / "not_yet_valid"."""
    if when > cert.not_valid_after_utc:
        return "expired"
    if when < cert.not_valid_before_utc:
        return "not_yet_valid"
    return None


# --- OCSP ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OcspResult:
    ok: bool  # signature valid, responder trusted, response about this certificate
    status: str | None = None  # "good" / "revoked" / "unknown"
    produced_at: datetime | None = None
    revoked_at: datetime | None = None
    responder: str | None = None
    detail: str = ""
    nonce: bytes | None = None  # BDOC time-marks: DigestInfo of the signature value


def nonce_binds(nonce: bytes | None, signature_value: bytes) -> bool:
    """BDOC 2.1 time-mark: the OCSP nonce is a DER DigestInfo over the decoded ds:SignatureValue, which
    ties the OCSP response (and so the signing time) to this signature. The digest is looked for
    at the end of the DigestInfo for each algorithm BDOC allows."""
    if not nonce:
        return False
    return any(nonce.endswith(h(signature_value).digest()) for h in
               (hashlib.sha256, hashlib.sha224, hashlib.sha384, hashlib.sha512, hashlib.sha1))


def verify_ocsp(der: bytes, leaf: x509.Certificate, issuer: x509.Certificate | None, store: TrustStore,
                extra: Iterable[x509.Certificate] = ()) -> OcspResult:
    """An embedded OCSP response about `leaf`: parsed by cryptography, which does not verify its
    signature; that one call (public key over tbsResponseData) is done here. The responder must be
    the issuing CA itself or carry id-kp-OCSPSigning and chain to a trust anchor."""
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return OcspResult(False, detail=f"unreadable OCSP response: {exc}")
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspResult(False, detail=f"OCSP status {resp.response_status.name}")
    extra = list(extra)
    candidates = list(resp.certificates) + extra + ([issuer] if issuer else []) + list(store.anchors)
    responder = next((c for c in candidates if _is_responder(resp, c)), None)
    if responder is None:
        return OcspResult(False, detail="OCSP responder certificate not found")
    produced = resp.produced_at_utc
    name = common_name(responder)
    if not _verify_raw(responder, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm):
        return OcspResult(False, produced_at=produced, responder=name, detail="OCSP signature invalid")
    if not (issuer is not None and responder == issuer):
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = []
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            return OcspResult(False, produced_at=produced, responder=name, detail="responder lacks OCSPSigning")
        if not build_chain(responder, store, extra + list(resp.certificates)).trusted:
            return OcspResult(False, produced_at=produced, responder=name, detail="OCSP responder not trusted")
        if valid_at(responder, produced):
            return OcspResult(False, produced_at=produced, responder=name, detail="responder certificate not valid")
    if resp.serial_number != leaf.serial_number or (issuer is not None and not _same_issuer(resp, leaf, issuer)):
        return OcspResult(False, produced_at=produced, responder=name, detail="OCSP response is for another certificate")
    status = {ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked"}.get(resp.certificate_status,
                                                                                          "unknown")
    revoked = resp.revocation_time_utc if status == "revoked" else None
    try:
        nonce = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except (x509.ExtensionNotFound, ValueError):
        nonce = None
    return OcspResult(True, status, produced, revoked, name, nonce=nonce)


def _is_responder(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if resp.responder_name is not None:
        return cert.subject == resp.responder_name
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # responderID byKey is SHA-1 of the subjectPublicKey BIT STRING; the key identifier extension says the same
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return resp.responder_key_hash in (ski, x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest,
                                       hashlib.sha1(spki).digest())


def _same_issuer(resp: ocsp.OCSPResponse, leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, resp.hash_algorithm).build()
    return req.issuer_key_hash == resp.issuer_key_hash and req.issuer_name_hash == resp.issuer_name_hash


def _verify_raw(cert: x509.Certificate, signature: bytes, data: bytes, algo: hashes.HashAlgorithm | None) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            key.verify(signature, data, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(signature, data, ec.ECDSA(algo))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --- RFC 3161 time-stamps -----------------------------------------------------------------------

@dataclass(frozen=True)
class TimestampResult:
    ok: bool
    gen_time: datetime | None = None
    tsa: str | None = None
    detail: str = ""


def verify_timestamp(token: bytes, message: bytes, store: TrustStore,
                     extra: Iterable[x509.Certificate] = ()) -> TimestampResult:
    """An RFC 3161 TimeStampToken over `message` (XAdES: the canonical ds:SignatureValue element),
    verified by rfc3161-client: CMS signature, TSA certificate (critical id-kp-timeStamping) and its
    chain at genTime to the trust store, and the message imprint."""
    import rfc3161_client  # noqa: PLC0415 - a dependency; imported where used

    try:
        tsr = rfc3161_client.decode_timestamp_response(_wrap_token(token))
        gen_time = tsr.tst_info.gen_time
    except BaseException as exc:  # noqa: BLE001 - the Rust parser raises its own types, and may panic
        if is_fatal(exc):
            raise
        return TimestampResult(False, detail=f"unreadable time-stamp: {exc}"[:300])
    gen_time = gen_time if gen_time.tzinfo else gen_time.replace(tzinfo=timezone.utc)
    builder = rfc3161_client.VerifierBuilder()
    for c in store.anchors:
        builder = builder.add_root_certificate(c)
    for c in extra:
        if not store.is_anchor(c):
            builder = builder.add_intermediate_certificate(c)
    tsa = None
    try:
        certs = [x509.load_der_x509_certificate(c) for c in tsr.signed_data.certificates]
        tsa = common_name(certs[0]) if certs else None
        if not store.anchors:
            return TimestampResult(False, gen_time, tsa, "no trust anchors")
        builder.build().verify_message(tsr, message)
    except BaseException as exc:  # noqa: BLE001 - VerificationError, ValueError from the chain check, or a
        if is_fatal(exc):  # panic of its Rust code (PanicException: an embedded certificate whose
            raise  # name OpenSSL cannot read)
        return TimestampResult(False, gen_time, tsa, f"time-stamp not valid: {type(exc).__name__}: {exc}"[:300])
    return TimestampResult(True, gen_time, tsa)


def _wrap_token(token: bytes) -> bytes:
    """TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted), timeStampToken } around the token
    XAdES carries, so rfc3161-client (which reads responses) can check it."""
    body = bytes.fromhex("3003020100") + token
    return b"\x30" + _der_len(len(body)) + body


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
