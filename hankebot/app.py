"""The `hankebot` program: the command line of `service/` with the Telegram bot of `bot/` as its front end.

This is the one place where the two are composed. `service/` runs the pipeline and never imports `bot/`;
`bot/` builds on `service/`; this module hands the bot (imported only when `run` or `demo` starts it, so
`--help`, `status` and `inspect` do not load Telegram) to the command line.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio alone costs ~50 ms of start-up that --help, status and inspect never need
    import asyncio

    from hankebot.service.context import Context


async def frontend(ctx: Context, stop: asyncio.Event) -> None:
    """The Telegram bot and its outbox worker; with no token, the console outbox worker."""
    from hankebot.bot.app import run_frontend

    await run_frontend(ctx, stop)


def main(argv: list[str] | None = None) -> int:
    """The program (the process ends when it returns; to run a command inside another program, call
    hankebot.service.cli.main). The garbage collector is off while the command line starts: the imports create
    long-lived objects only (SQLAlchemy, pydantic, the table models), and collecting among them is wasted
    work, about a fifth of a short command's time. The command line turns it back on for every command but
    the short read-only ones, and at exit nothing is collected: the process ends right after."""
    import atexit
    import gc

    gc.disable()
    atexit.register(gc.freeze)  # runs before the interpreter's final collection, which then has nothing to do
    from hankebot.service.cli import main as cli_main

    return cli_main(argv, frontend=frontend)


if __name__ == "__main__":
    sys.exit(main())
