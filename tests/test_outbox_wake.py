"""The outbox worker is woken by a commit, not by its poll: with the poll fallback at 60 s, an event the
pipeline commits (in the IMAP listener's thread, after an IDLE wake on a real Dovecot) reaches the Bot API
stand-in long before the worker's next poll could have run. The commit hook runs after the commit (it sees
the rows), not for a rolled-back transaction, and rows put back from 'held' wake the worker too."""
from __future__ import annotations

import asyncio
import threading

from decimal import Decimal

from conftest import MailUser
from inbound_worker import BIDDERS, rows, settle_new_user, wait_until, write_config

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.bot.app import run_bot
from hankebot.bot.outbox_worker import TelegramSender, release_held, run_outbox
from hankebot.devstack.telegram_api import FakeTelegramAPI
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.runner import run_service
from hankebot.storage.tables import Notification
from hankebot.storage.uow import NOTIFICATIONS
from helpers import enqueue_text, make_ctx
from telegram import Bot

STAFF = 5001
POLL = 60.0  # the worker's fallback poll: every wait below is far shorter, so only a wake can deliver
WAIT = 15.0


def _bid(key: str, price: str) -> bytes:
    name, addr, _ = BIDDERS[key]
    return sm.bid_message(addr, name, "tender@example.test", body=f"Tere,\n\nesitame pakkumuse.\n\n{name}",
                          attachments=[("Lisa 2 pakkumuse vorm.docx",
                                        sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "Materjalid.",
                                                           "Meetodid.")),
                                       ("Lisa 3 maksumuse vorm.xlsx",
                                        sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))])


def _logged_in(server, user: MailUser) -> bool:
    """Dovecot logs every IMAP login: true once the service's listener has logged in as `user`."""
    try:
        return f"user=<{user.email}>" in server.dovecot_log.read_text(errors="replace")
    except OSError:
        return False


def _notify(ctx, text: str, key: str) -> None:
    with ctx.uow() as uow:
        enqueue_text(ctx, uow.repo, "test", text, key)
        uow.commit()


def _telegram(api: FakeTelegramAPI) -> dict:
    return {"staff": [{"name": "Taimi Nilson", "user_id": STAFF}], "base_url": api.base_url,
            "base_file_url": api.base_file_url}


async def test_a_bid_the_pipeline_commits_is_sent_without_waiting_for_the_poll(tmp_path, mail_server,
                                                                               fresh_mail_user: MailUser,
                                                                               monkeypatch):
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        monkeypatch.setenv("HANKEBOT_TELEGRAM_TOKEN", api.token)
        settle_new_user()
        # the IMAP poll is 120 s too: only IDLE brings the bid in, only the wake sends its notice
        cfg = write_config(tmp_path, mail_server, fresh_mail_user.email, fresh_mail_user.password, idle=True,
                           poll_seconds=120, telegram=_telegram(api))
        ctx = open_context(load_config(cfg))
        _notify(ctx, "Soojendus", "warm")  # sent by the worker's first drain: proves it runs and now waits
        commits: list[str] = []
        ctx.commit_hooks.append(lambda topics: commits.append(threading.current_thread().name)
                                if NOTIFICATIONS in topics else None)
        stop = asyncio.Event()
        service = asyncio.create_task(run_service(
            ctx, stop, lambda c, s: run_bot(c, s, poll_timeout=1, outbox_poll_seconds=POLL), with_imap=True))
        try:
            assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == "Soojendus"
            ok = await asyncio.to_thread(wait_until, lambda: _logged_in(mail_server, fresh_mail_user), 10)
            assert ok, "the listener did not log in"
            await asyncio.sleep(0.5)  # the listener's first sync done: it is in IDLE
            await asyncio.to_thread(mail_server.deliver, fresh_mail_user.email, _bid("koolituskeskus", "4800.00"))
            # the worker's next poll is 60 s away; this wait is a quarter of that
            m = await api.wait_for_message(STAFF, timeout=WAIT)
            assert "Arengu Koolituskeskus" in m["text"] or "pakkum" in m["text"].lower(), m["text"]
            sent = await asyncio.to_thread(wait_until, lambda: [n for n in rows(ctx, Notification)
                                                                if n.kind == "new_bid" and n.state == "sent"], 5)
            assert [n.chat_id for n in sent] == [STAFF]
            # the pipeline committed the event in the listener's worker thread, not on the event loop
            assert any(name != threading.main_thread().name for name in commits), commits
        finally:
            stop.set()
            await asyncio.wait_for(service, 30)


