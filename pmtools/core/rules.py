"""The seed's field rules: when a synced field is written, to which side, and why. Pure.

Two values of a field are compared in a *comparison form* (:func:`normalize_value`); values
equal in that form are equal and cause no write. The forms, field by field:

- ``email``: trimmed, casefolded.
- ``phone``: the digits only. A North American number written with its country code
  ("+1 (555) 010-2000", "1-555-010-2000") compares equal to the ten-digit form
  ("555-010-2000"); any other number written with a leading "+" keeps it ("+44 20 7946 0958"
  -> "+442079460958"), so "+44…" and a national "020…" form are *different* (we cannot know the
  country of a number written without one). An extension ("x12", "ext. 12", "#12") is kept as
  "x12". A value with no digit at all ("n/a") compares as its trimmed, casefolded text.
- ``website``: trimmed; the scheme ("https://"), a leading "www." and trailing slashes are
  dropped and the host is casefolded. The path keeps its case (paths can be case-sensitive).
- ``address``: the parts in reading order, joined, casefolded, commas treated as white space and
  white space collapsed (so moving "Suite 4" from line 1 to line 2 is no change).
- ``title``: trimmed, white space collapsed, **case-sensitive**: "CEO" and "Ceo" differ, and at a
  sync Liscio's spelling wins — a title's capitalisation is what people see.

Every string is NFKC-normalised first. The comparison form is "" exactly when the value has no
value (:func:`pmtools.core.records.has_value`), so "has a value" and "equal" never disagree.

Before an email is written to either side it must be a valid address (:func:`email_problem`):
an invalid one is a record error naming the record, and is never sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from pmtools.core.countries import country_key
from pmtools.core.records import SYNCED_FIELDS, Address, FieldValue, Side, has_value
from pmtools.core.rulebook import Rule

__all__ = [
    "FieldDecision",
    "decide",
    "decide_field",
    "email_problem",
    "normalize_value",
    "values_equal",
]


FIELDS = frozenset(f for fields in SYNCED_FIELDS.values() for f in fields)

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#)\s*(\d+)\s*$", re.IGNORECASE)
_NON_DIGIT = re.compile(r"\D")
# A spreadsheet runs a cell starting with one of these as a formula; no real mailbox does.
_FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDecision:
    """One field write decided by the rules: ``side`` is the side written."""

    field: str
    side: Side
    before: FieldValue
    after: FieldValue
    rule: str


def normalize_value(field: str, value: FieldValue) -> str:
    """The comparison form of a synced field's value ("" when it has no value)."""
    form = _TEXT_FORMS.get(field)
    if form is None:
        raise KeyError(f"{field!r} is not a synced field")
    if value.__class__ is str:  # the common case, without has_value's isinstance checks
        if not value.strip():
            return ""
        return _text_form(form, value)
    if not has_value(value):
        return ""
    if isinstance(value, Address):
        return _address(value)
    return _text_form(form, str(value))


def values_equal(field: str, a: FieldValue, b: FieldValue) -> bool:
    """True when two values of ``field`` are equal after normalisation."""
    return normalize_value(field, a) == normalize_value(field, b)


def email_problem(value: FieldValue) -> str | None:
    """Why ``value`` cannot be written as an email address; None when it can, or is empty.

    The syntax check is email-validator's (RFC 5322/6531, internationalised addresses
    allowed; no DNS lookup, so it works offline and is the same every run). A value that
    starts like a spreadsheet formula ("=HYPERLINK(…)", "+…", "-…", "@…") is refused too,
    although RFC 5322 allows some such local parts: IPM's data ends up in spreadsheets.
    """
    if not isinstance(value, str) or not value.strip():
        return None if not has_value(value) else "it is not text"
    from email_validator import EmailNotValidError, validate_email

    text = value.strip()
    if text.startswith(_FORMULA_START):
        return "it starts like a spreadsheet formula"
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        text = str(exc).rstrip(".")
        return text[:1].lower() + text[1:]
    return None


