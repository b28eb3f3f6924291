"""Shared set-up for the fault and security tests (no tests here): a real mail server with fresh users per
test, a config pointing at it, and small counting helpers. The deadline is a month ahead of the REAL clock,
because these tests run the real IMAP path (received_at is the server's INTERNALDATE)."""
from __future__ import annotations

import itertools
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest
from sqlmodel import select

from hankebot.devstack.mailserver import MailServer
from hankebot.service.config import load_config
from hankebot.service.context import Context, open_context
from hankebot.storage.tables import InboundMessage, Notification, OutboundMessage
from helpers import REPO, TALLINN, make_config

REAL_FORMS = REPO / "forms" / "302834"
_n = itertools.count(1)


@pytest.fixture(scope="module")
def _own_mail_server():
    base = Path(tempfile.mkdtemp(prefix="hbf-", dir="/tmp"))
    try:
        with MailServer(base, users={"tender@example.test": "tenderpass"}) as ms:
            yield ms
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mail(request) -> MailServer:
    """The shared session server from conftest when there is one, else a module-scoped one of our own."""
    try:
        return request.getfixturevalue("mail_server")
    except pytest.FixtureLookupError:
        return request.getfixturevalue("_own_mail_server")


def future_deadline(days: int = 30) -> datetime:
    """A deadline `days` ahead of the real clock, local Tallinn time without seconds."""
    return (datetime.now(TALLINN) + timedelta(days=days)).replace(hour=15, minute=0, second=0, microsecond=0,
                                                                  tzinfo=None)


class MailEnv:
    """Fresh users on the mail server (procurement mailbox, expert, N bidders) and a config for them."""

    def __init__(self, mail: MailServer, tmp_path: Path, n_bidders: int = 3, deadline: datetime | None = None,
                 imap: bool = True, edit: Callable[[dict], None] | None = None, **overrides):
        self.ms = mail
        self.tmp = tmp_path
        tag = f"{next(_n)}x{uuid.uuid4().hex[:6]}"
        self.tag = tag
        self.tender = (f"tender-{tag}@example.test", f"tender{tag}pw")
        self.expert = (f"expert-{tag}@example.test", f"expert{tag}pw")
        self.bidders = [(f"bidder{i}-{tag}@example.test", f"bidder{i}{tag}pw") for i in range(1, n_bidders + 1)]
        for user, pw in [self.tender, self.expert, *self.bidders]:
            mail.add_user(user, pw)
        self._wait_for_users()
        self.env = {"HANKEBOT_SMTP_PASSWORD": self.tender[1], "HANKEBOT_IMAP_PASSWORD": self.tender[1]}
        self.bidder_rows = [{"key": f"b{i}", "name": f"Pakkuja {i} OÜ", "email": addr, "person_type": "legal"}
                            for i, (addr, _) in enumerate(self.bidders, 1)]
        dl = deadline or future_deadline()

        def _edit(data: dict) -> None:
            data["mail"]["smtp"] = {"host": "127.0.0.1", "port": mail.smtp_port, "security": "none",
                                    "username": self.tender[0], "max_attempts": 3, "timeout_seconds": 10}
            if imap:
                data["mail"]["imap"] = {"host": "127.0.0.1", "port": mail.imap_port, "security": "none",
                                        "username": self.tender[0], "idle": True, "poll_seconds": 2}
            else:
                del data["mail"]["imap"]
            data["telegram"]["staff"] = []
            proc = data["procurement"][0]
            proc["mailbox"] = self.tender[0]
            proc["expert_email"] = self.expert[0]
            proc["bidders"] = self.bidder_rows
            proc["deadline"] = dl
            if edit:
                edit(data)

        self.config_path = make_config(tmp_path, edit=_edit, **overrides)
        fdir = tmp_path / "forms" / "302834"
        if REAL_FORMS.is_dir():
            for f in REAL_FORMS.iterdir():
                if (fdir / f.name).exists():
                    shutil.copyfile(f, fdir / f.name)

    def _wait_for_users(self, timeout: float = 10) -> None:
        """Dovecot rereads its passwd-file lazily: wait until every new user can log in."""
        end = time.monotonic() + timeout
        pending = [self.tender, self.expert, *self.bidders]
        while pending and time.monotonic() < end:
            try:
                self.count(pending[0])
                pending.pop(0)
            except Exception:
                time.sleep(0.2)
        assert not pending, f"mail users not visible to Dovecot: {pending}"

    def open(self, monkeypatch, clock=None) -> Context:
        for k, v in self.env.items():
            monkeypatch.setenv(k, v)
        cfg = load_config(self.config_path)
        return open_context(cfg) if clock is None else open_context(cfg, clock=clock)

    def count(self, user: tuple[str, str]) -> int:
        return self.ms.mailbox_count(user[0], user[1])

    def raws(self, user: tuple[str, str]) -> list[bytes]:
        with self.ms.mailbox(user[0], user[1]) as mb:
            typ, data = mb.client.uid("FETCH", "1:*", "(BODY.PEEK[])")
            return [item[1] for item in data if isinstance(item, tuple)]

    def deliver(self, raw: bytes) -> None:
        """A bidder's mail arriving in the procurement mailbox (Dovecot LMTP)."""
        self.ms.deliver(self.tender[0], raw)

    def wait_counts(self, expected: dict[tuple[str, str], int], timeout: float = 20, settle: float = 1.0) -> dict:
        """Poll until every mailbox holds at least its expected count, let the queue settle, count again."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = {u: self.count(u) for u in expected}
            if all(got[u] >= n for u, n in expected.items()):
                break
            time.sleep(0.2)
        time.sleep(settle)
        return {u: self.count(u) for u in expected}


def inbound_rows(ctx: Context) -> list[InboundMessage]:
    with ctx.uow() as uow:
        return list(uow.repo.s.exec(select(InboundMessage).order_by(InboundMessage.id)))


def outbound_rows(ctx: Context, kind: str | None = None) -> list[OutboundMessage]:
    with ctx.uow() as uow:
        q = select(OutboundMessage)
        if kind:
            q = q.where(OutboundMessage.kind == kind)
        return list(uow.repo.s.exec(q.order_by(OutboundMessage.id)))


def notification_rows(ctx: Context) -> list[Notification]:
    from helpers import with_text

    with ctx.uow() as uow:
        out = list(uow.repo.s.exec(select(Notification).order_by(Notification.id)))
        for n in out:
            uow.repo.s.expunge(n)
    return with_text(ctx, out)


def wait_for(pred: Callable[[], object], timeout: float, what: str, step: float = 0.2):
    """Poll `pred` until truthy (bounded); fail with `what` when it never becomes true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
