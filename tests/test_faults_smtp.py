"""SMTP faults against a real SMTP server (aiosmtpd) scripted to misbehave: 4xx answers, a 5xx refusal,
a connection dropped during DATA, and the server down at the start of a batch. Every bidder must end with
exactly one invitation; a permanent refusal is recorded as failed and staff are told."""
from __future__ import annotations

import email
import threading
from collections import Counter
from email import policy

import pytest
from aiosmtpd.controller import Controller

from hankebot.devstack._process import free_ports
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.invitations import send_invitations
from hankebot.service.send_engine import OutboundOptions
from hankebot.service.send_resume import resume_unsent
from hankebot.storage.tables import AuditLog
from helpers import Clock, make_config, utc
from test_faults_env import MailEnv, _own_mail_server, mail, notification_rows, outbound_rows  # noqa: F401

pytestmark = pytest.mark.timeout(60)

NOW = utc(2026, 1, 5, 8, 0)  # before the shipped deadline 19.01.2026 15:00
FAST = dict(backoff_base_seconds=0.01, backoff_max_seconds=0.05)


class ScriptedSMTP:
    """aiosmtpd handler: answers 451 to the first `rcpt_4xx` RCPTs, 550 to `refuse`, closes the connection
    during DATA once for each address in `drop_data`; records every accepted message."""

    def __init__(self, rcpt_4xx: int = 0, refuse: set[str] = frozenset(), drop_data: set[str] = frozenset(),
                 relay=None):
        self.rcpt_4xx = rcpt_4xx
        self.refuse = set(refuse)
        self.drop_data = set(drop_data)
        self.take_then_drop: set[str] = set()  # deliver the message, then drop before the final reply
        self.relay = relay  # a MailServer: accepted messages are delivered into its mailboxes (LMTP)
        self.delivered: list[tuple[tuple[str, ...], str]] = []  # (envelope recipients, Message-ID)
        self.events: Counter = Counter()
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            if self.rcpt_4xx > 0:
                self.rcpt_4xx -= 1
                self.events["451"] += 1
                return "451 4.3.0 Temporary lookup failure, try again later"
            if address in self.refuse:
                self.events["550"] += 1
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            hit = self.drop_data & set(envelope.rcpt_tos)
            if hit:
                self.drop_data -= hit
                self.events["dropped"] += 1
                server.transport.close()  # gone before the final reply: the message was not taken
                return "421 4.4.2 connection dropped"
            data = envelope.original_content or envelope.content
            msg = email.message_from_bytes(data, policy=policy.default)
            self.delivered.append((tuple(envelope.rcpt_tos), str(msg["Message-ID"])))
            drop = self.take_then_drop & set(envelope.rcpt_tos)
            self.take_then_drop -= drop
        if self.relay is not None:
            self.relay.deliver(envelope.rcpt_tos, data, mail_from=envelope.mail_from)
        if drop:
            self.events["taken_then_dropped"] += 1
            server.transport.close()  # taken, but the client never hears so
            return "421 4.4.2 connection dropped"
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def smtp_server():
    port = free_ports(1)[0]
    handler = ScriptedSMTP()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield ctl
    finally:
        try:
            ctl.stop()
        except (AssertionError, RuntimeError):  # already stopped by the test
            pass


def _ctx(tmp_path, port: int, n: int = 5, max_attempts: int = 5):
    bidders = [{"key": f"b{i}", "name": f"Pakkuja {i} OÜ", "email": f"pakkuja{i}@firma{i}.ee", "person_type": "legal"}
               for i in range(1, n + 1)]

    def edit(data):
        data["mail"]["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "max_attempts": max_attempts,
                                "timeout_seconds": 5}
        data["procurement"][0]["bidders"] = bidders
        data["telegram"]["staff"] = []

    ctx = open_context(load_config(make_config(tmp_path, edit=edit)), clock=Clock(NOW))
    return ctx, [b["email"] for b in bidders]


async def test_4xx_then_success_and_5xx_in_one_batch(tmp_path, smtp_server):
    ctx, addrs = _ctx(tmp_path, smtp_server.port)
    h: ScriptedSMTP = smtp_server.handler
    h.rcpt_4xx = 2  # the first bidder: two 451s, then accepted
    h.refuse = {addrs[1]}  # the second: 550 (permanent)
    report = await send_invitations(ctx, "302834", opts=OutboundOptions(**FAST))

    assert report.errors == []
    assert [a for a, _ in report.failed] == [addrs[1]] and "550" in report.failed[0][1]
    assert sorted(report.sent) == sorted(a for a in addrs if a != addrs[1])
    per_bidder = Counter(rcpts[0] for rcpts, _ in h.delivered)
    assert per_bidder == {a: 1 for a in addrs if a != addrs[1]}  # exactly one each; none for the refused one
    assert len({mid for _, mid in h.delivered}) == len(h.delivered)
    assert all(rcpts[1] == ctx.proc_settings("302834").mailbox for rcpts, _ in h.delivered)  # the Bcc copy
    rows = {r.recipient: r for r in outbound_rows(ctx, "invitation")}
    assert rows[addrs[0]].state == "sent" and rows[addrs[0]].attempts == 3
    assert all(rows[a].state == "sent" and rows[a].attempts == 1 for a in addrs[2:])
    assert rows[addrs[1]].state == "failed" and rows[addrs[1]].attempts == 1 and "550" in rows[addrs[1]].last_error
    notes = [n for n in notification_rows(ctx) if n.kind == "outbound_failed"]
    assert len(notes) == 1 and addrs[1] in notes[0].text and "550" in notes[0].text
    with ctx.uow() as uow:
        assert len(uow.repo.audit_rows(action="outbound_failed")) == 1
        assert uow.repo.count(AuditLog, AuditLog.action == "outbound_sent") == len(addrs) - 1
    assert report.state == "invited"  # not every invitation went out: the procurement does not open

    # running the command again sends nothing new to those who have theirs; the refused one is tried again
    h.refuse = set()
    again = await send_invitations(ctx, "302834", opts=OutboundOptions(**FAST))
    assert again.sent == [addrs[1]] and sorted(again.already_sent) == sorted(a for a in addrs if a != addrs[1])
    assert Counter(r[0] for r, _ in h.delivered) == {a: 1 for a in addrs} and again.state == "open"
    print(f"\nsurvived: {h.events['451']}x 451, {h.events['550']}x 550 in a batch of {len(addrs)}; delivered once each to {len(addrs) - 1}, 1 failed + staff notified; "
          f"re-run delivered the fixed one, duplicates 0")


