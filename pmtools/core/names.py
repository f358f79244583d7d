"""Name keys for the seed's "names match exactly (case insensitive)".

A name key is Unicode NFKC, casefolded, trimmed, with runs of white space collapsed — nothing
more: punctuation, accents and "LLC"/"Inc." differences are not exact (they are for the
workbench's suggestions). A person's name is their first and last name, so two more rules apply
to people: Karbon's "Last, First" display form of FullName is read as "First Last", and a middle
name present on one side only does not stop a match (see :func:`person_keys`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from pmtools.core.records import Kind, Record, Side
from pmtools.core.text import has_visible_text

# Words that may follow a comma in a person's name without it being "Last, First".
_SUFFIXES = frozenset(
    "jr jr. sr sr. ii iii iv v cpa cpa. md m.d. phd ph.d. esq esq. dds mba ea".split()
)


def normalize_name(name: str | None) -> str:
    """The exact-match key of a name: NFKC, casefold, trimmed, white space collapsed."""
    if not name:
        return ""
    # str.split() splits on exactly the characters regex \s matches (str.isspace), and is
    # several times faster: matching computes ~10^6 keys. ASCII text is already NFKC, and its
    # casefold is its lower case.
    if name.isascii():
        key = " ".join(name.lower().split())
        return key if key.isprintable() else _visible_key(key)
    return _visible_key(" ".join(unicodedata.normalize("NFKC", name).casefold().split()))


def _visible_key(key: str) -> str:
    """``key``, or "" when it shows nothing (zero-width and other invisible characters only).

    Such a name is an empty name: it never matches, and no record is created from it.
    """
    return key if has_visible_text(key) else ""


# Letters NFKD does not decompose, read as their base letters for search (after casefold).
_SEARCH_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l"})


def fold_for_search(text: str | None) -> str:
    """The search key of a text: accents and case folded, white space collapsed.

    NFKD, combining marks dropped, casefolded (so "ß" is "ss"), "ø æ œ đ ł" read as "o ae oe d
    l", NFC, trimmed, runs of white space collapsed: "Björn  Ångström" is "bjorn angstrom". For
    search boxes only — exact matching keeps accents (:func:`normalize_name`: "Café" is not
    "Cafe").
    """
    if not text:
        return ""
    if text.isascii():
        return " ".join(text.lower().split())
    # casefold may add marks ("İ" -> "i̇"): decompose after it, then drop them. NFC at the end
    # recomposes what is left unaccented (Hangul syllables from their jamo).
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept = "".join(c for c in folded if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", " ".join(kept.translate(_SEARCH_LETTERS).split()))


def display_order(full_name: str) -> str:
    """Turn Karbon's "Last, First Middle" display form into "First Middle Last".

    A name whose part after the comma is a suffix ("Smith, Jr.") is left as it is, and so is a
    name with more than one comma.
    """
    head, sep, tail = full_name.partition(",")
    if not sep or "," in tail:
        return full_name
    tail_key = normalize_name(tail)
    if not tail_key or not head.strip() or tail_key in _SUFFIXES:
        return full_name
    return f"{tail.strip()} {head.strip()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonKeys:
    """The two match levels of a person's name.

    ``full`` is every name word in order ("first middle last"); ``loose`` is the first word of
    the first name and the last word of the last name. Two people with the same ``loose`` key
    are the same name when one's words are the other's with words left out (a middle name on
    one side only): see :func:`compatible`.
    """

    full: str
    loose: str


def person_keys(record: Record) -> PersonKeys:
    """The name keys of a Liscio contact or an IPM person."""
    full, loose = person_key_strings(record)
    return PersonKeys(full=full, loose=loose)


def person_key_strings(record: Record) -> tuple[str, str]:
    """:func:`person_keys` as a plain (full, loose) tuple."""
    full = person_full_key(record)
    return full, loose_key(full)


def person_full_key(record: Record) -> str:
    """A person's full key (:class:`PersonKeys`): matching computes ~10^6 of them."""
    first, last = record.first_name, record.last_name
    if first is not None or last is not None:
        # Empty parts leave extra spaces, which normalize_name collapses.
        words = f"{first or ''} {record.middle_name or ''} {last or ''}"
    else:
        words = record.name
        # display_order leaves a name without a comma as it is: skip the call.
        if record.side is Side.IPM and "," in words:
            words = display_order(words)
    # normalize_name, inlined.
    if not words:
        return ""
    if words.isascii():
        key = " ".join(words.lower().split())
        return key if key.isprintable() else _visible_key(key)
    return _visible_key(" ".join(unicodedata.normalize("NFKC", words).casefold().split()))


def loose_key(full: str) -> str:
    """The loose key of a full person key: its first and last word (:class:`PersonKeys`)."""
    first_space = full.find(" ")
    if first_space < 0:
        return full
    return f"{full[:first_space]} {full[full.rfind(' ') + 1 :]}"


def compatible(a: str, b: str) -> bool:
    """True when one full key's words are the other's with some words left out (in order)."""
    short, long = sorted((a.split(" "), b.split(" ")), key=len)
    it = iter(long)
    return all(word in it for word in short)


def name_key(record: Record) -> str:
    """The primary exact-match key of any record (a person's full key)."""
    if record.kind is Kind.CONTACTS:
        return person_keys(record).full
    return normalize_name(record.name)
