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
    from hankebot.service.cli import main as cli_main

    return cli_main(argv, frontend=frontend)


if __name__ == "__main__":
    sys.exit(main())
