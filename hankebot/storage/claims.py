"""Who holds a claim: "host:pid:start-ticks" of a process, and whether that process is still alive.

A claim by a process on this host that no longer runs (or whose pid now belongs to another process,
told apart by its start time) is stale at once; a claim from another host can only go stale by age."""
from __future__ import annotations

import os
import socket
from functools import lru_cache


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # field 22 (starttime) counted after the ")" that ends the command name
    rest = data.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None


@lru_cache(maxsize=1)
def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid()) or '?'}"


def holder_is_dead(claimed_by: str | None) -> bool | None:
    """True: the holder is certainly gone; False: it runs; None: cannot tell (another host)."""
    if not claimed_by:
        return True
    try:
        host, pid, start = claimed_by.rsplit(":", 2)
    except ValueError:
        return True
    if host != socket.gethostname():
        return None
    if claimed_by == me():
        return False
    ticks = _start_ticks(int(pid)) if pid.isdigit() else None
    return ticks is None or ticks != start
