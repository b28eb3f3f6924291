"""`hankebot status` read straight from a SQLite database: a read view beside the domain model.

Opening the service context means loading SQLAlchemy, SQLModel and the table models (about 0.4 s of a cold
start) and syncing config.toml into the database. For the command an admin types most, this module reads the
same rows with the standard library's sqlite3, read-only, and builds the same `ProcurementStatus` values as
`service.status.procurement_status`: both read the same rows and `service.status.assemble` makes the
status of them (tests/test_status_view.py compares the two field by field).

It answers only when that is exact; otherwise it returns None and the caller opens the context as before:
- the database is SQLite, a plain file that exists, at the newest migration;
- syncing would change nothing: every procurement of the config is in the database with the config snapshot
  it was last synced from (`procurement.settings`: its parts, bidders, deadline and `cancelled` too; a sync
  that saw the snapshot has applied all of it).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hankebot.service.status import ProcurementStatus, Rows, assemble
from hankebot.storage.revisions import head_revision


@dataclass
class OtherMail:
    id: int
    received_at: datetime  # UTC
    sender: str | None
    subject: str | None


@dataclass
class StatusView:
    procurements: list[ProcurementStatus]
    other_count: int
    other: list[OtherMail]


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url[len("sqlite:///"):]
    return Path(path) if path and path != ":memory:" else None


def _utc(value: str) -> datetime:
    """A UTCDateTime column as SQLAlchemy's SQLite dialect stores it (UTC, naive text)."""
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _json(value, default):
    return default if value is None else json.loads(value)


def read_status(cfg, keys: list[str], other_limit: int, now: datetime | None = None) -> StatusView | None:
    """The status of `keys` and the newest `other_limit` other mails, or None when only the full path is exact."""
    path = _sqlite_path(cfg.database_url)
    head = head_revision()
    if path is None or head is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        with conn:
            return _read(conn, cfg, head, keys, other_limit, now or datetime.now(timezone.utc))
    except (sqlite3.Error, ValueError, KeyError):
        return None  # whatever this view cannot read exactly, the full path reads
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, cfg, head: str, keys: list[str], other_limit: int, now: datetime):
    if [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")] != [head]:
        return None
    rows = {}
    for ps in cfg.settings.procurements:
        row = conn.execute("SELECT id, key, reference, title, state, deadline, opening_delay_minutes, settings "
                           "FROM procurement WHERE key = ?", (ps.key,)).fetchone()
        if row is None or _json(row[7], {}) != ps.model_dump(mode="json"):
            return None  # a config edit not yet synced: syncing decides what it means
        rows[ps.key] = row
    out = [_procurement(conn, cfg, ps_key_row, now) for ps_key_row in (rows[k] for k in keys)]
    n_other = conn.execute("SELECT count(*) FROM inbound_message WHERE state = 'processed' AND kind = 'other'"
                           ).fetchone()[0]
    other = [OtherMail(i, _utc(at), sender, subject) for i, at, sender, subject in conn.execute(
        "SELECT id, received_at, sender, subject FROM inbound_message WHERE state = 'processed' AND kind = 'other' "
        "ORDER BY id DESC LIMIT ?", (other_limit,))]
    return StatusView(out, int(n_other), other)


def _procurement(conn: sqlite3.Connection, cfg, row, now: datetime) -> ProcurementStatus:
    """The rows `service.status.procurement_status` reads through the ORM, by SQL."""
    pid, key, reference, title, state, deadline_text, delay, _ = row
    rows = Rows(
        key, reference, title, state, _utc(deadline_text), delay,
        sent={b for (b,) in conn.execute("SELECT bidder_id FROM outbound_message WHERE procurement_id = ? AND "
                                         "kind = 'invitation' AND state = 'sent'", (pid,))},
        inbound=[(kind, bidder_id, _json(summary, {})) for kind, bidder_id, summary in conn.execute(
            "SELECT kind, bidder_id, summary FROM inbound_message WHERE procurement_id = ? ORDER BY received_at",
            (pid,))],
        bids=[(bidder_id, part_no, bool(late), _json(missing, []), _json(problems, []), decision)
              for bidder_id, part_no, late, missing, problems, decision in conn.execute(
                  "SELECT bidder_id, part_no, late, missing_forms, problems, decision FROM bid "
                  "WHERE procurement_id = ? AND status = 'active' ORDER BY received_at, id", (pid,))],
        bidders=list(conn.execute("SELECT key, name, email, id FROM bidder WHERE procurement_id = ? AND active = 1 "
                                  "ORDER BY id", (pid,))))
    return assemble(rows, {f.key: f.title for f in cfg.settings.procurement(key).forms}, now, cfg.tz)