def decide_field(
    field: str, liscio_value: FieldValue, ipm_value: FieldValue, *, first_sync: bool
) -> FieldDecision | None:
    """What the seed's rules do with one field of a linked pair; None when nothing is written.

    First sync of a pair: a value on one side only fills the other side; values on both sides
    that differ: Liscio's overwrites IPM's. Later syncs: Liscio has a value and IPM is empty or
    different: Liscio's is written to IPM; Liscio empty: nothing; nothing is written to Liscio.
    """
    if field not in FIELDS:
        raise KeyError(f"{field!r} is not a synced field")
    decided = decide(field, liscio_value, ipm_value, first_sync)
    if decided is None:
        return None
    side, before, after, rule = decided
    return FieldDecision(field=field, side=side, before=before, after=after, rule=rule)


def decide(
    field: str, liscio_value: FieldValue, ipm_value: FieldValue, first_sync: bool
) -> tuple[Side, FieldValue, FieldValue, str] | None:
    """:func:`decide_field` as a plain (side, before, after, rule) tuple, for a known field.

    The planner decides every field of every pair (~10^6 at 100,000 organizations), so this
    avoids the value object and normalises only when both sides have a value.
    """
    if liscio_value == ipm_value:
        return None  # the common case, decided without normalising
    # A side without a value has the empty form: only the other side's has_value matters.
    if liscio_value is None:
        if first_sync and has_value(ipm_value):
            return Side.LISCIO, liscio_value, ipm_value, Rule.FIRST_FILL_LISCIO
        return None
    if ipm_value is None:
        if has_value(liscio_value):
            return (
                Side.IPM,
                ipm_value,
                liscio_value,
                Rule.FIRST_FILL_IPM if first_sync else Rule.LATER_LISCIO_TO_IPM,
            )
        return None
    liscio_form = normalize_value(field, liscio_value)
    ipm_form = normalize_value(field, ipm_value)
    if liscio_form == ipm_form:
        return None  # both empty, or equal after normalisation
    if not liscio_form:
        if not first_sync:
            return None
        return Side.LISCIO, liscio_value, ipm_value, Rule.FIRST_FILL_LISCIO
    if first_sync:
        rule = Rule.FIRST_LISCIO_WINS if ipm_form else Rule.FIRST_FILL_IPM
    else:
        rule = Rule.LATER_LISCIO_TO_IPM
    return Side.IPM, ipm_value, liscio_value, rule


def _text_form(form: Callable[[str], str], value: str) -> str:
    # ASCII text is already NFKC: skip the (linear) normalisation check.
    text = (value if value.isascii() else unicodedata.normalize("NFKC", value)).strip()
    # A value whose field form is empty ("http://", "--") still has a value: compare its text.
    return form(text) or _collapse(text.casefold())


def _collapse(text: str) -> str:
    # str.split() splits on exactly what regex \s matches (str.isspace), and strips the ends.
    return " ".join(text.split())


def _email(text: str) -> str:
    return text.casefold()


def _title(text: str) -> str:
    return _collapse(text)


def _address_text(text: str) -> str:
    return _collapse(text.replace(",", " ").casefold())


def _phone(text: str) -> str:
    extension = ""
    # No "x" or "#": no extension (and ASCII text cannot case-fold into either).
    if not text.isascii() or "x" in text or "X" in text or "#" in text:
        found = _EXTENSION.search(text)
        if found and _NON_DIGIT.sub("", text[: found.start()]):
            extension = "x" + found.group(1)
            text = text[: found.start()]
    digits = _NON_DIGIT.sub("", text)
    if not digits:
        return ""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]  # North American number with its country code
    elif text.startswith("+"):
        digits = "+" + digits
    return digits + extension


def _website(text: str) -> str:
    rest = _SCHEME.sub("", text) if "://" in text else text
    host, slash, path = rest.partition("/")
    host = host.casefold()
    if host.startswith("www."):
        host = host[4:]
    return (host + slash + path).rstrip("/")


def _address(address: Address) -> str:
    # Karbon holds ISO-2 country codes; Liscio may hold the country's name ("Germany" = "DE").
    parts = (*address.parts()[:-1], country_key(address.country))
    joined = " ".join(unicodedata.normalize("NFKC", p) for p in parts if p)
    return _collapse(joined.replace(",", " ").casefold())


_TEXT_FORMS: dict[str, Callable[[str], str]] = {
    "email": _email,
    "phone": _phone,
    "website": _website,
    "address": _address_text,
    "title": _title,
}
