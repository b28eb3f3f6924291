"""`hankebot check-config` checks what it can see, lists every problem at once, and names things exactly."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hankebot.devstack.sample_forms import LEGAL_SHEET, write_templates
from tests.helpers import make_config

HANKEBOT = str(Path(sys.executable).with_name("hankebot"))


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HANKEBOT, "check-config", str(path)], capture_output=True, text=True, timeout=120)


def real_forms_config(tmp_path: Path, edit=None) -> Path:
    """A config whose form files are the real blank templates (not placeholders)."""
    path = make_config(tmp_path, edit=edit, forms=False)
    write_templates(tmp_path / "forms" / "302834")
    return path


def test_real_forms_with_their_sheets_pass(tmp_path):
    r = check(real_forms_config(tmp_path))
    assert r.returncode == 0 and ": OK" in r.stdout, r.stderr


def test_price_cells_sheet_missing_from_the_form_file(tmp_path):
    def edit(d):
        cost = next(f for f in d["procurement"][0]["forms"] if f["kind"] == "cost")
        legal = next(i for i, c in enumerate(cost["price_cells"]) if c["sheet"] == LEGAL_SHEET)
        cost["price_cells"][legal]["sheet"] = "juriidilise isiku hind"
        d["_legal"] = legal

    holder = {}
    path = real_forms_config(tmp_path, edit=lambda d: (edit(d), holder.update(legal=d.pop("_legal"))))
    r = check(path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"procurement[0].forms[1].price_cells[{holder['legal']}].sheet" in r.stderr
    assert "sheet 'juriidilise isiku hind' is not in Lisa 3 maksumuse vorm.xlsx" in r.stderr
    assert repr(LEGAL_SHEET) in r.stderr  # the sheets the form does have are listed
    assert "1 problem(s)" in r.stderr  # the other, correct sheet is not reported


def test_form_file_that_does_not_open(tmp_path):
    path = real_forms_config(tmp_path)
    (tmp_path / "forms" / "302834" / "Lisa 3 maksumuse vorm.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "forms" / "302834" / "Lisa 2 pakkumuse vorm.docx").write_bytes(b"PK\x03\x04 nor this")
    r = check(path)
    assert r.returncode == 2
    assert "procurement[0].forms[0].file: Lisa 2 pakkumuse vorm.docx does not open as docx" in r.stderr, r.stderr
    assert "procurement[0].forms[1].file: Lisa 3 maksumuse vorm.xlsx does not open as xlsx" in r.stderr
    assert "2 problem(s)" in r.stderr


def test_every_problem_at_once_a_weight_total_behind_a_level_error(tmp_path):
    def edit(d):
        crit = d["procurement"][0]["criteria"]
        crit[0]["weight"] = 45  # 45 + 30 + 30 = 105
        crit[1]["levels"][0]["points"] = 99  # a level error in criteria[1]
    r = check(make_config(tmp_path, edit=edit))
    assert r.returncode == 2
    assert "procurement[0].criteria[1]: level" in r.stderr and "outside 0..30" in r.stderr, r.stderr
    assert "procurement[0]: criteria: weights add up to 105, not 100" in r.stderr
    assert "2 problem(s)" in r.stderr


def test_duplicate_bidder_key_names_both_entries(tmp_path):
    def edit(d):
        b = d["procurement"][0]["bidders"]
        b[3]["key"] = b[1]["key"]
    r = check(make_config(tmp_path, edit=edit))
    assert r.returncode == 2
    assert "bidders[1] and bidders[3] have the same key" in r.stderr, r.stderr


def test_date_errors_show_the_expected_form(tmp_path):
    def edit(d):
        d["procurement"][0]["deadline"] = "19.01.2026 15:00"
        d["procurement"][0]["invitation_date"] = "5.1.2026"
    r = check(make_config(tmp_path, edit=edit))
    assert r.returncode == 2
    assert "procurement[0].deadline:" in r.stderr and "`deadline = 2026-01-19T15:00:00`" in r.stderr, r.stderr
    assert "procurement[0].invitation_date:" in r.stderr and "`invitation_date = 2026-01-19`" in r.stderr


def test_output_into_a_closed_pipe_ends_without_a_traceback(tmp_path):
    """Like `check-config | head` when head has left: the pipe has no reader before the first write (both
    ends are closed here at once, so every write fails: deterministic), and for a failing config too."""
    good = real_forms_config(tmp_path)
    bad = make_config(tmp_path, name="bad.toml", forms=False,
                      edit=lambda d: d["procurement"][0]["bidders"][0].update(email="x"))
    for path in (good, bad):
        r, w = os.pipe()
        os.close(r)
        p = subprocess.Popen([HANKEBOT, "check-config", str(path)], stdout=w, stderr=subprocess.PIPE, text=True)
        os.close(w)
        _, err = p.communicate(timeout=120)
        assert "Traceback" not in err and "BrokenPipeError" not in err, err
        assert p.returncode in (2, 141), (p.returncode, err)  # 2: the config error, already on stderr
    # and through a real shell pipeline
    sh = subprocess.run(["bash", "-c", f'set -o pipefail; "{HANKEBOT}" check-config "{good}" | head -1'],
                        capture_output=True, text=True, timeout=120)
    assert sh.stdout.endswith(": OK\n") and "Traceback" not in sh.stderr, sh.stderr
