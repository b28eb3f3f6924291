"""Column types that behave the same on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timezone
from decimal import Decimal

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware in, timezone-aware UTC out (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class ExactDecimal(TypeDecorator):
    """A Decimal kept exactly, as its string, on every database (money never passes through float)."""

    impl = String(48)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, (float, bool)):
            raise TypeError(f"money must be a Decimal, int or str, not {type(value).__name__}")
        if not isinstance(value, Decimal):
            value = Decimal(str(value)) if isinstance(value, int) else Decimal(value)
        if not value.is_finite():
            raise ValueError("money must be a finite Decimal")
        return str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)
