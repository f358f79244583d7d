"""Small converters both connectors use at the wire boundary (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
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
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


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


class FieldProblem(ValueError):
    """A field of a reply has the wrong type; the message names the field and what it held."""


def text_field(row: Mapping[str, Any], key: str) -> str | None:
    """``row[key]`` as trimmed text (None when null, absent or blank); FieldProblem when the
    service sent something else than text (an object, a list, a number, true/false)."""
    value = row.get(key)
    if value is None or isinstance(value, str):
        return text(value)
    raise FieldProblem(f"{key} is {_what(value)}, not text")


def flag_field(row: Mapping[str, Any], key: str) -> bool:
    """``row[key]`` as true/false (absent or null: false); FieldProblem for anything else,
    such as ``"yes"``, which would otherwise read as true."""
    value = row.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise FieldProblem(f"{key} is {_what(value)}, not true or false")


def time_field(row: Mapping[str, Any], key: str) -> str | None:
    """``row[key]`` as an ISO-8601 timestamp string (None when absent); FieldProblem when it
    is not one (it orders incremental pulls, so a bad one must not be kept)."""
    stamp = text_field(row, key)
    if stamp is not None:
        try:
            parse_time(stamp)
        except ValueError:
            raise FieldProblem(f"{key} is {_what(stamp)}, not a date and time") from None
    return stamp


def texts_field(row: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """``row[key]`` as a tuple of strings (absent or null: empty); FieldProblem otherwise."""
    value = row.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise FieldProblem(f"{key} is {_what(value)}, not a list of ids")


def object_field(row: Mapping[str, Any], key: str, parts: tuple[str, ...]) -> dict[str, Any] | None:
    """``row[key]`` as an object whose ``parts`` are text or null (None when null or absent)."""
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldProblem(f"{key} is {_what(value)}, not an object")
    for part in parts:
        try:
            text_field(value, part)
        except FieldProblem as exc:
            raise FieldProblem(f"{key}.{exc}") from None
    return value


def _what(value: Any) -> str:
    """A short, printable description of a wrong value (never the whole of it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    shown = value if len(value) <= 20 else value[:20] + "…"
    return repr(shown)
