"""Storage on real databases (a SQLite file and a fresh PostgreSQL database): migrations up/down,
exact money, UTC times, the IMAP uid constraint, file permissions, the raw store."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import SQLModel

from hankebot.storage.database import current_revision, downgrade, make_engine, migrate
from hankebot.storage.raw_store import RawStore
from hankebot.storage.tables import Bid, Bidder, Grade, InboundMessage, Procurement
from hankebot.storage.uow import UnitOfWork
from tests.helpers import TALLINN

TABLES = {"procurement", "part", "bidder", "outbound_message", "inbound_message", "imap_checkpoint", "bid", "grade",
          "notification", "audit_log", "bot_state", "part_decision"}

HEAD = "0007"  # the newest migration: bump with every new revision


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/hankebot.sqlite"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated(engine):
    migrate(engine)
    return engine


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_head_read_from_the_scripts_is_alembics_head(tmp_path, monkeypatch):
    """migrate() skips Alembic when the database is at the head it reads from the scripts' lines; that head
    must be Alembic's own, and a script it cannot read (or a branch) leaves the decision to Alembic."""
    from alembic.script import ScriptDirectory

    from hankebot.storage import revisions
    from hankebot.storage.database import alembic_config, head_revision

    assert [head_revision()] == ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads() == [HEAD]
    versions = tmp_path / "versions"
    versions.mkdir()
    for f in (revisions.MIGRATIONS_DIR / "versions").glob("*.py"):
        (versions / f.name).write_text(f.read_text("utf-8"), "utf-8")
    (versions / "9999_branch.py").write_text('revision = "9999"\ndown_revision = "0006"\n', "utf-8")
    monkeypatch.setattr(revisions, "MIGRATIONS_DIR", tmp_path)
    head_revision.cache_clear()
    try:
        assert head_revision() is None  # two heads (0007 and 9999): Alembic decides
        (versions / "9999_branch.py").write_text('revision = "9999"\ndown_revision = "0007"\n', "utf-8")
        head_revision.cache_clear()
        assert head_revision() == "9999"
    finally:
        monkeypatch.undo()
        head_revision.cache_clear()


