"""The whole service (`hankebot run`, a subprocess) killed -9 at random moments while bidders' mail keeps
arriving, restarted each time, against the real Dovecot/Postfix and the Bot API stand-in. At the end:
every message stored and processed once, every invitation and receipt in the bidders' real mailboxes once,
every notification delivered at most once (exactly once unless it was caught mid-send: then held).
(The IMAP-only kill -9 exactly-once test lives in tests/test_kill9*; this one is the whole service.)"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter

import pytest

from hankebot.devstack import sample_mail as sm
from hankebot.devstack.telegram_api import FakeTelegramAPI
from helpers import REPO, enqueue_text
from test_faults_env import MailEnv, _own_mail_server, inbound_rows, mail, notification_rows, outbound_rows  # noqa: F401

pytestmark = [pytest.mark.mailserver, pytest.mark.slow, pytest.mark.timeout(150)]

STAFF = 5001
KILLS = 4


async def _start(env: MailEnv, log) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hankebot", "--config", str(env.config_path), "run", cwd=REPO,
        env={**os.environ, **env.env, "PYTHONPATH": str(REPO), "HANKEBOT_TELEGRAM_TOKEN": env.token},
        stdout=log, stderr=log)


async def _cli(env: MailEnv, *args: str) -> int:
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hankebot", "--config", str(env.config_path), *args, cwd=REPO,
        env={**os.environ, **env.env, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(p.wait(), 60)


async def test_service_killed_9_repeatedly_loses_and_duplicates_nothing(mail, tmp_path, monkeypatch):
    seed = int(os.environ.get("HB_KILL_SEED", time.time_ns() % 100_000))
    rnd = random.Random(seed)
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")

        def edit(data):
            data["telegram"]["staff"] = [{"name": "Taimi Nilson", "user_id": STAFF}]
            data["telegram"]["base_url"] = api.base_url
            data["telegram"]["base_file_url"] = api.base_file_url
            data["mail"]["smtp"]["max_attempts"] = 5

        env = MailEnv(mail, tmp_path, n_bidders=3, edit=edit)
        env.token = api.token
        ctx = env.open(monkeypatch)
        assert await _cli(env, "send-invitations", "302834") == 0

        log = open(tmp_path / "service.log", "ab")
        n_sent = 0
        stop_mail = asyncio.Event()

        async def bidders_write() -> None:  # questions keep arriving, each with its own subject naming the procurement
            nonlocal n_sent
            while not stop_mail.is_set() and n_sent < 40:
                i = n_sent
                addr, _ = env.bidders[i % len(env.bidders)]
                raw = sm.question_message(addr, f"Pakkuja {i % len(env.bidders) + 1} OÜ", env.tender[0],
                                          subject=f"Küsimus nr {i} (hange 302834)", body=f"Tere!\n\nKüsimus nr {i}: kas ka "
                                          f"ruumi rent?\n\nAitäh")
                await asyncio.to_thread(env.deliver, raw)
                n_sent += 1
                await asyncio.sleep(rnd.uniform(0.05, 0.25))

        writer = asyncio.create_task(bidders_write())
        kills = []
        try:
            for _ in range(KILLS):
                proc = await _start(env, log)
                at = rnd.uniform(1.5, 4.0)
                await asyncio.sleep(at)
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                kills.append(round(at, 2))
            await writer
            proc = await _start(env, log)  # the last run is left to finish everything
            end = time.monotonic() + 60
            while time.monotonic() < end:
                rows = [r for r in inbound_rows(ctx) if r.kind != "other" and r.state != "own_copy"]
                notes = notification_rows(ctx)
                all_receipts = outbound_rows(ctx, "receipt")
                receipts = [r for r in all_receipts if r.state in ("pending", "sending")]
                # a receipt row is queued just after its message is processed: wait for one per message too
                own_copies = [r for r in inbound_rows(ctx) if r.state == "own_copy"]
                # and the mailbox's copy of each sent message is read back (the listener fetches them after sending)
                if (len(rows) == n_sent and all(r.state != "stored" for r in rows) and not receipts
                        and len(all_receipts) >= n_sent
                        and len(own_copies) >= 3 + sum(r.state == "sent" for r in all_receipts)
                        and all(x.state in ("sent", "held", "failed") or x.quiet for x in notes)):
                    break
                await asyncio.sleep(0.5)
            # a positive signal instead of a pause: a marker notification, sent after every earlier row (the
            # worker goes oldest first), so a late duplicate of one of them would be in before it
            with ctx.uow() as uow:
                enqueue_text(ctx, uow.repo, "test", "Märgis: kõik saadetud", "kill9-marker")
                uow.commit()
            await api.wait_for_message(STAFF, predicate=lambda m: m.get("text") == "Märgis: kõik saadetud",
                                       timeout=30)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            stop_mail.set()
            writer.cancel()
            log.close()
            if proc.returncode is None:
                proc.kill()

        sent_texts = Counter(m["text"] for m in api.sent_messages(STAFF))

    everything = inbound_rows(ctx)
    assert len({r.uid for r in everything}) == len(everything)
    own = [r for r in everything if r.state == "own_copy"]  # the mailbox's copies of our invitations and receipts
    rows = [r for r in everything if r.state != "own_copy"]
    assert len(rows) == n_sent and Counter(r.state for r in rows) == {"processed": n_sent}, \
        (n_sent, Counter((r.state, r.kind) for r in everything))
    notes = [x for x in notification_rows(ctx) if not x.quiet]
    states = Counter(x.state for x in notes)
    assert set(states) <= {"sent", "held"} and states["held"] <= KILLS, states
    assert max(sent_texts.values()) == 1, [t for t, c in sent_texts.items() if c > 1][:3]  # nothing twice
    assert sum(sent_texts.values()) >= states["sent"]
    questions = Counter(r.sender for r in rows)
    counts = env.wait_counts({u: 1 + questions[u[0]] for u in env.bidders})  # invitation + one receipt each
    expected = {u: 1 + questions[u[0]] for u in env.bidders}
    receipt_rows = Counter(r.recipient for r in outbound_rows(ctx, "receipt"))
    assert counts == expected, (f"seed {seed}: mailboxes {[counts[u] for u in env.bidders]}, expected "
                                f"{[expected[u] for u in env.bidders]}, receipt rows {[receipt_rows[u[0]] for u in env.bidders]}, "
                                f"receipt states {Counter(r.state for r in outbound_rows(ctx, 'receipt'))}")
    assert len(own) == 3 + sum(questions.values())  # one Bcc copy per message sent, no more
    print(f"\nsurvived: `hankebot run` killed -9 {KILLS}x (at {kills} s after start, seed {seed}) while {n_sent} "
          f"questions arrived; stored+processed {len(rows)} once each; invitations 3 and receipts "
          f"{sum(questions.values())} in real mailboxes once each; notifications {states['sent']} sent once, "
          f"{states['held']} held (caught mid-send), 0 duplicates")
