"""A problem is something a human must look at: recorded, shown to staff, never raised past the pipeline."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """`code` is a stable English identifier (tests and code match on it);
    `message` is the Estonian text shown to the procurement expert."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
