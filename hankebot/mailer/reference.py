"""The previous (slower) readers, kept as the reference the fast ones are checked against.

Inside `with reference_readers():` parse_message uses the `email` package's default policy with its own
header registry (every header fetch parsed afresh) and the offer form reader opens a .docx with
python-docx's `Document()`, as extraction did before the speed work. Used only by the old-vs-new
extraction test (tests/test_extract_reference.py) and the extraction benchmark; the service never enters it.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator

_reference: ContextVar[bool] = ContextVar("hankebot_reference_readers", default=False)


def in_reference() -> bool:
    return _reference.get()


@contextlib.contextmanager
def reference_readers() -> Iterator[None]:
    token = _reference.set(True)
    try:
        yield
    finally:
        _reference.reset(token)
