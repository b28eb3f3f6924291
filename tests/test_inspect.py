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


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cfg = make_config(tmp_path)
    return subprocess.run([*HANKEBOT, "--config", str(cfg), "inspect", *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _complete_bid() -> bytes:
    return sm.bid_message("info@arengukoolitus.example", "Arengu Koolituskeskus OÜ",
                          attachments=[(OFFER, _offer("Arengu Koolituskeskus OÜ", "12345678")),
                                       (COST, sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800.00")))])


def test_a_folder_gives_one_json_line_per_message_and_an_error_line_for_a_broken_file(tmp_path):
    """A folder read recursively: an .eml, a Maildir-style raw message without a suffix, a dangling link (an
    error line, not a crash) and files that are no messages (skipped, counted on stderr)."""
    box = tmp_path / "box"
    (box / "cur").mkdir(parents=True)
    (box / "a-bid.eml").write_bytes(_complete_bid())
    (box / "cur" / "1700000000.M1P2.host:2,S").write_bytes(
        sm.decline_message("kadri.jogi@example.com", "Kadri Jõgi"))
    (box / "b-gone.eml").symlink_to(tmp_path / "nowhere.eml")
    (box / "notes.txt").write_text("meeldetuletus: avamine kell 15\n", "utf-8")
    (box / OFFER).write_bytes(_offer("X OÜ", "12345678"))
    r = _run(tmp_path, str(box), "--received-at", "2026-01-14T10:12:09+02:00")
    assert r.returncode == 1, r.stderr  # one file failed
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["file"]).name for x in lines] == ["a-bid.eml", "b-gone.eml", "1700000000.M1P2.host:2,S"]
    bid, gone, decline = lines
    assert bid["kind"] == "bid" and bid["bidder"] == "koolituskeskus" and bid["late"] is False
    assert bid["price"] == {"2": {"price": "4800.00", "basis": "legal_with_vat", "file": COST}}
    assert set(gone) == {"file", "error"} and "No such file" in gone["error"]
    assert decline["kind"] == "decline" and decline["sender"] == "kadri.jogi@example.com" and "error" not in decline
    assert "skipped 2 file(s)" in r.stderr and "1 of 3 file(s) could not be inspected" in r.stderr

    (box / "b-gone.eml").unlink()
    r = _run(tmp_path, str(box), "--received-at", "2026-01-14T10:12:09+02:00")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2


def test_several_files_and_a_missing_one(tmp_path):
    bid = tmp_path / "bid.eml"
    bid.write_bytes(_complete_bid())
    late = tmp_path / "late.eml"
    late.write_bytes(_late_raw())
    r = _run(tmp_path, str(bid), str(late), str(tmp_path / "missing.eml"))
    assert r.returncode == 1
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["file"] for x in lines] == [str(bid), str(late), str(tmp_path / "missing.eml")]
    assert lines[0]["late"] is False and lines[1]["late"] is True  # each judged by its own Received header
    assert "error" in lines[2] and "kind" not in lines[2]


def test_one_file_keeps_its_output_and_jsonl_gives_the_line(tmp_path):
    bid = tmp_path / "bid.eml"
    bid.write_bytes(_complete_bid())
    text = _run(tmp_path, str(bid))
    assert text.returncode == 0 and text.stdout.startswith("kind: bid") and "part 2: price 4800.00" in text.stdout
    pretty = _run(tmp_path, str(bid), "--json")
    assert pretty.stdout.startswith("{\n") and "file" not in json.loads(pretty.stdout)
    line = _run(tmp_path, str(bid), "--jsonl")
    assert line.returncode == 0 and len(line.stdout.splitlines()) == 1
    assert json.loads(line.stdout) == {"file": str(bid), **json.loads(pretty.stdout)}
    missing = _run(tmp_path, str(tmp_path / "nope.eml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr
