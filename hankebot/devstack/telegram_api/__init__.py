"""A strict local stand-in of the Telegram Bot API for python-telegram-bot (tests, demo)."""
from hankebot.devstack.telegram_api.server import (
    DEFAULT_TOKEN,
    FakeTelegramAPI,
    RecordedRequest,
    StoredFile,
    UploadedFile,
)
from hankebot.devstack.telegram_api.validation import ApiError

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeTelegramAPI",
    "RecordedRequest",
    "StoredFile",
    "UploadedFile",
]
