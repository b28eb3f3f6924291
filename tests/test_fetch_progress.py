"""`hankebot fetch` against the real Dovecot: on a terminal (a real pty) a progress bar with the rate in
messages per second on stderr, and the throughput in the final line; quiet on stderr when it is no terminal."""
from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from inbound_worker import settle_new_user, write_config

_SCRIPT = Path(sys.executable).parent / "hankebot"
HANKEBOT = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "hankebot"]
N = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # colours, cursor moves
FINAL = re.compile(r"fetched (\d+) message\(s\), (\d+) new, processed (\d+) in [\d.]+ s: "
                   r"fetch ([\d.]+) messages/s, processing ([\d.]+|-) messages/s")


def _message(i: int, when: datetime) -> bytes:
    m = EmailMessage()
    m["From"] = f"Kolleeg {i} <kolleeg{i}@ska.example>"
    m["To"] = "hanked@ska.example"
    m["Subject"] = f"Koosolek nr {i}"
    m["Date"] = format_datetime(when)
    m["Message-ID"] = make_msgid(domain="ska.example")
    m.set_content(f"Tere,\n\nkoosolek {i} toimub neljapäeval.\n\nKolleeg {i}\n")
    return m.as_bytes()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    return env


def _fetch_on_a_pty(cfg: Path) -> tuple[int, str, str]:
    """Runs fetch with stderr on a pty (a terminal, 120 columns) and stdout on a pipe: (code, terminal, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen([*HANKEBOT, "--config", str(cfg), "fetch", "--since", "2000-01-01"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=_env(),
                            cwd=cfg.parent)
    os.close(slave)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as e:  # EIO: the child closed the terminal
                if e.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    out = proc.stdout.read().decode()
    return proc.wait(timeout=120), seen.decode("utf-8", "replace"), out


def test_fetch_shows_the_bar_and_rate_on_a_terminal_and_only_the_final_line_otherwise(tmp_path, mail_server,
                                                                                     fresh_mail_user):
    settle_new_user()
    cfg = write_config(tmp_path, mail_server, fresh_mail_user.email, fresh_mail_user.password)
    when = datetime.now(timezone.utc) - timedelta(days=2)
    with mail_server.mailbox(fresh_mail_user.email, fresh_mail_user.password) as box:
        for i in range(N):
            box.append(_message(i, when), "INBOX", dt=when)

    code, terminal, out = _fetch_on_a_pty(cfg)
    assert code == 0, terminal + out
    screen = ANSI.sub("", terminal).replace("\r", "\n")
    assert re.search(rf"fetching .*{N}/{N} .*\d+\.\d msg/s", screen), screen[-3000:]
    assert re.search(rf"processing .*{N}/{N} .*\d+\.\d msg/s", screen), screen[-3000:]
    m = FINAL.search(out)
    assert m is not None, out
    assert m.group(1, 2, 3) == (str(N), str(N), str(N)) and float(m.group(4)) > 0 and float(m.group(5)) > 0
    assert "msg/s" not in out  # the bar never goes to stdout

    again = subprocess.run([*HANKEBOT, "--config", str(cfg), "fetch", "--since", "2000-01-01"],
                           capture_output=True, text=True, timeout=120, env=_env(), cwd=cfg.parent)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""  # no terminal: no bar
    m = FINAL.search(again.stdout)
    assert m is not None and m.group(1, 2, 3) == (str(N), "0", "0"), again.stdout
