"""IMAP listener: fetches new messages (exact raw bytes + the server's INTERNALDATE) past a per-folder
UIDVALIDITY/UID checkpoint, hands each to a store callback, then waits with IDLE (or polls), reconnecting
with backoff when the server drops. imap-tools is synchronous: the loop runs in a worker thread."""
from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

log = logging.getLogger(__name__)

_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class StoreError(OSError):
    """Storing a fetched message failed; the checkpoint did not move, so it is fetched again."""


@dataclass(frozen=True)
class FetchedMessage:
    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    internaldate: datetime  # the server's receive time, UTC


@dataclass
class ImapEndpoint:
    host: str
    port: int
    security: str  # none | starttls | tls
    username: str
    password: str
    folder: str = "INBOX"
    validate_certs: bool = True
    timeout: float = 60.0
    #: with a token source the login is XOAUTH2 (the password is not used); see hankebot.mailer.oauth
    token_source: Any = None
    #: a token is refreshed when it has less than this many seconds left; an IDLE session is renewed this
    #: long before its token expires
    token_margin: float = 300.0


def connect(ep: ImapEndpoint):
    """A logged-in mailbox with `ep.folder` selected. With a token source, `box.token_expires_at` is the
    epoch second the login's access token expires and `box.renew_at` when the session should be replaced by
    a fresh login (half the margin before expiry, or half the token's life when it is shorter); None for a
    password login."""
    box = open_mailbox(ep)
    try:
        login(box, ep)
    except BaseException:
        try:
            box.client.shutdown()
        except Exception:
            pass
        raise
    return box


def login(box, ep: ImapEndpoint) -> None:
    box.token_expires_at = box.renew_at = None
    if ep.token_source is None:
        box.login(ep.username, ep.password, initial_folder=ep.folder)
        return
    tok = ep.token_source.token(ep.token_margin)
    try:
        box.xoauth2(ep.username, tok.value, initial_folder=ep.folder)
    except (MailboxLoginError, imaplib.IMAP4.error):  # imaplib raises AUTHENTICATE failures itself
        ep.token_source.invalidate()  # revoked or not accepted: the next attempt asks for a new one
        raise
    box.token_expires_at = tok.expires_at
    life = tok.expires_at - time.time()
    box.renew_at = tok.expires_at - min(ep.token_margin / 2, max(life, 0) / 2)


def open_mailbox(ep: ImapEndpoint):
    """Connect (and negotiate TLS) without logging in."""
    ctx = ssl.create_default_context()
    if not ep.validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ep.security == "tls":
        box = MailBox(ep.host, ep.port, timeout=ep.timeout, ssl_context=ctx)
    elif ep.security == "starttls":
        box = MailBoxStartTls(ep.host, ep.port, timeout=ep.timeout, ssl_context=ctx)
    else:
        box = MailBoxUnencrypted(ep.host, ep.port, timeout=ep.timeout)
    return box


def _parse_internaldate(meta: bytes) -> datetime:
    m = _INTERNALDATE.search(meta)
    if m:
        t = imaplib.Internaldate2tuple(b'INTERNALDATE "' + m.group(1) + b'"')
        if t is not None:
            return datetime.fromtimestamp(time.mktime(t), tz=timezone.utc)
    return datetime.now(timezone.utc)


def uidvalidity_of(box, folder: str) -> int:
    st = box.folder.status(folder, ["UIDVALIDITY"])
    return int(st["UIDVALIDITY"])


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_date(d: date) -> str:
    """RFC 3501 date for SEARCH SINCE: 5-Jan-2026 (English month names whatever the locale)."""
    return f"{d.day}-{_MONTHS[d.month - 1]}-{d.year}"


def new_uids(box, after_uid: int, since: date | None = None) -> list[int]:
    """UIDs past `after_uid`; with `since`, only those the server received (INTERNALDATE) on or after that day."""
    criteria = f"UID {after_uid + 1}:*" + (f" SINCE {imap_date(since)}" if since is not None else "")
    typ, data = box.client.uid("SEARCH", None, criteria)
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
    uids = [int(x) for x in (data[0] or b"").split()]
    return sorted(u for u in uids if u > after_uid)  # "N:*" always matches the newest message


_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def message_sizes(box, uids: list[int]) -> dict[int, int]:
    """RFC822.SIZE per UID: a cheap metadata fetch, so big messages are fetched a few at a time."""
    sizes: dict[int, int] = {}
    for i in range(0, len(uids), 500):
        part = uids[i:i + 500]
        typ, data = box.client.uid("FETCH", ",".join(map(str, part)), "(UID RFC822.SIZE)")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH RFC822.SIZE failed: {data!r}")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes):
                u, z = _UID.search(line), _SIZE.search(line)
                if u and z:
                    sizes[int(u.group(1))] = int(z.group(1))
    return sizes


def chunks_by_size(uids: list[int], sizes: dict[int, int], max_count: int, max_bytes: int) -> list[list[int]]:
    """Consecutive groups of at most max_count UIDs and (except a single big message) max_bytes."""
    out: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for u in uids:
        z = sizes.get(u, 0)
        if cur and (len(cur) >= max_count or total + z > max_bytes):
            out.append(cur)
            cur, total = [], 0
        cur.append(u)
        total += z
    if cur:
        out.append(cur)
    return out