def test_opening_a_database_at_head_loads_no_alembic(tmp_path):
    """A fresh interpreter opening an up-to-date database does not import Alembic; one behind head does and
    is migrated."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/hankebot.sqlite"
    code = ("import sys\nfrom hankebot.storage.database import make_engine, migrate, current_revision\n"
            f"e = make_engine({url!r})\nmigrate(e)\nprint('alembic' in sys.modules, current_revision(e))\n")
    eng = make_engine(url)
    migrate(eng, "0006")
    eng.dispose()
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)  # noqa: E731
    first = run()
    assert first.returncode == 0 and first.stdout.split() == ["True", HEAD], first.stderr
    second = run()
    assert second.returncode == 0 and second.stdout.split() == ["False", HEAD], second.stderr


def test_migrate_fresh_reaches_head(engine):
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == HEAD
    assert _tables(engine) == TABLES


def test_migration_matches_the_models(migrated):
    with migrated.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def _seed(engine) -> int:
    with UnitOfWork(engine) as uow:
        p = uow.repo.add(Procurement(key="302834", reference="302834", title="Baaskoolitused", state="open",
                                     deadline=datetime(2026, 1, 19, 15, tzinfo=TALLINN)))
        uow.commit()
        return p.id


def test_migrate_twice_is_a_noop(migrated):
    pid = _seed(migrated)
    migrate(migrated)
    assert current_revision(migrated) == HEAD
    with UnitOfWork(migrated) as uow:
        assert uow.repo.procurement("302834").id == pid


def test_downgrade_to_base_and_up_again(migrated):
    _seed(migrated)
    downgrade(migrated, "base")
    assert current_revision(migrated) is None
    assert _tables(migrated) == set()
    migrate(migrated)
    assert current_revision(migrated) == HEAD
    assert _tables(migrated) == TABLES
    with UnitOfWork(migrated) as uow:
        assert uow.repo.procurements() == []


def _bid(uow, pid: int, uid: int, price) -> Bid:
    msg = uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=7, uid=uid, sha256="a" * 64, raw_path="r",
                                      received_at=datetime(2026, 1, 19, 14, 59, 59, 999999, tzinfo=TALLINN)))
    return uow.repo.add(Bid(procurement_id=pid, sender="x@example.ee", part_no=2, inbound_message_id=msg.id,
                            received_at=msg.received_at, price=price))


@pytest.mark.parametrize("text", ["12500.10", "0.01", "99999999.99", "1200", "1E+3", "0.1000000000000000000000000001"])
def test_decimal_round_trips_exactly(migrated, text):
    pid = _seed(migrated)
    with UnitOfWork(migrated) as uow:
        bid = _bid(uow, pid, 1, Decimal(text))
        uow.repo.add(Grade(bid_id=bid.id, criterion_key="materials", points=Decimal("15.50"), level_name="osaliselt",
                           justification="põhjendus", graded_by="expert"))
        uow.commit()
        bid_id = bid.id
    with UnitOfWork(migrated) as uow:  # a fresh session: values come from the database
        got = uow.repo.bid(bid_id).price
        assert isinstance(got, Decimal)
        assert str(got) == text
        g = uow.repo.grade(bid_id, "materials")
        assert str(g.points) == "15.50"


def test_money_is_stored_as_text_not_as_a_number(migrated):
    """The README's claim, on the real columns: bid.price and grade.points are text columns and the stored
    value is the Decimal's own string (as the database itself reports it), never a float or NUMERIC."""
    from sqlalchemy import String, text

    for table, column in (("bid", "price"), ("grade", "points")):
        col = next(c for c in inspect(migrated).get_columns(table) if c["name"] == column)
        assert isinstance(col["type"], String), (table, column, col["type"])  # VARCHAR/TEXT, not NUMERIC/FLOAT
    pid = _seed(migrated)
    with UnitOfWork(migrated) as uow:
        bid = _bid(uow, pid, 1, Decimal("12500.10"))
        uow.repo.add(Grade(bid_id=bid.id, criterion_key="materials", points=Decimal("15.50"), level_name="osaliselt",
                           justification="põhjendus", graded_by="expert"))
        uow.commit()
        bid_id = bid.id
    kind = "typeof({})" if migrated.dialect.name == "sqlite" else "pg_typeof({})::text"
    with migrated.connect() as conn:  # the raw stored value and its type, past our TypeDecorator
        price, price_type = conn.execute(text(f"SELECT price, {kind.format('price')} FROM bid WHERE id = :i"),
                                         {"i": bid_id}).one()
        points, points_type = conn.execute(text(f"SELECT points, {kind.format('points')} FROM grade")).one()
    assert (price, points) == ("12500.10", "15.50")  # strings, trailing zero kept
    assert {price_type, points_type} <= {"text", "character varying"}, (price_type, points_type)


def test_null_price_stays_null(migrated):
    pid = _seed(migrated)
    with UnitOfWork(migrated) as uow:
        bid_id = _bid(uow, pid, 1, None).id
        uow.commit()
    with UnitOfWork(migrated) as uow:
        assert uow.repo.bid(bid_id).price is None


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), 0.1])
def test_non_finite_or_float_money_is_refused(migrated, bad):
    pid = _seed(migrated)
    with UnitOfWork(migrated) as uow:
        with pytest.raises((StatementError, ValueError, TypeError)):
            _bid(uow, pid, 1, bad)


def test_datetimes_come_back_aware_utc(migrated):
    pid = _seed(migrated)
    sent = datetime(2026, 1, 19, 14, 59, 59, 999999, tzinfo=TALLINN)
    with UnitOfWork(migrated) as uow:
        bid_id = _bid(uow, pid, 1, Decimal("1")).id
        uow.commit()
    with UnitOfWork(migrated) as uow:
        p = uow.repo.procurement("302834")
        assert p.deadline.tzinfo is not None and p.deadline.utcoffset() == timedelta(0)
        assert p.deadline == datetime(2026, 1, 19, 13, 0, tzinfo=timezone.utc)
        b = uow.repo.bid(bid_id)
        assert b.received_at.utcoffset() == timedelta(0)
        assert b.received_at == sent  # microseconds kept
        assert b.received_at < p.deadline


