"""The IMAP listener against a real Dovecot: IDLE and polling pick up mail delivered after start, an IMAP
restart mid-session is survived without loss or repeats, raw bytes are stored (0600, row 'stored') before
processing, and a failing raw store commits nothing and does not advance the checkpoint."""
from __future__ import annotations

import asyncio
import os
import shutil
import stat
import threading
import time
from decimal import Decimal

import pytest
from conftest import start_mail_server
from inbound_worker import BIDDERS, count, rows, settle_new_user, wait_until, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.imap_listener import FetchedMessage, ImapListener, connect, idle_wait
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.ingest import process_pending, store_raw
from hankebot.service.runner import make_listener, run_service
from hankebot.storage.tables import Bid, InboundMessage, Notification

OFFER = "Lisa 2 pakkumuse vorm.docx"
COST = "Lisa 3 maksumuse vorm.xlsx"


def _bid(key: str, price: str, body_tag: str = "") -> bytes:
    name, addr, _ = BIDDERS[key]
    return sm.bid_message(addr, name, "tender@example.test",
                          body=f"Tere,\n\nesitame pakkumuse II mooduli koolitamiseks. {body_tag}\n\n{name}",
                          attachments=[(OFFER, sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "Materjalid.",
                                                                  "Meetodid.")),
                                       (COST, sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))])


def _ctx(tmp_path, server, user, **kw):
    settle_new_user()
    return open_context(load_config(write_config(tmp_path, server, user.email, user.password, **kw)))


def _start(listener: ImapListener) -> threading.Thread:
    th = threading.Thread(target=listener.run_blocking, name="imap-test", daemon=True)
    th.start()
    assert wait_until(lambda: listener.connects >= 1, 10), "listener did not connect"
    return th


def _stop(listener: ImapListener, th: threading.Thread) -> None:
    listener.stop()
    th.join(10)
    assert not th.is_alive(), "listener thread did not stop"


# ------------------------------------------------------------------ 1. new mail through IDLE and polling


async def test_run_service_picks_up_a_bid_delivered_after_start_through_idle(tmp_path, mail_server, fresh_mail_user):
    # poll_seconds=120: within the 10 s wait only an IDLE wake-up can bring the message in
    ctx = _ctx(tmp_path, mail_server, fresh_mail_user, idle=True, poll_seconds=120)
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(ctx, stop, with_imap=True))
    try:
        connected = await asyncio.to_thread(wait_until, lambda: _imap_session_open(mail_server, fresh_mail_user), 10)
        assert connected
        await asyncio.sleep(0.5)  # let the listener's first sync finish and enter IDLE
        await asyncio.to_thread(mail_server.deliver, fresh_mail_user.email, _bid("koolituskeskus", "4800.00"))
        got = await asyncio.to_thread(wait_until, lambda: count(ctx, Notification, Notification.kind == "new_bid"), 10)
        assert got == 1, "the bid was not picked up through IDLE"
        [bid] = rows(ctx, Bid)
        assert (bid.part_no, bid.price, bid.price_basis, bid.late) == (2, Decimal("4800.00"), "legal_with_vat", False)
        [msg] = rows(ctx, InboundMessage)
        assert (msg.state, msg.kind, msg.uid) == ("processed", "bid", 1)
    finally:
        stop.set()
        await asyncio.wait_for(service, 20)


def _imap_session_open(server, user) -> bool:
    """Dovecot logs every IMAP login: true once the service's listener has logged in as `user`."""
    try:
        return f"user=<{user.email}>" in server.dovecot_log.read_text(errors="replace")
    except OSError:
        return False


