"""One active bid per bidder and part, whatever order the mail is fetched in: bids APPENDed to the real
Dovecot with explicit INTERNALDATEs so that UID order differs from receive order, fetched by the real IMAP
sync (also with kill -9 in the middle of the batch); and the database itself refusing a second active bid
(partial unique index, SQLite and PostgreSQL)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from inbound_worker import BIDDERS, count, rows, settle_new_user, wait_until, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.storage.tables import Bid, InboundMessage
from helpers import add_bid, make_ctx

pytestmark = pytest.mark.timeout(300)


def _bid(key: str, price: Decimal, n: int) -> bytes:
    name, addr, person = BIDDERS[key]
    basis = PriceBasis.LEGAL_WITH_VAT if person == "legal" else PriceBasis.NATURAL_TOTAL
    return sm.bid_message(addr, name, body=f"Tere,\n\npakkumus nr {n} II mooduli koolitamiseks.\n\n{name}",
                          message_id=f"<order-{key}-{n}@test>",
                          attachments=[("Lisa 2 pakkumuse vorm.docx",
                                        sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "S.", "R.")),
                                       ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(basis, price))])


def _append_shuffled(mail_server, user: str, password: str, per_bidder: int, rng: random.Random) -> dict:
    """APPEND per_bidder bids for each bidder in a random order, each with its own INTERNALDATE (whole
    seconds, all different): UID order is not receive order. Returns bidder address -> the latest price."""
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    plan = []
    for bi, key in enumerate(BIDDERS):
        for j in range(per_bidder):
            plan.append((key, Decimal(3000 + bi * 100 + j), base + timedelta(minutes=j * 7 + bi)))
    rng.shuffle(plan)
    latest: dict = {}
    with mail_server.mailbox(user, password) as box:
        for n, (key, price, at) in enumerate(plan):
            box.append(_bid(key, price, n), "INBOX", dt=at)
            addr = BIDDERS[key][1]
            if addr not in latest or at > latest[addr][0]:
                latest[addr] = (at, price)
    uids_by_date = [at for _, _, at in plan]
    assert uids_by_date != sorted(uids_by_date)  # the point: fetched out of receive order
    return {a: p for a, (_, p) in latest.items()}


def _check_one_active_latest(ctx, latest: dict, per_bidder: int) -> None:
    bids = rows(ctx, Bid)
    assert len(bids) == per_bidder * len(BIDDERS), len(bids)
    active = defaultdict(list)
    for b in bids:
        if b.status == "active":
            active[(b.bidder_id, b.part_no)].append(b)
    assert all(len(v) == 1 for v in active.values()), {k: [b.id for b in v] for k, v in active.items() if len(v) > 1}
    assert len(active) == len(BIDDERS)
    got = {v[0].sender: v[0].price for v in active.values()}
    assert got == latest
    winners = {v[0].id for v in active.values()}
    assert all(b.superseded_by in winners for b in bids if b.status != "active")


def test_out_of_order_fetch_leaves_the_latest_bid_by_internaldate_active(tmp_path, mail_server):
    seed = int(os.environ.get("HANKEBOT_ORDER_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    user, password = f"order-{seed}@example.test", "order-pw"
    mail_server.add_user(user, password)
    settle_new_user()
    per_bidder = 4
    latest = _append_shuffled(mail_server, user, password, per_bidder, rng)
    config = write_config(tmp_path, mail_server, user, password)
    ctx = open_context(load_config(config))
    from inbound_worker import main

    assert main(["worker", str(config)]) == 0
    assert {m.state for m in rows(ctx, InboundMessage)} == {"processed"}
    _check_one_active_latest(ctx, latest, per_bidder)
    print(f"\nout of order (seed {seed}): {per_bidder * len(BIDDERS)} bids APPENDed in shuffled INTERNALDATE order, "
          f"one active per bidder, each the latest by INTERNALDATE")


def _kill_when_processed(ctx, config, target: int) -> tuple[int, int]:
    """Run the worker and SIGKILL it as soon as `target` messages are processed; (stored, processed) then."""
    from test_kill9 import WORKER

    proc = subprocess.Popen([sys.executable, str(WORKER), str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=config.parent)
    try:
        wait_until(lambda: proc.poll() is not None or count(ctx, InboundMessage, InboundMessage.state != "stored")
                   >= target, 120, step=0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    msgs = rows(ctx, InboundMessage)
    return len(msgs), sum(1 for m in msgs if m.state != "stored")


def test_kill9_in_an_out_of_order_batch_still_leaves_one_active_bid(tmp_path, mail_server):
    from test_kill9 import _run_worker

    seed = int(os.environ.get("HANKEBOT_ORDER_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    user, password = f"order9-{seed}@example.test", "order-pw"
    mail_server.add_user(user, password)
    settle_new_user()
    per_bidder = 10
    latest = _append_shuffled(mail_server, user, password, per_bidder, rng)
    config = write_config(tmp_path, mail_server, user, password)
    ctx = open_context(load_config(config))
    runs = []
    total = per_bidder * len(BIDDERS)
    for target in sorted(rng.sample(range(3, total - 3), 3)):  # kill once `target` messages are processed
        runs.append(_kill_when_processed(ctx, config, target))
    assert any(0 < done < total for _, done in runs), runs  # killed in the middle, not before or after
    _run_worker(config, None)
    assert {m.state for m in rows(ctx, InboundMessage)} == {"processed"}
    _check_one_active_latest(ctx, latest, per_bidder)
    print(f"\nkill -9 out of order (seed {seed}): runs {runs}; one active bid per bidder, the latest by INTERNALDATE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_ctx(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_ctx(tmp_path, database_url=url)


def test_the_database_refuses_a_second_active_bid(db_ctx):
    first = add_bid(db_ctx, "koolituskeskus")
    with pytest.raises(IntegrityError):
        add_bid(db_ctx, "koolituskeskus")  # a code path that forgets to supersede cannot commit
    with db_ctx.uow() as uow:
        assert [b.id for b in uow.repo.bids(uow.repo.procurement("302834").id)] == [first]
    # what the index does not cover: another part, another bidder, a superseded or a late bid
    add_bid(db_ctx, "koolituskeskus", part_no=1)
    add_bid(db_ctx, "kadri")
    with db_ctx.uow() as uow:
        b = uow.repo.bid(first)
        b.status = "superseded"
        uow.repo.s.add(b)
        uow.commit()
    add_bid(db_ctx, "koolituskeskus")
    with db_ctx.uow() as uow:
        late = uow.repo.bid(add_bid(db_ctx, "ilmar"))
    with db_ctx.uow() as uow:
        b = uow.repo.bid(late.id)
        b.late = True
        uow.repo.s.add(b)
        uow.commit()
    add_bid(db_ctx, "ilmar")


def test_bids_from_unreadable_senders_never_supersede_each_other(tmp_path):
    """Two people whose From: cannot be read (sender "") and an unmatched stranger: every bid stays its own."""
    from hankebot.service.ingest import process_pending, store_raw
    from test_faults_env import future_deadline

    ctx = make_ctx(tmp_path, deadline=future_deadline())
    forms = [("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form("X OÜ", "12345678", [2], ["M"], "S", "R")),
             ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal("4800")))]
    now = datetime.now(timezone.utc)
    raws = []
    for i, frm in enumerate(["Mari Maasikas <>", "=?utf-8?q?Jaan?= <not an address", "voor@stranger.example"]):
        raw = sm.bid_message("placeholder@x.example", "P", subject=f"Pakkumus hange 302834 ({i})",
                             message_id=f"<unreadable-{i}@test>", attachments=forms)
        raws.append(raw.replace(b"placeholder@x.example", frm.encode()).replace(b'"P" <' + frm.encode() + b">",
                                                                            b"From: " + frm.encode()))
    for i, raw in enumerate(raws):
        store_raw(ctx, "INBOX", 1, 100 + i, raw, now + timedelta(minutes=i))
    process_pending(ctx)
    bids = rows(ctx, Bid)
    assert len(bids) == len(raws), [(m.state, m.kind, m.sender) for m in rows(ctx, InboundMessage)]
    assert sorted(b.sender for b in bids)[:2] == ["", ""]  # two different people, both unreadable
    assert all(b.status == "active" and b.bidder_id is None for b in bids)