def test_naive_datetime_is_refused(migrated):
    with UnitOfWork(migrated) as uow:
        uow.session.add(Procurement(key="k", reference="r", title="t", deadline=datetime(2026, 1, 19, 15)))
        with pytest.raises(StatementError, match="naive datetime"):
            uow.session.flush()


def test_unique_imap_uid(migrated):
    with UnitOfWork(migrated) as uow:
        for folder, validity, uid in [("INBOX", 1, 5), ("INBOX", 2, 5), ("Archive", 1, 5)]:
            uow.repo.add(InboundMessage(folder=folder, uidvalidity=validity, uid=uid, sha256="b" * 64, raw_path="r",
                                        received_at=datetime.now(timezone.utc)))
        uow.commit()
    with UnitOfWork(migrated) as uow:
        with pytest.raises(IntegrityError):
            uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=5, sha256="c" * 64, raw_path="r2",
                                        received_at=datetime.now(timezone.utc)))
    with UnitOfWork(migrated) as uow:
        assert uow.repo.inbound_by_uid("INBOX", 2, 5) is not None
        assert uow.repo.count(InboundMessage) == 3


def test_big_imap_numbers_fit(migrated):
    with UnitOfWork(migrated) as uow:
        uow.repo.add(InboundMessage(folder="INBOX", uidvalidity=4_294_967_295, uid=4_294_967_295, sha256="d" * 64,
                                    raw_path="r", received_at=datetime.now(timezone.utc)))
        uow.repo.set_checkpoint("INBOX", 4_294_967_295, 4_294_967_295)
        uow.commit()
    with UnitOfWork(migrated) as uow:
        assert uow.repo.checkpoint("INBOX").last_uid == 4_294_967_295


def test_checkpoint_moves_forward_and_resets_on_new_uidvalidity(migrated):
    with UnitOfWork(migrated) as uow:
        uow.repo.set_checkpoint("INBOX", 10, 50)
        uow.commit()
    with UnitOfWork(migrated) as uow:
        uow.repo.set_checkpoint("INBOX", 10, 40)  # an older uid never moves it back
        uow.commit()
    with UnitOfWork(migrated) as uow:
        assert uow.repo.checkpoint("INBOX").last_uid == 50
        uow.repo.set_checkpoint("INBOX", 11, 3)  # the mailbox was recreated
        uow.commit()
    with UnitOfWork(migrated) as uow:
        cp = uow.repo.checkpoint("INBOX")
        assert (cp.uidvalidity, cp.last_uid) == (11, 3)


def test_unit_of_work_rolls_back_without_commit(migrated):
    with UnitOfWork(migrated) as uow:
        uow.repo.add(Procurement(key="gone", reference="r", title="t", deadline=datetime.now(timezone.utc)))
    with UnitOfWork(migrated) as uow:
        assert uow.repo.procurement("gone") is None


def test_foreign_keys_are_enforced(migrated):
    with UnitOfWork(migrated) as uow:
        with pytest.raises(IntegrityError):
            uow.repo.add(Bidder(procurement_id=999, key="x", name="X", email="x@example.ee", person_type="legal"))


def test_audit_details_are_json_safe(migrated):
    pid = _seed(migrated)
    with UnitOfWork(migrated) as uow:
        uow.repo.audit("cli", "deadline_extended", pid, old=datetime(2026, 1, 19, 13, tzinfo=timezone.utc), price=Decimal("0.10"))
        uow.commit()
    with UnitOfWork(migrated) as uow:
        row = uow.repo.audit_rows(pid, "deadline_extended")[0]
        assert row.details == {"old": "2026-01-19T13:00:00+00:00", "price": "0.10"}
        assert row.at.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- SQLite file specifics


