"""Inbound test support, and a worker the kill -9 test runs (and SIGKILLs) as a subprocess.

    python tests/inbound_worker.py CONFIG     # one IMAP sync (store, process per chunk), then process_pending

The functions are shared by the inbound tests: a config.toml pointed at a test mailbox on the real
Dovecot, the reference procurement's bidders, a bounded wait, and simple database counts."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import make_config  # noqa: E402

#: The shipped config's bidders: key -> (name, address, person type).
BIDDERS = {
    "koolituskeskus": ("Arengu Koolituskeskus OÜ", "info@arengukoolitus.example", "legal"),
    "tugiteenused": ("Tugiteenused MTÜ", "pakkumused@tugiteenused.example", "legal"),
    "kadri": ("Kadri Jõgi", "kadri.jogi@example.com", "natural"),
    "ilmar": ("Ilmar Sepp", "ilmar.sepp@example.net", "natural"),
    "lastekaitse": ("Lapse Heaolu Instituut OÜ", "hanked@lapseheaolu.example", "legal"),
}
FUTURE_DEADLINE = "2030-01-18T15:00:00"  # Europe/Tallinn; LMTP deliveries (INTERNALDATE now) are on time


def write_config(
    tmp_path: Path,
    server,
    user: str,
    password: str,
    idle: bool = True,
    poll_seconds: float = 30,
    folder: str = "INBOX",
    **overrides,
) -> Path:
    """config.toml (SQLite and raw store under tmp_path) reading `user`'s mailbox on `server`, with the
    IMAP password in secrets.toml. Receipts are off (they would go out over SMTP to the bidders)."""
    overrides.setdefault("deadline", FUTURE_DEADLINE)
    overrides.setdefault("receipts", False)
    imap = {"host": server.imap_host, "port": server.imap_port, "security": "none", "username": user,
            "password_secret": "imap_password", "folder": folder, "idle": idle, "poll_seconds": poll_seconds}
    smtp = {"host": server.smtp_host, "port": server.smtp_port, "security": "none", "username": user,
            "password_secret": "imap_password"}
    path = make_config(tmp_path, mail={"imap": imap, "smtp": smtp}, **overrides)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'imap_password = "{password}"\n', "utf-8")
    secrets.chmod(0o600)
    return path


def settle_new_user() -> None:
    """Sleep to the next wall-clock second. Dovecot's passwd-file backend re-reads the file at most once per
    second, so a user added in the same second as an earlier login elsewhere fails to authenticate (and
    failed logins raise Dovecot's per-IP penalty for everyone); call after `add_user` / `fresh_mail_user`."""
    time.sleep(1.02 - time.time() % 1)


def wait_until(pred: Callable[[], object], timeout: float, step: float = 0.05):
    """Poll `pred` until it returns something truthy (returned) or `timeout` seconds pass (returns the last value)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def count(ctx, model, *where) -> int:
    with ctx.uow() as uow:
        return uow.repo.count(model, *where)


def rows(ctx, model, *where, order=None) -> list:
    """Detached rows of `model` (attributes stay readable after the session closes)."""
    from sqlmodel import select

    with ctx.uow() as uow:
        q = select(model).where(*where) if where else select(model)
        if order is not None:
            q = q.order_by(order)
        out = list(uow.repo.s.exec(q))
        for r in out:
            uow.repo.s.expunge(r)
        return out


def main(argv: list[str]) -> int:
    """One pass: fetch everything past the checkpoint (processing after each chunk), then process the rest."""
    from hankebot.mailer.imap_listener import connect
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context
    from hankebot.service.ingest import process_pending
    from hankebot.service.runner import make_listener

    ctx = open_context(load_config(Path(argv[1])))
    listener = make_listener(ctx)
    box = connect(listener.ep)
    try:
        stored = listener.sync_once(box)
    finally:
        box.logout()
    processed = process_pending(ctx)
    print(f"stored {stored}, processed {processed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
