"""Unit of work: one database transaction around a piece of service logic.

    with UnitOfWork(engine) as uow:
        repo = uow.repo
        ...
        uow.commit()

Leaving the block without commit() rolls back.

`on_commit(topics)` runs right AFTER a commit that made a change others wait for, so whoever it wakes sees
the committed rows: the topic NOTIFICATIONS when the transaction inserted `Notification` rows (detected at
flush, whoever added them) or when code called `announce(session, NOTIFICATIONS)` (rows put back to
'pending'). A rollback forgets the topics. On PostgreSQL such a commit also sends NOTIFY, which wakes
workers in other processes (storage/pg_wake.py)."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hankebot.storage.pg_wake import CHANNEL, supports_notify
from hankebot.storage.repository import Repository
from hankebot.storage.tables import Notification

NOTIFICATIONS = "notifications"
_TOPICS = "hankebot.commit_topics"

CommitHook = Callable[[frozenset[str]], None]


def announce(session: Session, topic: str) -> None:
    """Mark the session's transaction: `topic` is told to the unit of work's on_commit after it commits."""
    session.info.setdefault(_TOPICS, set()).add(topic)


class _Session(Session):
    """A Session that notes which topics its transaction touched (see the module doc)."""


@event.listens_for(_Session, "after_flush")
def _after_flush(session, _flush_context) -> None:  # session.new still lists what this flush inserted
    if any(isinstance(o, Notification) for o in session.new):
        announce(session, NOTIFICATIONS)


class UnitOfWork:
    def __init__(self, engine: Engine, on_commit: CommitHook | None = None):
        self.engine = engine
        self.on_commit = on_commit
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = _Session(self.engine, expire_on_commit=False)
        self.repo = Repository(self.session)
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        try:
            # detach first: objects read in the block stay readable afterwards (a rollback would expire them)
            self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.info.pop(_TOPICS, None)
            self.session.close()

    def commit(self) -> None:
        assert self.session is not None
        if supports_notify(self.engine):  # other processes LISTEN (storage/pg_wake.py); sent at the commit
            self.session.flush()
            if NOTIFICATIONS in self.session.info.get(_TOPICS, ()):
                self.session.execute(text(f"NOTIFY {CHANNEL}"))
        self.session.commit()
        topics = self.session.info.pop(_TOPICS, None)
        if topics and self.on_commit is not None:
            self.on_commit(frozenset(topics))

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
        self.session.info.pop(_TOPICS, None)