def test_sqlite_file_is_private(tmp_path):
    path = tmp_path / "new" / "dir" / "hb.sqlite"
    eng = make_engine(f"sqlite:///{path}")
    migrate(eng)
    _seed(eng)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if side.exists():
            assert stat.S_IMODE(os.stat(side).st_mode) & 0o077 == 0, side
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


# ---------------------------------------------------------------- raw store


def test_raw_store_is_idempotent_and_private(tmp_path):
    store = RawStore(tmp_path / "raw")
    sha, rel = store.put(b"From: a@b\r\n\r\nhello")
    sha2, rel2 = store.put(b"From: a@b\r\n\r\nhello")
    assert (sha, rel) == (sha2, rel2)
    assert rel == f"{sha[:2]}/{sha[2:4]}/{sha}.eml"
    assert store.get(rel) == b"From: a@b\r\n\r\nhello"
    p = tmp_path / "raw" / rel
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "raw").stat().st_mode) == 0o700
    assert not list(p.parent.glob(".*.tmp"))
    assert store.exists(rel) and store.delete(rel) and not store.exists(rel) and not store.delete(rel)


def test_raw_store_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Durability order of put(): write, fsync(file), rename into place, fsync(folder). Recorded by wrapping
    the stdlib's os.fsync / os.replace (the real calls still happen; our own code is not replaced)."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *a, **kw):
        calls.append(("replace", f"{src} -> {dst}"))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = RawStore(tmp_path / "raw")
    sha, rel = store.put(b"From: a@b\r\n\r\nkestev")
    final = tmp_path / "raw" / rel
    kinds = [k for k, _ in calls]
    assert kinds == ["fsync", "replace", "fsync"], calls
    (_, synced_file), (_, moved), (_, synced_dir) = calls
    assert synced_file.endswith(".tmp") and Path(synced_file).parent == final.parent  # the temp file's data
    assert moved.endswith(f" -> {final}") and moved.startswith(synced_file)  # then renamed into place
    assert synced_dir == str(final.parent)  # then the folder, so the new name survives a crash
    assert store.get(rel) == b"From: a@b\r\n\r\nkestev"


def test_raw_store_repairs_a_truncated_file(tmp_path):
    store = RawStore(tmp_path / "raw")
    data = b"x" * 1000
    sha, rel = store.put(data)
    (tmp_path / "raw" / rel).write_bytes(data[:10])  # e.g. a crash mid-write by an older version
    store.put(data)
    assert store.get(rel) == data


def test_pending_notifications_keep_their_text_across_the_event_migration(engine, tmp_path):
    """0007: a notification pending before the outbox stored events is delivered with the text it was made
    with (a "rendered" event); rows made after it carry an event's facts and are rendered at delivery."""
    from sqlalchemy import text as sql

    from hankebot.bot.render import render
    from hankebot.storage.tables import Notification

    migrate(engine, "0006")
    with engine.begin() as c:
        c.execute(sql("INSERT INTO notification (dedupe_key, chat_id, kind, text, payload, quiet, state, attempts, "
                      "created_at) VALUES ('in:1@5', 5, 'new_bid', '📥 <b>Uus pakkumus</b> vana tekst', '{}', "
                      ":f, 'pending', 0, :now)"), {"f": False, "now": datetime.now(timezone.utc)})
    migrate(engine)
    with UnitOfWork(engine) as uow:
        (n,) = list(uow.session.exec(__import__("sqlmodel").select(Notification)))
        assert n.facts == {"event": "rendered", "text": "📥 <b>Uus pakkumus</b> vana tekst"}
        assert render(None, n)[0] == "📥 <b>Uus pakkumus</b> vana tekst"  # no procurement look-up needed
    downgrade(engine, "0006")
    with engine.begin() as c:
        assert c.execute(sql("SELECT text FROM notification")).scalar() == "📥 <b>Uus pakkumus</b> vana tekst"
