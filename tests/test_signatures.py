"""Digital signatures of ASiC-E containers made by a real local CA hierarchy (devstack/signing.py):
signxml checks the XML signature, the chain must reach a trust anchor, the RFC 3161 time-stamp
(made by `openssl ts`) and the OCSP response (cryptography's builder) must verify; each broken case
gives its own SiVa indication, sub-indication and Estonian reason."""
from __future__ import annotations

import base64
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hankebot.core import signatures as s
from hankebot.core.signatures import describe, signature_problems
from hankebot.devstack import sample_mail as sm
from hankebot.devstack.signing import LocalPKI, Spoil, build_signed_asice
from hankebot.mailer.attachments import AttachmentLimits
from hankebot.mailer.mime import parse_message
from hankebot.mailer.signature_trust import (
    build_chain,
    common_name,
    default_anchor_files,
    fingerprint,
    load_certificates,
    load_trust_store,
)
from hankebot.mailer.signatures import inspect_signatures

FILES = [("Lisa 2 pakkumuse vorm.docx", b"PK\x03\x04 pakkumuse vorm"), ("maksumus.xlsx", b"PK\x03\x04 hinnad")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pki() -> LocalPKI:
    return LocalPKI()


@pytest.fixture(scope="module")
def store(pki, tmp_path_factory):
    return load_trust_store(pki.write_trust_dir(tmp_path_factory.mktemp("trust")))


def _check(container: bytes, store) -> s.SignatureReport:
    with zipfile.ZipFile(io.BytesIO(container)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    sigs = {n: d for n, d in members.items() if n.startswith("META-INF/signatures")}
    data = {n: d for n, d in members.items() if n != "mimetype" and not n.startswith("META-INF/")}
    [report] = inspect_signatures("pakkumus.asice", sigs, data, store)
    return report


def test_valid_lt_signature_passes_with_signer_time_and_level(pki, store):
    r = _check(build_signed_asice(FILES, pki.person(), pki), store)
    assert (r.indication, r.sub_indication, r.errors) == (s.TOTAL_PASSED, None, ())
    assert (r.signer_name, r.signer_code, r.signed_by) == ("Mari-Liis Männik", "47101010033",
                                                           "MÄNNIK,MARI-LIIS,47101010033")
    # like a trusted list, the store names the issuing CA: the chain ends there
    assert (r.signature_format, r.signature_level, r.trust_anchor) == ("XAdES_BASELINE_LT", s.QESIG,
                                                                       "TEST of ESTEID-HB 2026")
    best = dt.datetime.fromisoformat(r.best_signature_time)  # the time-stamp's genTime
    assert abs(best - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(hours=1)
    assert r.claimed_signing_time and r.claimed_signing_time.endswith("Z")
    line = describe(r)
    assert "allkiri kehtib" in line and "Mari-Liis Männik (isikukood 47101010033)" in line
    assert "kvalifitseeritud e-allkiri" in line and "allkirjastamise aeg" in line


def _expired(pki):
    return pki.person(not_before=pki.now - dt.timedelta(days=400), not_after=pki.now - dt.timedelta(days=1))


OTHER = LocalPKI("Muu TEST Root CA")
CASES = {
    "expired": (lambda p: build_signed_asice(FILES, _expired(p), p), s.TOTAL_FAILED, s.EXPIRED, "aegunud"),
    "revoked": (lambda p: build_signed_asice(FILES, p.person(), p, Spoil(ocsp_status="revoked")),
                s.TOTAL_FAILED, s.REVOKED, "tühistatud"),
    "changed data file": (lambda p: build_signed_asice(FILES, p.person(), p, Spoil(change_file=True)),
                          s.TOTAL_FAILED, s.HASH_FAILURE, "pärast allkirjastamist muudetud"),
    "broken signature": (lambda p: build_signed_asice(FILES, p.person(), p, Spoil(signature_value=True)),
                         s.TOTAL_FAILED, s.SIG_CRYPTO_FAILURE, "allkiri on rikutud"),
    "self-signed": (lambda p: build_signed_asice(FILES, p.person(self_signed=True), p),
                    s.INDETERMINATE, s.NO_CERTIFICATE_CHAIN_FOUND, "usaldatud sertifitseerimiskeskuse"),
    "untrusted root": (lambda p: build_signed_asice(FILES, OTHER.person(), OTHER),
                       s.INDETERMINATE, s.NO_CERTIFICATE_CHAIN_FOUND, "usaldatud sertifitseerimiskeskuse"),
    "no OCSP": (lambda p: build_signed_asice(FILES, p.person(), p, Spoil(no_ocsp=True)),
                s.INDETERMINATE, s.TRY_LATER, "kehtivuskinnitus"),
    "no time evidence (B level)": (lambda p: build_signed_asice(FILES, p.person(), None),
                                   s.INDETERMINATE, s.NO_POE, "tõendamata"),
    "unsigned file added": (lambda p: build_signed_asice(FILES, p.person(), p, Spoil(extra_unsigned_file=True)),
                            s.TOTAL_FAILED, s.FORMAT_FAILURE, "katmata faile: lisa.txt"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_broken_case_has_its_indication_and_reason(pki, store, case):
    make, indication, sub, words = CASES[case]
    r = _check(make(pki), store)
    assert (r.indication, r.sub_indication) == (indication, sub), r.errors
    assert words in r.reason and r.errors
    assert r.signer_code == "47101010033"  # who signed is known even when the signature fails
    assert f"Põhjus: {r.reason}" in describe(r)


def test_company_e_seal_is_a_legal_person_with_its_registry_code(pki, store):
    r = _check(build_signed_asice(FILES, pki.e_seal(), pki), store)
    assert (r.indication, r.legal_person, r.signer_name, r.signer_code) == (s.TOTAL_PASSED, True, "Koolitus OÜ",
                                                                            "12345678")
    assert "Koolitus OÜ (registrikood 12345678)" in describe(r)
    assert signature_problems([r], required=True, offer_code="12345678") == []
    [p] = signature_problems([r], required=True, offer_code="87654321")
    assert p.code == "signer_mismatch"


def test_time_mark_signature_takes_its_time_from_the_bound_ocsp_response(pki, store):
    r = _check(build_signed_asice(FILES, pki.person(), pki, Spoil(no_timestamp=True)), store)
    assert (r.indication, r.signature_format) == (s.TOTAL_PASSED, "XAdES_BASELINE_LT_TM")
    assert r.best_signature_time
    unbound = _check(build_signed_asice(FILES, pki.person(), pki, Spoil(no_timestamp=True, wrong_nonce=True)), store)
    assert (unbound.indication, unbound.sub_indication) == (s.INDETERMINATE, s.NO_POE)
    assert any("nonce" in e for e in unbound.errors)


def test_revoked_after_signing_still_passes_with_a_warning(pki, store):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
    r = _check(build_signed_asice(FILES, pki.person(), pki, Spoil(ocsp_status="revoked", revoked_at=later)), store)
    assert r.indication == s.TOTAL_PASSED and any("revoked after signing" in w for w in r.warnings)


def test_time_stamp_over_other_data_is_no_proof_of_time(pki, store):
    blob = build_signed_asice(FILES, pki.person(), pki)
    other = build_signed_asice(FILES, pki.person(), pki)  # a genuine token, but for another signature
    token = lambda b: re.search(rb"<xades:EncapsulatedTimeStamp>([^<]+)<", _sig_xml(b)).group(1)  # noqa: E731
    swapped = _replace_sig_xml(blob, _sig_xml(blob).replace(token(blob), token(other)))
    r = _check(swapped, store)
    assert (r.indication, r.sub_indication) == (s.INDETERMINATE, s.NO_POE)
    assert any("time-stamp not valid" in e for e in r.errors)


def test_ocsp_response_from_an_untrusted_responder_is_not_used(pki, store):
    blob = build_signed_asice(FILES, pki.person(), pki)
    forged = OTHER.ocsp_response(pki.person(), issuer=pki.issuing)  # signed by another CA's responder
    xml = _sig_xml(blob)
    xml = re.sub(rb"<xades:EncapsulatedOCSPValue>[^<]+<",
                 b"<xades:EncapsulatedOCSPValue>" + base64.b64encode(forged) + b"<", xml)
    r = _check(_replace_sig_xml(blob, xml), store)
    assert (r.indication, r.sub_indication) == (s.INDETERMINATE, s.TRY_LATER)
    assert any("OCSP" in e for e in r.errors)


def test_garbage_in_the_unsigned_properties_keeps_the_signer(pki, store):
    blob = build_signed_asice(FILES, pki.person(), pki)
    xml = re.sub(rb"<xades:EncapsulatedOCSPValue>[^<]+<", b"<xades:EncapsulatedOCSPValue>%%%not base64<", _sig_xml(blob))
    r = _check(_replace_sig_xml(blob, xml), store)  # not valid against the XAdES schema
    assert (r.indication, r.sub_indication, r.signer_code) == (s.TOTAL_FAILED, s.FORMAT_FAILURE, "47101010033")
    xml = re.sub(rb"<xades:EncapsulatedOCSPValue>[^<]+<", b"<xades:EncapsulatedOCSPValue>AAAA<", _sig_xml(blob))
    r = _check(_replace_sig_xml(blob, xml), store)  # base64, but no OCSP response
    assert (r.indication, r.sub_indication, r.signer_code) == (s.INDETERMINATE, s.TRY_LATER, "47101010033")
    assert any("unreadable OCSP" in e for e in r.errors)
    xml = re.sub(rb"<xades:EncapsulatedTimeStamp>[^<]+<", b"<xades:EncapsulatedTimeStamp>MIIB<", _sig_xml(blob))
    r = _check(_replace_sig_xml(blob, xml), store)
    assert (r.indication, r.sub_indication, r.signer_code) == (s.INDETERMINATE, s.NO_POE, "47101010033")


def _sig_xml(blob: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return zf.read("META-INF/signatures0.xml")


def _replace_sig_xml(blob: bytes, xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, xml if info.filename == "META-INF/signatures0.xml" else src.read(info.filename))
    return out.getvalue()


def _only(tmp_path: Path, certs: dict, *names: str) -> Path:
    folder = tmp_path / "roots"
    folder.mkdir()
    for n in names:
        (folder / n).write_bytes(certs[n].public_bytes(Encoding.PEM))
    return folder


def test_packaged_sk_anchors_are_the_documented_ones_and_do_not_trust_a_local_ca(pki, tmp_path):
    files = default_anchor_files()
    names = {f.name for f in files}
    assert "esteid2018.pem" in names and "EID_Q_2024E.pem" in names
    assert not any(n.lower().startswith(("test", "demo")) for n in names)
    documented = (ROOT / "docs" / "trust-anchors.md").read_text(encoding="utf-8")
    for f in files:
        for cert in load_certificates(f.read_bytes()):
            assert fingerprint(cert) in documented, f"{f.name} not in docs/trust-anchors.md"
    default = load_trust_store()
    assert len(default.anchors) >= 10 and default.problems == ()
    # the real SK / Zetes links verify (RSA and ECDSA signatures by the real roots)
    real = {f.name: load_certificates(f.read_bytes())[0] for f in files}
    roots = load_trust_store(_only(tmp_path, real, "EE_Certification_Centre_Root_CA.pem", "EEGovCA2025.pem"))
    for name, root_cn in (("EID-SK_2016.pem", "EE Certification Centre Root CA"), ("ESTEID2025.pem", "EEGovCA2025")):
        chain = build_chain(real[name], roots, real.values())
        assert chain.trusted and common_name(chain.certs[-1]) == root_cn, name
    r = _check(build_signed_asice(FILES, pki.person(), pki), default)
    assert (r.indication, r.sub_indication) == (s.INDETERMINATE, s.NO_CERTIFICATE_CHAIN_FOUND)


def test_chain_through_the_intermediate_the_container_carries(pki, tmp_path):
    (tmp_path / "root-only").mkdir()
    (tmp_path / "root-only" / "root.pem").write_bytes(pki.root.pem())
    root_only = load_trust_store(tmp_path / "root-only")
    r = _check(build_signed_asice(FILES, pki.person(), pki), root_only)
    assert (r.indication, r.trust_anchor) == (s.TOTAL_PASSED, "Hankebot TEST Root CA")
    # without the intermediate in CertificateValues the path cannot be built
    bare = build_signed_asice(FILES, pki.person(), pki, Spoil(embed_chain=[pki.tsa.cert]))
    assert _check(bare, root_only).sub_indication == s.NO_CERTIFICATE_CHAIN_FOUND


def test_admin_trust_dir_replaces_the_anchors(pki, tmp_path):
    OTHER.write_trust_dir(tmp_path / "other")
    r = _check(build_signed_asice(FILES, pki.person(), pki), load_trust_store(tmp_path / "other"))
    assert r.indication == s.INDETERMINATE
    missing = load_trust_store(tmp_path / "nowhere")
    assert missing.anchors == () and "no such folder" in missing.problems[0]


def test_mime_layer_uses_the_configured_trust_dir(pki, tmp_path):
    container = build_signed_asice(FILES, pki.person(), pki)
    raw = sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=[("pakkumus.asice", container)])
    [r] = parse_message(raw, AttachmentLimits(trust_dir=str(pki.write_trust_dir(tmp_path / "t")))).signatures
    assert r.indication == s.TOTAL_PASSED and r.container == "pakkumus.asice"
    [untrusted] = parse_message(raw).signatures  # the packaged SK anchors
    assert untrusted.sub_indication == s.NO_CERTIFICATE_CHAIN_FOUND


def _report(**kw) -> s.SignatureReport:
    base = dict(container="p.asice", indication=s.TOTAL_PASSED, signer_name="Mari-Liis Männik",
                signer_code="47101010033")
    return s.SignatureReport(**{**base, **kw})


def test_problems_for_the_expert():
    assert [p.code for p in signature_problems([], required=True)] == ["signature_missing"]
    assert signature_problems([], required=False) == []
    failed = _report(indication=s.TOTAL_FAILED, sub_indication=s.HASH_FAILURE, reason="faili on muudetud")
    codes = [p.code for p in signature_problems([failed], required=True)]
    assert codes == ["signature_failed", "signature_required"]
    assert [p.code for p in signature_problems([_report(indication=s.INDETERMINATE)], required=False)] == [
        "signature_indeterminate"]
    assert signature_problems([_report()], required=True, offer_code="47101010033") == []


def test_signer_cross_checked_against_the_offer_form():
    # natural person: the personal code on the offer form must be the signer's
    [p] = signature_problems([_report()], required=False, offer_code="38001010000")
    assert p.code == "signer_mismatch" and "isikukood 38001010000" in p.message
    # legal person: the signer named in the offer form (contact / representative) is a match
    text = "Pakkuja: Koolitus OÜ, registrikood 12345678. Kontaktisik: Mari-Liis Männik, tel 5555"
    assert signature_problems([_report()], required=False, offer_code="12345678", offer_text=text) == []
    [p] = signature_problems([_report()], required=False, offer_code="12345678", offer_text="Esindaja: Jaan Tamm")
    assert p.code == "signer_mismatch" and "registrikood 12345678" in p.message
    # an e-seal of the company itself
    seal = _report(signer_name="Koolitus OÜ", signer_code="12345678", legal_person=True)
    assert signature_problems([seal], required=False, offer_code="12345678") == []


def test_report_round_trips_through_the_stored_dict():
    r = _report(best_signature_time="2026-01-14T08:29:11+00:00", signature_level=s.QESIG, warnings=("w",))
    d = r.as_dict()
    assert (d["signer"], d["code"], d["status"]) == ("Mari-Liis Männik", "47101010033", s.TOTAL_PASSED)
    assert s.report_from_dict(d) == r
    assert describe(d) == describe(r) and "14.01.2026 08:29 UTC" in describe(d)


# --- where the expert sees it: the bid card, the new-bid notification, the protocol -------------

from helpers import add_bid  # noqa: E402
from test_bot import AFTER, STAFF, api, bot, clock, ctx, say  # noqa: E402, F401 - fixtures


async def test_bid_card_shows_each_signature_once(ctx, api, bot, clock, pki, store):  # noqa: F811
    failed = _check(build_signed_asice(FILES, pki.person(), pki, Spoil(change_file=True)), store)
    problems = signature_problems([failed], required=False)
    bid_id = add_bid(ctx, "kadri", problems=[p.as_dict() for p in problems])
    with ctx.uow() as uow:
        b = uow.repo.bid(bid_id)
        b.signatures = [failed.as_dict()]
        uow.repo.s.add(b)
        uow.commit()
    clock.set(AFTER)
    text = (await say(api, f"/bid {bid_id}"))["text"]
    assert "✍️ pakkumus.asice: allkiri ei kehti, allkirjastaja Mari-Liis Männik (isikukood 47101010033)" in text
    assert "Põhjus: allkirjastatud faili on pärast allkirjastamist muudetud" in text
    assert text.count("allkiri ei kehti") == 1  # the verdict's problem is not repeated


def test_new_bid_notification_and_protocol_notes_carry_the_signature(pki, store):
    from hankebot.bot import texts
    from decimal import Decimal

    from hankebot.core.evaluation import BidForScoring, Criterion, ScoringRules
    from hankebot.core.scoring import score_part
    from hankebot.service.protocol import _notes

    ok = _check(build_signed_asice(FILES, pki.person(), pki), store)
    text = texts.new_bid_text("302834", "Mari-Liis Männik", [2], dt.datetime(2026, 1, 19, 14, 0),
                              signatures=[describe(ok)])
    assert "✍️ Digiallkiri:" in text and "allkiri kehtib" in text and "kvalifitseeritud e-allkiri" in text
    bid = BidForScoring(bid_id="1", bidder_key="mari", bidder_name="Mari-Liis Männik", price="900",
                        received_at=dt.datetime(2026, 1, 19, 14, 0), signatures=[describe(ok)])
    price = Criterion("price", "Maksumus", Decimal(100), "price", "seed")
    part = score_part((price,), [bid], ScoringRules(), 2, "II moodul")
    assert ("Mari-Liis Männik", f"Digiallkiri: {describe(ok)}") in _notes(part)


def _config_with_real_forms(tmp_path: Path, signatures: dict) -> Path:
    from hankebot.service.config import load_config
    from tests.helpers import make_config

    path = make_config(tmp_path, edit=lambda d: d.update(signatures=signatures))
    loaded = load_config(path, check_files=False)
    for p in loaded.settings.procurements:  # the shipped blank forms instead of placeholders
        for f in p.forms:
            (loaded.resolve(p.forms_dir) / f.file).write_bytes((ROOT / "forms" / "302834" / f.file).read_bytes())
    return path


def test_check_config_names_the_trust_anchors_and_refuses_an_empty_trust_dir(pki, tmp_path):
    import subprocess
    import sys

    hankebot = str(Path(sys.executable).with_name("hankebot"))
    (tmp_path / "empty").mkdir()
    bad = _config_with_real_forms(tmp_path, {"trust_dir": str(tmp_path / "empty")})
    r = subprocess.run([hankebot, "check-config", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "signatures.trust_dir" in r.stderr, r.stderr
    trust = pki.write_trust_dir(tmp_path / "trust")
    good = _config_with_real_forms(tmp_path, {"trust_dir": str(trust), "required": True})
    r = subprocess.run([hankebot, "check-config", str(good)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"signatures: 2 trust anchors from {trust}, signature required" in r.stdout
    r = subprocess.run([hankebot, "check-config", "config.toml"], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 0 and "trust anchors from esteid-certificates" in r.stdout


def test_extraction_records_reports_and_problems_for_a_bid(pki, tmp_path):
    from decimal import Decimal

    from hankebot.core.models import PriceBasis
    from hankebot.devstack import sample_forms as sf
    from hankebot.service.config import load_config
    from hankebot.service.extract import extract
    from tests.helpers import make_config

    trust = pki.write_trust_dir(tmp_path / "trust")
    cfg = load_config(make_config(tmp_path, edit=lambda d: d.update(signatures={"trust_dir": str(trust),
                                                                                  "required": True})))
    bidder = cfg.settings.procurements[0].bidders[0]
    offer = sf.make_offer_form(bidder.name, "38001010000", [2], ["Mari Maasikas"], "Materjalid.", "Meetodid.")
    cost = sf.make_cost_form(PriceBasis.NATURAL_TOTAL, Decimal("1000"))
    files = [("Lisa 2 pakkumuse vorm.docx", offer), ("Lisa 3 maksumuse vorm.xlsx", cost)]

    def bid(container: bytes):
        raw = sm.bid_message(bidder.email, bidder.name, attachments=[("pakkumus.asice", container)])
        return extract(cfg, raw, dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.timezone.utc))

    good = bid(build_signed_asice(files, pki.person(), pki))
    [sig] = good.to_json()["signatures"]
    assert (sig["indication"], sig["signer"], sig["code"]) == (s.TOTAL_PASSED, "Mari-Liis Männik", "47101010033")
    codes = [p.code for p in good.all_problems()]
    assert "signer_mismatch" in codes and "signature_failed" not in codes  # offer form names 38001010000
    broken = bid(build_signed_asice(files, pki.person(), pki, Spoil(signature_value=True)))
    codes = [p.code for p in broken.all_problems()]
    assert "signature_failed" in codes and "signature_required" in codes
    unsigned = extract(cfg, sm.bid_message(bidder.email, bidder.name, attachments=files),
                       dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.timezone.utc))
    assert "signature_missing" in [p.code for p in unsigned.all_problems()]


def test_a_replaced_anchor_file_is_read_again(pki, tmp_path):
    folder = pki.write_trust_dir(tmp_path / "t")
    assert len(load_trust_store(folder).anchors) == 2
    (folder / "test-root.pem").write_bytes(pki.root.pem() + OTHER.root.pem())
    assert len(load_trust_store(folder).anchors) == 3


def _unreadable_name(cert: x509.Certificate) -> x509.Certificate:
    """The certificate with one byte of a UTF8String in its names made invalid UTF-8: cryptography loads it,
    OpenSSL (inside rfc3161-client's Rust code) cannot read it and panics."""
    der = bytearray(cert.public_bytes(Encoding.DER))
    at = der.find(b"\x0c")
    while not (0x03 < der[at + 1] < 0x80 and bytes(der[at + 2:at + 2 + der[at + 1]]).isascii()):
        at = der.find(b"\x0c", at + 1)
    der[at + 3] = 0xFF
    return x509.load_der_x509_certificate(bytes(der))


def test_a_certificate_whose_name_a_library_panics_over_is_a_result_not_a_crash(pki, store):
    """A container carrying such a certificate (hostile or broken) gets a report with its signer, and the
    message is read: the library's PanicException (a BaseException) does not escape."""
    from hankebot.mailer.signature_trust import verify_timestamp

    bad = _unreadable_name(pki.issuing.cert)
    ts = verify_timestamp(pki.timestamp(b"x"), b"x", store, [bad])
    assert not ts.ok and "PanicException" in ts.detail
    container = build_signed_asice(FILES, pki.person(), pki, Spoil(embed_chain=[bad, pki.issuing.cert]))
    r = _check(container, store)
    assert r.indication != s.TOTAL_PASSED and r.signer_name == "Mari-Liis Männik"
    raw = sm.bid_message("mari@koolitus.ee", "Mari Männik", attachments=[("pakkumus.asice", container)])
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == [name for name, _ in FILES]
    assert len(parsed.signatures) == 1 and parsed.signatures[0].indication != s.TOTAL_PASSED
