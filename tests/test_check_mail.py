"""`hankebot check-mail` over the wire: against a healthy Dovecot + Postfix (XOAUTH2 with a Microsoft 365
app-only token from the local stand-in, and a password login), and against each common failure, with the
likely fix it prints: a closed port, the wrong security mode, a bad password, a token without consent or
without mailbox permission, SMTP refusing AUTH (Exchange's 5.7.3 and 5.7.30), a config error."""
from __future__ import annotations

import socket
import uuid

import pytest

from test_oauth_mail import MAILBOX, TENANT, stack  # noqa: F401 - the module's servers
from hankebot.devstack.oauth_server import AppRegistration
from hankebot.service import cli


def _config(tmp_path, stack, imap: dict | None = None, smtp: dict | None = None, client_id: str | None = None,
            oauth: str | None = None) -> str:
    cid = client_id or _app(stack)
    oauth = oauth or (f'provider = "microsoft365"\nclient_id = "{cid}"\ntenant = "{TENANT}"\n'
             f'client_secret_secret = "m365_secret"\nauthority_url = "{stack.standin.https_url}"\n'
             f'ca_file = "{stack.standin.ca_file}"\n')
    im = {"host": "127.0.0.1", "port": stack.mail.imap_port, "security": "none", "username": MAILBOX,
          "auth": "oauth2", **(imap or {})}
    sm = {"host": "127.0.0.1", "port": stack.mail.smtp_port, "security": "none", "username": MAILBOX,
          "auth": "oauth2", **(smtp or {})}

    def table(name, d):
        body = "".join(f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = {v}\n"
                       for k, v in d.items())
        if d.get("auth") == "oauth2":
            body += f"[{name}.oauth]\n{oauth}"
        return f"[{name}]\n{body}"

    text = (f'[service]\ndata_dir = "{tmp_path / "var"}"\nsecrets_file = "{tmp_path / "secrets.toml"}"\n'
            + table("mail.smtp", sm) + table("mail.imap", im))
    (tmp_path / "secrets.toml").write_text('m365_secret = "s3cret"\nimap_password = "unused-password"\n'
                                           'smtp_password = "unused-password"\n')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def _app(stack, **kw) -> str:
    cid = str(uuid.uuid4())
    stack.standin.register_app(AppRegistration(cid, TENANT, secret="s3cret", **{"mailboxes": [MAILBOX], **kw}))
    return cid