def fetch_raw(box, folder: str, uidvalidity: int, uids: list[int]):
    """Yield FetchedMessage for each UID (BODY.PEEK: the \\Seen flag is left alone)."""
    if not uids:
        return
    typ, data = box.client.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            meta, raw = item
            m = _UID.search(meta)
            if not m:
                continue
            yield FetchedMessage(folder, uidvalidity, int(m.group(1)), raw, _parse_internaldate(meta))


def _buffered(client) -> bool:
    """True when a server response can be read without blocking: already in imaplib's read buffer (where a
    select() on the socket cannot see it) or waiting on the socket."""
    sock = client.sock
    old = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(client.file.peek(1))
    except OSError:  # nothing there (a TLS socket says so with SSLWantReadError)
        return False
    finally:
        sock.settimeout(old)


def idle_wait(box, timeout: float) -> list[bytes]:
    """IDLE until the server reports a change or `timeout` seconds pass; returns the untagged responses.

    imap-tools' `idle.wait` only selects on the socket. A message delivered between the last UID SEARCH and
    the IDLE command is announced right after the IDLE continuation, usually in the same packet, so that
    "* N EXISTS" already sits in imaplib's buffer and select() never fires: the message waited for the
    whole timeout. Checking the buffer first wakes at once."""
    box.idle.start()
    try:
        if _buffered(box.client):
            return [b"(buffered)"]
        return box.idle.poll(timeout=timeout)
    finally:
        box.idle.stop()


class ImapListener:
    """`store(msg)` must durably store the message (and advance the checkpoint) before returning;
    `checkpoint(folder)` returns (uidvalidity, last_uid) or None; `after_batch()` runs processing."""

    def __init__(self, ep: ImapEndpoint, store: Callable[[FetchedMessage], None],
                 checkpoint: Callable[[str], tuple[int, int] | None], after_batch: Callable[[], None] = lambda: None,
                 idle: bool = True, poll_seconds: float = 60.0, chunk: int = 25,
                 max_backoff: float = 60.0, idle_timeout: float = 25 * 60, chunk_bytes: int = 16 * 1024 * 1024,
                 since: Callable[[], date | None] = lambda: None):
        """`since()`: on a first start (no checkpoint for the folder, or a new UIDVALIDITY) only mail the
        server received on or after this day is read, not the folder's whole history."""
        self.ep, self.store, self.checkpoint, self.after_batch = ep, store, checkpoint, after_batch
        self.since = since
        self.idle, self.poll_seconds, self.chunk, self.chunk_bytes = idle, poll_seconds, chunk, chunk_bytes
        self.max_backoff, self.idle_timeout = max_backoff, idle_timeout
        self._stop = threading.Event()
        self._box = None
        self.connects = 0
        self.errors = 0
        self.renewals = 0  # sessions ended on purpose because their access token was about to expire

    def stop(self) -> None:
        self._stop.set()
        box = self._box
        if box is not None:
            try:  # wake a blocking IDLE
                box.client.sock.shutdown(2)
            except Exception:
                pass

    def sync_once(self, box) -> int:
        """Fetch and store everything past the checkpoint. Returns how many were stored."""
        folder = self.ep.folder
        uv = uidvalidity_of(box, folder)
        cp = self.checkpoint(folder)
        last = cp[1] if cp and cp[0] == uv else 0
        if cp and cp[0] != uv:
            log.warning("UIDVALIDITY of %s changed %s -> %s: re-reading the folder (duplicates are recognised)", folder, cp[0], uv)
        first = self.since() if last == 0 else None
        if first is not None:
            log.info("first read of %s: mail received since %s", folder, first.isoformat())
        uids = new_uids(box, last, first)
        n = 0
        for group in chunks_by_size(uids, message_sizes(box, uids), self.chunk, self.chunk_bytes):
            for msg in fetch_raw(box, folder, uv, group):
                if self._stop.is_set():
                    return n
                try:
                    self.store(msg)
                except OSError as e:  # disk full, permissions: the message stays on the server for the next try
                    raise StoreError(f"UID {msg.uid}: {e}") from e
                n += 1
            msg = None  # noqa: F841 - the last raw message must not stay alive while the batch is processed
            self.after_batch()
        return n

    def run_blocking(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._box = connect(self.ep)
                self.connects += 1
                backoff = 1.0
                while not self._stop.is_set():
                    self.sync_once(self._box)
                    self.after_batch()
                    if self._stop.is_set():
                        break
                    wait = min(self.poll_seconds, self.idle_timeout)
                    renew_at = getattr(self._box, "renew_at", None)
                    if renew_at is not None:  # renew the session before its access token runs out
                        left = renew_at - time.time()
                        if left <= 0:
                            log.info("the access token of this IMAP session expires soon: logging in again")
                            self.renewals += 1
                            break
                        wait = min(wait, left)
                    caps = getattr(self._box.client, "capabilities", ())
                    if self.idle and "IDLE" in caps:
                        idle_wait(self._box, wait)
                    else:
                        self._stop.wait(wait)
            except Exception as e:
                if self._stop.is_set():
                    break
                self.errors += 1
                what = "storing a message failed" if isinstance(e, StoreError) else "IMAP connection problem"
                log.warning("%s (%s: %s); retrying in %.0f s", what, type(e).__name__, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                box, self._box = self._box, None
                if box is not None:
                    try:
                        box.logout()
                    except Exception:
                        pass

    async def run(self) -> None:
        await asyncio.to_thread(self.run_blocking)
