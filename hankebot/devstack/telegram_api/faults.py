"""Fault injection for the Telegram stand-in: scripted failures, delays and flood control."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Fault:
    """Fail the next ``count`` calls of ``method`` ("*" = any) with HTTP ``status``.

    status 0 drops the connection without an answer. ``after_processing`` lets the request take
    effect (e.g. the message is delivered) before the client sees the failure.
    """

    method: str
    status: int
    retry_after: int
    count: int
    description: str | None = None
    after_processing: bool = False


@dataclass
class Delay:
    """Hold the next ``count`` calls of ``method`` for ``seconds`` before processing them."""

    method: str
    seconds: float
    count: int


def _matches(pattern: str, method: str) -> bool:
    return pattern == "*" or pattern.lower() == method.lower()


class FaultPlan:
    """The queue of scripted faults and delays, consumed call by call."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []

    def take_fault(self, method: str) -> Fault | None:
        """The fault for this call, if one is scheduled (consumes one count)."""
        for fault in self.faults:
            if _matches(fault.method, method):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def take_delay(self, method: str) -> float:
        """Seconds to hold this call (consumes one count), 0 when none is scheduled."""
        for delay in self.delays:
            if _matches(delay.method, method):
                delay.count -= 1
                if delay.count <= 0:
                    self.delays.remove(delay)
                return delay.seconds
        return 0.0

    def clear(self) -> None:
        """Forget every scheduled fault and delay."""
        self.faults.clear()
        self.delays.clear()


class FloodControl:
    """At most ``per_chat`` sending calls per chat within ``window`` seconds, then 429."""

    def __init__(self, per_chat: int, window: float = 1.0, retry_after: int = 1) -> None:
        self.per_chat = per_chat
        self.window = window
        self.retry_after = retry_after
        self._calls: dict[int, deque[float]] = {}

    def check(self, chat_id: int) -> int | None:
        """Record a call; return retry_after seconds when the limit is exceeded, else None."""
        now = time.monotonic()
        calls = self._calls.setdefault(chat_id, deque())
        while calls and now - calls[0] >= self.window:
            calls.popleft()
        if len(calls) >= self.per_chat:
            return self.retry_after
        calls.append(now)
        return None
