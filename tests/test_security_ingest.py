"""Hostile or odd inbound mail through the real ingest pipeline (store_raw + process_pending):
zip bombs, deep nesting and oversized files are recorded as problems with the message kept and memory
bounded; a sender on the invited domain but not the invited address is flagged; and the raw store and the
SQLite database are not readable by anyone else."""
from __future__ import annotations

import io
import os
import resource
import stat
import zipfile
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.ingest import process_pending, store_raw
from helpers import make_config
from test_faults_env import future_deadline, inbound_rows, notification_rows

pytestmark = pytest.mark.timeout(120)

BIDDER = "info@arengukoolitus.example"


@pytest.fixture
def ctx(tmp_path):
    cfg = make_config(tmp_path, deadline=future_deadline(),
                      attachments={"max_file_mb": 2, "max_total_mb": 4, "max_depth": 5, "max_ratio": 100,
                                   "max_files": 200})
    return open_context(load_config(cfg))


def _forms(price: str = "4800") -> list[tuple[str, bytes]]:
    return [("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form("Arengu Koolituskeskus OÜ", "12345678", [2], ["Mari"], "S.", "A.")),
            ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))]


def _bomb(mb: int = 600) -> bytes:
    """A zip whose one member inflates to `mb` MB of zeros (about 0.6 MB compressed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("maksumus.xlsx", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(mb):
                f.write(chunk)
    return buf.getvalue()


def _nested(depth: int) -> bytes:
    data = sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800"))
    name = "Lisa 3 maksumuse vorm.xlsx"
    for i in range(depth):
        data, name = sm.zip_bytes([(name, data)]), f"kiht{i}.zip"
    return data


_uid = iter(range(1, 10_000))


def _ingest(ctx, raw: bytes, at: datetime | None = None) -> int:
    rid = store_raw(ctx, "INBOX", 1, next(_uid), raw, at or datetime.now(timezone.utc))
    process_pending(ctx)
    return rid


def _row(ctx, rid: int):
    return next(r for r in inbound_rows(ctx) if r.id == rid)


def _codes(row) -> set[str]:
    return {p["code"] for p in row.problems or []}


def test_zip_bomb_deep_nesting_and_huge_file_are_problems_not_crashes(ctx):
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    cases = {
        "zip bomb": sm.bid_message(BIDDER, "Arengu Koolituskeskus OÜ", attachments=[_forms()[0], ("pakkumus.zip", _bomb())]),
        "deep nesting": sm.bid_message(BIDDER, "Arengu Koolituskeskus OÜ", attachments=[_forms()[0], ("sügav.zip", _nested(12))]),
        "huge file": sm.bid_message(BIDDER, "Arengu Koolituskeskus OÜ",
                                    attachments=[*_forms(), ("video.mp4", os.urandom(5 * 1024 * 1024))]),
    }
    found = {}
    for what, raw in cases.items():
        rid = _ingest(ctx, raw)
        row = _row(ctx, rid)
        assert row.state == "processed", (what, row.state, row.error)  # not quarantined: handled as a problem
        assert ctx.raw.get(row.raw_path) == raw  # the message is kept byte for byte
        found[what] = _codes(row)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert "zip_bomb" in found["zip bomb"], found
    assert found["deep nesting"] & {"zip_bomb", "too_deep", "nesting_too_deep", "archive_too_deep"}, found
    assert found["huge file"] & {"attachment_too_large", "attachments_too_large"}, found
    assert grown_mb < 250, f"peak memory grew {grown_mb:.0f} MB"  # the 600 MB bomb was never inflated
    notes = [n for n in notification_rows(ctx) if n.kind == "new_bid"]
    assert len(notes) == 3
    print(f"\nsurvived: 600 MB zip bomb, 12-deep nested zips, 5 MB file over a 2 MB limit through ingest: "
          f"3 processed, 0 quarantined, problems {sorted(set().union(*found.values()))}, peak RSS +{grown_mb:.0f} MB")


def test_sender_on_the_invited_domain_but_not_the_invited_address_is_flagged(ctx):
    rid = _ingest(ctx, sm.bid_message("juhataja@arengukoolitus.example", "Juhan Juhataja", attachments=_forms()))
    row = _row(ctx, rid)
    assert row.state == "processed" and "not_invited_address" in _codes(row), row.problems
    with ctx.uow() as uow:
        (bid,) = uow.repo.bids(row.procurement_id)
    assert "not_invited_address" in {p["code"] for p in bid.problems}
    notes = [n for n in notification_rows(ctx) if n.kind == "not_invited_address"]
    assert len(notes) == 1 and "juhataja@arengukoolitus.example" in (notes[0].text + row.sender)
    print(f"\nsurvived: bid from juhataja@ on the invited domain of {BIDDER}: problem not_invited_address on the "
          f"message and the bid, 1 staff notification")


def test_raw_store_and_database_are_private_after_a_real_ingest(ctx):
    _ingest(ctx, sm.bid_message(BIDDER, "Arengu Koolituskeskus OÜ", attachments=_forms()))
    data_dir = ctx.cfg.data_dir
    db = ctx.engine.url.database
    bad = []
    for p in [data_dir, *data_dir.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            bad.append(f"{p.relative_to(data_dir.parent)} {oct(mode)}")
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".eml" for p in files) and any(str(p) == db for p in files)
    assert bad == [], bad
    print(f"\nsurvived: after an ingest {len(files)} files under {data_dir.name}/ (raw .eml, SQLite db + WAL) and "
          f"their directories: none readable by group or others")