def test_polling_without_idle_picks_up_new_mail(tmp_path, mail_server, fresh_mail_user):
    ctx = _ctx(tmp_path, mail_server, fresh_mail_user, idle=False, poll_seconds=0.5)
    listener = make_listener(ctx)
    assert listener.idle is False
    th = _start(listener)
    try:
        mail_server.deliver(fresh_mail_user.email, sm.decline_message("kadri.jogi@example.com", "Kadri Jõgi"))
        mail_server.deliver(fresh_mail_user.email, _bid("tugiteenused", "5600.00"))
        assert wait_until(lambda: count(ctx, InboundMessage, InboundMessage.state == "processed") == 2, 10)
        assert [m.kind for m in rows(ctx, InboundMessage, order=InboundMessage.uid)] == ["decline", "bid"]
        assert count(ctx, Notification, Notification.kind == "new_bid") == 1
        assert count(ctx, Notification, Notification.kind == "decline") == 1
        assert listener.errors == 0
    finally:
        _stop(listener, th)


def test_idle_wait_sees_a_message_delivered_just_before_idle(mail_server, fresh_mail_user):
    """Regression: the EXISTS that Dovecot sends with the IDLE continuation sits in imaplib's buffer; a
    select() on the socket alone slept for the whole timeout."""
    settle_new_user()
    with mail_server.mailbox(fresh_mail_user.email, fresh_mail_user.password) as box:
        box.folder.set("INBOX")
        mail_server.deliver(fresh_mail_user.email, sm.question_message("ilmar.sepp@example.net", "Ilmar Sepp"))
        time.sleep(0.3)  # delivered and announced before IDLE starts
        woke = idle_wait(box, 5)  # the old code slept these 5 s and returned []
        assert woke, "IDLE slept through a message that had already arrived"
        assert idle_wait(box, 0.3) == []  # nothing new: returns empty after the timeout


# ------------------------------------------------------------------ 2. IMAP server restart mid-session


def test_imap_restart_while_idling_is_survived_without_loss_or_repeats(tmp_path):
    user, pw = "tender@example.test", "tenderpass"
    server, base = start_mail_server({user: pw})  # a private server: the restart must not hit other tests
    try:
        ctx = open_context(load_config(write_config(tmp_path, server, user, pw, idle=True, poll_seconds=120)))
        listener = make_listener(ctx)
        listener.max_backoff = 1.0
        th = _start(listener)
        try:
            server.deliver(user, sm.decline_message("kadri.jogi@example.com", "Kadri Jõgi"))
            assert wait_until(lambda: count(ctx, InboundMessage, InboundMessage.state == "processed") == 1, 10)
            time.sleep(0.3)  # idling now
            server.restart_imap()
            for i, key in enumerate(["koolituskeskus", "tugiteenused", "lastekaitse"]):
                server.deliver(user, _bid(key, f"{4000 + i}.00", f"pärast taaskäivitust {i}"))
            assert wait_until(lambda: count(ctx, InboundMessage, InboundMessage.state == "processed") == 4, 20)
            # a positive signal instead of a pause: one more message, processed after everything before it
            # (UID order), so a repeat of an earlier one would be in the table by the time it is
            server.deliver(user, sm.question_message("ilmar.sepp@example.net", "Ilmar Sepp"))
            assert wait_until(lambda: count(ctx, InboundMessage, InboundMessage.uid == 5,
                                            InboundMessage.state == "processed") == 1, 20)
            msgs = rows(ctx, InboundMessage, order=InboundMessage.uid)
            assert [m.uid for m in msgs] == [1, 2, 3, 4, 5]
            assert len({m.sha256 for m in msgs}) == 5 and {m.state for m in msgs} == {"processed"}
            bids = rows(ctx, Bid)
            assert sorted(b.price for b in bids) == [Decimal("4000.00"), Decimal("4001.00"), Decimal("4002.00")]
            assert len({b.inbound_message_id for b in bids}) == 3
            assert count(ctx, Notification, Notification.kind == "new_bid") == 3
            print(f"restart survived: connects={listener.connects}, errors={listener.errors}, "
                  f"restart took {server.timings.get('restart_imap', 0):.2f} s")
        finally:
            _stop(listener, th)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------ 6. raw bytes stored before processing


