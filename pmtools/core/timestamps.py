"""Times as pmtools keeps them: ISO-8601 UTC text with microseconds and a Z, compared as times.

The one place that writes and reads a timestamp. Karbon's and Liscio's own stamps (with or
without fractions, ``Z`` or ``+00:00``) are read here too, so two stamps are always compared as
moments, never as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_iso(moment: datetime) -> str:
    """``moment`` in pmtools' one text form (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(FORMAT)


def now_iso() -> str:
    """The current UTC time in pmtools' text form."""
    return to_iso(datetime.now(UTC))


def parse(stamp: str) -> datetime:
    """A stamp in any ISO-8601 form (``Z`` or an offset; none means UTC) as an aware time."""
    moment = datetime.fromisoformat(stamp.strip())  # Python 3.11 reads a trailing Z
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def minus(stamp: str, delta: timedelta) -> str:
    """``stamp`` moved back by ``delta``, in pmtools' text form."""
    return to_iso(parse(stamp) - delta)


def is_before(stamp: str | None, than: str | None) -> bool:
    """True when ``stamp`` is an earlier moment than ``than``; an unknown ``stamp`` counts as
    earlier than any known one, and nothing is before an unknown ``than``."""
    if not than:
        return False
    if not stamp:
        return True
    return parse(stamp) < parse(than)


__all__ = ["FORMAT", "is_before", "minus", "now_iso", "parse", "to_iso"]
