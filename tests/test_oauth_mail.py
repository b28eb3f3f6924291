"""XOAUTH2 over the wire: a Dovecot with an oauth2 passdb whose tokens are checked at a local OAuth stand-in's
introspection endpoint (IMAP directly, SMTP through Postfix's Dovecot SASL), MSAL's client-credentials flow
against the stand-in's Entra-like token endpoint, and the refresh-token grant with rotation."""
from __future__ import annotations

import asyncio
import imaplib
import os
import shutil
import stat
import threading
import time
import uuid
from email.message import EmailMessage

import pytest
from imap_tools import MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

from conftest import _ensure_system_packages, _unavailable, short_tmp_dir
from hankebot.devstack.mailserver import MailServer
from hankebot.devstack.oauth_server import AppRegistration, OAuthStandIn, write_self_signed
from hankebot.mailer import smtp_sender
from hankebot.mailer.imap_listener import ImapEndpoint, ImapListener, connect
from hankebot.mailer.oauth import (ClientCredentialsSource, OAuthError, RefreshTokenSource, RefreshTokenStore)
from hankebot.mailer.smtp_sender import PermanentSendError

REFUSED = (MailboxLoginError, imaplib.IMAP4.error)
TENANT = "11111111-2222-3333-4444-555555555555"
MAILBOX = "hanked@example.test"


class Stack:
    def __init__(self, standin: OAuthStandIn, mail: MailServer, base):
        self.standin, self.mail, self.base = standin, mail, base


@pytest.fixture(scope="module")
def stack():
    """Its own Dovecot + Postfix (the password-only session server stays untouched) and OAuth stand-in."""
    _ensure_system_packages()
    if os.geteuid() != 0:
        _unavailable("Dovecot + Postfix test servers need root")
    base = short_tmp_dir("hbt-oa-")
    standin = OAuthStandIn(base / "oauth").start()
    mail = MailServer(base / "m", users={MAILBOX: "unused-password", "bidder1@example.test": "bidder1pass"},
                      oauth2_introspection_url=standin.introspection_url)
    try:
        mail.start()
        yield Stack(standin, mail, base)
    finally:
        mail.stop()
        standin.stop()
        shutil.rmtree(base, ignore_errors=True)


def _ep(stack, source, margin=300.0) -> ImapEndpoint:
    return ImapEndpoint("127.0.0.1", stack.mail.imap_port, "none", MAILBOX, "", token_source=source,
                        token_margin=margin, timeout=15)


def _m365(stack, client_id=None, **kw) -> ClientCredentialsSource:
    cid = client_id or str(uuid.uuid4())
    if cid not in stack.standin.apps:
        stack.standin.register_app(AppRegistration(cid, TENANT, secret="s3cret", mailboxes=[MAILBOX]))
    return ClientCredentialsSource(TENANT, cid, client_secret=kw.pop("secret", "s3cret"),
                                   authority_url=stack.standin.https_url, ca_file=stack.standin.ca_file, **kw)


def _refresh_source(stack, tmp_path, seed=None, client="google-like"):
    stack.standin.register_client(client, "client-secret")
    seed = seed or stack.standin.grant_refresh_token(client, MAILBOX)
    return seed, RefreshTokenSource(stack.standin.token_url, client, "client-secret", seed,
                                    RefreshTokenStore(tmp_path / "oauth" / "rt.json"), ca_file=stack.standin.ca_file)