def _store_only(ctx):
    """An ImapListener that only stores (after_batch does nothing), as between a crash and process_pending."""
    listener = make_listener(ctx)

    def store(m: FetchedMessage) -> None:
        store_raw(ctx, m.folder, m.uidvalidity, m.uid, m.raw, m.internaldate)

    return ImapListener(listener.ep, store, listener.checkpoint, after_batch=lambda: None, idle=False)


def test_raw_message_is_stored_0600_before_processing(tmp_path, mail_server, fresh_mail_user):
    ctx = _ctx(tmp_path, mail_server, fresh_mail_user)
    mail_server.deliver(fresh_mail_user.email, _bid("kadri", "3900.00"))
    mail_server.deliver(fresh_mail_user.email, sm.question_message("ilmar.sepp@example.net", "Ilmar Sepp"))
    listener = _store_only(ctx)
    box = connect(listener.ep)
    try:
        assert listener.sync_once(box) == 2
        assert listener.sync_once(box) == 0  # checkpoint advanced: nothing fetched twice
        fetched = {m.uid: m.raw for m in _fetch_all(box, listener)}
    finally:
        box.logout()
    msgs = rows(ctx, InboundMessage, order=InboundMessage.uid)
    assert [(m.uid, m.state, m.kind) for m in msgs] == [(1, "stored", None), (2, "stored", None)]
    for m in msgs:
        path = ctx.raw.root / m.raw_path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes() == fetched[m.uid]  # exactly the server's bytes
        assert m.size == len(fetched[m.uid])
    assert count(ctx, Bid) == 0 and count(ctx, Notification) == 0
    with ctx.uow() as uow:
        cp = uow.repo.checkpoint("INBOX")
        assert cp.last_uid == 2
    assert process_pending(ctx) == 2
    assert [m.state for m in rows(ctx, InboundMessage, order=InboundMessage.uid)] == ["processed", "processed"]
    assert count(ctx, Bid) == 1


def _fetch_all(box, listener):
    from hankebot.mailer.imap_listener import fetch_raw, new_uids, uidvalidity_of

    uv = uidvalidity_of(box, "INBOX")
    return list(fetch_raw(box, "INBOX", uv, new_uids(box, 0)))


def test_failing_raw_store_commits_nothing_and_the_next_sync_stores_it(tmp_path, mail_server, fresh_mail_user):
    ctx = _ctx(tmp_path, mail_server, fresh_mail_user)
    mail_server.deliver(fresh_mail_user.email, _bid("lastekaitse", "6100.00"))
    # "disk full": a regular file where the raw store's directory should be, so mkdir fails with OSError
    # (root ignores permission bits, so a read-only directory would not fail)
    shutil.rmtree(ctx.raw.root, ignore_errors=True)
    ctx.raw.root.write_bytes(b"not a directory")
    listener = _store_only(ctx)
    box = connect(listener.ep)
    try:
        with pytest.raises(OSError):
            listener.sync_once(box)
        assert count(ctx, InboundMessage) == 0
        with ctx.uow() as uow:
            assert uow.repo.checkpoint("INBOX") is None
        ctx.raw.root.unlink()  # the disk has room again
        assert listener.sync_once(box) == 1
    finally:
        box.logout()
    [m] = rows(ctx, InboundMessage)
    assert (m.uid, m.state) == (1, "stored")
    assert (ctx.raw.root / m.raw_path).is_file()
    assert process_pending(ctx) == 1
    assert count(ctx, Bid) == 1


