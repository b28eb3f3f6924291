"""The `hankebot` command line. Exit codes scripts can trust:
0 done; 1 refused or failed (pre-flight errors, a send failure, a lifecycle rule); 2 usage or config error;
3 sealed (asked for prices or scores before the opening).

`parser` declares the commands; each command group lives in its own module (admin, mailbox, inspection,
status, procurement, evaluation) and is imported only when one of its commands runs."""
from __future__ import annotations

import gc
import logging
import os
import signal
import sys

from hankebot.service.cli.common import EXIT_FAIL, EXIT_OK, EXIT_SEALED, EXIT_USAGE
from hankebot.service.cli.parser import build_parser, handler
from hankebot.service.cli.redact import REDACT, RedactSecrets

# short read-only commands: they run with the garbage collector as the program left it (off: hankebot.app), all
# others with it on (the service, mail batches, fetch of thousands of messages, the protocol's documents)
SHORT = frozenset({"status", "inspect", "results", "check-config"})

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_SEALED", "EXIT_USAGE", "REDACT", "RedactSecrets", "build_parser", "main"]


def main(argv: list[str] | None = None, frontend=None) -> int:
    """`frontend`: what `run` and `demo` start to deliver notifications (the program's entry point,
    hankebot.app, passes the Telegram bot's; None leaves them in the outbox)."""
    try:
        return _main(argv, frontend)
    except BrokenPipeError:  # e.g. `hankebot check-config | head`: the reader left early; no traceback
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())  # the flush at exit must not fail
            except (OSError, ValueError):
                pass
        return 128 + signal.SIGPIPE


def _raised(e: BaseException, module: str, name: str) -> bool:
    """Whether `e` is `module.name`, without importing `module`: an exception of a module that no command
    loaded cannot have been raised, so the error mapping below costs no import."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(e, getattr(mod, name))


def _main(argv: list[str] | None, frontend=None) -> int:
    args = build_parser().parse_args(argv)
    args.frontend = frontend
    if args.cmd not in SHORT:
        gc.enable()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for h in logging.getLogger().handlers:
        if REDACT not in h.filters:
            h.addFilter(REDACT)
    try:
        return handler(args.fn)(args)
    except Exception as e:
        if _raised(e, "hankebot.service.config", "ConfigError"):
            print(str(e), file=sys.stderr)
            return EXIT_USAGE
        if _raised(e, "hankebot.service.evaluation", "Sealed"):
            print(f"sealed: prices and scores are not shown before the opening ({e.opens_at:%d.%m.%Y %H:%M %Z})",
                  file=sys.stderr)
            return EXIT_SEALED
        if _raised(e, "hankebot.core.lifecycle", "LifecycleError") or isinstance(e, ValueError):
            print(f"refused: {e}", file=sys.stderr)  # DecisionError is a ValueError
            return EXIT_FAIL
        if isinstance(e, KeyError):
            print(f"not found: {e.args[0] if e.args else e}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(e, FileNotFoundError):
            print(f"file not found: {e.filename}", file=sys.stderr)
            return EXIT_USAGE
        raise