async def test_server_down_at_the_start_then_back(tmp_path, smtp_server):
    port = smtp_server.port
    ctx, addrs = _ctx(tmp_path, port, n=3)
    handler = smtp_server.handler
    smtp_server.stop()  # connection refused: transient
    restarted: list[Controller] = []

    async def sleep_then_restart(seconds: float) -> None:  # the back-off pause; the server returns meanwhile
        if not restarted:
            again = Controller(handler, hostname="127.0.0.1", port=port)
            again.start()
            restarted.append(again)

    try:
        report = await send_invitations(ctx, "302834", opts=OutboundOptions(**FAST, sleep=sleep_then_restart))
    finally:
        for c in restarted:
            c.stop()
    assert report.failed == [] and sorted(report.sent) == sorted(addrs) and restarted
    assert Counter(r[0] for r, _ in handler.delivered) == {a: 1 for a in addrs}
    first = next(r for r in outbound_rows(ctx, "invitation") if r.attempts == 2)
    assert first.state == "sent"
    print(f"\nsurvived: SMTP server down (connection refused) at the start of a batch of {len(addrs)}; "
          f"1 retry after back-off, {len(handler.delivered)} delivered once each")


@pytest.mark.mailserver
async def test_connection_dropped_during_data_each_bidder_gets_exactly_one(mail, tmp_path, monkeypatch):
    """The SMTP server (aiosmtpd) relays into the real Dovecot mailboxes. For one bidder it drops the connection
    during DATA before taking the message; for another it takes the message (bidder + mailbox copy delivered)
    and then drops before the final reply. After the batch and the start-up resume (which looks for the mailbox
    copy over IMAP), every bidder's real mailbox holds exactly one invitation."""
    env = MailEnv(mail, tmp_path / "m", n_bidders=4)
    port = free_ports(1)[0]
    handler = ScriptedSMTP(relay=mail)
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        def edit(data):
            data["mail"]["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "max_attempts": 3,
                                    "timeout_seconds": 5}
        (tmp_path / "c").mkdir()
        env2 = MailEnv.__new__(MailEnv)  # same users, a config whose SMTP is the dropping relay
        env2.__dict__.update(env.__dict__)
        cfg = make_config(tmp_path / "c", edit=lambda d: (_point_at(d, env, mail), edit(d)))
        env2.config_path = cfg
        ctx = env2.open(monkeypatch, clock=Clock(NOW))
        b = [a for a, _ in env.bidders]
        handler.drop_data = {b[1]}
        handler.take_then_drop = {b[2]}
        opts = OutboundOptions(**FAST, copy_wait_seconds=3, copy_poll_seconds=0.25)
        report = await send_invitations(ctx, "302834", opts=opts)
        resumed = await resume_unsent(ctx, opts)
        report.merge(resumed)
        counts = env.wait_counts({**{u: 1 for u in env.bidders}, env.tender: 4})
    finally:
        ctl.stop()
    assert counts == {**{u: 1 for u in env.bidders}, env.tender: 4}, counts
    assert Counter(r[0] for r, _ in handler.delivered) == {a: 1 for a in b}
    assert {r.recipient: r.state for r in outbound_rows(ctx, "invitation")} == {a: "sent" for a in b}
    assert handler.events["dropped"] == 1 and handler.events["taken_then_dropped"] == 1
    print(f"\nsurvived: connection dropped during DATA twice in a batch of {len(b)} (once before, once after the "
          f"server took the message); resume confirmed {len(report.confirmed)} by the mailbox copy, resent the "
          f"rest; real mailboxes: 1 invitation each, {counts[env.tender]} copies")


def _point_at(data: dict, env: MailEnv, mail) -> None:
    """The MailEnv users, procurement mailbox and IMAP (for the copy check) in a config dict."""
    data["mail"]["imap"] = {"host": "127.0.0.1", "port": mail.imap_port, "security": "none",
                            "username": env.tender[0], "idle": True, "poll_seconds": 2}
    data["telegram"]["staff"] = []
    proc = data["procurement"][0]
    proc["mailbox"] = env.tender[0]
    proc["expert_email"] = env.expert[0]
    proc["bidders"] = env.bidder_rows
