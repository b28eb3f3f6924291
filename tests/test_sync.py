"""Config sync: an extension made in the service survives restarts; an edited deadline in the file applies."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.deadline import extend_deadline


def _write(tmp_path, deadline: str):
    src = open("config.toml", encoding="utf-8").read()
    text = src.replace("deadline = 2026-01-19T15:00:00", f"deadline = {deadline}")
    text = text.replace('database_url = "sqlite:///var/hankebot.sqlite"', f'database_url = "sqlite:///{tmp_path}/db.sqlite"')
    text = text.replace('forms_dir = "forms/302834"', f'forms_dir = "{__import__("os").path.abspath("forms/302834")}"')
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    return path


def _deadline(ctx):
    with ctx.uow() as uow:
        return uow.repo.procurement("302834").deadline


def test_extension_survives_a_restart_and_a_file_edit_still_applies(tmp_path):
    now = datetime(2027, 3, 1, 10, 0, tzinfo=timezone.utc)
    path = _write(tmp_path, "2027-03-10T15:00:00")
    ctx = open_context(load_config(path), clock=lambda: now)
    assert _deadline(ctx) == datetime(2027, 3, 10, 13, 0, tzinfo=timezone.utc)  # 15:00 EET

    extended = extend_deadline(ctx, "302834", datetime(2027, 3, 17, 15, 0), actor="test")
    ctx2 = open_context(load_config(path), clock=lambda: now)  # a restart re-syncs the unchanged file
    assert _deadline(ctx2) == extended == datetime(2027, 3, 17, 13, 0, tzinfo=timezone.utc)

    path = _write(tmp_path, "2027-03-24T12:00:00")  # the admin edits the file: that wins
    ctx3 = open_context(load_config(path), clock=lambda: now + timedelta(minutes=1))
    assert _deadline(ctx3) == datetime(2027, 3, 24, 10, 0, tzinfo=timezone.utc)
    with ctx3.uow() as uow:
        actions = [a.action for a in uow.repo.audit_rows()]
    assert actions.count("deadline_extended") == 1 and actions.count("deadline_changed") == 1
