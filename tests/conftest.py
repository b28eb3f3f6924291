"""Shared fixtures for real local servers: Dovecot + Postfix (`mail_server`) and PostgreSQL (`pg_server`, `pg_url`).

When the Debian packages are missing and we are root, scripts/install-system-deps.sh is run once.
When the servers still cannot run, tests that need them are skipped with the reason -- except in
CI (env CI=true), where they FAIL, so CI can never silently skip the real-server tests.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from hankebot.devstack._process import find_program
from hankebot.devstack.mailserver import MailServer
from hankebot.devstack.postgres import PostgresServer, find_pg_bin

REPO = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = REPO / "scripts" / "install-system-deps.sh"

#: Mailbox users of the session mail server: email -> password.
MAIL_USERS: dict[str, str] = {
    "tender@example.test": "tenderpass",
    **{f"bidder{i}@example.test": f"bidder{i}pass" for i in range(1, 6)},
    "expert@example.test": "expertpass",
}
#: The ONE wrong password every test uses. Dovecot's per-IP auth penalty (0.5 -> 4.5 -> 8.5 -> 15 s, and it
#: also delays the NEXT successful logins of other tests) grows with every new (user, password) pair that fails,
#: so failed-login tests should use WRONG_LOGIN, or at least WRONG_PASSWORD.
WRONG_PASSWORD = "wrong-password"

class MailUser(NamedTuple):
    email: str
    password: str


#: The one failing login pair for tests of refused authentication (IMAP LOGIN or SMTP AUTH).
WRONG_LOGIN = MailUser("tender@example.test", WRONG_PASSWORD)

_install_result: str | None = None  # None = not tried; "" = ok; else the failure reason
_user_counter = itertools.count(1)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    """Skip the test -- or fail it in CI, where real-server tests must never be skipped."""
    if _in_ci():
        pytest.fail(f"real server unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _missing_packages() -> list[str]:
    missing = [p for p in ("dovecot", "postfix", "openssl") if find_program(p) is None]
    if find_pg_bin() is None:
        missing.append("postgresql")
    return missing


def _ensure_system_packages() -> None:
    """Install the Debian packages once per session when missing (root only); skip/fail otherwise."""
    global _install_result
    if not _missing_packages():
        return
    if _install_result is None:
        if os.geteuid() != 0:
            _install_result = f"missing {_missing_packages()}; run {INSTALL_SCRIPT} as root"
        else:
            try:
                res = subprocess.run(
                    ["sh", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900,
                    stdin=subprocess.DEVNULL,
                )
                _install_result = "" if res.returncode == 0 else (
                    f"{INSTALL_SCRIPT} failed (exit {res.returncode}): {(res.stderr or res.stdout)[-2000:]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                _install_result = f"{INSTALL_SCRIPT} could not run: {exc}"
    if _install_result:
        _unavailable(_install_result)
    if _missing_packages():
        _unavailable(f"still missing after install: {_missing_packages()}")


def short_tmp_dir(prefix: str) -> Path:
    """A short, world-traversable temp dir (unix socket paths live under it; daemons drop privileges)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------------------- mail


def start_mail_server(users: dict[str, str] | None = None, tls: bool = False) -> tuple[MailServer, Path]:
    """Start a private MailServer in a fresh temp dir (skips/fails like the fixtures when impossible).

    The caller must call ``server.stop()`` and may delete the returned dir afterwards.
    """
    _ensure_system_packages()
    if os.geteuid() != 0:
        _unavailable("Dovecot + Postfix test servers need root")
    base = short_tmp_dir("hbt-mail-")
    server = MailServer(base, users=dict(MAIL_USERS if users is None else users), tls=tls)
    try:
        server.start()
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server, base


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """A started Dovecot + Postfix for the whole session with the users in MAIL_USERS.

    Mailboxes are shared between tests: use unique subjects, or `fresh_mail_user` for an empty mailbox.
    """
    server, base = start_mail_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_mail_user(mail_server: MailServer) -> MailUser:
    """A new user with an empty mailbox on the session mail server (unique per test)."""
    email = f"u{next(_user_counter)}x{uuid.uuid4().hex[:8]}@example.test"
    password = f"pw-{uuid.uuid4().hex[:12]}"
    mail_server.add_user(email, password)
    return MailUser(email, password)


@pytest.fixture
def wrong_password() -> str:
    """The single constant wrong password (see WRONG_PASSWORD)."""
    return WRONG_PASSWORD


# ---------------------------------------------------------------------------------------- postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A started throwaway PostgreSQL cluster on 127.0.0.1 for the whole session."""
    _ensure_system_packages()
    base = short_tmp_dir("hbt-pg-")
    server = PostgresServer(base)
    try:
        server.start()
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL (postgresql+psycopg://...) of a fresh, empty database for this test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)
