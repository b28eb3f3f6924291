"""Faults on the inbound side against the real Dovecot: the IMAP server restarted in the middle of a large
fetch, and the raw store failing (disk full) while a message is being stored."""
from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from hankebot.devstack import sample_mail as sm
from hankebot.service.runner import make_listener
from hankebot.storage.raw_store import RawStore
from hankebot.storage.tables import ImapCheckpoint
from conftest import _unavailable
from test_faults_env import MailEnv, _own_mail_server, inbound_rows, mail, notification_rows, wait_for  # noqa: F401

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(90)]


def _start(listener) -> threading.Thread:
    t = threading.Thread(target=listener.run_blocking, name="imap-test", daemon=True)
    t.start()
    return t


def _stop(listener, t: threading.Thread) -> None:
    listener.stop()
    t.join(15)
    assert not t.is_alive(), "the listener did not stop"


def _checkpoint(ctx):
    with ctx.uow() as uow:
        return uow.repo.s.exec(select(ImapCheckpoint)).first()


def _question(env: MailEnv, i: int) -> bytes:
    addr = env.bidders[i % len(env.bidders)][0]
    body = f"Tere!\n\nKüsimus nr {i}: kas ruumi rent kuulub maksumusse?\n" + ("täide " * 4000) + "\nAitäh"
    return sm.question_message(addr, f"Pakkuja {i % len(env.bidders) + 1}", env.tender[0], body=body,
                               subject=f"Küsimus {i}")


def test_imap_restart_mid_fetch_stores_and_processes_everything_once(mail, tmp_path, monkeypatch):
    env = MailEnv(mail, tmp_path, n_bidders=3)
    ctx = env.open(monkeypatch)
    n = 90  # ~30 kB each, fetched in chunks of 25: the restart lands inside the second chunk
    for i in range(n):
        env.deliver(_question(env, i))
    assert env.count(env.tender) == n

    listener = make_listener(ctx)
    store = listener.store
    stored = Counter()
    restarted = threading.Event()

    def store_then_restart(m):  # the real store; after the 30th message Dovecot is restarted under us
        store(m)
        stored[m.uid] += 1
        if sum(stored.values()) == 30 and not restarted.is_set():
            restarted.set()
            mail.restart_imap()

    listener.store = store_then_restart
    t = _start(listener)
    try:
        wait_for(lambda: len(inbound_rows(ctx)) >= n and all(r.state != "stored" for r in inbound_rows(ctx)),
                 45, f"{n} messages stored and processed")
    finally:
        _stop(listener, t)
    rows = inbound_rows(ctx)
    assert restarted.is_set() and listener.errors >= 1 and listener.connects >= 2  # it really lost the connection
    assert len(rows) == n and len({r.uid for r in rows}) == n
    assert Counter(r.state for r in rows) == {"processed": n}
    assert max(stored.values()) == 1  # nothing was handed to the store twice
    notes = Counter(x.dedupe_key.split("@")[0] for x in notification_rows(ctx) if x.dedupe_key.startswith("in:"))
    assert len(notes) == n and set(notes.values()) == {1}
    assert _checkpoint(ctx).last_uid == max(r.uid for r in rows)
    assert env.count(env.tender) == n  # the mailbox is left alone (BODY.PEEK, no deletes)
    print(f"\nsurvived: IMAP restart after 30 of {n} messages mid-fetch; reconnects {listener.connects - 1}, "
          f"errors {listener.errors}; stored {len(rows)} once each, processed {n}, notifications {len(notes)}")


class _BrokenStore(RawStore):
    """A raw store whose root lies under a regular file: every write fails with an OSError, as on a full disk."""


def test_disk_full_while_storing_keeps_the_message_on_the_server(mail, tmp_path, monkeypatch):
    env = MailEnv(mail, tmp_path, n_bidders=2)
    ctx = env.open(monkeypatch)
    good = ctx.raw
    listener = make_listener(ctx)
    listener.max_backoff = 1.0
    env.deliver(_question(env, 0))
    t = _start(listener)
    try:
        wait_for(lambda: len(inbound_rows(ctx)) == 1, 20, "the first message")
        first_uid = _checkpoint(ctx).last_uid
        blocker = tmp_path / "not-a-dir"
        blocker.write_bytes(b"x")
        ctx.raw = _BrokenStore(blocker / "raw")  # writes now fail (NotADirectoryError, an OSError)
        errors_before = listener.errors
        env.deliver(_question(env, 1))
        env.deliver(_question(env, 2))
        wait_for(lambda: listener.errors >= errors_before + 2, 20, "the listener to hit the failing store twice")
        assert len(inbound_rows(ctx)) == 1  # no row for the messages that could not be stored
        assert _checkpoint(ctx).last_uid == first_uid  # checkpoint not advanced
        assert env.count(env.tender) == 3  # the messages are still on the server
        failures = listener.errors - errors_before
        ctx.raw = good  # space is back
        wait_for(lambda: len(inbound_rows(ctx)) == 3 and all(r.state == "processed" for r in inbound_rows(ctx)),
                 20, "the held-back messages to be stored")
    finally:
        _stop(listener, t)
    rows = inbound_rows(ctx)
    assert len({r.uid for r in rows}) == 3 and _checkpoint(ctx).last_uid == max(r.uid for r in rows)
    assert all(good.exists(r.raw_path) for r in rows)
    print(f"\nsurvived: raw store unwritable for 2 messages ({failures} failed store attempts); no row, checkpoint "
          f"kept at uid {first_uid}, 3 messages still on the server; after recovery 3 stored, 3 processed")


def _tiny_tmpfs(path: Path) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0700", "tmpfs", str(path)],
                       capture_output=True, timeout=10)
    return r.returncode == 0


def test_real_enospc_while_storing_keeps_the_message(mail, tmp_path, monkeypatch):
    """The same with a real full file system (a 96 kB tmpfs), where the system allows mounting one."""
    small = tmp_path / "small"
    if not _tiny_tmpfs(small):
        _unavailable("cannot mount a tmpfs here (not root or no mount permission)")  # fails in CI
    try:
        env = MailEnv(mail, tmp_path, n_bidders=2)
        ctx = env.open(monkeypatch)
        good = ctx.raw
        ctx.raw = RawStore(small / "raw")
        (small / "filler").write_bytes(b"\0" * 80_000)  # ~16 kB left; each message is ~38 kB
        listener = make_listener(ctx)
        listener.max_backoff = 1.0
        env.deliver(_question(env, 5))
        env.deliver(_question(env, 6))
        t = _start(listener)
        try:
            wait_for(lambda: listener.errors >= 1, 20, "ENOSPC from the store")
            stored = len(inbound_rows(ctx))
            cp = _checkpoint(ctx)
            assert stored == 0 and cp is None and env.count(env.tender) == 2
            assert not [p for p in (small / "raw").rglob("*.tmp")]  # no half-written temp file left behind
            ctx.raw = good
            wait_for(lambda: len(inbound_rows(ctx)) == 2, 20, "both messages stored after space came back")
        finally:
            _stop(listener, t)
        print(f"\nsurvived: real ENOSPC on a 96 kB tmpfs ({listener.errors} failed attempts); {stored} of 2 stored "
              f"before, 2 after space came back, none lost")
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True, timeout=10)
