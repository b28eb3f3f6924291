"""The result of validating one digital signature, shaped like the state validation service's (SiVa)
report, and the one place that turns it into Estonian text and into problems for the expert.

Indications follow ETSI EN 319 102-1: TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE, with a
sub-indication (HASH_FAILURE, SIG_CRYPTO_FAILURE, REVOKED, EXPIRED, NO_CERTIFICATE_CHAIN_FOUND, ...).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from hankebot.core.problems import Problem

TOTAL_PASSED = "TOTAL-PASSED"
TOTAL_FAILED = "TOTAL-FAILED"
INDETERMINATE = "INDETERMINATE"

# sub-indications used here (ETSI EN 319 102-1 clause 5.1.3)
FORMAT_FAILURE = "FORMAT_FAILURE"
HASH_FAILURE = "HASH_FAILURE"
SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
REVOKED = "REVOKED"
EXPIRED = "EXPIRED"
NOT_YET_VALID = "NOT_YET_VALID"
NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
TRY_LATER = "TRY_LATER"  # no revocation information in the container
NO_POE = "NO_POE"  # no trustworthy signing time (time-stamp or OCSP) in the container
SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"

QESIG = "QESIG"  # qualified electronic signature (qualified certificate on a QSCD)
ADESIG_QC = "ADESIG_QC"  # advanced signature with a qualified certificate
ADESIG = "ADESIG"
NOT_ADES = "NOT_ADES"

# problem codes that repeat a signature's own verdict (a reader showing the signature lines may skip them)
VERDICT_CODES = frozenset({"signature_failed", "signature_indeterminate"})

_LEVEL_ET = {QESIG: "kvalifitseeritud e-allkiri", ADESIG_QC: "täiustatud e-allkiri kvalifitseeritud sertifikaadiga",
             ADESIG: "täiustatud e-allkiri (mitte kvalifitseeritud)", NOT_ADES: "ei ole täiustatud e-allkiri"}
_INDICATION_ET = {TOTAL_PASSED: "allkiri kehtib", TOTAL_FAILED: "allkiri ei kehti",
                  INDETERMINATE: "allkirja kehtivust ei õnnestunud tuvastada"}


@dataclass(frozen=True)
class SignatureReport:
    """One signature of one container. `reason` is Estonian (for the expert); `errors` English (logs).

    `signed_by` is SiVa's "SURNAME,GIVENNAME,CODE"; `signer_name` is "Given Surname"."""

    container: str  # attachment path of the container, e.g. "pakkumus.asice"
    indication: str
    sub_indication: str | None = None
    reason: str = ""
    signer_name: str | None = None
    signer_code: str | None = None  # personal code (isikukood) or registry code for e-seals
    signed_by: str | None = None
    claimed_signing_time: str | None = None  # xades:SigningTime, what the signer's computer said
    best_signature_time: str | None = None  # time-stamp genTime, or OCSP producedAt for time-marks
    signature_format: str | None = None  # XAdES_BASELINE_B / _T / _LT / _LT_TM
    signature_level: str | None = None  # QESIG / ADESIG_QC / ADESIG / NOT_ADES
    legal_person: bool = False  # e-seal (organisation certificate)
    trust_anchor: str | None = None  # subject CN of the root the chain ends in
    errors: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    def as_dict(self) -> dict:
        d = asdict(self)
        d["errors"], d["warnings"] = list(self.errors), list(self.warnings)
        # older readers of the summary use these three keys
        d["signer"], d["code"], d["status"] = self.signer_name, self.signer_code, self.indication
        return d


def report_from_dict(d: Mapping) -> SignatureReport:
    known = SignatureReport.__dataclass_fields__
    kw = {k: v for k, v in d.items() if k in known}
    kw["errors"] = tuple(kw.get("errors") or ())
    kw["warnings"] = tuple(kw.get("warnings") or ())
    kw.setdefault("indication", d.get("status") or INDETERMINATE)
    kw.setdefault("container", d.get("container") or "")
    return SignatureReport(**kw)


def describe(report: SignatureReport | Mapping) -> str:
    """One Estonian line for a notification, the bid card or the protocol."""
    r = report if isinstance(report, SignatureReport) else report_from_dict(report)
    who = r.signer_name or "tundmatu allkirjastaja"
    if r.signer_code:
        who += f" ({'registrikood' if r.legal_person else 'isikukood'} {r.signer_code})"
    parts = [f"{r.container}: {_INDICATION_ET.get(r.indication, r.indication)}", f"allkirjastaja {who}"]
    if r.best_signature_time:
        parts.append(f"allkirjastamise aeg {_short_time(r.best_signature_time)}")
    elif r.claimed_signing_time:
        parts.append(f"väidetav allkirjastamise aeg {_short_time(r.claimed_signing_time)} (kinnitamata)")
    if r.signature_level in _LEVEL_ET and r.passed:
        parts.append(_LEVEL_ET[r.signature_level])
    line = ", ".join(parts)
    if r.reason and not r.passed:
        line += f". Põhjus: {r.reason}"
    return line


def _short_time(iso: str) -> str:
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d:\d\d)(?::\d\d)?(.*)", iso)
    if not m:
        return iso
    tz = m.group(5)
    tz = " UTC" if tz in ("Z", "+00:00") else (f" {tz}" if tz else "")
    return f"{m.group(3)}.{m.group(2)}.{m.group(1)} {m.group(4)}{tz}"


def signature_problems(reports: Iterable[SignatureReport], *, required: bool,
                       offer_code: str | None = None, offer_text: str = "") -> list[Problem]:
    """Problems for the expert: a signature that did not pass always; none at all when required;
    a signer who does not match the offer form (natural person: personal code; legal person: the
    signer's name in the offer form, e.g. as contact or representative, or the e-seal's registry code)."""
    reports = list(reports)
    out: list[Problem] = []
    if not reports and required:
        out.append(Problem("signature_missing", "Pakkumus ei ole digitaalselt allkirjastatud (allkiri on nõutud)."))
    for r in reports:
        if r.indication == TOTAL_FAILED:
            out.append(Problem("signature_failed", f"Digiallkiri ei kehti – {describe(r)}"))
        elif r.indication != TOTAL_PASSED:
            out.append(Problem("signature_indeterminate", f"Digiallkirja kehtivus on tuvastamata – {describe(r)}"))
    if required and reports and not any(r.passed for r in reports):
        out.append(Problem("signature_required", "Nõutud digiallkirjast ükski ei kehti."))
    code = re.sub(r"\D", "", offer_code or "")
    signers = [r for r in reports if r.signer_code or r.signer_name]
    if code and signers and not any(_signer_matches(r, code, offer_text) for r in signers):
        names = ", ".join(f"{r.signer_name} ({r.signer_code})" for r in signers)
        kind = "isikukood" if len(code) == 11 else "registrikood"
        out.append(Problem("signer_mismatch",
                           f"Allkirjastaja ({names}) ei vasta pakkumuse vormile ({kind} {code}); kontrollige "
                           "esindusõigust."))
    return out


def _signer_matches(r: SignatureReport, code: str, offer_text: str) -> bool:
    if r.signer_code and re.sub(r"\D", "", r.signer_code) == code:
        return True
    if len(code) == 11 or not r.signer_name:  # natural person: only the personal code counts
        return False
    text = _fold(offer_text)
    words = _fold(r.signer_name).split()
    return bool(words) and all(w in text for w in words)


def _fold(s: str) -> str:
    return " ".join(re.sub(r"[^\wÕÄÖÜŠŽõäöüšž-]+", " ", s.casefold()).split())
