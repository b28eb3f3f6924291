"""`hankebot status` reads a SQLite database at head directly (service/status_view.py, standard sqlite3, no
SQLAlchemy) when syncing the config would change nothing. It must give exactly what the full path gives
(open the context, sync, service.status.procurement_status), and step aside whenever it cannot be exact."""
from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.devstack.mail_mix import INVITATIONS_SENT, RECEIVED, MixBidder, build_mix, invitation_id
from hankebot.devstack.signing import LocalPKI
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.ingest import process_pending, store_raw
from hankebot.service.status import procurement_status
from hankebot.service.status_view import OtherMail, StatusView, read_status
from hankebot.storage.tables import OutboundMessage
from helpers import Clock, set_state

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]


SHIPPED_DB = 'database_url = "sqlite:///var/hankebot.sqlite"'


def _config(base: Path, name: str = "config.toml", database_url: str | None = None,
            replace: tuple[str, str] | None = None, trust: bool = False) -> Path:
    """The shipped config with its forms by absolute path (another database URL,
    one text replaced, the test PKI trusted, when asked)."""
    text = (ROOT / "config.toml").read_text("utf-8")
    assert 'forms_dir = "forms/302834"' in text and SHIPPED_DB in text
    text = text.replace('forms_dir = "forms/302834"', f'forms_dir = "{ROOT / "forms" / "302834"}"')
    if database_url:
        text = text.replace(SHIPPED_DB, f'database_url = "{database_url}"')
    if replace:
        assert replace[0] in text
        text = text.replace(*replace, 1)
    (base / name).write_text(text + ('\n[signatures]\ntrust_dir = "trust"\n' if trust else ""), "utf-8")
    return base / name


