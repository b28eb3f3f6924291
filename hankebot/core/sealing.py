"""Sealed bids: before the deadline (plus any opening delay) no price, score or form content leaves
the system; only counts. Every outward-facing surface (bot, CLI, reports) asks this one function."""
from __future__ import annotations

from datetime import datetime, timedelta


def opening_time(deadline: datetime, opening_delay_minutes: int = 0) -> datetime:
    return deadline + timedelta(minutes=opening_delay_minutes)


def is_sealed(now: datetime, deadline: datetime, opening_delay_minutes: int = 0) -> bool:
    return now < opening_time(deadline, opening_delay_minutes)
