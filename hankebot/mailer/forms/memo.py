"""Read each attachment once per message: a memo of the form readers' pure intermediate results.

Recognising an attachment (`recognize_form`) and then reading it (`read_offer_form`, `read_cost_form`)
would sniff its type, run the zip-safety scan and parse the document again. Inside `with read_once():`
(extract.py opens one per message) those steps are remembered, keyed by the SHA-256 of the bytes (and
the file name where the result depends on it); outside one, nothing is remembered and every call
computes afresh. Only results that are a pure function of the key are memoised, so a hit gives exactly
what a fresh computation would. Exceptions are not memoised (the next call raises afresh). Memoised
values are shared, not copied: callers must not mutate them (Problem is frozen; offer rows are read).
"""
from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict | None] = ContextVar("hankebot_forms_memo", default=None)
_digests: ContextVar[dict | None] = ContextVar("hankebot_forms_digests", default=None)


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Memoise the form readers' intermediate results until the block ends (nested blocks share)."""
    if _memo.get() is not None:
        yield
        return
    t1, t2 = _memo.set({}), _digests.set({})
    try:
        yield
    finally:
        _memo.reset(t1)
        _digests.reset(t2)


def active() -> bool:
    """True inside a `read_once()` block."""
    return _memo.get() is not None


def _digest(data: bytes) -> bytes:
    # The same bytes object is usually hashed several times per attachment: remember its digest by
    # identity, keeping a reference to it so the id cannot be reused while the memo lives.
    digests = _digests.get()
    hit = digests.get(id(data)) if digests is not None else None
    if hit is not None and hit[0] is data:
        return hit[1]
    d = hashlib.sha256(data).digest()
    if digests is not None:
        digests[id(data)] = (data, d)
    return d


def memoised(step: str, data: bytes, extra: str, compute: Callable[[], T]) -> T:
    """`compute()` (a pure function of `data` and `extra`), remembered inside `read_once()`."""
    memo = _memo.get()
    if memo is None:
        return compute()
    key = (step, _digest(data), extra)
    if key in memo:
        return memo[key]
    value = compute()
    memo[key] = value
    return value


def remembered(step: str, data: bytes, extra: str):
    """What `memoised(step, data, extra, ...)` remembered inside this `read_once()` block; None when
    nothing was (or outside one). Computes nothing."""
    memo = _memo.get()
    if memo is None:
        return None
    return memo.get((step, _digest(data), extra))
