"""Parameter decoding and validation shared by the stand-in's Bot API methods.

Every failure raises :class:`ApiError` carrying the real API's error code and description.
Parameters arrive as JSON values (JSON body) or strings (form / multipart, which is what
python-telegram-bot sends: strings raw, everything else JSON-encoded).
"""
from __future__ import annotations

import json
import re
from typing import Any


class ApiError(Exception):
    """A Bot API error response: {"ok": false, "error_code": code, "description": ...}."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(text: str) -> ApiError:
    """400 with the usual "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {text}")


def get_str(params: dict[str, Any], name: str) -> str | None:
    """A string parameter, or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def get_int(params: dict[str, Any], name: str, *, required: bool = False,
            missing: str | None = None) -> int | None:
    """An integer parameter; strings like "123" are accepted as the real API does."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(missing or f"{name} is empty")
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise bad_request(f"invalid {name} specified") from None


def get_float(params: dict[str, Any], name: str, default: float) -> float:
    """A number parameter with a default."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def get_bool(params: dict[str, Any], name: str) -> bool:
    """A boolean parameter ("true"/"false"/"1"/"0" or JSON)."""
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ("true", "1")


def get_json(params: dict[str, Any], name: str, error: str) -> Any:
    """A JSON-object/array parameter (arrives JSON-encoded in form data)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error) from None
    return value


_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
_URL_RE = re.compile(r"^(https?|tg)://[^\s]+$", re.IGNORECASE)


def validate_reply_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """Decode and check ``reply_markup``; return it (only inline keyboards end up on the message)."""
    markup = get_json(params, "reply_markup", "can't parse reply keyboard markup JSON object")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        for row in rows:
            if not isinstance(row, list):
                raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
            for button in row:
                validate_inline_button(button)
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for button in row:
                text = button if isinstance(button, str) else (button or {}).get("text") if isinstance(button, dict) else None
                if not text:
                    raise bad_request("keyboard button text is empty")
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def validate_inline_button(button: Any) -> None:
    """Check one InlineKeyboardButton like the real API."""
    if not isinstance(button, dict):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [a for a in _BUTTON_ACTIONS if a in button]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not _URL_RE.match(url):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def validate_commands(params: dict[str, Any]) -> list[dict[str, str]]:
    """Decode and check setMyCommands' ``commands``."""
    commands = get_json(params, "commands", "can't parse commands JSON object")
    if commands is None:
        raise bad_request("parameter \"commands\" is required")
    if not isinstance(commands, list):
        raise bad_request("field \"commands\" must be an Array")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    cleaned: list[dict[str, str]] = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: BotCommand must be an Object")
        command = str(item.get("command", "")).removeprefix("/")
        description = str(item.get("description", ""))
        if not _COMMAND_RE.match(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        cleaned.append({"command": command, "description": description})
    return cleaned


CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}
