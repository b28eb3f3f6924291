"""One bad message never blocks the others: a message whose processing really fails (the real database
refuses its row) arrives among good ones through the real IMAP listener on Dovecot. It is quarantined with
its error, staff are told once, every other message is processed, and a later `hankebot process` retries
it: still failing, it stays quarantined without a second notice; with the cause gone, it is processed."""
from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from inbound_worker import BIDDERS, rows, settle_new_user, write_config
from sqlalchemy import text

from hankebot.core.models import PriceBasis
from hankebot.devstack import sample_forms as sf
from hankebot.devstack import sample_mail as sm
from hankebot.mailer.imap_listener import connect
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.runner import make_listener
from hankebot.storage.tables import AuditLog, InboundMessage, Notification
from helpers import REPO, with_text

pytestmark = pytest.mark.mailserver

TARGET = BIDDERS["kadri"][1]
#: A real database error on one row: SQLite refuses to mark this sender's message processed (a disk
#: error, a constraint or a lock would surface the same way, as an exception from the commit).
TRIGGER = f"""CREATE TRIGGER refuse_one BEFORE UPDATE OF state ON inbound_message
    WHEN NEW.state = 'processed' AND NEW.sender = '{TARGET}'
    BEGIN SELECT RAISE(ABORT, 'row refused by the database'); END"""


def _bid(key: str, price: str) -> bytes:
    name, addr, _ = BIDDERS[key]
    return sm.bid_message(addr, name, "tender@example.test", attachments=[
        ("Lisa 2 pakkumuse vorm.docx", sf.make_offer_form(name, "12345678", [2], ["Mari Maasikas"], "Materjalid.",
                                                          "Meetodid.")),
        ("Lisa 3 maksumuse vorm.xlsx", sf.make_cost_form(PriceBasis.LEGAL_WITH_VAT, Decimal(price)))])


def _cli_process(cfg) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hankebot", "--config", str(cfg), "process"],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _by_uid(ctx) -> dict[int, InboundMessage]:
    """Rows by IMAP UID: 1 Ilmar's question, 2 Kadri's (the failing one), 3 a bid, 4 a decline. (A quarantined
    row keeps no sender: the transaction that read it was rolled back.)"""
    return {m.uid: m for m in rows(ctx, InboundMessage)}


BAD = 2


def test_a_failing_message_is_quarantined_and_never_blocks_the_others(tmp_path, mail_server, fresh_mail_user):
    settle_new_user()
    cfg = write_config(tmp_path, mail_server, fresh_mail_user.email, fresh_mail_user.password)
    ctx = open_context(load_config(cfg))
    with ctx.engine.begin() as conn:
        conn.execute(text(TRIGGER))
    ilmar, kadri, mets = BIDDERS["ilmar"], BIDDERS["kadri"], BIDDERS["tugiteenused"]
    mail_server.deliver(fresh_mail_user.email, sm.question_message(ilmar[1], ilmar[0], "tender@example.test"))
    mail_server.deliver(fresh_mail_user.email, sm.question_message(kadri[1], kadri[0], "tender@example.test",
                                                                   body="Tere! Kas koolitus võib olla veebis?"))
    mail_server.deliver(fresh_mail_user.email, _bid("koolituskeskus", "4800"))  # after the failing one
    mail_server.deliver(fresh_mail_user.email, sm.decline_message(mets[1], mets[0], "tender@example.test"))

    listener = make_listener(ctx)  # the real listener: fetch, store, process after the batch
    box = connect(listener.ep)
    try:
        assert listener.sync_once(box) == 4
    finally:
        box.logout()

    msgs = _by_uid(ctx)
    assert sorted(msgs) == [1, 2, 3, 4]
    bad = msgs[BAD]
    assert bad.state == "quarantined" and "row refused by the database" in bad.error, (bad.state, bad.error)
    assert ctx.raw.exists(bad.raw_path)  # the message is kept
    others = [m for u, m in msgs.items() if u != BAD]
    assert [m.state for m in others] == ["processed"] * 3, [(m.sender, m.state, m.error) for m in others]
    assert {m.kind for m in others} == {"question", "bid", "decline"}

    def told() -> list[Notification]:
        return [n for n in rows(ctx, Notification) if n.kind == "quarantined"]

    staff = {n.chat_id for n in rows(ctx, Notification)}
    notes = with_text(ctx, told())
    assert len(notes) == len(staff) >= 1  # once, to each staff chat
    assert all(f"#{bad.id}" in n.text and "row refused by the database" in n.text for n in notes)
    assert len(rows(ctx, AuditLog, AuditLog.action == "quarantined")) == 1

    # `process` retries it; the cause is still there: quarantined again, no second notice
    r = _cli_process(cfg)
    assert r.returncode == 0 and "1 of them quarantined before" in r.stdout, r.stdout + r.stderr
    again = _by_uid(ctx)[BAD]
    assert again.state == "quarantined" and again.attempts == 2
    assert len(told()) == len(notes)

    # the cause is gone: the next `process` processes it like any other question
    with ctx.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_one"))
    r = _cli_process(cfg)
    assert r.returncode == 0 and "processed 1 stored message(s), 1 of them" in r.stdout, r.stdout + r.stderr
    fixed = _by_uid(ctx)[BAD]
    assert (fixed.state, fixed.kind, fixed.sender, fixed.error) == ("processed", "question", TARGET, None)
    assert [m.state for u, m in _by_uid(ctx).items() if u != BAD] == ["processed"] * 3  # untouched
    assert len(told()) == len(notes)
