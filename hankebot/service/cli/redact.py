"""Secrets kept out of every log line the command line writes."""
from __future__ import annotations

import logging
import os
import re


class RedactSecrets(logging.Filter):
    """Masks secrets in every log line: Telegram bot tokens (PTB and httpx log the API URL, which carries the
    token), the values of HANKEBOT_* environment variables and the configured secrets once a config is loaded."""

    TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")

    def __init__(self) -> None:
        super().__init__()
        self.values = {v for k, v in os.environ.items()
                       if k.startswith("HANKEBOT_") and k != "HANKEBOT_CONFIG" and len(v) >= 4}

    def add_config(self, cfg) -> None:
        s = cfg.settings
        names = [s.mail.smtp.password_secret, s.mail.imap.password_secret if s.mail.imap else None,
                 s.telegram.token_secret]
        for oauth in (s.mail.smtp.oauth, s.mail.imap.oauth if s.mail.imap else None):
            if oauth is not None:  # the client secret and the configured refresh token
                names += [oauth.client_secret_secret, oauth.refresh_token_secret]
        for name in names:
            try:
                v = cfg.secret(name)
            except Exception:  # an unreadable secrets file is reported elsewhere
                v = None
            if v and len(v) >= 4:
                self.values.add(v)

    def redact(self, text: str) -> str:
        text = self.TOKEN.sub("<bot token>", text)
        for v in sorted(self.values, key=len, reverse=True):
            text = text.replace(v, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = self.redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


REDACT = RedactSecrets()
