"""`hankebot purge` through the real CLI (subprocess) on messages stored by the real ingest pipeline:
refused while undecided; --dry-run removes nothing; on a decided procurement the raw messages older than the
retention period go, the protocol files, the database rows and the audit log stay."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.report import write_report
from hankebot.service.ingest import process_pending, store_raw
from hankebot.storage.tables import AuditLog, Bid, InboundMessage
from helpers import REPO, make_config, set_state
from test_faults_env import inbound_rows

pytestmark = pytest.mark.timeout(60)


def cli(cfg, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hankebot", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _bid(addr: str, name: str, price: str) -> bytes:
    return sm.bid_message(addr, name, "hange@example.ee", attachments=[
        ("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "Slaidid.", "Arutelu.")),
        ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))])


def _counts(ctx) -> tuple[int, int, int]:
    with ctx.uow() as uow:
        return (uow.repo.count(InboundMessage), uow.repo.count(Bid), uow.repo.count(AuditLog))


def test_purge_refuses_then_dry_run_then_removes_only_old_raw_mail(tmp_path):
    # the deadline well behind the real clock, so the results are open (never sealed) whenever this runs
    cfg = make_config(tmp_path, retention_days=365, deadline=(datetime.now() - timedelta(days=30)).replace(microsecond=0))
    ctx = open_context(load_config(cfg))  # the real clock
    now = datetime.now(timezone.utc)
    old_at, new_at = now - timedelta(days=400), now - timedelta(days=10)
    store_raw(ctx, "INBOX", 1, 1, _bid("info@arengukoolitus.example", "Arengu Koolituskeskus OÜ", "4800"), old_at)
    store_raw(ctx, "INBOX", 1, 2, _bid("kadri.jogi@example.com", "Kadri Jõgi", "3900"), new_at)
    assert process_pending(ctx) == 2
    old, new = inbound_rows(ctx)
    paths = {m.id: ctx.raw.root / m.raw_path for m in (old, new)}
    assert all(p.is_file() for p in paths.values())

    set_state(ctx, "closed")
    r = cli(cfg, "purge", "302834")
    assert r.returncode == 1 and "refused" in r.stdout, r.stdout + r.stderr
    assert all(p.is_file() for p in paths.values())

    set_state(ctx, "decided")
    files = write_report(ctx, "302834")  # the real protocol: any failure of it fails this test
    protocol = [files.xlsx, files.pdf]
    assert files.pdf.read_bytes().startswith(b"%PDF") and files.xlsx.read_bytes().startswith(b"PK")
    before = _counts(ctx)
    r = cli(cfg, "purge", "302834", "--dry-run")
    assert r.returncode == 0 and "would remove 1 raw message" in r.stdout, r.stdout + r.stderr
    assert all(p.is_file() for p in paths.values())
    assert _counts(ctx) == before  # a dry run writes nothing, not even an audit row

    r = cli(cfg, "purge", "302834")
    assert r.returncode == 0 and "removed 1 raw message" in r.stdout, r.stdout + r.stderr
    assert not paths[old.id].exists() and paths[new.id].is_file()  # only the one past the retention period
    assert all(p.is_file() for p in protocol)
    inbound, bids, audits = _counts(ctx)
    assert (inbound, bids) == before[:2] and audits == before[2] + 1  # rows kept; the purge itself is audited
    with ctx.uow() as uow:
        purged = uow.repo.inbound(old.id)
        assert purged.raw_path == "" and "purged_at" in purged.summary and purged.sender == old.sender
        assert uow.repo.audit_rows(action="processed") and uow.repo.audit_rows(action="purged")
    r = cli(cfg, "purge", "302834", "--older-than-days", "0")
    assert r.returncode == 0 and not any(p.exists() for p in paths.values())
    print(f"\nsurvived: purge refused while closed (exit 1); dry run removed 0 of 1 due; purge removed 1 old raw "
          f"message, kept 1 recent, {len(protocol)} protocol file(s), {inbound} message rows, {bids} bid rows, "
          f"{audits} audit rows")
