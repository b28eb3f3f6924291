"""`hankebot inspect MESSAGE.eml --config CONFIG --json` run as the real CLI (a subprocess): what an admin
sees for a complete legal person's bid, a bid without its cost form, and a late bid whose Date header lies."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import TALLINN, make_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm

OFFER = "Lisa 2 pakkumuse vorm.docx"
COST = "Lisa 3 maksumuse vorm.xlsx"
DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)  # the shipped config's
_SCRIPT = Path(sys.executable).parent / "hankebot"  # the installed console script
HANKEBOT = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "hankebot"]


def _offer(name: str, code: str) -> bytes:
    return sf.make_offer_form(name, code, [2], ["Mari Maasikas (MA psühholoogia)"], "Slaidid ja juhtumianalüüsid.",
                              "Loeng-arutelu ja rollimängud.")


def _inspect(tmp_path: Path, raw: bytes, *extra: str) -> dict:
    cfg = make_config(tmp_path)  # shipped config: deadline 19.01.2026 15:00 Europe/Tallinn
    eml = tmp_path / "message.eml"
    eml.write_bytes(raw)
    res = subprocess.run([*HANKEBOT, "--config", str(cfg), "inspect", str(eml), "--json", *extra],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for pr in data["problems"]:
        assert set(pr) == {"code", "message"} and pr["message"], pr
    return data


def _codes(data: dict) -> set[str]:
    return {p["code"] for p in data["problems"]}


def test_legal_person_bid_with_cost_form(tmp_path):
    raw = sm.bid_message("info@arengukoolitus.example", "Arengu Koolituskeskus OÜ",
                         attachments=[(OFFER, _offer("Arengu Koolituskeskus OÜ", "12345678")),
                                      (COST, sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800.00")))])
    data = _inspect(tmp_path, raw, "--received-at", "2026-01-14T10:12:09+02:00")
    assert data["kind"] == "bid"
    assert data["sender"] == "info@arengukoolitus.example"
    assert data["bidder"] == "koolituskeskus"
    assert data["procurement"] == "302834"
    assert data["parts"] == [2]
    assert data["late"] is False
    assert datetime.fromisoformat(data["received_at"]) == datetime(2026, 1, 14, 8, 12, 9, tzinfo=timezone.utc)
    assert sorted(f["form"] for f in data["forms_found"]) == ["cost_form", "offer_form"]
    assert {f["file"] for f in data["forms_found"]} == {OFFER, COST}
    assert data["missing_forms"] == []
    assert data["price"] == {"2": {"price": "4800.00", "basis": "legal_with_vat", "file": COST}}
    assert Decimal(data["price"]["2"]["price"]) == Decimal("4800")  # a decimal string, never a float
    assert data["offer"]["registry_code"] == "12345678"
    assert data["problems"] == []


def test_bid_missing_the_cost_form(tmp_path):
    raw = sm.bid_message("kadri.jogi@example.com", "Kadri Jõgi",
                         attachments=[(OFFER, _offer("Kadri Jõgi", "48001010000"))])
    data = _inspect(tmp_path, raw, "--received-at", "2026-01-15T09:00:00")  # naive: Europe/Tallinn
    assert (data["kind"], data["sender"], data["bidder"], data["procurement"]) == (
        "bid", "kadri.jogi@example.com", "kadri", "302834")
    assert data["parts"] == [2]
    assert data["late"] is False
    assert [f["form"] for f in data["forms_found"]] == ["offer_form"]
    assert data["missing_forms"] == ["cost_form"]
    assert data["price"] == {"2": {"price": None, "basis": None, "file": None}}
    assert {"code": "missing_form", "message": "Puudub vorm: Lisa 3 maksumuse vorm"} in data["problems"]
    assert "late_bid" not in _codes(data)


def _late_raw() -> bytes:
    """Date header one minute before the deadline; the mail server's Received stamp 3 min after it."""
    raw = sm.bid_message("kadri.jogi@example.com", "Kadri Jõgi", date=DEADLINE - timedelta(minutes=1),
                         attachments=[(OFFER, _offer("Kadri Jõgi", "48001010000")),
                                      ("Kadri maksumus.xlsx", sf.make_cost_form(PriceBasis.NATURAL_TOTAL, "3900.5"))])
    hop = (b"Received: from mx.sotsiaalkindlustusamet.ee by imap.sotsiaalkindlustusamet.ee (Dovecot) with LMTP "
           b"id 8Kq2; Mon, 19 Jan 2026 15:03:10 +0200\r\n")
    return hop + raw


def test_late_bid_judged_by_the_newest_received_header_not_the_date_header(tmp_path):
    data = _inspect(tmp_path, _late_raw())
    assert data["kind"] == "bid" and data["bidder"] == "kadri" and data["parts"] == [2]
    assert data["late"] is True
    assert datetime.fromisoformat(data["received_at"]) == datetime(2026, 1, 19, 13, 3, 10, tzinfo=timezone.utc)
    assert data["price"] == {"2": {"price": "3900.50", "basis": "natural_total", "file": "Kadri maksumus.xlsx"}}
    assert "late_bid" in _codes(data)
    assert data["missing_forms"] == []


@pytest.mark.parametrize("received, late", [("2026-01-19T14:59:59+02:00", False), ("2026-01-19T15:00:01+02:00", True)])
def test_received_at_option_decides_lateness(tmp_path, received, late):
    data = _inspect(tmp_path, _late_raw(), "--received-at", received)
    assert data["late"] is late
    assert ("late_bid" in _codes(data)) is late
