"""Unit of work: one database transaction around a piece of service logic.

    with UnitOfWork(engine) as uow:
        repo = uow.repo
        ...
        uow.commit()

Leaving the block without commit() rolls back."""
from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from hankebot.storage.repository import Repository


class UnitOfWork:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = Session(self.engine, expire_on_commit=False)
        self.repo = Repository(self.session)
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        try:
            # detach first: objects read in the block stay readable afterwards (a rollback would expire them)
            self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
