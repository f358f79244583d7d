"""Sync Now's automatic matching: unlinked records of both sides paired by exact name. Pure.

Matching is an ordered list of named levels; every pair carries the level that made it:

- ``exact-name``: the name keys are equal (:func:`pmtools.core.names.normalize_name` for accounts,
  the person's full key for contacts, "Last, First" read as "First Last").
- ``exact-name:middle-name-ignored`` (contacts only, among the records the first level left):
  the loose keys (first and last word) are equal and one full name is the other with words left
  out (:func:`pmtools.core.names.compatible`), e.g. a middle name on one side only.

At each level a key shared by more than one record of *either* side, with records on both
sides, links nothing: the group is reported as ambiguous with its candidates and its records do
not go on to the next level (ties are for a person). A key found on one side only is no tie:
those records go on, and end unmatched. Only unlinked, non-archived records take part; a record
with any stored link (linked or orphaned) is never matched again, and a pair with a stored
decision (not a match, delinked) is never linked: such a 1:1 candidate is left for the next
level. Records with an empty name key are never matched.

Everything is dict look-ups, linear in the number of records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import filterfalse, repeat
from operator import attrgetter, is_, itemgetter
from typing import NamedTuple

from pmtools.core.names import compatible, loose_key, normalize_name, person_full_key
from pmtools.core.plan import SyncState
from pmtools.core.records import Kind, Record
from pmtools.core.rulebook import Rule

__all__ = [
    "AmbiguousGroup",
    "EXACT",
    "LEVELS",
    "MIDDLE_IGNORED",
    "MatchResult",
    "MatchedPair",
    "match",
    "match_records",
]

EXACT = Rule.EXACT_NAME
MIDDLE_IGNORED = Rule.MIDDLE_NAME_IGNORED
LEVELS = (EXACT, MIDDLE_IGNORED)  # in order: a record paired at one level leaves the next


class MatchedPair(NamedTuple):
    """A Liscio record and an IPM record to link, and the level that matched them."""

    liscio_id: str
    ipm_key: str
    level: str


class AmbiguousGroup(NamedTuple):
    """Records of both sides sharing one name key at one level: a person decides."""

    key: str
    level: str
    liscio_ids: tuple[str, ...]
    ipm_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    """What matching found, each list in input order."""

    pairs: tuple[MatchedPair, ...] = ()
    ambiguous: tuple[AmbiguousGroup, ...] = ()
    unmatched_liscio: tuple[str, ...] = ()
    unmatched_ipm: tuple[str, ...] = ()


def match(
    kind: Kind, liscio: Sequence[Record], ipm: Sequence[Record], state: SyncState
) -> MatchResult:
    """Pair the unlinked, non-archived records of ``kind`` by exact name (see module doc)."""
    return match_records(kind, liscio, ipm, state, liscio_by_id=None, ipm_by_id=None)


def match_records(
    kind: Kind,
    liscio: Sequence[Record],
    ipm: Sequence[Record],
    state: SyncState,
    *,
    liscio_by_id: Mapping[str, Record] | None,
    ipm_by_id: Mapping[str, Record] | None,
) -> MatchResult:
    """:func:`match`, given each side's records by id too (the planner has them), or None.

    When every record of a side takes part (no record archived, linked, of another kind or
    listed twice), that mapping is the side's records to match, as is.
    """
    linked_liscio: set[str] = set()
    linked_ipm: set[str] = set()
    for link in state.links:
        if link.kind is kind:
            linked_liscio.add(link.liscio_id)
            linked_ipm.add(link.ipm_key)
    blocked = {(d.liscio_id, d.ipm_key) for d in state.decisions if d.kind is kind}

    open_liscio = _open_records(kind, liscio, linked_liscio, liscio_by_id)
    open_ipm = _open_records(kind, ipm, linked_ipm, ipm_by_id)

    pairs: list[MatchedPair] = []
    groups: list[AmbiguousGroup] = []
    done: set[str] = set()  # Liscio ids paired or ambiguous
    done_ipm: set[str] = set()  # IPM keys paired or ambiguous

    # Ids and keys in parallel lists, in input order: no per-level dicts of ~10^5 entries.
    liscio_ids, ipm_ids = list(open_liscio), list(open_ipm)
    if kind is Kind.ACCOUNTS:
        liscio_keys = list(map(normalize_name, map(_NAME, open_liscio.values())))
        ipm_keys = list(map(normalize_name, map(_NAME, open_ipm.values())))
        _level(
            EXACT,
            (liscio_ids, liscio_keys),
            (ipm_ids, ipm_keys),
            blocked,
            pairs,
            groups,
            done,
            done_ipm,
            None,
        )
    else:
        full_l = list(map(person_full_key, open_liscio.values()))
        full_i = list(map(person_full_key, open_ipm.values()))
        _level(
            EXACT,
            (liscio_ids, full_l),
            (ipm_ids, full_i),
            blocked,
            pairs,
            groups,
            done,
            done_ipm,
            None,
        )
        # Loose keys only for the records the first level left (most are paired there).
        rest_l = _rest(liscio_ids, full_l, done)
        rest_i = _rest(ipm_ids, full_i, done_ipm)
        _level(
            MIDDLE_IGNORED,
            rest_l[:2],
            rest_i[:2],
            blocked,
            pairs,
            groups,
            done,
            done_ipm,
            (dict(zip(rest_l[0], rest_l[2])), dict(zip(rest_i[0], rest_i[2]))),
        )

    return MatchResult(
        pairs=tuple(pairs),
        ambiguous=tuple(groups),
        unmatched_liscio=tuple(filterfalse(done.__contains__, open_liscio)),
        unmatched_ipm=tuple(filterfalse(done_ipm.__contains__, open_ipm)),
    )


def _open_records(
    kind: Kind, records: Sequence[Record], linked: set[str], by_id: Mapping[str, Record] | None
) -> Mapping[str, Record]:
    """The records that take part, by id (one listed twice, as overlapping pages do, is one)."""
    if (
        by_id is not None
        and not linked
        and len(by_id) == len(records)
        and all(map(is_, map(_KIND, records), repeat(kind)))
        and not any(map(_ARCHIVED, records))
    ):
        return by_id  # every record takes part, once: the same mapping, in the same order
    return {r.id: r for r in records if r.kind is kind and not r.archived and r.id not in linked}


_KIND = attrgetter("kind")
_ARCHIVED = attrgetter("archived")
_NAME = attrgetter("name")
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)

# One side of a level: ids and their keys, in parallel.
_Side = tuple[list[str], list[str]]


def _rest(
    ids: list[str], full: list[str], done: set[str]
) -> tuple[list[str], list[str], list[str]]:
    """The ids not done, with their loose keys and full keys."""
    rest = [(rid, key) for rid, key in zip(ids, full) if rid not in done]
    return [r[0] for r in rest], [loose_key(r[1]) for r in rest], [r[1] for r in rest]


def _level(
    level: str,
    liscio: _Side,
    ipm: _Side,
    blocked: set[tuple[str, str]],
    pairs: list[MatchedPair],
    groups: list[AmbiguousGroup],
    done: set[str],
    done_ipm: set[str],
    full_keys: tuple[dict[str, str], dict[str, str]] | None,
) -> None:
    """Match one level: 1:1 keys are paired, shared keys on both sides are ambiguous."""
    liscio_ids, liscio_keys = liscio
    ipm_ids, ipm_keys = ipm
    left_shared = _shared(liscio_keys)
    right_shared = _shared(ipm_keys)
    # Key -> id; for a shared key any of its ids (the group lists them all, below).
    right = dict(zip(ipm_keys, ipm_ids))
    right.pop("", None)  # an empty key never matches
    tied: dict[str, list[str]] = {}  # keys of ambiguous groups in Liscio's order: Liscio ids
    paired = len(pairs)
    for lid, key in zip(liscio_ids, liscio_keys):
        iid = right.get(key)
        if iid is None:
            continue
        if key in left_shared or key in right_shared:
            if key in tied:
                tied[key].append(lid)
            else:
                tied[key] = [lid]
            continue
        if blocked and (lid, iid) in blocked:
            continue
        if full_keys is not None and not compatible(full_keys[0][lid], full_keys[1][iid]):
            continue
        pairs.append(_tuple_new(MatchedPair, (lid, iid, level)))
    # The loop reads neither set: fill them in C.
    done.update(map(_FIRST, pairs[paired:]))
    done_ipm.update(map(_SECOND, pairs[paired:]))
    if not tied:
        return
    shared_ipm = _ids_by_key(ipm_ids, ipm_keys, right_shared.intersection(tied))
    for key, lids in tied.items():
        iids = shared_ipm.get(key) or (right[key],)
        groups.append(AmbiguousGroup(key, level, tuple(lids), iids))
        done.update(lids)
        done_ipm.update(iids)


def _shared(keys: list[str]) -> set[str]:
    """The keys held by more than one id."""
    counts = Counter(keys)
    if len(counts) == len(keys):
        return set()
    return {key for key, n in counts.items() if n > 1}


def _ids_by_key(ids: list[str], keys: list[str], wanted: set[str]) -> dict[str, tuple[str, ...]]:
    """Every id of each wanted key, in input order."""
    if not wanted:
        return {}
    found: dict[str, list[str]] = {key: [] for key in wanted}
    for rid, key in zip(ids, keys):
        if key in found:
            found[key].append(rid)
    return {key: tuple(key_ids) for key, key_ids in found.items()}


_tuple_new = tuple.__new__
