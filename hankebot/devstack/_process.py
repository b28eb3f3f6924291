"""Small process, port and template helpers shared by the devstack servers (mail, PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

LOOPBACK = "127.0.0.1"
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class ManagedServer:
    """`with Server(...) as s:` starts it unless already started, and stops it on the way out.
    Subclasses provide start(), stop() and the `_started` flag."""

    _started: bool

    def __enter__(self):
        if not self._started:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()


class DevstackError(RuntimeError):
    """A devstack server could not be prepared, started or stopped."""


def prepare_traversable_dir(path: Path) -> Path:
    """Create `path` (mode 0755) and check that the daemons, which drop privileges to their own users
    (postfix, dovecot, vmail, postgres), can traverse every folder above it.

    Folders created here and `path` itself get o+x; an existing parent without it is not changed behind
    the user's back: a DevstackError names the folder and the fix.
    """
    path = Path(path).absolute()
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for d in (path, *missing):
        d.chmod(stat.S_IMODE(d.stat().st_mode) | 0o755)
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise DevstackError(
                f"the local servers cannot reach {path}: the folder {parent} is not traversable for other "
                f"users (mode {stat.S_IMODE(parent.stat().st_mode):04o}; Postfix, Dovecot and PostgreSQL run "
                f"as their own users). Fix: `chmod o+x {parent}`, or use a folder under /tmp."
            )
    return path


def free_ports(count: int) -> list[int]:
    """Return `count` distinct free TCP ports on 127.0.0.1 (all held open while picking)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_program(name: str) -> str | None:
    """Find an executable in PATH or the sbin directories (often not in PATH for non-login shells)."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN_DIRS)
    return shutil.which(name, path=path)


def sbin_env() -> dict[str, str]:
    """The current environment with the sbin directories appended to PATH."""
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + os.pathsep + os.pathsep.join(_SBIN_DIRS)
    return env


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render one of the package's config templates (hankebot/devstack/templates/NAME)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hankebot.devstack", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env.get_template(name).render(**context)


def read_pid(path: Path) -> int | None:
    """Read a pid file (Postfix pads its pid with spaces); None when missing or unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (daemons are reparented; PID 1 may not reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # Format: "pid (comm) S ..." -- comm may contain spaces/parentheses, so split after the last ')'.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def terminate_pids(pids: list[int], timeout: float = 15.0) -> None:
    """SIGTERM every pid, wait (bounded) until all have exited, SIGKILL any that remain."""
    live = [p for p in pids if pid_alive(p)]
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        live = [p for p in live if pid_alive(p)]
        if live:
            time.sleep(0.02)
    for pid in live:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not found)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def wait_for_banner(port: int, prefix: bytes, timeout: float, host: str = LOOPBACK) -> bool:
    """Connect repeatedly until the server's first line starts with `prefix` (bounded by `timeout`).

    A bare connect is not enough: Dovecot accepts connections before its auth service is ready.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.settimeout(max(0.1, min(2.0, deadline - time.monotonic())))
                line = s.makefile("rb").readline(1024)
                if line.startswith(prefix):
                    try:
                        s.sendall(b"QUIT\r\n" if prefix.startswith(b"220") else b"z LOGOUT\r\n")
                    except OSError:
                        pass
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
