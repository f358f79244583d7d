"""Small converters both connectors use at the wire boundary (pure)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pmtools.core.names import display_order
from pmtools.core.records import Record


def text(value: Any) -> str | None:
    """A trimmed string, or None for null and blank values."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def parse_time(stamp: str) -> datetime:
    """An ISO-8601 timestamp (any fraction length, ``Z`` or offset) as an aware UTC datetime.

    Raises ValueError when ``stamp`` is not one.
    """
    cleaned = stamp.strip().replace("Z", "+00:00").replace("z", "+00:00")
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)  # Karbon sends 7 fraction digits
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def is_older(stamp: str | None, mark: datetime) -> bool:
    """True when ``stamp`` is a readable time before ``mark``."""
    if not stamp:
        return False
    try:
        return parse_time(stamp) < mark
    except ValueError:
        return False


def person_parts(draft: Record) -> tuple[str | None, str | None, str | None]:
    """First, middle and last name of a person draft; split from its name when unset.

    An IPM list row has only FullName, possibly "Last, First"; that form is read as
    "First Last" (:func:`pmtools.core.names.display_order`).
    """
    first, middle, last = text(draft.first_name), text(draft.middle_name), text(draft.last_name)
    if first or last:
        return first, middle, last
    words = display_order(" ".join(draft.name.split())).split()
    if len(words) < 2:
        return (words[0] if words else None), None, None
    return words[0], " ".join(words[1:-1]) or None, words[-1]
