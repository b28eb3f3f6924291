"""Content-addressed store for raw messages and outgoing .eml files.

`put` is atomic and durable (temp file, fsync, rename, fsync of the directory) and idempotent: the same
bytes always land at the same path. Files are 0600 and directories 0700: raw bids hold sealed prices."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


class RawStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str, suffix: str = ".eml") -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"

    def put(self, data: bytes, suffix: str = ".eml") -> tuple[str, str]:
        """Store bytes; returns (sha256, path relative to the store root). Raises OSError (e.g. disk full)."""
        sha = hashlib.sha256(data).hexdigest()
        final = self.path_for(sha, suffix)
        rel = str(final.relative_to(self.root))
        if final.exists() and final.stat().st_size == len(data):
            return sha, rel
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for d in (self.root, final.parent.parent, final.parent):
            os.chmod(d, 0o700)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, final)
        dfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return sha, rel

    def get(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def delete(self, rel: str) -> bool:
        p = self.root / rel
        if p.is_file():
            p.unlink()
            return True
        return False
