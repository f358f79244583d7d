"""Sync Now's automatic matching: unlinked records of both sides paired by exact name. Pure.

Matching is an ordered list of named levels; every pair carries the level that made it:

- ``exact-name``: the name keys are equal (:func:`pmtools.names.normalize_name` for accounts,
  the person's full key for contacts, "Last, First" read as "First Last").
- ``exact-name:middle-name-ignored`` (contacts only, among the records the first level left):
  the loose keys (first and last word) are equal and one full name is the other with words left
  out (:func:`pmtools.names.compatible`), e.g. a middle name on one side only.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pmtools.names import compatible, normalize_name, person_key_strings
from pmtools.plan import SyncState
from pmtools.records import Kind, Record

__all__ = [
    "AmbiguousGroup",
    "EXACT",
    "LEVELS",
    "MIDDLE_IGNORED",
    "MatchResult",
    "MatchedPair",
    "match",
]

EXACT = "exact-name"
MIDDLE_IGNORED = "exact-name:middle-name-ignored"
LEVELS = (EXACT, MIDDLE_IGNORED)


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


class _Index:
    """One side's records of one level, by key: the first id and, for shared keys, all ids."""

    __slots__ = ("first", "shared")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        first: dict[str, str] = {}
        shared: dict[str, list[str]] = {}
        for key, rid in items:
            if not key:
                continue
            if key in first:
                if key in shared:
                    shared[key].append(rid)
                else:
                    shared[key] = [first[key], rid]
            else:
                first[key] = rid
        self.first = first
        self.shared = shared

    def ids(self, key: str) -> tuple[str, ...]:
        """Every id with ``key``."""
        if key in self.shared:
            return tuple(self.shared[key])
        return (self.first[key],)


def match(kind: Kind, liscio: Sequence[Record], ipm: Sequence[Record],
          state: SyncState) -> MatchResult:
    """Pair the unlinked, non-archived records of ``kind`` by exact name (see module doc)."""
    linked_liscio: set[str] = set()
    linked_ipm: set[str] = set()
    for link in state.links:
        if link.kind is kind:
            linked_liscio.add(link.liscio_id)
            linked_ipm.add(link.ipm_key)
    blocked = {(d.liscio_id, d.ipm_key) for d in state.decisions if d.kind is kind}

    # By id: a record listed twice (pages that overlapped) is one record, not a tie.
    open_liscio = list({r.id: r for r in liscio
                        if r.kind is kind and not r.archived and r.id not in linked_liscio
                        }.values())
    open_ipm = list({r.id: r for r in ipm
                     if r.kind is kind and not r.archived and r.id not in linked_ipm}.values())

    pairs: list[MatchedPair] = []
    groups: list[AmbiguousGroup] = []
    done: set[str] = set()  # Liscio ids paired or ambiguous
    done_ipm: set[str] = set()  # IPM keys paired or ambiguous

    if kind is Kind.ACCOUNTS:
        liscio_keys = {r.id: normalize_name(r.name) for r in open_liscio}
        ipm_keys = {r.id: normalize_name(r.name) for r in open_ipm}
        _level(EXACT, liscio_keys, ipm_keys, blocked, pairs, groups, done, done_ipm, None)
    else:
        full_l, loose_l = _person_keys(open_liscio)
        full_i, loose_i = _person_keys(open_ipm)
        _level(EXACT, full_l, full_i, blocked, pairs, groups, done, done_ipm, None)
        rest_l = {rid: key for rid, key in loose_l.items() if rid not in done}
        rest_i = {rid: key for rid, key in loose_i.items() if rid not in done_ipm}
        _level(MIDDLE_IGNORED, rest_l, rest_i, blocked, pairs, groups, done, done_ipm,
               (full_l, full_i))

    return MatchResult(
        pairs=tuple(pairs),
        ambiguous=tuple(groups),
        unmatched_liscio=tuple(r.id for r in open_liscio if r.id not in done),
        unmatched_ipm=tuple(r.id for r in open_ipm if r.id not in done_ipm),
    )


def _person_keys(records: list[Record]) -> tuple[dict[str, str], dict[str, str]]:
    """Full and loose person keys by id."""
    full: dict[str, str] = {}
    loose: dict[str, str] = {}
    for record in records:
        full[record.id], loose[record.id] = person_key_strings(record)
    return full, loose


def _level(level: str, liscio_keys: dict[str, str], ipm_keys: dict[str, str],
           blocked: set[tuple[str, str]], pairs: list[MatchedPair],
           groups: list[AmbiguousGroup], done: set[str], done_ipm: set[str],
           full_keys: tuple[dict[str, str], dict[str, str]] | None) -> None:
    """Match one level: 1:1 keys are paired, shared keys on both sides are ambiguous."""
    left = _Index((key, rid) for rid, key in liscio_keys.items())
    right = _Index((key, rid) for rid, key in ipm_keys.items())
    right_first = right.first
    for key, lid in left.first.items():
        iid = right_first.get(key)
        if iid is None:
            continue
        if key in left.shared or key in right.shared:
            lids, iids = left.ids(key), right.ids(key)
            groups.append(AmbiguousGroup(key, level, lids, iids))
            done.update(lids)
            done_ipm.update(iids)
            continue
        if (lid, iid) in blocked:
            continue
        if full_keys is not None and not compatible(full_keys[0][lid], full_keys[1][iid]):
            continue
        pairs.append(MatchedPair(lid, iid, level))
        done.add(lid)
        done_ipm.add(iid)
