"""Cross-process wake on PostgreSQL: a commit of notification rows sends `NOTIFY hankebot_notifications`
(storage/uow.py; PostgreSQL delivers it only when the transaction commits), and `PgNotifyListener` LISTENs
on a connection of its own in a thread and calls `on_notify()` for each. So a row another process (a CLI
command) committed wakes the outbox worker too. SQLite has no such channel: there the worker's poll covers
other processes."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHANNEL = "hankebot_notifications"


def supports_notify(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class PgNotifyListener(threading.Thread):
    """LISTEN on CHANNEL until stop(); `on_notify()` runs in this thread for every notification, and once
    after each (re)connect (a row committed while the connection was down is not missed)."""

    def __init__(self, engine: Engine, on_notify: Callable[[], None], retry_seconds: float = 2.0):
        super().__init__(name="pg-notify", daemon=True)
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_notify = on_notify
        self.retry_seconds = retry_seconds
        self.listening = threading.Event()
        self._halt = threading.Event()

    def stop(self, wait: float = 0.0) -> None:
        """Ends within about half a second (the LISTEN loop checks every 0.5 s); `wait`: join that long."""
        self._halt.set()
        if wait:
            self.join(wait)

    def run(self) -> None:
        import psycopg

        while not self._halt.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.on_notify()
                    while not self._halt.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.on_notify()
            except Exception as e:  # the database restarted or is unreachable: the worker's poll still runs
                self.listening.clear()
                if self._halt.is_set():
                    return
                log.warning("LISTEN %s: %s: %s; retrying in %.0f s", CHANNEL, type(e).__name__, e,
                            self.retry_seconds)
                self._halt.wait(self.retry_seconds)
