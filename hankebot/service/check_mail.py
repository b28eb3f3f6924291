"""`hankebot check-mail`: connect to the configured IMAP and SMTP servers step by step and say in plain words
what works, what does not, and the likely fix (admin output, English like check-config).

Steps: name resolution, TCP, TLS and the certificate, the OAuth2 token (when auth = "oauth2"), login, the
folder, UIDVALIDITY, IDLE; SMTP connection, TLS and login; a test message sent to the procurement's own
mailbox and seen arriving over IMAP (then deleted, so the service does not read it as mail)."""
from __future__ import annotations

import asyncio
import dataclasses
import imaplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from hankebot.mailer.imap_listener import ImapEndpoint, login, open_mailbox
from hankebot.mailer.oauth import AccessToken, OAuthError
from hankebot.service.config import LoadedConfig
from hankebot.service.config_service import OAuthSettings

TEST_SUBJECT = "Hankebot check-mail"
M365_ROLES = {"imap": "IMAP.AccessAsApp", "smtp": "SMTP.SendAsApp"}


@dataclass
class Step:
    what: str
    status: str  # ok | warn | fail | skip
    detail: str = ""
    fix: str = ""


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)

    def add(self, what: str, status: str, detail: str = "", fix: str = "") -> Step:
        st = Step(what, status, detail, fix)
        self.steps.append(st)
        return st

    @property
    def failed(self) -> bool:
        return any(s.status == "fail" for s in self.steps)

    def lines(self) -> list[str]:
        out = []
        for s in self.steps:
            if s.status == "head":
                out.append(s.what)
                continue
            out.append(f"  {s.status.upper():<5} {s.what}" + (f": {s.detail}" if s.detail else ""))
            if s.fix:
                out.append(f"        likely fix: {s.fix}")
        return out


class _Stop(Exception):
    """A step failed that later steps depend on."""


# ------------------------------------------------------------------------------------------ network steps


def _tcp(r: Report, proto: str, host: str, port: int, security: str, timeout: float) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        r.add("name resolution", "fail", f"{host}: {e.strerror or e}",
              f"check mail.{proto}.host (a typo, or no DNS on this machine)")
        raise _Stop
    addrs = sorted({i[4][0] for i in infos})
    r.add("name resolution", "ok", f"{host} -> {', '.join(addrs[:4])}")
    t0 = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        std = {"imap": "993 (security = \"tls\") or 143 (\"starttls\")",
               "smtp": "587 (security = \"starttls\") or 465 (\"tls\")"}[proto]
        r.add(f"TCP connection to port {port}", "fail", f"{type(e).__name__}: {e}",
              f"the port is closed or filtered: the usual {proto.upper()} ports are {std}; "
              f"check mail.{proto}.port and the firewall")
        raise _Stop
    r.add(f"TCP connection to port {port}", "ok", f"{(time.monotonic() - t0) * 1000:.0f} ms")


def _wrong_mode_fix(proto: str, security: str, port: int) -> str:
    if security == "tls":
        alt = "starttls" if port in (143, 587, 25) or proto == "smtp" else "starttls\" or \"none"
        return (f"the server does not speak TLS at once on port {port}: set mail.{proto}.security = \"{alt}\" "
                f"(or use the TLS port: {993 if proto == 'imap' else 465})")
    return (f"port {port} expects TLS from the first byte: set mail.{proto}.security = \"tls\" "
            f"(or use port {143 if proto == 'imap' else 587} with \"starttls\")")


def _tls_step(r: Report, sock, validate: bool) -> None:
    """`sock`: the SSLSocket / SSLObject of the connection, None when it is not encrypted."""
    if sock is None:
        r.add("TLS", "warn", "none: the connection is not encrypted (security = \"none\")",
              "use security = \"tls\" or \"starttls\" outside a test set-up")
        return
    detail = sock.version() or "TLS"
    cert = sock.getpeercert() if validate else None
    if cert:
        subj = dict(x[0] for x in cert.get("subject", ()))
        detail += f", certificate for {subj.get('commonName', '?')} valid until {cert.get('notAfter', '?')}"
    elif not validate:
        detail += ", certificate NOT checked (validate_certs = false)"
    r.add("TLS and certificate", "ok" if validate else "warn", detail)


def _tls_error(r: Report, proto: str, security: str, port: int, e: Exception) -> None:
    text = str(e)
    if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        r.add("TLS and certificate", "fail", f"the server's certificate is not trusted: {getattr(e, 'verify_message', '') or text}",
              "install the issuing CA on this machine (or, for a test server only, validate_certs = false)")
    elif "WRONG_VERSION_NUMBER" in text or "record layer" in text.lower() or isinstance(e, ssl.SSLError):
        r.add("TLS and certificate", "fail", f"TLS handshake failed: {text}", _wrong_mode_fix(proto, security, port))
    else:
        r.add("greeting", "fail", f"{type(e).__name__}: {text}", _wrong_mode_fix(proto, security, port))


