"""`hankebot demo` runs the whole lifecycle on a real local mail server and exits 0 (about 45 s)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.mailserver


def test_demo_runs_the_whole_lifecycle(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the demo starts Dovecot and Postfix, which needs root")
    work = Path("/tmp") / f"hbdt{os.getpid()}"  # short: Dovecot/Postfix sockets live under it
    hankebot = Path(sys.executable).with_name("hankebot")
    proc = subprocess.run([str(hankebot), "demo", "--keep", str(work)], capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
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
    pdf = work / "var/protocols/302834/hindamise_protokoll_302834.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert "Hindamise tulemused on valmis" in out and "Osa 2: Arengu Koolituskeskus OÜ (93,57 p)" in out
