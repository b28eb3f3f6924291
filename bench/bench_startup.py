"""Cold start of the command line: `hankebot --help`, `status` on a demo-like config (the shipped procurement,
10 bidders, a SQLite database at the newest schema) and `inspect` of one sample bid (a .docx offer form and an
.xlsx cost form), each a fresh `python -m hankebot` process, measured round-robin in the same run beside the
bare interpreter (`python -c pass`), the floor no command can go below. Goal: each within 0.5 s.

Also prints where each command's start-up goes: `python -X importtime`, cumulative milliseconds of the
heaviest packages it imports.

    .venv/bin/python bench/bench_startup.py [--rounds 9]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import finish, machine_line  # noqa: E402
from workload import BidFactory, future_deadline, make_bidders, write_config  # noqa: E402

GOAL_S = 0.5
# packages whose import is the start-up's weight (cumulative ms from -X importtime, top-level imports only)
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "openpyxl", "docx", "lxml", "python_calamine",
         "rich", "asyncio", "telegram", "hankebot.service.config", "hankebot.storage.tables",
         "hankebot.service.context", "hankebot.service.extract", "hankebot.mailer.forms",
         "hankebot.mailer.mime", "hankebot.service.evaluation")


def commands(base: Path) -> dict[str, list[str]]:
    py = [sys.executable]
    hb = [*py, "-m", "hankebot", "--config", str(base / "config.toml")]
    return {"floor": [*py, "-c", "pass"], "help": [*py, "-m", "hankebot", "--help"], "status": [*hb, "status"],
            "inspect": [*hb, "inspect", str(base / "bid.eml"), "--json"]}


def setup(base: Path) -> None:
    bidders = make_bidders(10)
    write_config(base, imap_port=1143, smtp_port=1025, bidders=bidders, deadline=future_deadline())
    (base / "bid.eml").write_bytes(BidFactory(bidders, templates=1).message(0))


def _run(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {r.returncode}: {r.stderr[-2000:]}")
    return elapsed


def import_breakdown(cmd: list[str], cwd: Path) -> dict[str, float]:
    """Cumulative import ms per heavy package, the first time each is imported in the process."""
    r = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, capture_output=True, text=True)
    out: dict[str, float] = {}
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and m.group(3) in HEAVY and m.group(3) not in out:
            out[m.group(3)] = round(int(m.group(1)) / 1000, 1)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def measure(rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hb-bench-startup-") as tmp:
        base = Path(tmp)
        setup(base)
        cmds = commands(base)
        for name, cmd in cmds.items():  # warm: .pyc files written, the database created at the newest schema
            _run(cmd, base)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(rounds):
            for name, cmd in cmds.items():  # round-robin: the same machine load for every command
                times[name].append(_run(cmd, base))
        breakdown = {name: import_breakdown(cmds[name], base) for name in ("status", "inspect")}
    floor = statistics.median(times["floor"])
    res = {"rounds": rounds, "goal_s": GOAL_S, "floor_s": round(floor, 3), "commands": {}, "imports_ms": breakdown}
    for name in ("help", "status", "inspect"):
        med = statistics.median(times[name])
        res["commands"][name] = {"median_s": round(med, 3), "min_s": round(min(times[name]), 3),
                                 "ratio": round(med / floor, 1), "goal_met": med <= GOAL_S}
    res["goal_met"] = all(c["goal_met"] for c in res["commands"].values())
    return res


def report(res: dict) -> str:
    lines = [f"Machine: {machine_line(res.get('machine'))}",
             f"cold start, median of {res['rounds']} fresh processes each, round-robin:",
             f"  {'python -c pass (floor)':<26} {res['floor_s'] * 1000:7.0f} ms"]
    for name, c in res["commands"].items():
        lines.append(f"  {'hankebot ' + ('--help' if name == 'help' else name):<26} {c['median_s'] * 1000:7.0f} ms "
                     f"(min {c['min_s'] * 1000:.0f})  {c['ratio']:5.1f}x floor  "
                     f"goal <= {GOAL_S} s: {'met' if c['goal_met'] else 'NOT met'}")
    for name, parts in res["imports_ms"].items():
        lines.append(f"  {name} imports (cumulative ms, one run): "
                     + ", ".join(f"{k} {v:.0f}" for k, v in parts.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    os.environ.pop("HANKEBOT_CONFIG", None)
    return finish(measure(a.rounds), report, a.json)


if __name__ == "__main__":
    raise SystemExit(main())
