"""The newest migration's revision, read from the migration scripts' own lines: what `migrate` and the
status read view compare a database's alembic_version with, without importing Alembic or SQLAlchemy."""
from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision(?:\s*:[^=]+)?\s*=\s*(?:["']([^"']+)["']|None)\s*$""", re.MULTILINE)


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision, read from the scripts' `revision` / `down_revision` lines without
    importing Alembic; None when that is not one plain chain (a merge, a branch): then Alembic decides."""
    revs, downs = set(), set()
    for f in (MIGRATIONS_DIR / "versions").glob("*.py"):
        src = f.read_text("utf-8")
        rev, down = _REVISION.search(src), _DOWN.search(src)
        if rev is None or down is None:
            return None
        revs.add(rev.group(1))
        if down.group(1):
            downs.add(down.group(1))
    heads = revs - downs
    return heads.pop() if len(heads) == 1 and downs <= revs else None
