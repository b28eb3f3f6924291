"""Run the Telegram stand-in by hand: ``python -m hankebot.devstack.telegram_api --port 8081 --chat 5001``."""
from __future__ import annotations

import argparse
import asyncio

from hankebot.devstack.telegram_api.server import DEFAULT_TOKEN, FakeTelegramAPI


async def _serve(args: argparse.Namespace) -> None:
    api = FakeTelegramAPI(args.token)
    await api.start(args.host, args.port)
    for chat_id in args.chat:
        api.add_chat(chat_id)
    print(f"base_url={api.base_url} base_file_url={api.base_file_url} token={api.token}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--chat", type=int, action="append", default=[], help="register a private chat id")
    try:
        asyncio.run(_serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