def _msg(subject: str) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = MAILBOX, MAILBOX, subject
    m["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    m.set_content("test")
    return m.as_bytes()


def _subjects(stack) -> list[str]:
    tok = stack.standin.issue(MAILBOX, lifetime=60)
    with MailBoxUnencrypted("127.0.0.1", stack.mail.imap_port, timeout=15).xoauth2(MAILBOX, tok) as mb:
        return [m.subject for m in mb.fetch(mark_seen=False)]


def test_imap_xoauth2_login_with_microsoft365_app_token(stack):
    src = _m365(stack)
    box = connect(_ep(stack, src))
    try:
        assert box.login_result[0] == "OK"
        assert box.token_expires_at > time.time() + 3000
        claims = src.token().claims()
        assert claims["roles"] == ["IMAP.AccessAsApp", "SMTP.SendAsApp"] and claims["tid"] == TENANT
    finally:
        box.logout()
    assert stack.standin.grants.count(("client_credentials", src.client_id)) == 1


def test_msal_with_a_certificate_credential(stack, tmp_path):
    pem = write_self_signed(tmp_path / "app.crt", tmp_path / "app.key", "hankebot-app")
    cid = str(uuid.uuid4())
    stack.standin.register_app(AppRegistration(cid, TENANT, certificate_pem=pem, mailboxes=[MAILBOX]))
    src = ClientCredentialsSource(TENANT, cid, certificate_pem=pem, authority_url=stack.standin.https_url,
                                  ca_file=stack.standin.ca_file)
    connect(_ep(stack, src)).logout()
    other = write_self_signed(tmp_path / "o.crt", tmp_path / "o.key", "someone-else")  # not the registered one
    bad = ClientCredentialsSource(TENANT, cid, certificate_pem=other, authority_url=stack.standin.https_url,
                                  ca_file=stack.standin.ca_file)
    with pytest.raises(OAuthError) as e:
        bad.token()
    assert e.value.code == "invalid_client"


def test_wrong_client_secret_and_missing_consent(stack):
    src = _m365(stack)
    wrong = ClientCredentialsSource(TENANT, src.client_id, client_secret="wrong", authority_url=stack.standin.https_url,
                                    ca_file=stack.standin.ca_file)
    with pytest.raises(OAuthError) as e:
        wrong.token()
    assert e.value.code == "invalid_client" and "AADSTS7000215" in str(e.value)
    cid = str(uuid.uuid4())  # consent not granted: Entra issues a token without roles; the server refuses it
    stack.standin.register_app(AppRegistration(cid, TENANT, secret="s3cret", roles=[], mailboxes=[MAILBOX]))
    nocons = _m365(stack, cid)
    assert nocons.token().claims()["roles"] == []
    with pytest.raises(REFUSED):
        connect(_ep(stack, nocons))


def test_expired_token_is_refused_and_the_source_refreshes_before_expiry(stack):
    expired = stack.standin.issue(MAILBOX, lifetime=1)
    time.sleep(1.2)
    with pytest.raises(REFUSED):
        MailBoxUnencrypted("127.0.0.1", stack.mail.imap_port, timeout=15).xoauth2(MAILBOX, expired)
    stack.standin.access_lifetime = 4
    try:
        src = _m365(stack)
        first = src.token(min_valid=1)
        time.sleep(3.2)  # less than the 1 s margin left now: the next login fetches a fresh token
        box = connect(_ep(stack, src, margin=1))
        box.logout()
        assert src.fetches == 2 and src.token(min_valid=0).value != first.value
    finally:
        stack.standin.access_lifetime = 3600


def test_revoked_token_is_dropped_and_a_fresh_one_fetched(stack):
    src = _m365(stack)
    stack.standin.revoke(src.token().value)
    with pytest.raises(REFUSED):
        connect(_ep(stack, src))  # the cached token was revoked since: refused, and forgotten
    connect(_ep(stack, src)).logout()  # the next attempt (the listener's retry) gets a new one
    assert src.fetches == 2


def test_rotated_refresh_token_is_stored_0600_and_used_by_the_next_process(stack, tmp_path):
    seed, src = _refresh_source(stack, tmp_path)
    connect(_ep(stack, src)).logout()
    store = tmp_path / "oauth" / "rt.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert seed not in store.read_text()  # the spent seed is not what is kept
    # a new process (same config, same data dir): the seed was spent by the rotation, the stored token works
    _, again = _refresh_source(stack, tmp_path, seed=seed)
    connect(_ep(stack, again)).logout()
    # without the store the seed alone is refused: storing the rotation is what keeps access
    _, fresh_dir = _refresh_source(stack, tmp_path / "elsewhere", seed=seed)
    with pytest.raises(OAuthError) as e:
        fresh_dir.token()
    assert e.value.code == "invalid_grant"


def test_a_new_configured_refresh_token_wins_over_the_stored_one(stack, tmp_path):
    _, src = _refresh_source(stack, tmp_path)
    src.token()
    stack.standin.revoke_refresh_tokens(MAILBOX)  # the user revoked access; the admin grants it again
    new_seed = stack.standin.grant_refresh_token("google-like", MAILBOX)
    _, again = _refresh_source(stack, tmp_path, seed=new_seed)
    connect(_ep(stack, again)).logout()


def test_idle_session_is_renewed_before_its_token_expires(stack):
    stack.standin.access_lifetime = 4
    try:
        src = _m365(stack)
        seen: list[bytes] = []
        cp: dict = {}

        def store(m):
            seen.append(m.raw)
            cp[m.folder] = (m.uidvalidity, m.uid)

        lst = ImapListener(_ep(stack, src, margin=2), store, lambda f: cp.get(f), poll_seconds=60,
                           since=lambda: None)
        cp["INBOX"] = None
        t = threading.Thread(target=lst.run_blocking, daemon=True)
        t.start()
        deadline = time.monotonic() + 20
        while lst.renewals < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        subject = f"after-renewal-{uuid.uuid4().hex[:8]}"
        stack.mail.deliver(MAILBOX, _msg(subject))
        while not any(subject.encode() in r for r in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        lst.stop()
        t.join(10)
        assert lst.renewals >= 2 and lst.connects >= 3
        assert lst.errors == 0  # renewed before expiry: no refused login, no dropped session
        assert src.fetches >= 3  # each session logged in with a fresh token
        assert any(subject.encode() in r for r in seen)
    finally:
        stack.standin.access_lifetime = 3600


def test_smtp_xoauth2_through_postfix(stack):
    src = _m365(stack)
    subject = f"smtp-oauth-{uuid.uuid4().hex[:8]}"
    smtp = smtp_sender.SmtpEndpoint(port=stack.mail.smtp_port, security="none", username=MAILBOX) \
        if hasattr(smtp_sender, "SmtpEndpoint") else _Smtp(stack.mail.smtp_port)
    reply = asyncio.run(smtp_sender.send(_msg(subject), MAILBOX, [MAILBOX], smtp, src))
    assert reply.startswith("250")
    deadline = time.monotonic() + 10
    while subject not in _subjects(stack) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert subject in _subjects(stack)
    stack.standin.revoke(src.token().value)  # revoked: refused once, then a fresh token is fetched and accepted
    assert asyncio.run(smtp_sender.send(_msg(subject + "b"), MAILBOX, [MAILBOX], smtp, src)).startswith("250")
    assert src.fetches == 2


def test_smtp_refuses_when_no_token_can_be_had(stack):
    src = _m365(stack)
    bad = ClientCredentialsSource(TENANT, src.client_id, client_secret="wrong", authority_url=stack.standin.https_url,
                                  ca_file=stack.standin.ca_file)
    with pytest.raises(PermanentSendError) as e:
        asyncio.run(smtp_sender.send(_msg("x"), MAILBOX, [MAILBOX], _Smtp(stack.mail.smtp_port), bad))
    assert e.value.stage == "auth" and e.value.affects_all and "invalid_client" in str(e.value)


class _Smtp:
    def __init__(self, port):
        self.host, self.port, self.security, self.username = "127.0.0.1", port, "none", MAILBOX
        self.timeout_seconds, self.validate_certs = 15.0, True
