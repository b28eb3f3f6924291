"""The Authentication-Results parser on the two real-world forms (Gmail's with an authserv-id, Exchange
Online's without one and with compauth) and the sender verdict: alignment, dmarc=fail winning, the trusted
header chosen by authserv-id, a missing header."""
from __future__ import annotations

from hankebot.core.authres import check_sender, parse

EXO = ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=pass (signature was verified) "
       "header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100")
GMAIL = ("mx.google.com; dkim=pass header.i=@example.com; spf=pass (google.com: domain of x@example.com "
         "designates 192.0.2.1 as permitted sender) smtp.mailfrom=x@example.com; dmarc=pass (p=QUARANTINE "
         "sp=QUARANTINE dis=NONE) header.from=example.com")


def test_both_real_world_forms_parse():
    exo, gm = parse(EXO), parse(GMAIL)
    assert exo.authserv_id is None
    assert [(r.method, r.result) for r in exo.results] == [("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass"),
                                                             ("compauth", "pass")]
    assert exo.results[1].props["header.d"] == "example.com" and exo.results[3].props == {}
    assert gm.authserv_id == "mx.google.com"
    assert {r.method: r.props for r in gm.results}["spf"] == {"smtp.mailfrom": "x@example.com"}
    assert check_sender([EXO], "anna@example.com").status == "verified"
    assert check_sender([GMAIL], "anna@example.com", "mx.google.com").status == "verified"


def test_alignment_dmarc_fail_and_the_trusted_header():
    # passes for another domain than From: are no verification
    other = "mx.google.com; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=a@attacker.example"
    assert check_sender([other], "info@bidder.example").status == "unverified"
    # dmarc=fail wins over an aligned dkim=pass
    v = check_sender(["mx.google.com; dkim=pass header.d=bidder.example; dmarc=fail header.from=bidder.example"],
                     "info@bidder.example")
    assert (v.status, v.reason) == ("unverified", "dmarc=fail")
    forged_low = "mx.google.com; spf=pass smtp.mailfrom=bidder.example; dmarc=pass header.from=bidder.example"
    ours = "mx.agency.ee; spf=fail smtp.mailfrom=bidder.example; dkim=none; dmarc=fail header.from=bidder.example"
    assert check_sender([ours, forged_low], "info@bidder.example").status == "unverified"  # topmost
    assert check_sender([forged_low, ours], "info@bidder.example", "mx.agency.ee").status == "unverified"
    assert check_sender([forged_low], "info@bidder.example", "mx.agency.ee").status == "unverified"  # not ours
    assert check_sender([], "info@bidder.example", required=False).status == "unchecked"
    assert check_sender([], "info@bidder.example", required=True).status == "unverified"
    assert check_sender(["mx.agency.ee; none"], "info@bidder.example").status == "unverified"
    assert check_sender(["garbage ;;; ((("], "info@bidder.example").status == "unverified"  # never raises
