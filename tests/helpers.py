"""Shared test builders: config.toml variants (with placeholder form files), contexts on real databases,
a settable clock, and bids inserted straight into the database."""
from __future__ import annotations

import copy
import json
import tomllib

import tomli_w
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hankebot.service.config import load_config
from hankebot.service.context import Context, open_context
from hankebot.storage.tables import Bid, InboundMessage

REPO = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPO / "config.toml"
TALLINN = ZoneInfo("Europe/Tallinn")
PROC_KEY = "302834"
TOP_LEVEL = {"service", "mail", "telegram", "attachments"}


# ---------------------------------------------------------------- TOML writing


def _plain(v: Any) -> Any:
    """Decimals as strings (config fields accept them); everything else as tomli-w writes it."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def to_toml(data: dict) -> str:
    """A TOML document for `data` (dicts become tables, lists of dicts arrays of tables)."""
    return tomli_w.dumps(_plain(data))


# ---------------------------------------------------------------- config variants


def shipped_config_data() -> dict:
    """The shipped config.toml as a dict (a fresh copy)."""
    return copy.deepcopy(tomllib.loads(SHIPPED_CONFIG.read_text("utf-8")))


def make_forms(base: Path, data: dict) -> None:
    """Small placeholder files for every configured form (check_files needs them to exist)."""
    for proc in data.get("procurement", []):
        fdir = base / proc["forms_dir"]
        fdir.mkdir(parents=True, exist_ok=True)
        for f in proc.get("forms", []):
            (fdir / f["file"]).write_bytes(b"placeholder form " + f["key"].encode())


def make_config(
    tmp_path: Path,
    edit: Callable[[dict], None] | None = None,
    name: str = "config.toml",
    forms: bool = True,
    **overrides: Any,
) -> Path:
    """Write a valid config.toml variant into tmp_path and return its path.

    Keyword overrides go into the first [[procurement]] (e.g. deadline=..., opening_delay_minutes=5),
    except service/mail/telegram/attachments, which are merged into those top-level tables. `edit` may
    change the whole dict afterwards (to make invalid variants). The database is a SQLite file in
    tmp_path unless service.database_url is overridden."""
    data = shipped_config_data()
    data["service"]["database_url"] = "sqlite:///var/hankebot.sqlite"
    for k, v in overrides.items():
        if k in TOP_LEVEL:
            data.setdefault(k, {}).update(v)
        else:
            data["procurement"][0][k] = v
    if edit is not None:
        edit(data)
    if forms:
        make_forms(tmp_path, data)
    path = tmp_path / name
    path.write_text(to_toml(data), "utf-8")
    return path


# ---------------------------------------------------------------- clock and context


@dataclass
class Clock:
    """A settable clock for Context(clock=...)."""

    t: datetime

    def __call__(self) -> datetime:
        return self.t

    def set(self, t: datetime) -> None:
        self.t = t

    def advance(self, **kw: float) -> datetime:
        self.t = self.t + timedelta(**kw)
        return self.t


def make_ctx(
    tmp_path: Path,
    clock: Callable[[], datetime] | None = None,
    database_url: str | None = None,
    **overrides: Any,
) -> Context:
    """open_context on a config from make_config (SQLite file in tmp_path unless database_url)."""
    cfg = load_config(make_config(tmp_path, **overrides))
    if clock is None:
        return open_context(cfg, database_url=database_url)
    return open_context(cfg, clock=clock, database_url=database_url)


def set_state(ctx: Context, state: str, key: str = PROC_KEY) -> None:
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        p.state = state
        uow.repo.s.add(p)
        uow.commit()


def get_state(ctx: Context, key: str = PROC_KEY) -> str:
    with ctx.uow() as uow:
        return uow.repo.procurement(key).state


_uid = iter(range(1, 1_000_000))


def add_bid(
    ctx: Context,
    bidder_key: str,
    part_no: int = 2,
    price: str | Decimal | None = "1000",
    received_at: datetime | None = None,
    problems: list[dict] | None = None,
    key: str = PROC_KEY,
) -> int:
    """Insert an inbound message and its bid row directly; returns the bid id."""
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement(key)
        bidder = next(b for b in repo.bidders(p.id) if b.key == bidder_key)
        at = received_at or (p.deadline - timedelta(hours=1))
        n = next(_uid)
        msg = repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=n, sha256=f"{n:064x}", raw_path=f"x/{n}.eml",
                                      received_at=at, state="processed", kind="bid", procurement_id=p.id,
                                      bidder_id=bidder.id, sender=bidder.email))
        bid = repo.add(Bid(procurement_id=p.id, bidder_id=bidder.id, sender=bidder.email, part_no=part_no,
                           inbound_message_id=msg.id, received_at=at, late=False,
                           price=None if price is None else Decimal(price), price_basis="legal_with_vat",
                           forms_found=["offer_form", "cost_form"], problems=problems or []))
        uow.commit()
        return bid.id


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def with_text(ctx: Context, notes: list) -> list:
    """Outbox rows with `text` filled as the worker would deliver them now (the outbox stores events;
    their text is rendered at delivery). Rows already delivered keep the text they were sent with."""
    from hankebot.bot.render import render

    for n in notes:
        if not n.text:
            n.text = render(ctx, n)[0]
    return notes


def enqueue_text(ctx: Context, repo, kind: str, text: str, event_key: str, procurement_id: int | None = None,
                 quiet: bool = False, payload: dict | None = None, chats: list[int] | None = None) -> list:
    """An outbox row of a fixed text (as a row from before events), for tests of delivery itself: the
    service has no such path, every notice it makes is a domain event (service.notify.publish)."""
    from hankebot.core.events import Rendered
    from hankebot.service.notify import publish

    return publish(ctx, repo, kind, Rendered(procurement_id=procurement_id, text=text), event_key, procurement_id,
                   quiet, payload, chats)
