"""What every command shares: the exit codes, the config path, the opened context, the acting user.

Imports nothing heavy: the config (pydantic) and the database (SQLAlchemy, Alembic) load only when a command
opens them."""
from __future__ import annotations

import os
from pathlib import Path

from hankebot.service.cli.redact import REDACT

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_SEALED = 0, 1, 2, 3


def config_path(args) -> Path:
    return Path(args.config or os.environ.get("HANKEBOT_CONFIG") or "config.toml")


def load(args, check_files: bool = True):
    """The config named by --config / $HANKEBOT_CONFIG, its secrets registered for redaction."""
    from hankebot.service.config import load_config

    cfg = load_config(config_path(args), check_files=check_files)
    REDACT.add_config(cfg)
    return cfg


def open_ctx(args):
    from hankebot.service.context import open_context

    return open_context(load(args))


def proc_key(ctx, key: str) -> str:
    return ctx.proc_settings(key).key


def actor() -> str:
    return f"cli:{os.environ.get('USER', 'admin')}"


def report_exit(rep, failed: bool = True) -> int:
    """Prints a send report; EXIT_FAIL when it has errors (or, with `failed`, failed sends)."""
    print(rep.format())
    return EXIT_FAIL if (rep.errors or (failed and rep.failed)) else EXIT_OK