# ------------------------------------------------------------------------------------------ tokens


def _token_step(r: Report, cfg: LoadedConfig, oauth: OAuthSettings, proto: str, username: str):
    from hankebot.service.mail_auth import token_source

    try:
        src = token_source(cfg, oauth, f"mail.{proto}.oauth")
        tok = src.token(oauth.refresh_margin_seconds)
    except OAuthError as e:
        r.add("OAuth2 access token", "fail", str(e), _oauth_fix(e.code, oauth, str(e)))
        raise _Stop
    r.add("OAuth2 access token", "ok", _token_detail(tok))
    claims = tok.claims()
    if oauth.provider == "microsoft365" and claims:
        role = M365_ROLES[proto]
        roles = claims.get("roles") or []
        if role not in roles:
            r.add(f"permission {role}", "fail", f"the token has roles {roles or 'none'}",
                  f"in Entra ID, App registrations -> API permissions: add Office 365 Exchange Online -> "
                  f"Application permissions -> {role}, then 'Grant admin consent'")
        else:
            r.add(f"permission {role}", "ok", "granted with admin consent")
    return src


def _token_detail(tok: AccessToken) -> str:
    return f"valid for {max(0, tok.seconds_left()) / 60:.0f} more minutes"


def _oauth_fix(code: str | None, oauth: OAuthSettings, text: str) -> str:
    if code == "invalid_client":
        return ("the client secret (or certificate) is wrong or expired: create a new one under App registrations -> "
                f"Certificates & secrets and set the secret {oauth.client_secret_secret or ''}".strip())
    if code in ("unauthorized_client", "invalid_request") or "AADSTS700016" in text or "AADSTS90002" in text:
        return "check client_id and tenant: they must be the app registration's Application (client) ID and Directory (tenant) ID"
    if code == "invalid_grant":
        return (f"the refresh token was revoked or has expired: authorise again and set the new refresh token as the "
                f"secret {oauth.refresh_token_secret} (the stored rotated token is then replaced)")
    if code == "invalid_scope":
        return "check scope (Microsoft 365 app-only: https://outlook.office365.com/.default)"
    if code is None:
        return "the token endpoint cannot be reached: check authority_url / token_url, the network and ca_file"
    return "see the provider's error above"


def _login_fix(proto: str, auth: str, oauth: OAuthSettings | None, text: str) -> str:
    if auth == "password":
        return (f"check mail.{proto}.username and the password secret; Microsoft 365 turned basic authentication off "
                f"for IMAP: use auth = \"oauth2\" there")
    if oauth is not None and oauth.provider == "microsoft365":
        return ("the token was issued but the mailbox refused it: (1) admin consent for the permission; (2) in Exchange "
                "Online PowerShell, New-ServicePrincipal -AppId <client id> -ObjectId <enterprise app object id>; "
                "(3) Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess; "
                f"(4) mail.{proto}.username must be the mailbox address. Changes take up to an hour to apply")
    return f"the server refused the token: check that mail.{proto}.username is the account the refresh token belongs to and the scope allows mail"


# ------------------------------------------------------------------------------------------ IMAP