def _run(capsys, path, *extra) -> tuple[int, str]:
    code = cli.main(["--config", path, "check-mail", "--timeout", "5", "--wait", "15", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def _line(out: str, what: str) -> str:
    """The step line whose step name starts with `what` ("  FAIL  login: ...")."""
    for ln in out.splitlines():
        parts = ln.split(None, 1)
        if ln.startswith("  ") and len(parts) == 2 and parts[1].startswith(what):
            return ln
    return ""


def test_healthy_oauth2_server(stack, tmp_path, capsys):
    code, out = _run(capsys, _config(tmp_path, stack))
    assert code == 0, out
    for step in ("name resolution", "TCP connection", "OAuth2 access token", "permission IMAP.AccessAsApp",
                 "login", "folder INBOX", "UIDVALIDITY", "IDLE", "permission SMTP.SendAsApp",
                 f"test message to {MAILBOX}", "test message arrived"):
        assert _line(out, step).lstrip().startswith(("OK", "WARN")), (step, out)
    assert "mail: OK" in out and "s3cret" not in out


def test_healthy_password_server(stack, tmp_path, capsys):
    path = _config(tmp_path, stack, imap={"auth": "password"}, smtp={"auth": "password"})
    code, out = _run(capsys, path)
    assert code == 0, out
    assert "test message arrived" in out


def test_closed_port(stack, tmp_path, capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    code, out = _run(capsys, _config(tmp_path, stack, imap={"port": port}))
    assert code == 1
    assert _line(out, "TCP connection").lstrip().startswith("FAIL")
    assert "usual IMAP ports are 993" in out


def test_wrong_security_mode(stack, tmp_path, capsys):
    code, out = _run(capsys, _config(tmp_path, stack, imap={"security": "tls"}, smtp={"security": "tls"}))
    assert code == 1
    assert 'mail.imap.security = "starttls' in out and 'mail.smtp.security = "starttls"' in out
    assert _line(out, "TLS and certificate").lstrip().startswith("FAIL")


def test_bad_password(stack, tmp_path, capsys):
    path = _config(tmp_path, stack, imap={"auth": "password", "password_secret": "wrong_pw"})
    with open(tmp_path / "secrets.toml", "a") as f:
        f.write('wrong_pw = "wrong-password"\n')
    code, out = _run(capsys, path, "--no-send")
    assert code == 1
    assert _line(out, "login").lstrip().startswith("FAIL") and "AUTHENTICATIONFAILED" in out
    assert 'auth = "oauth2"' in out


def test_token_without_mailbox_permission(stack, tmp_path, capsys):
    code, out = _run(capsys, _config(tmp_path, stack, client_id=_app(stack, mailboxes=[])), "--no-send")
    assert code == 1
    assert "Add-MailboxPermission" in out and "New-ServicePrincipal" in out


def test_token_without_admin_consent(stack, tmp_path, capsys):
    code, out = _run(capsys, _config(tmp_path, stack, client_id=_app(stack, roles=[])), "--no-send")
    assert code == 1
    assert _line(out, "permission IMAP.AccessAsApp").lstrip().startswith("FAIL")
    assert "Grant admin consent" in out


def test_wrong_client_secret(stack, tmp_path, capsys):
    path = _config(tmp_path, stack)
    (tmp_path / "secrets.toml").write_text('m365_secret = "not-it"\n')
    code, out = _run(capsys, path, "--no-send")
    assert code == 1 and "invalid_client" in out and "Certificates & secrets" in out


@pytest.mark.parametrize("reply, fix", [
    ("535 5.7.3 Authentication unsuccessful [AM0PR10CA0001.EURPRD10.PROD.OUTLOOK.COM]", "Set-CASMailbox"),
    ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", "Set-CASMailbox"),
    ("550 5.7.30 Basic authentication is not supported for Client Submission.", 'auth = "oauth2"'),
])
def test_smtp_refusing_auth(stack, tmp_path, capsys, reply, fix):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    from hankebot.devstack._process import free_ports

    port = free_ports(1)[0]
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port, auth_require_tls=False,
                     authenticator=lambda *a: AuthResult(success=False, handled=False, message=reply))
    ctl.start()
    try:
        path = _config(tmp_path, stack, smtp={"auth": "password", "port": port})
        code, out = _run(capsys, path)
    finally:
        ctl.stop()
    assert code == 1
    smtp_part = out[out.index("\nSMTP "):]
    assert _line(smtp_part, "login").lstrip().startswith("FAIL")
    assert reply.split()[1] in _line(smtp_part, "login") and fix in smtp_part


def test_config_error_exits_2(tmp_path, capsys):
    p = tmp_path / "config.toml"
    p.write_text('[mail.imap]\nusername = "a@example.test"\nauth = "oauth2"\n')
    assert cli.main(["--config", str(p), "check-mail"]) == 2
    assert "mail.imap" in capsys.readouterr().err


def test_service_wiring_sends_and_reads_with_the_configured_token_source(stack, tmp_path):
    """The service's own wiring (config -> mail_auth -> smtp_sender / imap_listener): one token source shared by
    IMAP and SMTP, a message sent with the config's SmtpSettings and read back with the config's endpoint."""
    import asyncio
    import time

    from hankebot.mailer import smtp_sender
    from hankebot.mailer.imap_listener import connect
    from hankebot.service.config import load_config
    from hankebot.service.mail_auth import imap_endpoint, smtp_credential
    from test_oauth_mail import _msg

    cfg = load_config(_config(tmp_path, stack), check_files=False)
    cred = smtp_credential(cfg)
    ep = imap_endpoint(cfg, timeout=15)
    assert ep.token_source is cred and ep.password == ""
    subject = f"wiring-{uuid.uuid4().hex[:8]}"
    assert asyncio.run(smtp_sender.send(_msg(subject), MAILBOX, [MAILBOX], cfg.settings.mail.smtp, cred)).startswith("250")
    box = connect(ep)
    try:
        deadline = time.monotonic() + 10
        while not [m for m in box.fetch(mark_seen=False) if m.subject == subject] and time.monotonic() < deadline:
            time.sleep(0.3)
            box.folder.set("INBOX")
        assert [m for m in box.fetch(mark_seen=False) if m.subject == subject]
    finally:
        box.logout()
    assert cred.fetches == 1  # one token for both protocols


def test_revoked_refresh_token(stack, tmp_path, capsys):
    stack.standin.register_client("g-client", "g-secret")
    rt = stack.standin.grant_refresh_token("g-client", MAILBOX)
    stack.standin.revoke_refresh_tokens(MAILBOX)  # the user withdrew consent
    path = _config(tmp_path, stack, oauth=f'provider = "refresh_token"\nclient_id = "g-client"\n'
                   f'client_secret_secret = "g_secret"\ntoken_url = "{stack.standin.token_url}"\n'
                   f'ca_file = "{stack.standin.ca_file}"\n')
    (tmp_path / "secrets.toml").write_text(f'g_secret = "g-secret"\noauth_refresh_token = "{rt}"\n')
    code, out = _run(capsys, path, "--no-send")
    assert code == 1, out
    assert "invalid_grant" in _line(out, "OAuth2 access token")
    assert "authorise again" in out and rt not in out
