"""The CLI's contract with scripts: exit codes 0 ok, 1 refused, 2 usage/config error, 3 sealed."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.helpers import make_config

HANKEBOT = str(Path(sys.executable).with_name("hankebot"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HANKEBOT, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_every_command_has_help():
    top = run("--help")
    assert top.returncode == 0 and "Exit codes" in top.stdout
    commands = ["check-config", "demo", "run", "send-invitations", "send-clarification", "remind", "status", "inspect",
                "fetch", "process", "results", "grade", "accept", "reject", "report", "extend", "decide", "purge", "migrate"]
    for c in commands:
        r = run(c, "--help")
        assert r.returncode == 0 and "usage: hankebot" in r.stdout, c


def test_bad_config_exits_2_naming_file_and_field(tmp_path):
    path = make_config(tmp_path, edit=lambda d: d["procurement"][0]["bidders"][1].update(email="not-an-address"))
    r = run("check-config", str(path))
    assert r.returncode == 2
    assert str(path) in r.stderr and "procurement[0].bidders[1].email" in r.stderr and "not a valid e-mail" in r.stderr


def test_shipped_config_checks_ok():
    r = run("check-config", "config.toml")
    assert r.returncode == 0 and "config.toml: OK" in r.stdout and "302834" in r.stdout


def test_unknown_procurement_exits_2_and_sealed_results_exit_3(tmp_path):
    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    r = run("--config", str(path), "status", "999999")
    assert r.returncode == 2 and "999999" in r.stderr
    r = run("--config", str(path), "results", "302834")
    assert r.returncode == 3 and "sealed" in r.stderr
    r = run("--config", str(path), "report", "302834")
    assert r.returncode == 3


def test_refused_lifecycle_action_exits_1(tmp_path):
    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    r = run("--config", str(path), "decide", "302834")  # a draft cannot be decided
    assert r.returncode == 1 and "refused" in r.stderr and "mustand" in r.stderr
    r = run("--config", str(path), "extend", "302834", "--deadline", "2030-01-27")
    assert r.returncode == 2 and "DD.MM.YYYY HH:MM" in r.stderr


def test_cancel_register_and_decide_from_the_command_line(tmp_path):
    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    r = run("--config", str(path), "cancel", "302834", "--why", "Eelarve vähenes", "--dry-run", "--out", str(tmp_path / "d"))
    assert r.returncode == 0 and "Tühistamise kirjad" in r.stdout, r.stdout + r.stderr
    r = run("--config", str(path), "decide", "302834", "--preview")
    assert r.returncode == 1 and "refused" in r.stderr and "otsuse saab teha alles" in r.stderr
    r = run("--config", str(path), "cancel", "302834", "--why", " ")
    assert r.returncode == 1 and "põhjendus on kohustuslik" in r.stderr
    r = run("--config", str(path), "cancel", "302834", "--why", "Eelarve vähenes")
    assert r.returncode == 0 and "Hanke olek: tühistatud" in r.stdout, r.stdout + r.stderr
    r = run("--config", str(path), "cancel", "302834", "--why", "uuesti")  # idempotent: still cancelled, no error
    assert r.returncode == 0
    r = run("--config", str(path), "register", "302834", "--out", str(tmp_path / "reg"))
    assert r.returncode == 0 and (tmp_path / "reg" / "kirjaregister-302834.csv").read_text("utf-8-sig").startswith("Viit;")


def test_every_command_names_a_handler_that_exists():
    """The parser names handlers as "module:function" (imported when the command runs): each must resolve."""
    import argparse

    from hankebot.service.cli import build_parser
    from hankebot.service.cli.parser import handler

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 20
    for name, p in sub.choices.items():
        assert callable(handler(p.get_default("fn"))), name


def test_help_loads_no_database_bot_or_document_library():
    """`hankebot --help` in a fresh interpreter imports none of the heavy libraries (they load in the commands
    that use them): a structural check of the start-up, not a timing."""
    code = ("import sys\nfrom hankebot.app import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('sqlalchemy', 'sqlmodel', 'alembic', 'pydantic', 'telegram', 'openpyxl', 'docx', 'lxml', "
            "'python_calamine', 'aiosmtplib', 'asyncio', 'hankebot.service.config', 'hankebot.service.evaluation')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy), file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Exit codes" in r.stdout
    assert r.stderr.strip() == "[]", r.stderr


_LOADED = ("import sys\nfrom hankebot.app import main\ncode = main(sys.argv[1:])\n"
           "names = ('sqlalchemy', 'alembic', 'telegram', 'openpyxl', 'docx', 'hankebot.service.evaluation', "
           "'hankebot.mailer.forms', 'hankebot.bot')\n"
           "print(code, sorted({n for n in names for m in sys.modules if m == n or m.startswith(n + '.')}), "
           "file=sys.stderr)\n")


def _loaded(*args: str, cwd: Path) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    code, _, names = r.stderr.strip().splitlines()[-1].partition(" ")
    return int(code), names


def test_status_and_inspect_load_only_what_they_use(tmp_path):
    """status on a synced SQLite database at head: not even SQLAlchemy (the status read view); with a config
    edit not yet synced: SQLAlchemy, but no Alembic, evaluation, form readers or bot; inspect: no database at
    all (structural checks of the start-up, not timings)."""
    from hankebot.devstack import sample_mail as sm

    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    assert run("--config", str(path), "migrate", cwd=tmp_path).returncode == 0
    code, names = _loaded("--config", str(path), "status", cwd=tmp_path)
    assert code == 0 and names == "[]", names
    path.write_text(path.read_text("utf-8").replace("[[procurement]]\n", "[[procurement]]\ncancelled = true\n", 1), "utf-8")
    code, names = _loaded("--config", str(path), "status", cwd=tmp_path)
    assert code == 0 and names == "['sqlalchemy']", names
    eml = tmp_path / "q.eml"
    eml.write_bytes(sm.question_message("kadri.jogi@example.com", "Kadri Jõgi"))
    code, names = _loaded("--config", str(path), "inspect", str(eml), "--json", cwd=tmp_path)
    assert code == 0 and "sqlalchemy" not in names and "telegram" not in names and "hankebot.bot" not in names, names


def test_the_collector_is_off_only_for_short_read_only_commands(tmp_path):
    """The program starts with the garbage collector off (start-up makes long-lived objects only); every
    command but the short read-only ones runs with it on (the service, fetch of thousands of messages, a
    folder of messages to inspect)."""
    path = make_config(tmp_path, deadline=datetime(2030, 1, 20, 15, 0))
    (tmp_path / "a.eml").write_bytes(b"From: a@example.com\r\nSubject: x\r\n\r\nTere\r\n")
    code = ("import gc, sys\nimport hankebot.service.cli.mailbox as mb, hankebot.service.cli.status as st\n"
            "import hankebot.service.cli.inspection as ins\n"
            "seen = []\n"
            "def spy(module, name):\n"
            "    real = getattr(module, name)\n"
            "    def f(*a):\n        seen.append(gc.isenabled()); return real(*a)\n"
            "    setattr(module, name, f)\n"
            "spy(mb, 'cmd_process'); spy(st, 'cmd_status'); spy(ins, '_extract')\n"
            "from hankebot.app import main\n"
            "rc = main(sys.argv[1:])\nprint(rc, seen)\n")

    def collector_on(*args: str) -> str:
        r = subprocess.run([sys.executable, "-c", code, "--config", str(path), *args], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().splitlines()[-1]

    assert collector_on("status") == "0 [False]"
    assert collector_on("process") == "0 [True]"
    assert collector_on("inspect", str(tmp_path / "a.eml")) == "0 [False]"
    assert collector_on("inspect", str(tmp_path)) == "0 [True]"  # a folder: collected as usual
