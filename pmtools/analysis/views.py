"""The View Details table: every pair and every unmatched record of both sides, searchable.

:func:`build_pairs_table` turns records, links and the ambiguous names into one DataFrame, a row
per pair and per unlinked record. :class:`PairsView` answers the page's questions — a search on
the names of both sides, filters by status and side, one page at a time — with vectorised masks
over precomputed columns, so that 100,000 rows never travel to the browser and a keystroke costs
milliseconds.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pmtools.analysis.suggest import TextColumn, display_name, search_text, search_words
from pmtools.core.names import name_key, normalize_name
from pmtools.core.plan import Action, Link, LinkStatus, Op, SyncState
from pmtools.core.records import Kind, Record, Side

__all__ = ["Ambiguity", "PairsView", "Status", "ViewPage", "build_pairs_table", "columns"]


class Status(str, enum.Enum):
    """The status of a row of View Details."""

    LINKED = "linked"
    UNMATCHED_LISCIO = "unmatched in Liscio"  # a Liscio record with no IPM counterpart
    UNMATCHED_IPM = "unmatched in IPM"  # an IPM record with no Liscio counterpart
    AMBIGUOUS = "ambiguous"  # its name is shared: a person decides
    ORPHANED = "orphaned"  # a link whose Liscio record is archived or gone

    def __str__(self) -> str:
        return self.value


SIDES = ("liscio", "ipm")
_SEP = "\n"  # between the name keys of the search column; a normalised search has none


@dataclass(frozen=True, slots=True, kw_only=True)
class Ambiguity:
    """Which unlinked records of one kind are ambiguous.

    ``liscio`` and ``ipm`` are ids known to be on that side; ``either`` holds ids whose side
    is not said (a plan action's candidates), matched against the ids of both sides.
    """

    liscio: frozenset[str] = frozenset()
    ipm: frozenset[str] = frozenset()
    either: frozenset[str] = frozenset()

    @classmethod
    def from_actions(cls, actions: Iterable[Action], kind: Kind) -> Ambiguity:
        """The ambiguous records named by a plan's AMBIGUOUS actions of ``kind``."""
        liscio: set[str] = set()
        ipm: set[str] = set()
        either: set[str] = set()
        for a in actions:
            if a.op is not Op.AMBIGUOUS or a.kind is not kind:
                continue
            if a.liscio_id:
                liscio.add(a.liscio_id)
            if a.ipm_key:
                ipm.add(a.ipm_key)
            either.update(a.candidates)
        return cls(liscio=frozenset(liscio), ipm=frozenset(ipm), either=frozenset(either))

    @classmethod
    def from_groups(cls, groups: Iterable[Any]) -> Ambiguity:
        """The records of the matcher's ambiguous groups (``liscio_ids`` and ``ipm_keys``)."""
        liscio: set[str] = set()
        ipm: set[str] = set()
        for group in groups:
            liscio.update(group.liscio_ids)
            ipm.update(group.ipm_keys)
        return cls(liscio=frozenset(liscio), ipm=frozenset(ipm))

    @classmethod
    def from_match(
        cls, kind: Kind, liscio: Sequence[Record], ipm: Sequence[Record], state: SyncState
    ) -> Ambiguity:
        """The ambiguous records as the matcher sees them now (no plan needed)."""
        from pmtools.core.matching import match  # the engine's matcher; imported when used

        return cls.from_groups(match(kind, liscio, ipm, state).ambiguous)

    def holds(self, side: Side, record_id: str) -> bool:
        """True when the record of ``side`` with ``record_id`` is ambiguous."""
        own = self.liscio if side is Side.LISCIO else self.ipm
        return record_id in own or record_id in self.either


def columns(kind: Kind) -> list[str]:
    """The shown columns of View Details for ``kind``, in order."""
    fields = [f"{side} {f}" for side in ("Liscio", "IPM") for f in kind.fields]
    return [
        "liscio_id",
        "ipm_key",
        "Liscio name",
        "IPM name",
        "status",
        "linked how",
        "last synced",
        *fields,
    ]


def build_pairs_table(
    kind: Kind,
    liscio: Sequence[Record],
    ipm: Sequence[Record],
    links: Sequence[Link],
    ambiguous: Ambiguity | Iterable[Action] | None = None,
    *,
    last_synced: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per link of ``kind`` and per unlinked record of either side.

    A link is orphaned when stored so, or when its Liscio record is archived or absent or its
    IPM record absent. Unlinked archived Liscio records are left out (they are neither matched
    nor created). ``ambiguous`` is an :class:`Ambiguity`, or the actions of the last plan;
    ``last_synced`` maps a Liscio id to its pair's last sync time (default: the link's first
    sync). Besides :func:`columns`, the table has ``search`` (the name keys of both sides,
    accents and case folded by :func:`~pmtools.core.names.fold_for_search`) and ``side`` (both,
    liscio or ipm).
    """
    if ambiguous is None:
        ambiguous = Ambiguity()
    elif not isinstance(ambiguous, Ambiguity):
        ambiguous = Ambiguity.from_actions(ambiguous, kind)
    last_synced = last_synced or {}
    by_liscio = {r.id: r for r in liscio if r.kind is kind}
    by_ipm = {r.id: r for r in ipm if r.kind is kind}
    rows = _Rows(kind)
    linked_liscio: set[str] = set()
    linked_ipm: set[str] = set()
    for link in links:
        if link.kind is not kind:
            continue
        linked_liscio.add(link.liscio_id)
        linked_ipm.add(link.ipm_key)
        left, right = by_liscio.get(link.liscio_id), by_ipm.get(link.ipm_key)
        orphaned = (
            link.status is LinkStatus.ORPHANED or left is None or left.archived or right is None
        )
        rows.add(
            left,
            right,
            liscio_id=link.liscio_id,
            ipm_key=link.ipm_key,
            status=Status.ORPHANED if orphaned else Status.LINKED,
            how=str(link.how),
            synced=last_synced.get(link.liscio_id) or link.first_synced_at or "",
        )
    for rid, rec in by_liscio.items():
        if rid in linked_liscio or rec.archived:
            continue
        status = Status.AMBIGUOUS if ambiguous.holds(Side.LISCIO, rid) else Status.UNMATCHED_LISCIO
        rows.add(rec, None, liscio_id=rid, ipm_key="", status=status)
    for key, rec in by_ipm.items():
        if key in linked_ipm:
            continue
        status = Status.AMBIGUOUS if ambiguous.holds(Side.IPM, key) else Status.UNMATCHED_IPM
        rows.add(None, rec, liscio_id="", ipm_key=key, status=status)
    return rows.frame()


class _Rows:
    """Column lists of the table being built (faster than a dict per row)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.data: dict[str, list[str]] = {c: [] for c in columns(kind) + ["search", "side"]}
        self.order: list[tuple[str, str, str]] = []

    def add(
        self,
        left: Record | None,
        right: Record | None,
        *,
        liscio_id: str,
        ipm_key: str,
        status: Status,
        how: str = "",
        synced: str = "",
    ) -> None:
        d = self.data
        lname = display_name(left) if left else ""
        rname = display_name(right) if right else ""
        d["liscio_id"].append(liscio_id)
        d["ipm_key"].append(ipm_key)
        d["Liscio name"].append(lname)
        d["IPM name"].append(rname)
        d["status"].append(status.value)
        d["linked how"].append(how)
        d["last synced"].append(synced)
        for label, rec in (("Liscio", left), ("IPM", right)):
            for f in self.kind.fields:
                value = getattr(rec, f) if rec else None
                d[f"{label} {f}"].append("" if value is None else str(value))
        keys: list[str] = []
        for rec, name in ((left, lname), (right, rname)):
            if rec is not None:
                key = normalize_name(name)
                # A person's key also reads Karbon's "Last, First" as "First Last".
                extra = name_key(rec) if self.kind is Kind.CONTACTS else key
                for k in (key, extra) if extra != key else (key,):
                    if k and k not in keys:
                        keys.append(k)
        # Folded once here, not per keystroke: "bjorn" finds "Björn", "obrien" "O'Brien".
        d["search"].append(_SEP.join(dict.fromkeys(search_text(k) for k in keys)))
        d["side"].append("both" if liscio_id and ipm_key else "liscio" if liscio_id else "ipm")
        self.order.append((keys[0] if keys else "", liscio_id, ipm_key))

    def frame(self) -> pd.DataFrame:
        # Rows sorted by name, then ids: the table reads alphabetically and is deterministic.
        perm = sorted(range(len(self.order)), key=self.order.__getitem__)
        return pd.DataFrame(self.data).take(perm).reset_index(drop=True)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ViewPage:
    """One page of View Details: its rows, how many rows match in all, and where it is."""

    rows: pd.DataFrame
    total: int
    page: int
    pages: int


class PairsView:
    """The View Details table of one kind, answering search/filter/page queries fast."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table.reset_index(drop=True)
        self._shown = self.table[[c for c in self.table.columns if c not in ("search", "side")]]
        self._search = TextColumn(self.table["search"].tolist())
        codes = {s.value: i for i, s in enumerate(Status)}
        # .tolist() first: iterating a pandas column boxes each value (5x slower at scale 20)
        self._status = np.array([codes[s] for s in self.table["status"].tolist()], dtype=np.int8)
        side = self.table["side"].to_numpy(dtype=object)
        self._sides = {"liscio": side != "ipm", "ipm": side != "liscio"}
        self._cache: tuple[list[str], np.ndarray] | None = None  # last search's words, hits

    def __len__(self) -> int:
        return len(self.table)

    def query(
        self,
        *,
        search: str = "",
        status: Collection[str] | None = None,
        side: str | None = None,
        page: int = 0,
        page_size: int = 50,
    ) -> ViewPage:
        """One page of the rows matching a search and filters.

        ``search`` matches the names of both sides: each of its words is found in them
        (:func:`~pmtools.analysis.suggest.search_words`: accents, case, apostrophes and word
        order ignored, so "bjorn angstrom" finds "Björn Ångström", "smith john" "John Smith",
        "obrien" "O'Brien" and "O'Connor, Siobhán" "Siobhán Marie O'Connor").
        ``status`` keeps rows with one of those statuses; ``side`` ("liscio" or "ipm") keeps
        rows with a record on that side. A page past the end gives the last page.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        mask = self._search_mask(search_words(search))
        if status is not None:
            order = list(Status)
            wanted = [order.index(Status(s)) for s in status]  # ValueError if unknown
            mask = mask & np.isin(self._status, wanted)
        if side is not None:
            if side not in SIDES:
                raise ValueError(f"side must be one of {SIDES}, not {side!r}")
            mask = mask & self._sides[side]
        hits = np.flatnonzero(mask)
        total = len(hits)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(page, 0), pages - 1)
        chosen = hits[page * page_size : (page + 1) * page_size]
        rows = self._shown.take(chosen).reset_index(drop=True)
        return ViewPage(rows=rows, total=total, page=page, pages=pages)

    def _search_mask(self, words: list[str]) -> np.ndarray:
        n = len(self._search)
        if not words:
            return np.ones(n, dtype=bool)
        cached = self._cache
        if cached is not None and all(any(old in w for w in words) for old in cached[0]):
            # Each earlier word is inside a word of this search (it was typed on): this
            # search's hits are among the earlier one's, so look only at those.
            found = cached[1]
        else:
            found = None
        for word in words:
            found = self._search.find(word, among=found)
        assert found is not None
        self._cache = (words, found)
        mask = np.zeros(n, dtype=bool)
        mask[found] = True
        return mask