def _full_path(ctx, keys: list[str], limit: int) -> StatusView:
    with ctx.uow() as uow:
        n, other = uow.repo.inbound_other(limit=limit)
        other = [OtherMail(m.id, m.received_at, m.sender, m.subject) for m in other]
    return StatusView([procurement_status(ctx, k) for k in keys], n, other)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A procurement with invitations sent and the realistic mix ingested by the real pipeline, plus a late
    bid and mail from an unknown sender."""
    base = tmp_path_factory.mktemp("status")
    pki = LocalPKI()
    pki.write_trust_dir(base / "trust")
    path = _config(base, trust=True)
    cfg = load_config(path)
    ps = cfg.settings.procurements[0]
    clock = Clock(RECEIVED - timedelta(days=1))
    ctx = open_context(cfg, clock=clock)
    set_state(ctx, "open", ps.key)
    with ctx.uow() as uow:
        p = uow.repo.procurement(ps.key)
        for j, b in enumerate(uow.repo.bidders(p.id)):
            uow.repo.add(OutboundMessage(procurement_id=p.id, bidder_id=b.id, kind="invitation", batch="invitation",
                                         dedupe_key=f"invitation:{b.key}", message_id=invitation_id(j),
                                         recipient=b.email, subject="Kutse", raw_sha256="0" * 64,
                                         raw_path=f"out/{j}.eml", state="sent" if j != 1 else "failed",
                                         sent_at=INVITATIONS_SENT))
        uow.commit()
    bidders = [MixBidder(b.key, b.name, b.email, b.person_type.value) for b in ps.bidders]
    assert len(bidders) >= 5
    msgs = [(m.raw, m.received) for m in build_mix(bidders[:3], ps.mailbox, pki)]
    b3, b4 = bidders[3], bidders[4]  # one only declines, one's invitation bounced
    msgs.append((sm.decline_message(b3.email, b3.name, ps.mailbox, message_id="<only-decline@x.ee>",
                                    in_reply_to=invitation_id(3)), RECEIVED))
    msgs.append((sm.bounce_message(b4.email, invitation_id(4), from_addr=ps.mailbox, reporting_mta="mx2.example.ee"), RECEIVED))
    late_at = ctx.deadline(ps) + timedelta(minutes=5)
    b0 = bidders[0]
    forms = [("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form(b0.name, "12345678", [2], ["Mari Maasikas"], "S.", "R.")),
             ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4321")))]
    msgs.append((sm.bid_message(b0.email, b0.name, ps.mailbox, message_id="<late@x.ee>", attachments=forms,
                                in_reply_to=invitation_id(0)), late_at))
    msgs.append((sm.question_message("stranger@elsewhere.example", "Keegi Võõras", ps.mailbox,
                                     message_id="<stranger@x.ee>"), RECEIVED))
    for uid, (raw, at) in enumerate(msgs, start=1):
        store_raw(ctx, "INBOX", 1, uid, raw, at)
    clock.set(late_at + timedelta(minutes=1))
    process_pending(ctx)
    return path, ctx, clock


@pytest.mark.parametrize("when", ["sealed", "opened"])
@pytest.mark.parametrize("limit", [0, 30])
def test_the_view_reads_what_the_full_path_reads(filled, when, limit):
    path, ctx, clock = filled
    ps = ctx.settings.procurements[0]
    now = ctx.deadline(ps) + (timedelta(minutes=-10) if when == "sealed" else timedelta(days=3))
    clock.set(now)
    cfg = load_config(path)
    view = read_status(cfg, [ps.key], limit, now=now)
    full = _full_path(ctx, [ps.key], limit)
    assert view is not None
    assert dataclasses.asdict(view) == dataclasses.asdict(full)
    st = view.procurements[0]
    # the comparison covers every kind of answer, not an empty procurement
    assert st.sealed is (when == "sealed")
    assert st.bids > 0 and st.late_bids > 0 and st.declines > 0 and st.questions > 0 and st.bounces > 0
    assert st.unknown_senders > 0 and st.invitations_sent == len(st.bidders) - 1
    assert {b.answer for b in st.bidders} == {"bid", "declined", "bounced"}
    assert any(b.bid_parts for b in st.bidders) and any(b.late for b in st.bidders)
    assert view.other_count > 0 and len(view.other) == min(limit, view.other_count)


def test_a_config_edit_not_yet_synced_goes_the_full_way(tmp_path):
    path = _config(tmp_path)
    ctx = open_context(load_config(path))
    ps = ctx.settings.procurements[0]
    first = ps.bidders[0]
    assert read_status(load_config(path), [ps.key], 0) is not None  # synced: the view answers
    edited = _config(tmp_path, "edited.toml", replace=(f'name = "{first.name}"', 'name = "Uus Nimi OÜ"'))
    cfg = load_config(edited)
    assert cfg.database_url == ctx.cfg.database_url
    assert read_status(cfg, [ps.key], 0) is None  # the name changed in the file only
    r = subprocess.run([sys.executable, "-m", "hankebot", "--config", str(edited), "status"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Uus Nimi OÜ" in r.stdout  # the full path synced it in and showed it
    view = read_status(cfg, [ps.key], 0)  # synced now: the view answers again, with the new name
    assert view is not None and view.procurements[0].bidders[0].name == "Uus Nimi OÜ"
    assert read_status(load_config(path), [ps.key], 0) is None  # and the old file is now the unsynced one


def test_a_cancellation_in_the_config_not_yet_applied_goes_the_full_way(tmp_path):
    path = _config(tmp_path)
    open_context(load_config(path))
    cancelled = _config(tmp_path, "cancelled.toml", replace=("[[procurement]]\n", "[[procurement]]\ncancelled = true\n"))
    cfg = load_config(cancelled)
    key = cfg.settings.procurements[0].key
    assert cfg.settings.procurements[0].cancelled
    assert read_status(cfg, [key], 0) is None


def test_a_database_behind_the_newest_migration_or_not_sqlite_goes_the_full_way(filled, tmp_path):
    path, ctx, _ = filled
    key = ctx.settings.procurements[0].key
    db = Path(ctx.cfg.database_url[len("sqlite:///"):])
    copy = tmp_path / "old.sqlite"
    copy.write_bytes(db.read_bytes())
    assert read_status(load_config(_config(tmp_path, database_url=f"sqlite:///{copy}")), [key], 0) is not None
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
    assert read_status(load_config(_config(tmp_path, database_url=f"sqlite:///{copy}")), [key], 0) is None
    pg = _config(tmp_path, database_url="postgresql+psycopg://hankebot@127.0.0.1/hankebot")
    assert read_status(load_config(pg), [key], 0) is None
    missing = tmp_path / "missing.sqlite"
    assert read_status(load_config(_config(tmp_path, database_url=f"sqlite:///{missing}")), [key], 0) is None
    assert not missing.exists()  # read-only: the view never creates a database


def test_status_on_a_synced_database_loads_no_sqlalchemy(filled):
    path, _, _ = filled
    code = ("import sys\nfrom hankebot.service.cli import main\n"
            f"rc = main(['--config', {str(path)!r}, 'status', '--other'])\n"
            "print('LOADED', sorted(m for m in ('sqlalchemy', 'sqlmodel', 'hankebot.storage.tables') if m in sys.modules))\n"
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout
    assert "other mail (no procurement's event, never pushed):" in r.stdout and "#" in r.stdout
