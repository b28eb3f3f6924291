"""Real Dovecot + Postfix on loopback (hankebot.devstack.mailserver): delivery, AUTH, IDLE, restart, bounces."""

from __future__ import annotations

import imaplib
import shutil
import socket
import smtplib
import time
import uuid
from pathlib import Path
from email.message import EmailMessage

import aiosmtplib
import pytest
from imap_tools import AND, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

from hankebot.devstack.mailserver import MailServer, MailServerError
from tests.conftest import WRONG_LOGIN, MailUser, short_tmp_dir, start_mail_server

pytestmark = pytest.mark.mailserver


def _message(sender: str, to: list[str], subject: str, body: str = "Tere!\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def _wait_for_subject(ms: MailServer, user: str, password: str, subject: str, timeout: float = 15.0) -> list:
    """Poll the INBOX (bounded) until a message with `subject` is there; return the matching messages."""
    deadline = time.monotonic() + timeout
    with MailBoxUnencrypted(ms.imap_host, ms.imap_port, timeout=15).login(user, password) as mb:
        while True:
            found = list(mb.fetch(AND(subject=subject), mark_seen=False))
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


async def test_smtp_auth_send_reaches_both_mailboxes(mail_server: MailServer) -> None:
    subject = f"Pakkumus {uuid.uuid4().hex}"
    rcpts = ["bidder1@example.test", "bidder2@example.test"]
    msg = _message("tender@example.test", rcpts, subject, "Hinnapakkumus on lisatud.\n")
    errors, _ = await aiosmtplib.send(
        msg, hostname=mail_server.smtp_host, port=mail_server.smtp_port,
        username="tender@example.test", password="tenderpass", start_tls=False, timeout=15,
    )
    assert errors == {}
    for rcpt in rcpts:
        found = _wait_for_subject(mail_server, rcpt, mail_server.users[rcpt], subject)
        assert len(found) == 1
        assert found[0].from_ == "tender@example.test"
        assert "Hinnapakkumus on lisatud." in found[0].text


def test_lmtp_deliver_is_fetched(mail_server: MailServer, fresh_mail_user: MailUser) -> None:
    subject = f"LMTP {uuid.uuid4().hex}"
    raw = _message("bidder3@example.test", [fresh_mail_user.email], subject, "Lisa 3 maksumuse vorm\n")
    assert mail_server.mailbox_count(*fresh_mail_user) == 0
    mail_server.deliver(fresh_mail_user.email, raw.as_bytes())
    # LMTP delivery is synchronous: the message is in the INBOX when deliver() returns.
    assert mail_server.mailbox_count(*fresh_mail_user) == 1
    with mail_server.mailbox(*fresh_mail_user) as mb:
        (got,) = list(mb.fetch())
    assert got.subject == subject
    assert "Lisa 3 maksumuse vorm" in got.text


def test_lmtp_unknown_user_is_refused(mail_server: MailServer) -> None:
    raw = _message("tender@example.test", ["nobody@example.test"], "x").as_bytes()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mail_server.deliver("nobody@example.test", raw)


def test_idle_is_woken_by_delivery(mail_server: MailServer, fresh_mail_user: MailUser) -> None:
    with mail_server.mailbox(*fresh_mail_user) as mb:
        mb.idle.start()
        try:
            assert mb.idle.poll(timeout=0.3) == []  # nothing yet
            mail_server.deliver(fresh_mail_user.email, _message("a@example.test", [], "idle").as_bytes())
            responses: list[bytes] = []
            deadline = time.monotonic() + 5.0  # Dovecot batches notifications (~0.5 s)
            while not responses and time.monotonic() < deadline:
                responses = mb.idle.poll(timeout=1)
        finally:
            mb.idle.stop()
    assert any(b"EXISTS" in r for r in responses), responses


def test_restart_imap_drops_connections_and_keeps_mail(mail_server: MailServer, fresh_mail_user: MailUser) -> None:
    mail_server.deliver(fresh_mail_user.email, _message("a@example.test", [], "before restart").as_bytes())
    old = mail_server.mailbox(*fresh_mail_user)
    mail_server.restart_imap()
    with pytest.raises((imaplib.IMAP4.error, OSError)):  # the old connection is gone (abort/EOF/reset)
        old.folder.status("INBOX")
    try:
        old.client.shutdown()
    except Exception:  # noqa: BLE001 - already closed
        pass
    assert mail_server.mailbox_count(*fresh_mail_user) == 1  # reconnect works, the mail store persisted
    mail_server.deliver(fresh_mail_user.email, _message("a@example.test", [], "after restart").as_bytes())
    assert mail_server.mailbox_count(*fresh_mail_user) == 2


async def test_wrong_password_is_refused(mail_server: MailServer) -> None:
    with pytest.raises(MailboxLoginError):
        MailBoxUnencrypted(mail_server.imap_host, mail_server.imap_port, timeout=15).login(
            *WRONG_LOGIN)
    msg = _message("tender@example.test", ["bidder1@example.test"], "should not be sent")
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await aiosmtplib.send(
            msg, hostname=mail_server.smtp_host, port=mail_server.smtp_port,
            username=WRONG_LOGIN.email, password=WRONG_LOGIN.password, start_tls=False, timeout=15,
        )


async def test_relay_without_auth_is_denied(mail_server: MailServer) -> None:
    msg = _message("tender@example.test", ["someone@elsewhere.example"], "relay")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await aiosmtplib.send(msg, hostname=mail_server.smtp_host, port=mail_server.smtp_port,
                              start_tls=False, timeout=15)


def test_many_users_added_at_once_can_log_in(mail_server: MailServer) -> None:
    tag = uuid.uuid4().hex[:8]
    users = {f"Bulk{i}-{tag}@example.test": f"pw{i}" for i in range(30)}
    mail_server.add_users(users)
    for email in list(users)[::7]:
        assert mail_server.mailbox_count(email) == 0
    # usernames are case-insensitive (Dovecot lowercases them)
    assert mail_server.mailbox_count(list(users)[0].lower(), "pw0") == 0


def test_added_user_can_log_in_and_receive_at_once(mail_server: MailServer) -> None:
    email = f"late{uuid.uuid4().hex[:8]}@example.test"
    raw = _message("a@example.test", [email], "hello").as_bytes()
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # unknown before add_user
        mail_server.deliver(email, raw)
    mail_server.add_user(email, "first-password")
    mail_server.deliver(email, raw)
    assert mail_server.mailbox_count(email) == 1
    mail_server.add_user(email, "second-password")  # a changed password is in effect on return
    assert mail_server.mailbox_count(email, "second-password") == 1


async def test_unknown_recipient_bounces_to_sender(mail_server: MailServer, fresh_mail_user: MailUser) -> None:
    subject = f"Vale aadress {uuid.uuid4().hex}"
    msg = _message(fresh_mail_user.email, ["no-such-bidder@example.test"], subject)
    errors, _ = await aiosmtplib.send(
        msg, hostname=mail_server.smtp_host, port=mail_server.smtp_port,
        username=fresh_mail_user.email, password=fresh_mail_user.password, start_tls=False, timeout=15,
    )
    assert errors == {}  # Postfix accepts at RCPT time ...
    deadline = time.monotonic() + 30.0  # ... and bounces after Dovecot LMTP answers 550
    with mail_server.mailbox(*fresh_mail_user) as mb:
        dsn = []
        while not dsn and time.monotonic() < deadline:
            dsn = list(mb.fetch(mark_seen=False))
            if not dsn:
                time.sleep(0.2)
    assert len(dsn) == 1
    assert "MAILER-DAEMON" in dsn[0].from_.upper()
    assert "no-such-bidder@example.test" in dsn[0].text
    assert dsn[0].headers.get("content-type", ("",))[0].startswith("multipart/report")


async def test_second_instance_with_tls_coexists(mail_server: MailServer) -> None:
    server, base = start_mail_server(users={"tender@example.test": "tenderpass"}, tls=True)
    try:
        assert {server.imap_port, server.smtp_port, server.lmtp_port}.isdisjoint(
            {mail_server.imap_port, mail_server.smtp_port, mail_server.lmtp_port})
        subject = f"tls {uuid.uuid4().hex}"
        msg = _message("tender@example.test", ["tender@example.test"], subject)
        await aiosmtplib.send(  # STARTTLS + AUTH, certificate verified against our self-signed cert
            msg, hostname=server.smtp_host, port=server.smtp_port, username="tender@example.test",
            password="tenderpass", start_tls=True, tls_context=server.ssl_context(), timeout=15,
        )
        found = []
        deadline = time.monotonic() + 15
        with MailBoxStartTls(server.imap_host, server.imap_port, ssl_context=server.ssl_context(),
                             timeout=15).login("tender@example.test", "tenderpass") as mb:
            while not found and time.monotonic() < deadline:
                found = [m.subject for m in mb.fetch(AND(subject=subject))]
                time.sleep(0.1)
        assert found == [subject]
        # the session server is a separate world: it neither got the message nor knows only these users
        assert _wait_for_subject(mail_server, "tender@example.test", "tenderpass", subject, timeout=0) == []
        with pytest.raises(MailboxLoginError):
            MailBoxUnencrypted(server.imap_host, server.imap_port, timeout=15).login(
                "bidder1@example.test", "bidder1pass")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert not server.running
    assert mail_server.running


def test_bad_user_values_are_rejected() -> None:
    ms = MailServer(Path("/tmp/hb-never-started"))
    with pytest.raises(ValueError):
        ms.add_user("evil@example.test:{PLAIN}x", "pw")
    with pytest.raises(ValueError):
        ms.add_user("ok@example.test", "pw\nroot@example.test:{PLAIN}x")
    with pytest.raises(ValueError):
        ms.add_user("../../etc/x@example.test", "pw")
    assert ms.users == {}


def test_too_long_base_dir_is_rejected() -> None:
    with pytest.raises(MailServerError):
        MailServer(Path("/tmp") / ("x" * 100))


def test_ssl_context_needs_tls(mail_server: MailServer) -> None:
    with pytest.raises(MailServerError):
        mail_server.ssl_context()


def test_auto_port_taken_before_start_is_replaced() -> None:
    server, base = None, None
    blocker = socket.socket()
    try:
        base = short_tmp_dir("hbt-mail-")
        server = MailServer(base, users={"tender@example.test": "tenderpass"})
        taken = server.imap_port
        blocker.bind((server.imap_host, taken))
        blocker.listen()
        server.start()
        assert server.imap_port != taken
        assert server.mailbox_count("tender@example.test") == 0  # IMAP answers on the new port
    finally:
        blocker.close()
        if server is not None:
            server.stop()
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
