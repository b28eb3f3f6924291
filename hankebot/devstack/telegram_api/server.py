"""FakeTelegramAPI: a strict local stand-in of the Telegram Bot API over HTTP (aiohttp).

Point python-telegram-bot at it with ``Bot(token, base_url=api.base_url,
base_file_url=api.base_file_url)`` or ``ApplicationBuilder().base_url(...).base_file_url(...)``.
Tests drive the "users" through plain methods (``add_chat``, ``user_sends``, ``user_presses``)
and inspect what the bot did (``sent_messages``, ``callback_answers``, ``requests``).
"""
from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import mimetypes
import re
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Awaitable, Callable

from aiohttp import web

from hankebot.devstack.telegram_api.entities import (
    EntityParseError,
    parse_text,
    strip_text,
    utf16_len,
)
from hankebot.devstack.telegram_api.faults import Delay, Fault, FaultPlan, FloodControl
from hankebot.devstack.telegram_api.validation import (
    CHAT_ACTIONS,
    ApiError,
    bad_request,
    get_bool,
    get_float,
    get_int,
    get_json,
    get_str,
    validate_commands,
    validate_reply_markup,
)

_LOG = logging.getLogger(__name__)
DEFAULT_TOKEN = "123456789:AAHankebotStandInTokenForLocalTests00"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_PHOTO = 10 * 1024 * 1024
_COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")
_SENDING = {"sendmessage", "senddocument", "sendphoto", "editmessagetext", "editmessagereplymarkup"}
_NGINX_PAGE = "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One call the bot made: method as sent, decoded params, uploaded files and our answer."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    status: int = 200
    response: Any = None
    at: float = field(default_factory=time.time)


