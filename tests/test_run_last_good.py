"""`hankebot run` (a subprocess) restarted while a bad edit sits in config.toml: it serves on the last good
config kept in the data dir, says so in the log and to staff (the console: no bot token), reports the
file's field errors, and takes the fixed file into use without a restart. `check-config` still exits 2."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

from sqlmodel import Session, create_engine, select

from helpers import PROC_KEY, REPO, TALLINN, make_config
from hankebot.service.last_good import LAST_GOOD_NAME
from hankebot.storage.tables import Procurement


def _no_imap(data: dict) -> None:
    data["mail"].pop("imap", None)  # the service runs its scheduler, watcher and console outbox only


class Service:
    """`hankebot run` with its merged stdout/stderr collected by a reader thread."""

    def __init__(self, config):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANKEBOT_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hankebot", "--config", str(config), "run"], cwd=REPO,
            env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.out: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)

    def text(self) -> str:
        return "".join(self.out)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return self.text()
            if self.proc.poll() is not None:
                self._t.join(5)
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} never appeared (exit {self.proc.poll()}):\n{self.text()[-4000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self._t.join(5)
        return rc


def _deadline_in_db(tmp_path) -> datetime:
    """The procurement's deadline as the running service stored it (read-only; no context of our own)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'hankebot.sqlite'}")
    try:
        with Session(engine) as s:
            (deadline,) = s.exec(select(Procurement.deadline).where(Procurement.key == PROC_KEY)).all()
    finally:
        engine.dispose()
    return deadline.astimezone(TALLINN).replace(tzinfo=None)


def _rewrite(path, text: str) -> None:
    """Write and move the mtime a second on, so the watcher (which compares mtimes) surely sees it."""
    before = path.stat().st_mtime_ns
    path.write_text(text, "utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_restart_on_a_broken_config_serves_on_the_last_good_one(tmp_path):
    config = make_config(tmp_path, edit=_no_imap, deadline=datetime(2030, 1, 20, 15, 0))
    copy = tmp_path / "var" / LAST_GOOD_NAME

    s = Service(config)
    try:
        s.wait_for("hankebot running")
        assert copy.read_bytes() == config.read_bytes()  # the good config was kept in the data dir
    finally:
        assert s.stop() == 0, s.text()[-3000:]
    assert oct(copy.stat().st_mode & 0o777) == "0o600"

    # a bad edit while the service is down: the weights no longer add up to 100, and the deadline moved
    good = config.read_text("utf-8")
    bad = good.replace("weight = 40", "weight = 45", 1).replace("2030-01-20 15:00:00", "2026-01-19 15:00:00")
    assert bad.count("weight = 45") == 1 and "2026-01-19 15:00:00" in bad
    _rewrite(config, bad)
    check = subprocess.run([sys.executable, "-m", "hankebot", "--config", str(config), "check-config"],
                           cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert check.returncode == 2 and "weights add up to 105" in check.stdout + check.stderr

    s = Service(config)
    try:
        out = s.wait_for("config.toml on vigane")  # staff told (the console: no token)
        assert "serving on the last good config" in out and str(copy) in out  # the log says so
        assert "weights add up to 105" in out  # the bad file's field errors are reported
        assert s.proc.poll() is None  # it serves
        # it serves the LAST GOOD config: the deadline the bad file moves is not taken
        assert _deadline_in_db(tmp_path) == datetime(2030, 1, 20, 15, 0)
        assert copy.read_bytes() == good.encode()  # the bad file never overwrites the copy

        # another bad edit is reported too; then the fix is taken into use without a restart
        _rewrite(config, bad.replace("weight = 45", "weight = 50", 1))
        s.wait_for("weights add up to 110")
        fixed = good.replace("2030-01-20 15:00:00", "2026-01-19 15:00:00")
        _rewrite(config, fixed)
        s.wait_for("config reloaded")  # logged after the new config was synced into the database
        assert _deadline_in_db(tmp_path) == datetime(2026, 1, 19, 15, 0)
        assert copy.read_bytes() == fixed.encode()  # and becomes the new last good copy
    finally:
        assert s.stop() == 0, s.text()[-3000:]


def test_run_on_a_broken_config_without_a_last_good_copy_exits_2(tmp_path):
    config = make_config(tmp_path, edit=_no_imap)
    config.write_text(config.read_text("utf-8").replace("weight = 40", "weight = 45", 1), "utf-8")
    proc = subprocess.run([sys.executable, "-m", "hankebot", "--config", str(config), "run"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "weights add up to 105" in proc.stdout + proc.stderr
    assert not (tmp_path / "var" / LAST_GOOD_NAME).exists()