def check_imap(r: Report, cfg: LoadedConfig, timeout: float):
    """Returns the logged-in mailbox (for the arrival check) or None."""
    from hankebot.service.mail_auth import imap_endpoint

    im = cfg.settings.mail.imap
    if im is None:
        r.add("IMAP", "skip", "no [mail.imap] in the config: nothing is read from a mailbox")
        return None
    how = f"oauth2 ({im.oauth.provider})" if im.auth == "oauth2" and im.oauth else "password"
    r.add(f"IMAP {im.host}:{im.port} (security {im.security}), login as {im.username} with {how}", "head")
    _tcp(r, "imap", im.host, im.port, im.security, timeout)
    src = _token_step(r, cfg, im.oauth, "imap", im.username) if im.auth == "oauth2" and im.oauth else None
    if src is None and not cfg.secret(im.password_secret):
        r.add("password", "fail", f"secret {im.password_secret!r} is not set",
              f"set HANKEBOT_{(im.password_secret or 'imap_password').upper()} or add it to the secrets file")
        raise _Stop
    base = ImapEndpoint(im.host, im.port, im.security, im.username, cfg.secret(im.password_secret) or "",
                        validate_certs=im.validate_certs, timeout=timeout) if src is None else imap_endpoint(cfg, timeout)
    ep = dataclasses.replace(base, folder=None)  # the folder is its own step
    try:
        box = open_mailbox(ep)
    except (ssl.SSLError, OSError, imaplib.IMAP4.error) as e:
        _tls_error(r, "imap", im.security, im.port, e)
        raise _Stop
    sock = box.client.sock
    _tls_step(r, sock if isinstance(sock, ssl.SSLSocket) else None, im.validate_certs)
    try:
        login(box, ep)
    except Exception as e:
        r.add("login", "fail", str(e) or type(e).__name__, _login_fix("imap", im.auth, im.oauth, str(e)))
        raise _Stop
    r.add("login", "ok", f"logged in as {im.username}")
    try:
        box.folder.set(im.folder)
        st = box.folder.status(im.folder, ["MESSAGES", "UIDVALIDITY", "UIDNEXT"])
    except Exception as e:
        try:
            names = ", ".join(f.name for f in box.folder.list())[:300]
        except Exception:
            names = "?"
        r.add(f"folder {im.folder}", "fail", str(e), f"set mail.imap.folder to one of: {names}")
        raise _Stop
    r.add(f"folder {im.folder}", "ok", f"{st['MESSAGES']} messages")
    r.add("UIDVALIDITY", "ok", f"{st['UIDVALIDITY']} (next UID {st['UIDNEXT']}); a change makes the service re-read the folder")
    caps = getattr(box.client, "capabilities", ())
    if "IDLE" not in caps:
        r.add("IDLE", "warn" if im.idle else "ok", "not offered: the service polls every "
              f"{im.poll_seconds:.0f} s", "set mail.imap.idle = false to silence this" if im.idle else "")
    else:
        try:
            box.idle.start()
            box.idle.stop()
            r.add("IDLE", "ok", "offered and answered; new mail is noticed at once")
        except Exception as e:
            r.add("IDLE", "warn", f"IDLE failed: {e}", "set mail.imap.idle = false (the service then polls)")
    return box


# ------------------------------------------------------------------------------------------ SMTP


def _smtp_login_fix(code: int | None, text: str, auth: str, oauth: OAuthSettings | None) -> str:
    t = text.lower()
    if "5.7.30" in text or "basic authentication is not supported" in t:
        return ("the server no longer accepts a password (Microsoft 365 switched basic authentication off): "
                "set mail.smtp.auth = \"oauth2\" with a [mail.smtp.oauth] token source")
    if "5.7.3" in text or "5.7.139" in text or "smtpclientauthentication" in t.replace(" ", ""):
        return ("SMTP AUTH is disabled for this mailbox or tenant: in Exchange Online PowerShell "
                "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false (and check the tenant "
                "setting in the admin centre); with oauth2 also the SMTP.SendAsApp consent and the mailbox permission")
    return _login_fix("smtp", auth, oauth, text)


async def _smtp(r: Report, cfg: LoadedConfig, raw: bytes | None, sender: str, rcpt: str, timeout: float) -> bool:
    from hankebot.mailer.smtp_sender import login_xoauth2, quit_quietly
    from hankebot.service.mail_auth import smtp_credential

    sm = cfg.settings.mail.smtp
    client = aiosmtplib.SMTP(hostname=sm.host, port=sm.port, timeout=timeout, use_tls=sm.security == "tls",
                             start_tls=sm.security == "starttls", validate_certs=sm.validate_certs)
    try:
        try:
            await client.connect()
        except aiosmtplib.SMTPException as e:
            text = str(e)
            if "STARTTLS" in text.upper():
                r.add("STARTTLS", "fail", text, "the server offers no STARTTLS on this port: security = \"tls\" "
                      "(port 465) or \"none\" for a test server")
            else:
                r.add("greeting", "fail", f"{type(e).__name__}: {text}", _wrong_mode_fix("smtp", sm.security, sm.port))
            return False
        except (ssl.SSLError, OSError, asyncio.TimeoutError) as e:
            _tls_error(r, "smtp", sm.security, sm.port, e)
            return False
        _tls_step(r, client.transport.get_extra_info("ssl_object") if client.transport else None, sm.validate_certs)
        if sm.username:
            try:
                cred = smtp_credential(cfg)
            except OAuthError as e:
                r.add("OAuth2 access token", "fail", str(e), _oauth_fix(e.code, sm.oauth, str(e)))
                return False
            if cred is None:
                r.add("password", "fail", f"secret {sm.password_secret!r} is not set",
                      f"set HANKEBOT_{(sm.password_secret or 'smtp_password').upper()} or add it to the secrets file")
                return False
            if not isinstance(cred, str) and sm.oauth is not None:
                try:
                    tok = await asyncio.to_thread(cred.token, sm.oauth.refresh_margin_seconds)
                except OAuthError as e:
                    r.add("OAuth2 access token", "fail", str(e), _oauth_fix(e.code, sm.oauth, str(e)))
                    return False
                r.add("OAuth2 access token", "ok", _token_detail(tok))
                roles = tok.claims().get("roles")
                if sm.oauth.provider == "microsoft365" and tok.claims():
                    if M365_ROLES["smtp"] not in (roles or []):
                        r.add("permission SMTP.SendAsApp", "fail", f"the token has roles {roles or 'none'}",
                              "in Entra ID, App registrations -> API permissions: add Office 365 Exchange Online -> "
                              "Application permissions -> SMTP.SendAsApp, then 'Grant admin consent'")
                    else:
                        r.add("permission SMTP.SendAsApp", "ok", "granted with admin consent")
            await client.ehlo()
            if not client.server_auth_methods:
                r.add("login", "fail", "the server offers no AUTH on this port",
                      "use the submission port (587 with starttls, or 465 with tls); some servers offer AUTH only after STARTTLS")
                return False
            try:
                if isinstance(cred, str):
                    await client.login(sm.username, cred)
                else:
                    await login_xoauth2(client, sm.username, cred, sm.oauth.refresh_margin_seconds if sm.oauth else 300)
            except aiosmtplib.SMTPResponseException as e:
                text = f"{e.code} {e.message}"
                r.add("login", "fail", text, _smtp_login_fix(e.code, text, sm.auth, sm.oauth))
                return False
            except Exception as e:  # PermanentSendError (no XOAUTH2 offered, no token), SMTPException
                r.add("login", "fail", str(e), _smtp_login_fix(None, str(e), sm.auth, sm.oauth))
                return False
            r.add("login", "ok", f"logged in as {sm.username} ({', '.join(client.server_auth_methods)} offered)")
        if raw is None:
            return True
        try:
            await client.sendmail(sender, [rcpt], raw)
        except aiosmtplib.SMTPResponseException as e:
            text = f"{e.code} {e.message}"
            fix = _smtp_login_fix(e.code, text, sm.auth, sm.oauth) if "5.7." in text else \
                "the server refused the message: see its reply"
            r.add(f"test message to {rcpt}", "fail", text, fix)
            return False
        r.add(f"test message to {rcpt}", "ok", "accepted by the server")
        return True
    finally:
        await quit_quietly(client)