@dataclass
class StoredFile:
    """A file known to the server (uploaded by the bot or sent by a user)."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None
    mime_type: str | None


@dataclass
class _StoredMessage:
    seq: int
    chat_id: int
    message: dict[str, Any]
    from_bot: bool
    method: str
    file_id: str | None = None
    deleted: bool = False
    edit_count: int = 0


class FakeTelegramAPI:
    """A strict Telegram Bot API stand-in on loopback with a test-side API and fault injection."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_id: int | None = None,
                 bot_username: str = "hankebot_test_bot", bot_first_name: str = "Hankebot",
                 strict_ampersand: bool = True, callback_query_ttl: float | None = 900.0) -> None:
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": bot_id if bot_id is not None else int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.strict_ampersand = strict_ampersand
        self.callback_query_ttl = callback_query_ttl
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.webhook_url = ""
        self.faults = FaultPlan()
        self.flood: FloodControl | None = None
        self.closed_by_bot = False
        self.internal_errors: list[str] = []
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._blocked: set[int] = set()
        self._messages: dict[tuple[int, int], _StoredMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._seq = 0
        self._consumed: set[int] = set()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 700_000_001
        self._poll_generation = 0
        self._queries: dict[str, dict[str, Any]] = {}
        self._files: dict[str, StoredFile] = {}
        self._changed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._up = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        """Bot API base URL for PTB's ``base_url`` (PTB appends the token)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """File download base URL for PTB's ``base_file_url``."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def is_up(self) -> bool:
        """True while the server accepts connections."""
        return self._up

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeTelegramAPI":
        """Listen on ``host:port`` (0 = pick a free port, kept for ``come_up``)."""
        self.host = host
        self.port = port
        await self._listen()
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self._shutdown()

    async def go_down(self) -> None:
        """Simulate an outage: close all connections and refuse new ones (state is kept)."""
        await self._shutdown()

    async def come_up(self) -> None:
        """End the outage: listen again on the same port."""
        if not self._up:
            await self._listen()

    async def __aenter__(self) -> "FakeTelegramAPI":
        if not self._up:
            await self.start(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD + 5 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = site._server  # noqa: SLF001 - the bound port is only known here
            assert server is not None and server.sockets
            self.port = server.sockets[0].getsockname()[1]
        self._runner = runner
        self._up = True

    async def _shutdown(self) -> None:
        self._up = False
        self._notify()  # wake long polls so they end before the connections close
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ------------------------------------------------------------------ test-side API: setup
    def add_chat(self, chat_id: int, user_id: int | None = None, type: str = "private",
                 first_name: str = "Testija", username: str | None = None,
                 title: str | None = None, last_name: str | None = None,
                 language_code: str = "et") -> dict[str, Any]:
        """Register a chat (and its user). Private chats: user_id defaults to chat_id."""
        if type == "private":
            user_id = chat_id if user_id is None else user_id
            chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
            if last_name:
                chat["last_name"] = last_name
            if username:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "type": type, "title": title or f"Grupp {chat_id}"}
            if username:
                chat["username"] = username
        self._chats[chat_id] = chat
        if user_id is not None:
            self.add_user(user_id, first_name=first_name, username=username,
                          last_name=last_name, language_code=language_code)
        return chat

    def add_user(self, user_id: int, first_name: str = "Testija", username: str | None = None,
                 last_name: str | None = None, language_code: str = "et") -> dict[str, Any]:
        """Register a user (a person who can send messages and press buttons)."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name,
                                "language_code": language_code}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def block_bot(self, chat_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sends then fail with 403."""
        (self._blocked.add if blocked else self._blocked.discard)(chat_id)

    # ------------------------------------------------------------------ test-side API: users act
    def user_sends(self, chat_id: int, user_id: int, text: str) -> dict[str, Any]:
        """A user writes ``text`` in the chat; returns the Message (queued as an update)."""
        if not text or len(text) > MAX_TEXT:
            raise ValueError("a user message must have 1..4096 characters")
        fields: dict[str, Any] = {"text": text}
        commands = [
            {"type": "bot_command", "offset": utf16_len(text[:m.start()]),
             "length": utf16_len(m.group(0))}
            for m in _COMMAND_RE.finditer(text)
        ]
        if commands:
            fields["entities"] = commands
        message = self._new_user_message(chat_id, user_id, fields)
        self._enqueue({"message": message})
        return message

    def user_sends_document(self, chat_id: int, user_id: int, data: bytes, file_name: str,
                            mime_type: str | None = None, caption: str | None = None) -> dict[str, Any]:
        """A user sends a document; the bot can fetch it via getFile + base_file_url."""
        stored = self._store_file(data, file_name, mime_type or mimetypes.guess_type(file_name)[0], "documents")
        fields: dict[str, Any] = {"document": self._document_dict(stored)}
        if caption:
            fields["caption"] = caption
        message = self._new_user_message(chat_id, user_id, fields)
        self._enqueue({"message": message})
        return message

    def user_presses(self, chat_id: int, user_id: int, message_id: int, callback_data: str,
                     *, check_button: bool = True) -> str:
        """A user presses an inline button of a bot message; returns the callback query id."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.deleted or not stored.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if check_button:
            rows = (stored.message.get("reply_markup") or {}).get("inline_keyboard", [])
            datas = [b.get("callback_data") for row in rows for b in row]
            if callback_data not in datas:
                raise ValueError(f"message {message_id} has no button with callback_data {callback_data!r}")
        user = self._user(user_id)
        query_id = str(uuid.uuid4().int >> 64)
        query = {"id": query_id, "from": user, "message": copy.deepcopy(stored.message),
                 "chat_instance": str(abs(hash((chat_id, self.bot_user["id"])))),
                 "data": callback_data}
        self._queries[query_id] = {"created": time.monotonic(), "answered": False}
        self._enqueue({"callback_query": query})
        return query_id

    # ------------------------------------------------------------------ test-side API: inspect
    def sent_messages(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Everything the bot sent (current state, edits applied), oldest first.

        Each item is the Bot API Message dict plus ``method`` (sendMessage/sendDocument/...),
        ``edit_count``, ``deleted`` and, for files, ``file_bytes``.
        """
        out = []
        for stored in sorted(self._messages.values(), key=lambda s: s.seq):
            if not stored.from_bot or (chat_id is not None and stored.chat_id != chat_id):
                continue
            if stored.deleted and not include_deleted:
                continue
            out.append(self._view(stored))
        return out

    async def wait_for_message(self, chat_id: int, predicate: Callable[[dict[str, Any]], bool] | None = None,
                               timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the next bot message in ``chat_id`` not yet returned by this method.

        Each message is returned at most once, so consecutive calls walk through the
        conversation. Raises ``asyncio.TimeoutError`` when none arrives in time.
        """
        def find() -> dict[str, Any] | None:
            for stored in sorted(self._messages.values(), key=lambda s: s.seq):
                if (stored.from_bot and stored.chat_id == chat_id and not stored.deleted
                        and stored.seq not in self._consumed):
                    view = self._view(stored)
                    if predicate is None or predicate(view):
                        self._consumed.add(stored.seq)
                        return view
            return None

        return await self.wait_until(find, timeout=timeout)

    async def wait_until(self, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``condition()`` returns something truthy (re-checked on every change)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = condition()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"condition not met within {timeout}s")
            event = self._event()
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    def requests_for(self, method: str) -> list[RecordedRequest]:
        """Recorded calls of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot."""
        return copy.deepcopy(self._updates)

    def get_file_bytes(self, file_id: str) -> bytes:
        """Bytes of a stored file."""
        return self._files[file_id].data

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, method: str, status: int = 429, retry_after: int = 3, count: int = 1,
                  description: str | None = None, *, after_processing: bool = False) -> None:
        """Make the next ``count`` calls of ``method`` ("*" = any) fail with ``status``.

        429 answers "Too Many Requests: retry after N" with parameters.retry_after; 502/503/504
        answer an nginx HTML page like Telegram's front end; 0 drops the connection.
        """
        self.faults.faults.append(Fault(method, status, retry_after, count, description, after_processing))

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` (client timeouts)."""
        self.faults.delays.append(Delay(method, seconds, count))

    def set_flood_control(self, per_chat: int | None, window: float = 1.0, retry_after: int = 1) -> None:
        """Allow ``per_chat`` sends/edits per chat per ``window`` seconds, then 429 (None = off)."""
        self.flood = FloodControl(per_chat, window, retry_after) if per_chat else None

    def clear_faults(self) -> None:
        """Cancel scheduled faults, delays and flood control."""
        self.faults.clear()
        self.flood = None

    # ------------------------------------------------------------------ internals: state
    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self._users:
            self.add_user(user_id, first_name=f"Kasutaja {user_id}")
        return self._users[user_id]

    def _new_user_message(self, chat_id: int, user_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        if chat_id not in self._chats:
            raise ValueError(f"unknown chat {chat_id}: call add_chat first")
        message = {"message_id": self._take_message_id(chat_id), "from": self._user(user_id),
                   "chat": self._chats[chat_id], "date": int(time.time()), **fields}
        self._remember(chat_id, message, from_bot=False, method="user")
        return copy.deepcopy(message)

    def _take_message_id(self, chat_id: int) -> int:
        next_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = next_id + 1
        return next_id

    def _remember(self, chat_id: int, message: dict[str, Any], *, from_bot: bool, method: str,
                  file_id: str | None = None) -> _StoredMessage:
        self._seq += 1
        stored = _StoredMessage(self._seq, chat_id, message, from_bot, method, file_id)
        self._messages[(chat_id, message["message_id"])] = stored
        self._notify()
        return stored

    def _enqueue(self, payload: dict[str, Any]) -> None:
        self._updates.append({"update_id": self._next_update_id, **payload})
        self._next_update_id += 1
        self._notify()

    def _view(self, stored: _StoredMessage) -> dict[str, Any]:
        view = copy.deepcopy(stored.message)
        view.update(method=stored.method, edit_count=stored.edit_count, deleted=stored.deleted)
        if stored.file_id:
            view["file_bytes"] = self._files[stored.file_id].data
        return view

    def _store_file(self, data: bytes, file_name: str | None, mime_type: str | None, folder: str) -> StoredFile:
        unique = uuid.uuid4().hex[:16]
        suffix = "." + file_name.rsplit(".", 1)[1] if file_name and "." in file_name else ""
        stored = StoredFile(
            file_id=f"BQACAgI{uuid.uuid4().hex}", file_unique_id=f"AgAD{unique}",
            file_path=f"{folder}/file_{len(self._files)}{suffix}", data=data,
            file_name=file_name, mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        return stored

    @staticmethod
    def _document_dict(stored: StoredFile) -> dict[str, Any]:
        doc: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                               "file_size": len(stored.data)}
        if stored.file_name:
            doc["file_name"] = stored.file_name
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        return doc

    # ------------------------------------------------------------------ internals: HTTP
    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON object")
                params.update(body)
            elif ctype.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if part.name is None:
                        continue
                    if part.filename is not None:
                        data = await part.read(decode=False)
                        files[part.name] = UploadedFile(part.filename, part.headers.get("Content-Type"), bytes(data))
                    else:
                        params[part.name] = await part.text()
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        record = RecordedRequest(method=method, params={}, files={})
        self.requests.append(record)
        if request.match_info["token"] != self.token:
            return self._answer(record, ApiError(401, "Unauthorized"))
        try:
            record.params, record.files = await self._read_params(request)
        except ApiError as err:
            return self._answer(record, err)
        except web.HTTPRequestEntityTooLarge:
            return self._answer(record, ApiError(413, "Request Entity Too Large"))
        handler = self._handlers().get(method.lower())
        if handler is None:
            return self._answer(record, ApiError(404, "Not Found"))
        delay = self.faults.take_delay(method)
        if delay:
            await asyncio.sleep(delay)
        fault = self.faults.take_fault(method)
        if fault is not None and not fault.after_processing:
            return self._fault_response(record, fault, request)
        try:
            self._check_flood(method, record.params)
            result = await handler(record.params, record.files)
        except ApiError as err:
            return self._answer(record, err)
        except Exception as err:  # noqa: BLE001 - a stand-in bug must not look like a hang
            _LOG.exception("stand-in failed on %s", method)
            self.internal_errors.append(f"{method}: {err!r}")
            return self._answer(record, ApiError(500, "Internal Server Error"))
        if fault is not None:
            return self._fault_response(record, fault, request)
        return self._answer(record, result)

    def _answer(self, record: RecordedRequest, outcome: Any) -> web.Response:
        if isinstance(outcome, ApiError):
            record.status, record.response = outcome.code, outcome.payload()
            return web.json_response(record.response, status=outcome.code)
        record.status, record.response = 200, {"ok": True, "result": outcome}
        return web.json_response(record.response)

    def _fault_response(self, record: RecordedRequest, fault: Fault, request: web.Request) -> web.Response:
        if fault.status == 0:
            record.status = 0
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault.status == 429:
            return self._answer(record, ApiError(
                429, fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after}))
        if fault.status in (502, 503, 504):
            record.status = fault.status
            page = _NGINX_PAGE.format(code=fault.status, phrase=HTTPStatus(fault.status).phrase)
            return web.Response(status=fault.status, text=page, content_type="text/html")
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        return self._answer(record, ApiError(fault.status, fault.description or phrase))

    def _check_flood(self, method: str, params: dict[str, Any]) -> None:
        if self.flood is None or method.lower() not in _SENDING:
            return
        try:
            chat_id = int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        retry_after = self.flood.check(chat_id)
        if retry_after is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], dict[str, UploadedFile]], Awaitable[Any]]]:
        return {
            "getme": self._get_me,
            "getchat": self._get_chat,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "sendchataction": self._send_chat_action,
            "deletemessage": self._delete_message,
            "getfile": self._get_file,
            "close": self._close,
            "logout": self._close,
        }

    # ------------------------------------------------------------------ internals: validation helpers
    def _chat(self, params: dict[str, Any], *, sending: bool = False) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: dict[str, Any] | None = None
        text = str(raw).strip()
        if text.startswith("@"):
            chat = next((c for c in self._chats.values() if c.get("username") == text[1:]), None)
        else:
            try:
                chat = self._chats.get(int(text))
            except ValueError:
                chat = None
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat["id"] in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _formatted(self, params: dict[str, Any], key: str, entities_key: str) -> tuple[str, list[dict[str, Any]]]:
        raw = get_str(params, key) or ""
        parse_mode = get_str(params, "parse_mode")
        explicit = get_json(params, entities_key, f"can't parse {entities_key} JSON object")
        if explicit is not None and not parse_mode:
            return strip_text(raw, _checked_entities(explicit, entities_key, utf16_len(raw)))
        try:
            text, entities = parse_text(raw, parse_mode, strict_ampersand=self.strict_ampersand)
        except EntityParseError as err:
            raise bad_request(f"can't parse entities: {err}") from None
        return strip_text(text, entities)

    def _text_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = self._formatted(params, "text", "entities")
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return fields

    def _caption_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        caption, entities = self._formatted(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        fields: dict[str, Any] = {}
        if caption:
            fields["caption"] = caption
        if entities:
            fields["caption_entities"] = entities
        return fields

    def _reply_to(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = get_json(params, "reply_parameters", "can't parse reply parameters JSON object")
        message_id = None
        allow_missing = get_bool(params, "allow_sending_without_reply")
        if reply is not None and not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        if isinstance(reply, dict):
            message_id = get_int(reply, "message_id", required=True,
                                 missing="message to be replied not found")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = get_int(params, "reply_to_message_id")
        if message_id is None:
            return None
        stored = self._messages.get((chat_id, int(message_id)))
        if stored is None or stored.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return copy.deepcopy(stored.message)

    def _bot_message(self, chat: dict[str, Any], params: dict[str, Any], method: str,
                     body: dict[str, Any], markup: dict[str, Any] | None, file_id: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": self._take_message_id(chat["id"]), "from": self.bot_user,
                                   "chat": chat, "date": int(time.time())}
        reply = self._reply_to(chat["id"], params)
        if reply is not None:
            message["reply_to_message"] = reply
        message.update(body)
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        self._remember(chat["id"], message, from_bot=True, method=method, file_id=file_id)
        return copy.deepcopy(message)

    def _target_message(self, params: dict[str, Any], not_found: str) -> _StoredMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat(params)
        message_id = get_int(params, "message_id", required=True, missing="message identifier is not specified")
        stored = self._messages.get((chat["id"], message_id))  # type: ignore[arg-type]
        if stored is None or stored.deleted:
            raise bad_request(not_found)
        return stored

    # ------------------------------------------------------------------ methods
    async def _get_me(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        """As the real API (Bot API 7.3+): a ChatFullInfo, or 400 "Bad Request: chat not found"."""
        chat = self._chat(params)
        return {**copy.deepcopy(chat), "accent_color_id": 0, "max_reaction_count": 11}

    async def _get_updates(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = get_int(params, "offset")
        limit = get_int(params, "limit") or 100
        if not 1 <= limit <= 100:
            limit = min(max(limit, 1), 100)
        timeout = min(max(get_float(params, "timeout", 0.0), 0.0), 50.0)
        allowed = get_json(params, "allowed_updates", "can't parse allowed updates JSON object")
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll ends with 409 Conflict, as on the real API
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")
            ready = [u for u in self._updates if self._allowed(u, allowed)]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or not self._up:
                return copy.deepcopy(ready[:limit])
            event = self._event()
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    @staticmethod
    def _allowed(update: dict[str, Any], allowed: Any) -> bool:
        if not allowed:
            return True
        return any(key in update for key in allowed)

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        url = get_str(params, "url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        return True

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        self.webhook_url = ""
        if get_bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = get_json(params, "scope", "can't parse BotCommandScope JSON object") or {"type": "default"}
        return json.dumps([scope, get_str(params, "language_code") or ""], sort_keys=True)

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        self.commands[self._commands_key(params)] = validate_commands(params)
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _send_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._chat(params, sending=True)
        body = self._text_fields(params)
        markup = validate_reply_markup(params)
        return self._bot_message(chat, params, "sendMessage", body, markup)

    async def _edit_message_text(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        stored = self._target_message(params, "message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        if "text" not in stored.message:
            raise bad_request("there is no text in the message to edit")
        body = self._text_fields(params)
        markup = validate_reply_markup(params)
        new_markup = {"inline_keyboard": markup["inline_keyboard"]} if markup and "inline_keyboard" in markup else None
        old = stored.message
        if (old["text"] == body["text"] and old.get("entities", []) == body.get("entities", [])
                and old.get("reply_markup") == new_markup):
            raise bad_request("message is not modified: specified new message content and reply markup "
                              "are exactly the same as a current content and reply markup of the message")
        old["text"] = body["text"]
        old.pop("entities", None)
        if "entities" in body:
            old["entities"] = body["entities"]
        # like the real API: an edit without reply_markup removes the inline keyboard
        old.pop("reply_markup", None)
        if new_markup:
            old["reply_markup"] = new_markup
        return self._edited(stored)

    async def _edit_message_reply_markup(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        stored = self._target_message(params, "message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        markup = validate_reply_markup(params)
        if markup and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        new_markup = {"inline_keyboard": markup["inline_keyboard"]} if markup and markup["inline_keyboard"] else None
        if stored.message.get("reply_markup") == new_markup:
            raise bad_request("message is not modified: specified new message content and reply markup "
                              "are exactly the same as a current content and reply markup of the message")
        stored.message.pop("reply_markup", None)
        if new_markup:
            stored.message["reply_markup"] = new_markup
        return self._edited(stored)

    def _edited(self, stored: _StoredMessage) -> dict[str, Any]:
        stored.message["edit_date"] = int(time.time())
        stored.edit_count += 1
        self._notify()
        return copy.deepcopy(stored.message)

    async def _answer_callback_query(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        query_id = get_str(params, "callback_query_id")
        query = self._queries.get(query_id or "")
        expired = (query is None or query["answered"]
                   or (self.callback_query_ttl is not None
                       and time.monotonic() - query["created"] > self.callback_query_ttl))
        if expired:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = get_str(params, "text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True  # type: ignore[index]
        self.callback_answers.append({
            "callback_query_id": query_id, "text": text, "show_alert": get_bool(params, "show_alert"),
            "url": get_str(params, "url"), "cache_time": get_int(params, "cache_time"),
        })
        self._notify()
        return True

    def _input_file(self, params: dict[str, Any], files: dict[str, UploadedFile], key: str,
                    limit: int) -> tuple[StoredFile | None, UploadedFile | None]:
        """Resolve an InputFile: an uploaded part, attach://name, or an existing file_id."""
        upload = files.get(key)
        ref = get_str(params, key)
        if upload is None and ref and ref.startswith("attach://"):
            upload = files.get(ref[len("attach://"):])
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            if len(upload.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            return None, upload
        if not ref:
            raise bad_request(f"there is no {key} in the request")
        if ref in self._files:
            return self._files[ref], None
        if ref.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        raise bad_request("wrong file identifier/HTTP URL specified")

    async def _send_document(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._chat(params, sending=True)
        existing, upload = self._input_file(params, files, "document", MAX_UPLOAD)
        body = self._caption_fields(params)
        markup = validate_reply_markup(params)
        if upload is not None:
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            existing = self._store_file(upload.data, upload.filename, mime, "documents")
        assert existing is not None
        body["document"] = self._document_dict(existing)
        return self._bot_message(chat, params, "sendDocument", body, markup, existing.file_id)

    async def _send_photo(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._chat(params, sending=True)
        existing, upload = self._input_file(params, files, "photo", MAX_PHOTO)
        body = self._caption_fields(params)
        markup = validate_reply_markup(params)
        if upload is not None:
            width, height = _image_size(upload.data)
            existing = self._store_file(upload.data, upload.filename, "image/jpeg", "photos")
        else:
            assert existing is not None
            width, height = _image_size(existing.data)
        body["photo"] = [{"file_id": existing.file_id, "file_unique_id": existing.file_unique_id,
                          "width": width, "height": height, "file_size": len(existing.data)}]
        return self._bot_message(chat, params, "sendPhoto", body, markup, existing.file_id)

    async def _send_chat_action(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._chat(params, sending=True)
        action = get_str(params, "action")
        if not action:
            raise bad_request("action is empty")  # pragma: no cover - PTB always sends it
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append({"chat_id": chat["id"], "action": action, "at": time.time()})
        return True

    async def _delete_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        stored = self._target_message(params, "message to delete not found")
        stored.deleted = True
        self._notify()
        return True

    async def _get_file(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        file_id = get_str(params, "file_id")
        stored = self._files.get(file_id or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.file_path}

    async def _get_chat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._chat(params)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    async def _close(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        self.closed_by_bot = True
        return True


def _checked_entities(entities: Any, key: str, text_length: int) -> list[dict[str, Any]]:
    """Validate explicitly given MessageEntity objects (used when no parse_mode is set)."""
    if not isinstance(entities, list):
        raise bad_request(f'field "{key}" must be an Array')
    checked = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise bad_request("can't parse MessageEntity: MessageEntity must be an Object")
        for name in ("offset", "length"):
            if not isinstance(entity.get(name), int) or isinstance(entity.get(name), bool) or entity[name] < 0:
                raise bad_request(f'can\'t parse MessageEntity: Field "{name}" must be of type Integer')
        if not isinstance(entity.get("type"), str):
            raise bad_request('can\'t parse MessageEntity: Field "type" must be of type String')
        if entity["offset"] + entity["length"] > text_length:
            raise bad_request("can't parse entities: entity beyond end of text")
        checked.append(entity)
    return checked


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an image; the real API rejects what it cannot decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return width, height
