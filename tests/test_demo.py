"""The README's first command, `bash scripts/run.sh demo`, run as written from a fresh `git clone`.

It runs the whole lifecycle on a real local mail server and exits 0 (about a minute). No `--keep`: the demo
makes its own folder with tempfile.mkdtemp (mode 0700), so the test fails whenever the daemons, which run
as their own users, cannot traverse it.

To stay fast the clone reuses the interpreter and virtual environment running this test instead of
installing a new one: the clone gets a `.venv` whose `bin/python` is this interpreter and whose
`bin/hankebot` runs this venv's `hankebot` with the CLONE's code first on PYTHONPATH, and `.venv/.installed`
is stamped, so run.sh skips its pip step and runs everything else (Python and system-package checks, then
`.venv/bin/hankebot demo`) exactly as a user's machine would. CI also runs the real command, install
included (.ci/run).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, _unavailable

pytestmark = pytest.mark.mailserver


def _fresh_clone(dest: Path) -> Path:
    """`git clone` of this repository's committed HEAD, with a .venv that reuses the running one."""
    if shutil.which("git") is None:
        _unavailable("git is not installed")
    res = subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    venv_bin = dest / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    hankebot = venv_bin / "hankebot"
    hankebot.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{dest}" exec "{sys.executable}" -m hankebot "$@"\n'
    )
    hankebot.chmod(0o755)
    (dest / ".venv" / ".installed").touch()
    os.utime(dest / "pyproject.toml", (0, 0))  # older than the stamp, as after a real install
    return dest


def test_readme_demo_command_from_a_fresh_clone(tmp_path):
    if os.geteuid() != 0:
        _unavailable("the demo starts Dovecot and Postfix, which needs root")
    clone = _fresh_clone(tmp_path / "hankebot")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # the code that runs is the clone's, not this checkout's
    probe = subprocess.run(
        ["sh", "-c", f'PYTHONPATH="{clone}" "{sys.executable}" -c "import hankebot; print(hankebot.__file__)"'],
        capture_output=True, text=True, env=env, cwd="/",
    )
    assert probe.stdout.strip().startswith(str(clone)), probe.stdout + probe.stderr

    proc = subprocess.run(["bash", "scripts/run.sh", "demo"], cwd=clone, capture_output=True, text=True,
                          timeout=300, env=env)
    out = proc.stdout + proc.stderr
    work = re.search(r"Kõik failid: (\S+)", out)
    try:
        assert proc.returncode == 0, out[-4000:]
        assert "preparing .venv" not in out  # the reused venv was accepted; nothing was reinstalled
        # its own temporary folder, made by mkdtemp (0700 until the demo opened it for the daemons)
        assert work and work.group(1).startswith("/tmp/hbdemo-"), out[-2000:]
        # invitations went to all five bidders, and the question was answered to all alike
        assert out.count("Saadetud (5)") == 2, out
        # sealed until the deadline, then closed by the scheduler with a summary
        assert "/results enne tähtaega → keeldutud" in out
        assert "Tähtaeg on möödas" in out
        # the late bid was recognised by the server's receive time
        assert "Hilinenud pakkumus" in out
        # ranking with the seed formula: lowest 3900, highest 5600
        #   Arengu: 40 - (4800-3900)/5600*40 = 33.57 + 30 + 30 = 93.57
        #   Kadri:  40 + 15 + 30 = 85.00;  Tugiteenused: 40 - 1700/5600*40 = 27.86 + 30 + 15 = 72.86
        assert "1. Arengu Koolituskeskus OÜ" in out and "kokku  93,57" in out
        assert "2. Kadri Jõgi" in out and "kokku  85,00" in out
        assert "3. Tugiteenused MTÜ" in out and "kokku  72,86" in out
        assert "Puudub vorm: Lisa 3 maksumuse vorm" in out  # Ilmar's first bid lacked the cost form
        pdf = Path(work.group(1)) / "var/protocols/302834/hindamise_protokoll_302834.pdf"
        assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
        assert "Hindamise tulemused on valmis" in out and "Osa 2: Arengu Koolituskeskus OÜ (93,57 p)" in out
        # the decision letters, each read from its bidder's own mailbox (the decline got none)
        letters = re.split(r"\n  ✉ ", out.split("== 8. Otsus ja kirjad pakkujatele ==", 1)[1])[1:]
        assert [x.split(" ", 1)[0] for x in letters] == ["arengukoolitus@example.test", "tugiteenused@example.test",
                                                         "kadri.jogi@example.test", "ilmar.sepp@example.test"], out[-3000:]
        assert "Teie pakkumus on tunnistatud edukaks. Teie pakkumus sai 93,57 punkti" in letters[0]
        assert "sai 72,86 punkti 100-st ja oli pingereas 3. kohal" in letters[1]
        assert "Edukaks tunnistati pakkuja Arengu Koolituskeskus OÜ pakkumus, mis sai 93,57 punkti" in letters[2]
        assert "Põhjus: Puudub vorm: Lisa 3 maksumuse vorm" in letters[3] and "ei avatud" in letters[3]
    finally:
        if work and work.group(1).startswith("/tmp/hbdemo-"):
            shutil.rmtree(work.group(1), ignore_errors=True)


def test_demo_names_a_parent_the_daemons_cannot_traverse():
    """`--keep DIR` under a 0700 parent: a clear error naming that folder and the fix, no traceback."""
    top = Path(tempfile.mkdtemp(prefix="hbdp-", dir="/tmp"))
    try:
        top.chmod(0o755)
        closed = top / "closed"
        closed.mkdir(mode=0o700)
        closed.chmod(0o700)
        hankebot = Path(sys.executable).with_name("hankebot")
        proc = subprocess.run([str(hankebot), "demo", "--keep", str(closed / "demo")], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"folder {closed} is not traversable" in proc.stderr, proc.stderr
        assert f"chmod o+x {closed}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert oct(closed.stat().st_mode & 0o777) == "0o700"  # a parent is not changed behind the user's back
    finally:
        shutil.rmtree(top, ignore_errors=True)
