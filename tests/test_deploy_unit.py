"""The systemd unit in deploy/: `systemd-analyze verify` accepts it (a real systemd parser, not a regex), and it
runs `hankebot run` from its working directory with its environment file, restarting on failure."""
from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, _unavailable

UNIT = REPO / "deploy" / "hankebot.service"


def _unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    cp.optionxform = str  # keys are case-sensitive in systemd
    cp.read_string(UNIT.read_text("utf-8"))
    return cp


def _verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    """Verify `text` as the unit, with /srv/hankebot pointing at a temp dir holding a real hankebot executable
    (verify checks that ExecStart's program exists)."""
    exe = shutil.which("systemd-analyze")
    if exe is None:
        _unavailable("systemd-analyze not installed (package systemd; scripts/install-system-deps.sh installs it)")
    srv = tmp_path / "srv"
    (srv / ".venv" / "bin").mkdir(parents=True)
    real = shutil.which("hankebot") or str(Path(__import__("sys").executable).with_name("hankebot"))
    if not Path(real).exists():
        pytest.fail(f"no hankebot executable to point ExecStart at ({real})")
    (srv / ".venv" / "bin" / "hankebot").symlink_to(real)
    unit = tmp_path / "hankebot.service"
    unit.write_text(text.replace("/srv/hankebot", str(srv)), "utf-8")
    return subprocess.run([exe, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    res = _verify(tmp_path, UNIT.read_text("utf-8"))
    assert res.returncode == 0, res.stderr + res.stdout


def test_verify_refuses_a_broken_unit(tmp_path):
    """The check can fail: a misspelt directive and a relative ExecStart are caught."""
    broken = UNIT.read_text("utf-8").replace("ExecStart=/srv/hankebot/.venv/bin/hankebot run", "ExecStart=hankebot-nope run")
    res = _verify(tmp_path, broken)
    assert res.returncode != 0
    assert "hankebot-nope" in res.stderr + res.stdout


def test_unit_runs_the_service_with_restart_workdir_and_env_file():
    svc = _unit()["Service"]
    assert svc["ExecStart"].split()[-2:][1] == "run" and svc["ExecStart"].split()[0].endswith("/hankebot")
    assert svc["Restart"] == "on-failure"
    assert svc["WorkingDirectory"].startswith("/")
    assert svc["EnvironmentFile"].startswith("/")
    assert "2" in svc["RestartPreventExitStatus"].split()  # a config error is not retried forever
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"
