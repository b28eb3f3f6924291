"""The running service re-reads config.toml: a bad edit keeps the last good config and tells staff;
a good edit takes effect and re-plans the scheduler."""
from __future__ import annotations

import os
from datetime import datetime

from helpers import PROC_KEY, TALLINN, make_config, with_text
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.runner import ConfigWatcher


def _bump(path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_invalid_edit_keeps_last_good_config_and_tells_staff(tmp_path):
    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    ctx = open_context(load_config(path))
    good = ctx.cfg
    events = []
    ctx.listeners.append(lambda ev, **kw: events.append(ev))
    watcher = ConfigWatcher(ctx)

    text = path.read_text("utf-8")
    path.write_text(text.replace('weight = 40', 'weight = 45', 1), "utf-8")  # weights no longer add up to 100
    _bump(path)
    assert watcher.check() is False
    assert ctx.cfg is good  # the last good config stays in force
    assert "weights add up to 105" in watcher.last_error and str(path) in watcher.last_error
    with ctx.uow() as uow:
        notes = with_text(ctx, uow.repo.notifications(kind="config_error"))
        audit = uow.repo.audit_rows(action="config_rejected")
    assert len(notes) == 1 and "kehtib eelmine korrektne seadistus" in notes[0].text
    assert "criteria" in notes[0].text  # names the field
    assert len(audit) == 1 and events == []

    _bump(path)  # the same bad file seen again: no second notice
    assert watcher.check() is False
    with ctx.uow() as uow:
        assert len(uow.repo.notifications(kind="config_error")) == 1

    # a good edit: the deadline moves and listeners (the scheduler) are told
    path.write_text(text.replace("2030-01-20 15:00:00", "2030-01-27 15:00:00"), "utf-8")
    _bump(path)
    assert watcher.check() is True
    assert ctx.cfg is not good and watcher.last_error is None
    assert events == ["config_reloaded"]
    with ctx.uow() as uow:
        assert uow.repo.procurement(PROC_KEY).deadline == datetime(2030, 1, 27, 15, 0, tzinfo=TALLINN)
