"""What every service function needs: the loaded config, the database, the raw store and a clock."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy.engine import Engine

from hankebot.service.config import LoadedConfig
from hankebot.service.config_procurement import ProcurementSettings
from hankebot.service.sync import sync_config
from hankebot.storage.database import make_engine, migrate
from hankebot.storage.raw_store import RawStore
from hankebot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    cfg: LoadedConfig
    engine: Engine
    raw: RawStore
    clock: Callable[[], datetime] = utc_now
    listeners: list = field(default_factory=list)  # callables(event: str, **kw): e.g. the scheduler re-planning
    # callables(topics: frozenset[str]) run right after a unit of work committed a change of those topics
    # (storage.uow.NOTIFICATIONS: new or re-queued notification rows), in the committing thread
    commit_hooks: list = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, on_commit=self._committed)

    def _committed(self, topics: frozenset[str]) -> None:
        for fn in list(self.commit_hooks):
            try:
                fn(topics)
            except Exception:  # the data is committed; a hook's failure must not look like the commit's
                log.exception("commit hook %r", fn)

    def now(self) -> datetime:
        return self.clock()

    @property
    def settings(self):
        return self.cfg.settings

    def proc_settings(self, key: str) -> ProcurementSettings:
        return self.cfg.settings.procurement(key)

    def deadline(self, ps: ProcurementSettings) -> datetime:
        return ps.deadline_at(self.cfg.tz).astimezone(timezone.utc)

    def local(self, dt: datetime) -> datetime:
        return dt.astimezone(self.cfg.tz)

    def emit(self, event: str, **kw) -> None:
        for fn in list(self.listeners):
            fn(event, **kw)


def open_context(cfg: LoadedConfig, clock: Callable[[], datetime] = utc_now, database_url: str | None = None) -> Context:
    """Open the database (migrating it to the current schema), the raw store, and sync the config in."""
    data_dir = cfg.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    engine = make_engine(database_url or cfg.database_url)
    migrate(engine)
    ctx = Context(cfg=cfg, engine=engine, raw=RawStore(data_dir / "raw"), clock=clock)
    sync_config(ctx)
    return ctx