def test_running_listener_retries_after_a_storage_failure(tmp_path, mail_server, fresh_mail_user):
    """The service keeps running when storing fails: it backs off, fetches again, and nothing is lost."""
    ctx = _ctx(tmp_path, mail_server, fresh_mail_user, idle=True, poll_seconds=120)
    shutil.rmtree(ctx.raw.root, ignore_errors=True)
    ctx.raw.root.write_bytes(b"not a directory")
    listener = make_listener(ctx)
    listener.max_backoff = 0.5
    th = _start(listener)
    try:
        mail_server.deliver(fresh_mail_user.email, _bid("tugiteenused", "5200.00"))
        assert wait_until(lambda: listener.errors >= 2, 15), "storage failures were not retried"
        assert count(ctx, InboundMessage) == 0
        os.unlink(ctx.raw.root)
        assert wait_until(lambda: count(ctx, Bid) == 1, 15)
        [m] = rows(ctx, InboundMessage)
        assert (m.uid, m.state, m.kind) == (1, "processed", "bid")
    finally:
        _stop(listener, th)


# ------------------------------------------------------------------ a folder of its own; UIDVALIDITY change


def test_own_folder_and_a_uidvalidity_change_re_reads_without_repeating(tmp_path, mail_server, fresh_mail_user):
    """The mailbox folder is recreated (UIDVALIDITY changes, UIDs restart): the listener re-reads it, the
    messages it already had become 'duplicate', and only the new one makes a notification."""
    from datetime import datetime, timedelta, timezone

    ctx = _ctx(tmp_path, mail_server, fresh_mail_user, folder="Hanked")
    when = datetime.now(timezone.utc) - timedelta(hours=1)
    first = [sm.decline_message("kadri.jogi@example.com", "Kadri Jõgi"), _bid("ilmar", "3500.00")]
    with mail_server.mailbox(fresh_mail_user.email, fresh_mail_user.password) as box:
        box.folder.create("Hanked")
        for raw in first:
            box.append(raw, "Hanked", dt=when)
        box.append(sm.question_message("ilmar.sepp@example.net", "Ilmar Sepp"), "INBOX", dt=when)  # not our folder
    listener = make_listener(ctx)
    box = connect(listener.ep)
    try:
        assert listener.sync_once(box) == 2
    finally:
        box.logout()
    uv1 = rows(ctx, InboundMessage)[0].uidvalidity
    with mail_server.mailbox(fresh_mail_user.email, fresh_mail_user.password) as box:
        box.folder.delete("Hanked")
        box.folder.create("Hanked")
        for raw in [*first, sm.question_message("ilmar.sepp@example.net", "Ilmar Sepp")]:
            box.append(raw, "Hanked", dt=when)
    box = connect(listener.ep)
    try:
        assert listener.sync_once(box) == 3
    finally:
        box.logout()
    msgs = rows(ctx, InboundMessage, order=InboundMessage.id)
    assert msgs[3].uidvalidity != uv1 and {m.folder for m in msgs} == {"Hanked"}
    assert [(m.uid, m.state, m.kind) for m in msgs] == [
        (1, "processed", "decline"), (2, "processed", "bid"),
        (1, "duplicate", "decline"), (2, "duplicate", "bid"), (3, "processed", "question")]
    assert (msgs[2].duplicate_of, msgs[3].duplicate_of) == (msgs[0].id, msgs[1].id)
    assert count(ctx, Bid) == 1
    assert sorted(n.kind for n in rows(ctx, Notification)) == ["decline", "new_bid", "question"]
    with ctx.uow() as uow:
        cp = uow.repo.checkpoint("Hanked")
        assert (cp.uidvalidity, cp.last_uid) == (msgs[3].uidvalidity, 3)


def test_chunks_hold_few_big_messages_and_many_small_ones():
    from hankebot.mailer.imap_listener import chunks_by_size

    mb = 1024 * 1024
    sizes = {1: 30 * mb, 2: 30 * mb, 3: 10 * mb, 4: 6 * mb, **{u: 50_000 for u in range(5, 60)}}
    groups = chunks_by_size(list(range(1, 60)), sizes, max_count=25, max_bytes=16 * mb)
    assert groups[:3] == [[1], [2], [3, 4]]  # a message bigger than the limit goes alone; 10 + 6 MB fill one
    assert [len(g) for g in groups[3:]] == [25, 25, 5]  # small ones: by count
    assert [u for g in groups for u in g] == list(range(1, 60))  # order and completeness kept
