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
from typing import Sequence

import aiosmtplib

from hankebot.service.config import SmtpSettings


class SendError(Exception):
    def __init__(self, message: str, code: int | None = None, recipient: str | None = None):
        super().__init__(message)
        self.code = code
        self.recipient = recipient


class TransientSendError(SendError):
    """Try again later."""


class PermanentSendError(SendError):
    """Do not retry; a human must look at it."""


def _from_response(e: aiosmtplib.SMTPResponseException, what: str, recipient: str | None = None) -> SendError:
    text = f"{what}: {e.code} {e.message}".strip()
    cls = TransientSendError if 400 <= e.code < 500 else PermanentSendError
    return cls(text, code=e.code, recipient=recipient)


async def send(
    raw: bytes,
    sender: str,
    recipients: Sequence[str],
    smtp: SmtpSettings,
    password: str | None,
) -> str:
    """Deliver `raw` to every recipient (envelope only; headers are not touched). Returns the server's
    reply to DATA (e.g. "2.0.0 Ok: queued as 4F2A1"). Raises TransientSendError or PermanentSendError."""
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
    try:
        try:
            await client.connect()
            if smtp.username:
                if password is None:
                    raise PermanentSendError(f"SMTP username {smtp.username} is set but no password was found")
                await client.login(smtp.username, password)
            try:
                await client.mail(sender)
            except aiosmtplib.SMTPResponseException as e:
                raise _from_response(e, f"sender {sender} refused")
            for rcpt in recipients:
                try:
                    await client.rcpt(rcpt)
                except aiosmtplib.SMTPResponseException as e:
                    err = _from_response(e, f"recipient {rcpt} refused", recipient=rcpt)
                    try:
                        await client.rset()
                    except aiosmtplib.SMTPException:
                        pass
                    raise err
            try:
                resp = await client.data(raw)
            except aiosmtplib.SMTPResponseException as e:
                raise _from_response(e, "message refused")
            return f"{resp.code} {resp.message}".strip()
        except SendError:
            raise
        except aiosmtplib.SMTPAuthenticationError as e:
            raise _from_response(e, f"login as {smtp.username} failed")
        except aiosmtplib.SMTPNotSupported as e:
            raise PermanentSendError(f"server does not support what the config asks for: {e}")
        except ssl.SSLError as e:
            raise PermanentSendError(f"TLS failed (certificate or protocol): {e}")
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected) as e:
            raise TransientSendError(f"cannot talk to {smtp.host}:{smtp.port}: {e}")
        except aiosmtplib.SMTPResponseException as e:
            raise _from_response(e, "server refused")
        except (OSError, asyncio.TimeoutError) as e:
            raise TransientSendError(f"cannot talk to {smtp.host}:{smtp.port}: {e}")
        except aiosmtplib.SMTPException as e:
            raise TransientSendError(f"SMTP failure: {e}")
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()
