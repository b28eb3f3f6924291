"""Send one raw message over SMTP (aiosmtplib) and say honestly how a failure should be treated.

All or nothing: every envelope recipient must be accepted at RCPT, otherwise the transaction is reset
before DATA and nothing is delivered to anyone. (The procurement mailbox is an envelope recipient of
every message, as its copy; the copy therefore exists exactly when the bidder's address was accepted too.)

- TransientSendError: try again later (4xx replies, refused/dropped connections, timeouts).
- PermanentSendError: retrying will not help (5xx replies, refused recipient, failed AUTH, TLS not offered).
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

import aiosmtplib

from hankebot.mailer.oauth import OAuthError, TokenSource

class SmtpServer(Protocol):
    """What `send` reads of the server settings: the service's config model or an `SmtpEndpoint`."""

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str | None
    timeout_seconds: float
    validate_certs: bool


@dataclass(frozen=True)
class SmtpEndpoint:
    """The mail server to send through, as this package needs it (no dependency on the service's config)."""

    host: str = "127.0.0.1"
    port: int = 587
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    timeout_seconds: float = 30.0
    validate_certs: bool = True


async def login_xoauth2(client: aiosmtplib.SMTP, username: str, source: "TokenSource", margin: float = 300.0) -> None:
    """AUTH XOAUTH2 with a token valid for at least `margin` more seconds. A refused token is dropped and a fresh
    one tried once (it may have been revoked since it was fetched). A token that cannot be obtained raises
    PermanentSendError at stage auth (it affects every message)."""
    if client.last_ehlo_response is None:
        await client.ehlo()
    if "xoauth2" not in client.server_auth_methods:
        offered = ", ".join(client.server_auth_methods) or "none"
        raise PermanentSendError(f"the server does not offer AUTH XOAUTH2 (offered: {offered})", stage="auth")
    for attempt in (1, 2):
        try:
            tok = await asyncio.to_thread(source.token, margin)
        except OAuthError as e:
            raise PermanentSendError(f"no OAuth2 access token: {e}", stage="auth") from None
        try:
            await client.auth_xoauth2(username, tok.value)
            return
        except aiosmtplib.SMTPAuthenticationError:
            source.invalidate()
            if attempt == 2:
                raise


class SendError(Exception):
    """`stage`: where it failed (connect | auth | mail | rcpt | data); `code`: the server's reply code, None
    when there was no reply (connection lost, timeout); `recipient`: the refused address for stage rcpt."""

    def __init__(self, message: str, code: int | None = None, recipient: str | None = None, stage: str = "connect"):
        super().__init__(message)
        self.code = code
        self.recipient = recipient
        self.stage = stage

    @property
    def outcome_unknown(self) -> bool:
        """No reply after the message was handed over: the server may or may not have taken it."""
        return self.stage == "data" and self.code is None

    @property
    def affects_all(self) -> bool:
        """A fault of the connection, the login or the sender: every other message would fail the same way."""
        return self.stage in ("connect", "auth", "mail")


class TransientSendError(SendError):
    """Try again later."""


class PermanentSendError(SendError):
    """Do not retry; a human must look at it."""


def _from_response(e: aiosmtplib.SMTPResponseException, what: str, stage: str,
                   recipient: str | None = None) -> SendError:
    text = f"{what}: {e.code} {e.message}".strip()
    cls = TransientSendError if 400 <= e.code < 500 else PermanentSendError
    return cls(text, code=e.code, recipient=recipient, stage=stage)


async def send(
    raw: bytes,
    sender: str,
    recipients: Sequence[str],
    smtp: SmtpServer,
    password: "str | TokenSource | None",
) -> str:
    """Deliver `raw` to every recipient (envelope only; headers are not touched). Returns the server's
    reply to DATA (e.g. "2.0.0 Ok: queued as 4F2A1"). Raises TransientSendError or PermanentSendError.

    `password` is the login password, or a token source (hankebot.mailer.oauth) for an XOAUTH2 login."""
    if not recipients:
        raise PermanentSendError("no recipients")
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        timeout=smtp.timeout_seconds,
        use_tls=smtp.security == "tls",
        start_tls=True if smtp.security == "starttls" else False,
        validate_certs=smtp.validate_certs,
    )
    stage = "connect"
    try:
        try:
            await client.connect()
            stage = "auth"
            if smtp.username:
                if password is None:
                    raise PermanentSendError(f"SMTP username {smtp.username} is set but no password was found",
                                             stage=stage)
                if isinstance(password, str):
                    await client.login(smtp.username, password)
                else:
                    await login_xoauth2(client, smtp.username, password, 
                                        getattr(getattr(smtp, "oauth", None), "refresh_margin_seconds", 300.0))
            stage = "mail"
            try:
                await client.mail(sender)
            except aiosmtplib.SMTPResponseException as e:
                raise _from_response(e, f"sender {sender} refused", stage)
            stage = "rcpt"
            for rcpt in recipients:
                try:
                    await client.rcpt(rcpt)
                except aiosmtplib.SMTPResponseException as e:
                    err = _from_response(e, f"recipient {rcpt} refused", stage, recipient=rcpt)
                    try:
                        await client.rset()
                    except aiosmtplib.SMTPException:
                        pass
                    raise err
            stage = "data"
            try:
                resp = await client.data(raw)
            except aiosmtplib.SMTPResponseException as e:
                raise _from_response(e, "message refused", stage)
            return f"{resp.code} {resp.message}".strip()
        except SendError:
            raise
        except aiosmtplib.SMTPAuthenticationError as e:
            raise _from_response(e, f"login as {smtp.username} failed", "auth")
        except aiosmtplib.SMTPNotSupported as e:
            raise PermanentSendError(f"server does not support what the config asks for: {e}", stage=stage)
        except ssl.SSLError as e:
            raise PermanentSendError(f"TLS failed (certificate or protocol): {e}", stage="connect")
        except aiosmtplib.SMTPResponseException as e:  # e.g. a 421 greeting: SMTPConnectResponseError
            raise _from_response(e, f"{smtp.host}:{smtp.port} refused ({stage})", stage)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected,
                OSError, asyncio.TimeoutError) as e:
            raise TransientSendError(f"cannot talk to {smtp.host}:{smtp.port} ({stage}): {e}", stage=stage)
        except aiosmtplib.SMTPException as e:
            raise TransientSendError(f"SMTP failure ({stage}): {e}", stage=stage)
    finally:
        await quit_quietly(client)


async def quit_quietly(client) -> None:
    """End an SMTP session: QUIT when the server still listens, else drop the connection."""
    if client.is_connected:
        try:
            await client.quit()
        except Exception:
            client.close()
