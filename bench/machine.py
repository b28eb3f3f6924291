"""The machine a benchmark ran on: CPU model, cores, RAM, Python, Dovecot. Printed at the top of results."""
from __future__ import annotations

import os
import platform
import subprocess
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _dovecot_version() -> str | None:
    for exe in ("/usr/sbin/dovecot", "dovecot"):
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5)
            if out.returncode == 0:
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def machine_info() -> dict:
    """CPU model, logical cores, RAM (GiB), Python, OS kernel, Dovecot version and the 1-minute load average
    (other work on the machine skews the figures; the load says whether there was any)."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gib": _ram_gib(),
            "python": sys.version.split()[0], "kernel": platform.release(), "dovecot": _dovecot_version(),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def machine_line(info: dict | None = None) -> str:
    m = info or machine_info()
    return (f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Python {m['python']}, "
            f"Linux {m['kernel']}, Dovecot {m['dovecot']}, load {m.get('loadavg_1m')}")


if __name__ == "__main__":
    print(machine_line())


def finish(res: dict, report, json_path) -> int:
    """The common end of every bench script: attach the machine, print the report, write JSON if asked."""
    import json

    res["machine"] = machine_info()
    print(report(res))
    if json_path:
        json_path.write_text(json.dumps(res, indent=2, default=str), "utf-8")
    return 0
