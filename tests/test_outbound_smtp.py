"""smtp_sender failure classification without a server (the real-server cases are in test_outbound.py)."""
from __future__ import annotations

import socket

import pytest

from hankebot.mailer.smtp_sender import PermanentSendError, TransientSendError, send
from hankebot.service.config_service import SmtpSettings


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


async def test_refused_connection_is_transient_and_affects_every_message():
    smtp = SmtpSettings(host="127.0.0.1", port=_closed_port(), security="none", username=None, timeout_seconds=5)
    with pytest.raises(TransientSendError) as e:
        await send(b"Subject: x\r\n\r\nx\r\n", "a@example.test", ["b@example.test"], smtp, None)
    assert e.value.stage == "connect" and e.value.affects_all and not e.value.outcome_unknown
    assert e.value.code is None


async def test_no_recipients_is_permanent():
    smtp = SmtpSettings(host="127.0.0.1", port=_closed_port(), security="none")
    with pytest.raises(PermanentSendError):
        await send(b"x", "a@example.test", [], smtp, None)


async def test_username_without_password_is_permanent(mail_server):
    smtp = SmtpSettings(host="127.0.0.1", port=mail_server.smtp_port, security="none",
                        username="tender@example.test", timeout_seconds=10)
    with pytest.raises(PermanentSendError) as e:
        await send(b"Subject: x\r\n\r\nx\r\n", "tender@example.test", ["bidder1@example.test"], smtp, None)
    assert e.value.stage == "auth" and e.value.affects_all