async def test_a_commit_in_another_thread_wakes_the_worker(tmp_path, monkeypatch):
    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        ctx = make_ctx(tmp_path, telegram=_telegram(api))
        _notify(ctx, "Esimene", "n1")
        stop = asyncio.Event()
        bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:
            worker = asyncio.create_task(run_outbox(ctx, TelegramSender(bot), stop, poll_seconds=POLL))
            try:
                assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == "Esimene"
                for i in range(3):  # each committed from a plain thread while the worker sleeps
                    await asyncio.to_thread(_notify, ctx, f"Teade {i}", f"t{i}")
                    assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == f"Teade {i}"
                # a row put back from 'held' (staff's /release) is sent at once too
                assert await asyncio.to_thread(wait_until, lambda: [n for n in rows(ctx, Notification)
                                                                    if n.dedupe_key == f"t2@{STAFF}" and n.state == "sent"], 5)
                with ctx.uow() as uow:
                    [row] = [r for r in uow.repo.notifications() if r.dedupe_key == f"t2@{STAFF}"]
                    row.state = "held"
                    uow.session.add(row)
                    uow.commit()
                assert await asyncio.to_thread(release_held, ctx) == 1
                assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == "Teade 2"
            finally:
                stop.set()
                await asyncio.wait_for(worker, 15)
        assert not ctx.commit_hooks, "the worker left its hook behind"


def test_the_commit_hook_runs_after_the_commit_and_sees_the_rows(tmp_path):
    ctx = make_ctx(tmp_path, telegram={"staff": [{"name": "Taimi Nilson", "user_id": STAFF}]})
    seen: list[tuple[frozenset, list[str]]] = []

    def hook(topics: frozenset[str]) -> None:  # reads through a new session: only committed rows are there
        with ctx.uow() as uow:
            seen.append((topics, [n.dedupe_key for n in uow.repo.notifications()]))

    ctx.commit_hooks.append(hook)
    with ctx.uow() as uow:  # rolled back: no wake
        enqueue_text(ctx, uow.repo, "test", "Tagasi võetud", "gone")
    with ctx.uow() as uow:  # a commit without notification rows: no wake
        uow.repo.audit("test", "nothing_to_send", None)
        uow.commit()
    assert seen == []
    with ctx.uow() as uow:
        enqueue_text(ctx, uow.repo, "test", "Uus", "new")
        uow.commit()
    assert seen == [(frozenset({NOTIFICATIONS}), [f"new@{STAFF}"])]


_OTHER_PROCESS = """
import sys
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.core.events import Rendered
from hankebot.service.notify import publish
ctx = open_context(load_config(sys.argv[1]), database_url=sys.argv[2])
with ctx.uow() as uow:
    publish(ctx, uow.repo, "test", Rendered(text="Teisest protsessist"), "other-process")
    uow.commit()
"""


async def test_on_postgresql_a_commit_in_another_process_wakes_the_worker(tmp_path, pg_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    async with FakeTelegramAPI() as api:
        api.add_chat(STAFF, first_name="Taimi")
        ctx = make_ctx(tmp_path, database_url=pg_url, telegram=_telegram(api))
        _notify(ctx, "Esimene", "n1")
        stop = asyncio.Event()
        bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:
            worker = asyncio.create_task(run_outbox(ctx, TelegramSender(bot), stop, poll_seconds=POLL))
            try:
                assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == "Esimene"
                root = str(Path(__file__).resolve().parents[1])
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
                done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", _OTHER_PROCESS,
                                                                str(ctx.cfg.path), pg_url],
                                               env=env, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
                # only the NOTIFY can reach this process before its 60 s poll
                assert (await api.wait_for_message(STAFF, timeout=WAIT))["text"] == "Teisest protsessist"
            finally:
                stop.set()
                await asyncio.wait_for(worker, 15)