def _arrival(r: Report, box, subject: str, wait: float) -> None:
    from imap_tools import AND

    deadline = time.monotonic() + wait
    while True:
        box.folder.set(box.folder.get())  # re-select: see new mail
        uids = box.uids(AND(subject=subject))
        if uids:
            r.add("test message arrived", "ok", f"in {wait - (deadline - time.monotonic()):.1f} s; deleted again "
                  "(it is not procurement mail)")
            box.delete(uids)
            return
        if time.monotonic() > deadline:
            r.add("test message arrived", "fail", f"not in the folder after {wait:.0f} s",
                  "the message was accepted but not delivered here: check that the procurement mailbox and "
                  "mail.imap.username are the same mailbox, and the server's spam / transport rules")
            return
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------ entry


def check_mail(cfg: LoadedConfig, send: bool = True, timeout: float = 20.0, arrival_wait: float = 60.0) -> Report:
    r = Report()
    box = None
    imap_ok = False
    try:
        box = check_imap(r, cfg, timeout)
        imap_ok = box is not None
    except _Stop:
        pass
    s = cfg.settings
    sm = s.mail.smtp
    mailbox = s.procurements[0].mailbox if s.procurements else (s.mail.imap.username if s.mail.imap else None)
    how = f"oauth2 ({sm.oauth.provider})" if sm.auth == "oauth2" and sm.oauth else ("password" if sm.username else "no login")
    r.add(f"SMTP {sm.host}:{sm.port} (security {sm.security}), login as {sm.username or '-'} with {how}", "head")
    try:
        _tcp(r, "smtp", sm.host, sm.port, sm.security, timeout)
        subject = f"{TEST_SUBJECT} {uuid.uuid4().hex[:12]}"
        raw = None
        if send and mailbox:
            m = EmailMessage()
            m["From"] = m["To"] = mailbox
            m["Subject"] = subject
            m["Date"] = formatdate(localtime=False)
            m["Message-ID"] = make_msgid(domain=mailbox.split("@")[-1])
            m["Auto-Submitted"] = "auto-generated"
            m.set_content("A test message from `hankebot check-mail`. It is deleted once seen.\n")
            raw = m.as_bytes()
        elif not send:
            r.add("test message", "skip", "--no-send")
        sent = asyncio.run(_smtp(r, cfg, raw, mailbox or "", mailbox or "", timeout))
        if sent and raw is not None:
            if imap_ok:
                _arrival(r, box, subject, arrival_wait)
            else:
                r.add("test message arrived", "skip", "IMAP did not work, so its arrival cannot be checked")
    except _Stop:
        pass
    finally:
        if box is not None:
            try:
                box.logout()
            except Exception:
                pass
    return r
