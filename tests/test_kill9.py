"""kill -9 during a batch: a worker (tests/inbound_worker.py: IMAP sync storing and processing per chunk)
is SIGKILLed at random moments while it works through a few hundred real messages, restarted, killed
again, then left to finish. Every UID must end up with exactly one row, processed exactly once."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from inbound_worker import BIDDERS, rows, settle_new_user, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.storage.tables import AuditLog, Bid, InboundMessage, Notification

N_MESSAGES = 300
KILLS = 5
WORKER = Path(__file__).resolve().parent / "inbound_worker.py"


def _corpus(rng: random.Random) -> list[tuple[str, bytes]]:
    """(expected kind, raw) for a realistic mix: half bids with small forms, a quarter declines, a quarter questions."""
    keys = list(BIDDERS)
    offers = {k: sf.make_offer_form(BIDDERS[k][0], "12345678", [2], ["Mari Maasikas"], "Slaidid.", "Rollimängud.")
              for k in keys}
    costs = {}
    out = []
    for i in range(N_MESSAGES):
        key = keys[i % len(keys)]
        name, addr, person = BIDDERS[key]
        kind = ("bid", "bid", "decline", "question")[i % 4]
        if kind == "bid":
            basis = PriceBasis.LEGAL_WITH_VAT if person == "legal" else PriceBasis.NATURAL_TOTAL
            price = Decimal(3000 + rng.randrange(0, 40) * 50)
            if (basis, price) not in costs:
                costs[basis, price] = sf.make_cost_form(basis, price)
            raw = sm.bid_message(addr, name, body=f"Tere,\n\npakkumus nr {i} II mooduli koolitamiseks.\n\n{name}",
                                 attachments=[("Lisa 2 pakkumuse vorm.docx", offers[key]),
                                              ("Lisa 3 maksumuse vorm.xlsx", costs[basis, price])])
        elif kind == "decline":
            raw = sm.decline_message(addr, name, body=f"Tere,\n\nkahjuks ei saa me sel korral pakkumust esitada ({i}).\n\n{name}")
        else:
            raw = sm.question_message(addr, name)
        out.append((kind, raw))
    return out


def _run_worker(config: Path, kill_after: float | None) -> tuple[str, int | None]:
    """Start the worker; SIGKILL it after `kill_after` seconds unless it finished. Returns (outcome, exit code)."""
    proc = subprocess.Popen([sys.executable, str(WORKER), str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=config.parent)
    try:
        out, err = proc.communicate(timeout=kill_after if kill_after is not None else 120)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
        return "finished", proc.returncode
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert kill_after is not None, "the final worker run did not finish within 120 s"
        return "killed", proc.returncode


def _progress(ctx) -> tuple[int, int]:
    """(rows stored, rows processed)."""
    msgs = rows(ctx, InboundMessage)
    return len(msgs), sum(1 for m in msgs if m.state != "stored")


def test_kill9_during_a_batch_loses_nothing_and_repeats_nothing(tmp_path, mail_server):
    seed = int(os.environ.get("HANKEBOT_KILL9_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    user, password = f"kill9-{seed}@example.test", "kill9-pw"
    mail_server.add_user(user, password)
    corpus = _corpus(rng)
    settle_new_user()
    t0 = time.monotonic()
    for _, raw in corpus:
        mail_server.deliver(user, raw)
    delivered_s = time.monotonic() - t0
    config = write_config(tmp_path, mail_server, user, password)
    ctx = open_context(load_config(config))  # creates the database; the worker opens the same one

    survived = []
    for _ in range(KILLS):
        delay = rng.uniform(0.2, 3.0)
        outcome, _code = _run_worker(config, delay)
        stored, done = _progress(ctx)
        survived.append((round(delay, 2), outcome, stored, done))
        if outcome == "finished":
            break
    t1 = time.monotonic()
    _run_worker(config, None)
    final_s = time.monotonic() - t1
    print(f"\nkill -9 (seed {seed}): delivered {N_MESSAGES} in {delivered_s:.1f} s; runs (after s, outcome, "
          f"rows stored, rows processed): {survived}; final run {final_s:.1f} s")

    msgs = rows(ctx, InboundMessage, order=InboundMessage.uid)
    expected = {uid: kind for uid, (kind, _) in enumerate(corpus, start=1)}
    assert [m.uid for m in msgs] == list(expected)  # every UID exactly one row
    assert Counter(m.state for m in msgs) == Counter({"processed": N_MESSAGES})  # none left 'stored'
    assert {m.uid: m.kind for m in msgs} == expected  # each classified as delivered
    for m in msgs:
        assert ctx.raw.exists(m.raw_path)
    processed_audits = Counter(a.details.get("inbound_id") for a in rows(ctx, AuditLog, AuditLog.action == "processed"))
    assert set(processed_audits.values()) == {1} and len(processed_audits) == N_MESSAGES  # processed exactly once

    bids = rows(ctx, Bid)
    per_message = Counter(b.inbound_message_id for b in bids)
    assert max(per_message.values()) == 1  # no duplicate bid rows for one message
    n_bids = sum(1 for k in expected.values() if k == "bid")
    assert len(bids) == n_bids
    assert all(b.price is not None and b.part_no == 2 for b in bids)
    by_msg = {m.id: m for m in msgs}
    assert {by_msg[b.inbound_message_id].kind for b in bids} == {"bid"}

    notes = rows(ctx, Notification)
    assert len({n.dedupe_key for n in notes}) == len(notes)
    kinds = Counter(n.kind for n in notes)
    assert kinds["new_bid"] == n_bids
    assert kinds["decline"] == sum(1 for k in expected.values() if k == "decline")
    assert kinds["question"] == sum(1 for k in expected.values() if k == "question")
    assert kinds["quarantined"] == 0
    with ctx.uow() as uow:
        assert uow.repo.checkpoint("INBOX").last_uid == N_MESSAGES
