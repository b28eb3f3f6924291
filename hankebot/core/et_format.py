"""Dates, times and durations the way Estonian letters write them: "19.01.2026 kell 15.00"."""
from __future__ import annotations

from datetime import date, datetime, timedelta


def date_et(d: date | datetime) -> str:
    return f"{d.day:02d}.{d.month:02d}.{d.year}"


def datetime_et(dt: datetime) -> str:
    """Local wall-clock time (convert to Europe/Tallinn before calling)."""
    return f"{date_et(dt)} kell {dt.hour:02d}.{dt.minute:02d}"


def time_et(dt: datetime) -> str:
    return f"{dt.hour:02d}.{dt.minute:02d}"


def duration_et(td: timedelta) -> str:
    """'2 päeva 3 tundi', '45 minutit', 'möödas' for a negative duration."""
    secs = int(td.total_seconds())
    if secs < 0:
        return "möödas"
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    parts = []
    if days:
        parts.append(f"{days} {'päev' if days == 1 else 'päeva'}")
    if hours:
        parts.append(f"{hours} {'tund' if hours == 1 else 'tundi'}")
    if minutes and not days:
        parts.append(f"{minutes} {'minut' if minutes == 1 else 'minutit'}")
    return " ".join(parts) or "alla minuti"
