"""The review queue: every record a person must decide, with its best candidate. Pure.

Built from both sides' records of each kind and the stored state (:class:`KindRecords`), by
:func:`build_queue`; answered by :class:`ReviewQueue` (filters, sort, pages, counts) with numpy
masks over precomputed columns, as :class:`pmtools.analysis.views.PairsView` answers View Details.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pmtools.analysis.suggest import (
    Reason,
    Suggestion,
    SuggestionIndex,
    display_name,
    search_text,
    search_words,
)
from pmtools.core.names import fold_for_search
from pmtools.core.plan import DecisionKind, LinkStatus, SyncState
from pmtools.core.records import Kind, Record, Side, has_value

__all__ = [
    "KindRecords",
    "QueueKey",
    "QueuePage",
    "QueueRow",
    "QueueStatus",
    "ReviewQueue",
    "build_queue",
    "other_side",
    "tells_apart",
]

QueueKey = tuple[Kind, Side, str]  # (kind, side, record id): a queue row's identity


class QueueStatus(str, enum.Enum):
    """Why a record is in the queue; the order is the queue's default order."""

    LIKELY = "likely match"  # unmatched, with a likely counterpart
    POSSIBLE = "possible match"  # unmatched, a look-alike a person must check first
    AMBIGUOUS = "ambiguous"  # its name is shared: each group shown together
    NO_CANDIDATE = "no candidate"  # unmatched, nothing like it: create on the other side?
    ORPHANED = "orphaned"  # linked, but one record is archived or gone

    def __str__(self) -> str:
        return self.value


NO_CANDIDATE_REASON = "nothing like it on the other side: create it there?"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class KindRecords:
    """Both sides' records of one kind and the stored state: what the queue is built from.

    ``liscio`` holds every Liscio record of the kind (archived ones included), ``ipm`` every
    IPM record (list rows; an organization's address may not be loaded: ``details_complete``).
    ``accounts`` names Liscio accounts by id, for telling contacts apart (optional).
    """

    kind: Kind
    liscio: tuple[Record, ...]
    ipm: tuple[Record, ...]
    state: SyncState
    accounts: Mapping[str, str] = field(default_factory=dict)
    # Records by side and id, filled on first use (a frozen object may fill its own dict).
    _by: dict[Side, dict[str, Record]] = field(default_factory=dict, init=False, repr=False)

    def record(self, side: Side, record_id: str) -> Record | None:
        """The record of ``side`` with ``record_id``, or None."""
        if not self._by:
            self._by[Side.LISCIO] = {r.id: r for r in self.liscio}
            self._by[Side.IPM] = {r.id: r for r in self.ipm}
        return self._by[side].get(record_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRow:
    """One record to decide: the record, its best candidate on the other side, and why.

    ``reason`` is in words ("same email", "close spelling", …), ``score`` 0–100 (None without a
    candidate). Ambiguous rows share ``group`` (one key per tied name) and ``group_size``;
    ``details`` tells a record apart from others of its name (email · title · phone · website
    · account). An orphaned row's candidate is its linked counterpart.
    """

    kind: Kind
    side: Side
    record_id: str
    name: str
    status: QueueStatus
    candidate_id: str | None = None
    candidate_name: str | None = None
    reason: str = ""
    score: float | None = None
    tie: bool = False
    group: str = ""
    group_size: int = 0
    details: str = ""
    candidate_details: str = ""
    record: Record | None = field(default=None, compare=False, repr=False)
    candidate: Record | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> QueueKey:
        """(kind, side, record id)."""
        return (self.kind, self.side, self.record_id)

    @property
    def liscio_id(self) -> str | None:
        """The Liscio id of the row's pair (the record's or the candidate's)."""
        return self.record_id if self.side is Side.LISCIO else self.candidate_id

    @property
    def ipm_key(self) -> str | None:
        """The IPM key of the row's pair (the record's or the candidate's)."""
        return self.record_id if self.side is Side.IPM else self.candidate_id


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class QueuePage:
    """One page of the queue: its rows, how many rows match in all, and where it is."""

    rows: tuple[QueueRow, ...]
    total: int
    page: int
    pages: int


def other_side(side: Side) -> Side:
    """The side that is not ``side``."""
    return Side.IPM if side is Side.LISCIO else Side.LISCIO


def tells_apart(record: Record, accounts: Mapping[str, str] | None = None) -> str:
    """What tells a record apart from others of its name: "email · title · phone · account"."""
    values = [record.email, record.title, record.phone, record.website]
    parts = [str(v).strip() for v in values if has_value(v)]
    if accounts:
        parts += [f"account {accounts[a]}" for a in record.account_ids if a in accounts]
    return " · ".join(parts)


def build_queue(sources: Iterable[KindRecords]) -> ReviewQueue:
    """The review queue of every given kind (see the module doc)."""
    rows: list[QueueRow] = []
    for src in sources:
        rows.extend(_kind_rows(src))
    return ReviewQueue(rows)


def _kind_rows(src: KindRecords) -> list[QueueRow]:
    from pmtools.core.matching import match

    kind, state = src.kind, src.state
    links = [link for link in state.links if link.kind is kind]
    linked = {
        Side.LISCIO: {link.liscio_id for link in links},
        Side.IPM: {link.ipm_key for link in links},
    }
    live = {
        Side.LISCIO: [
            r
            for r in src.liscio
            if r.kind is kind and not r.archived and r.id not in linked[Side.LISCIO]
        ],
        Side.IPM: [r for r in src.ipm if r.kind is kind and r.id not in linked[Side.IPM]],
    }
    rejected: dict[tuple[Side, str], set[str]] = {}
    for d in state.decisions:
        if d.kind is kind and d.decision is DecisionKind.NOT_A_MATCH:
            rejected.setdefault((Side.LISCIO, d.liscio_id), set()).add(d.ipm_key)
            rejected.setdefault((Side.IPM, d.ipm_key), set()).add(d.liscio_id)
    index = {side: SuggestionIndex(live[side]) for side in Side}
    result = match(kind, live[Side.LISCIO], live[Side.IPM], state)
    rows: list[QueueRow] = []
    by_id = {side: {r.id: r for r in live[side]} for side in Side}
    accounts = src.accounts if kind is Kind.CONTACTS else {}
    wanted = [
        (side, by_id[side][rid])
        for group in result.ambiguous
        for side, ids in ((Side.LISCIO, group.liscio_ids), (Side.IPM, group.ipm_keys))
        for rid in ids
    ]
    wanted += [(Side.LISCIO, by_id[Side.LISCIO][i]) for i in result.unmatched_liscio]
    wanted += [(Side.IPM, by_id[Side.IPM][k]) for k in result.unmatched_ipm]
    best: dict[tuple[Side, str], Suggestion | None] = {}
    for side in Side:  # one batched ranking per side: the queue's main cost
        recs = [r for s, r in wanted if s is side]
        ranked = index[other_side(side)].rank_many(
            recs, limit=1, exclude=lambda r, side=side: rejected.get((side, r.id), ())
        )
        best.update(((side, r.id), found[0] if found else None) for r, found in zip(recs, ranked))
    for group in result.ambiguous:
        members = [(Side.LISCIO, i) for i in group.liscio_ids] + [
            (Side.IPM, k) for k in group.ipm_keys
        ]
        key = f"{kind}:{group.level}:{group.key}"
        for side, rid in members:
            rec = by_id[side][rid]
            others = group.ipm_keys if side is Side.LISCIO else group.liscio_ids
            rows.append(
                _row(
                    kind,
                    side,
                    rec,
                    QueueStatus.AMBIGUOUS,
                    best[(side, rid)],
                    accounts,
                    group=key,
                    group_size=len(members),
                    fallback=f"shares its name with {len(others)} "
                    f"{'IPM' if side is Side.LISCIO else 'Liscio'} "
                    f"record{'s' if len(others) != 1 else ''}",
                )
            )
    for side, ids in ((Side.LISCIO, result.unmatched_liscio), (Side.IPM, result.unmatched_ipm)):
        for rid in ids:
            rec = by_id[side][rid]
            rows.append(_row(kind, side, rec, None, best[(side, rid)], accounts))
    rows.extend(_orphan_rows(src, links, accounts))
    return rows


def _row(
    kind: Kind,
    side: Side,
    rec: Record,
    status: QueueStatus | None,
    top: Suggestion | None,
    accounts: Mapping[str, str],
    *,
    group: str = "",
    group_size: int = 0,
    fallback: str = "",
) -> QueueRow:
    if status is None:
        status = _unmatched_status(kind, top)
    reason = str(top.reason) if top is not None else (fallback or NO_CANDIDATE_REASON)
    cand = top.record if top is not None else None
    return QueueRow(
        kind=kind,
        side=side,
        record_id=rec.id,
        name=display_name(rec),
        status=status,
        candidate_id=top.id if top else None,
        candidate_name=top.name if top else None,
        reason=reason,
        score=top.score if top else None,
        tie=bool(top and top.tie),
        group=group,
        group_size=group_size,
        details=tells_apart(rec, accounts),
        candidate_details=tells_apart(cand, accounts) if cand else "",
        record=rec,
        candidate=cand,
    )


def _unmatched_status(kind: Kind, top: Suggestion | None) -> QueueStatus:
    """A merely similar name is no counterpart (different people); nor is a person's close
    spelling on its own — "Mark Robinson" and "Mary Robinson" are two people — so that is a
    possible match, which a person checks and links one by one (never in bulk by suggestion)."""
    if top is None or top.reason is Reason.SIMILAR:
        return QueueStatus.NO_CANDIDATE
    if kind is Kind.CONTACTS and top.reason is Reason.CLOSE_SPELLING:
        return QueueStatus.POSSIBLE
    return QueueStatus.LIKELY


def _orphan_rows(src: KindRecords, links: Sequence, accounts: Mapping[str, str]) -> list[QueueRow]:
    rows = []
    for link in links:
        left = src.record(Side.LISCIO, link.liscio_id)
        right = src.record(Side.IPM, link.ipm_key)
        if left is not None and left.archived:
            why = "the Liscio record is archived"
        elif left is None:
            why = "the Liscio record is gone"
        elif right is None:
            why = "the IPM record is gone"
        elif link.status is LinkStatus.ORPHANED:
            why = "the link is orphaned: link the records again or leave them"
        else:
            continue
        side, rec, cand = (
            (Side.LISCIO, left, right) if left is not None else (Side.IPM, right, None)
        )
        rid = link.liscio_id if side is Side.LISCIO else link.ipm_key
        name = display_name(rec) if rec is not None else rid
        rows.append(
            QueueRow(
                kind=src.kind,
                side=side,
                record_id=rid,
                name=name,
                status=QueueStatus.ORPHANED,
                candidate_id=link.ipm_key if side is Side.LISCIO else link.liscio_id,
                candidate_name=display_name(cand) if cand is not None else None,
                reason=why,
                details=tells_apart(rec, accounts) if rec is not None else "",
                record=rec,
                candidate=cand,
            )
        )
    return rows


_STATUS_ORDER = list(QueueStatus)
_KINDS = list(Kind)
_SIDES = list(Side)


class ReviewQueue:
    """The queue's rows, answering filter/sort/page/count queries in milliseconds.

    Rows are kept in a stable order: by status (likely, ambiguous with each group together, no
    candidate, orphaned), then best score first, then name.
    """

    def __init__(self, rows: Iterable[QueueRow]) -> None:
        ordered = sorted(rows, key=_order)
        self.rows: tuple[QueueRow, ...] = tuple(ordered)
        self._position = {r.key: i for i, r in enumerate(self.rows)}
        self._kind = np.array([_KINDS.index(r.kind) for r in self.rows], dtype=np.int8)
        self._side = np.array([_SIDES.index(r.side) for r in self.rows], dtype=np.int8)
        self._status = np.array([_STATUS_ORDER.index(r.status) for r in self.rows], dtype=np.int8)
        self._score = np.array(
            [math.nan if r.score is None else r.score for r in self.rows], dtype=np.float32
        )
        self._reasons = sorted({r.reason for r in self.rows})
        codes = {reason: i for i, reason in enumerate(self._reasons)}
        self._reason = np.array([codes[r.reason] for r in self.rows], dtype=np.int32)
        self._names = [search_text(r.name, r.candidate_name or "") for r in self.rows]
        self._search: object | None = None  # a TextColumn, built on the first search

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def row(self, key: QueueKey) -> QueueRow | None:
        """The row of (kind, side, record id), or None when it is not in the queue."""
        i = self._position.get((Kind(key[0]), Side(key[1]), key[2]))
        return None if i is None else self.rows[i]

    def group(self, group: str) -> tuple[QueueRow, ...]:
        """The rows of one ambiguous group (both sides), in queue order."""
        return tuple(r for r in self.rows if group and r.group == group)

    def reasons(self) -> tuple[str, ...]:
        """Every reason present in the queue, for a filter's options."""
        return tuple(self._reasons)

    def select(self, **filters: object) -> tuple[QueueRow, ...]:
        """Every row matching the filters (as :meth:`query` takes them), in sorted order."""
        return tuple(self.rows[i] for i in self._hits(**filters))  # type: ignore[arg-type]

    def query(
        self,
        *,
        kind: Kind | str | None = None,
        side: Side | str | None = None,
        status: Collection[QueueStatus | str] | None = None,
        reason: Collection[str] | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        search: str = "",
        sort: str = "queue",
        page: int = 0,
        page_size: int = 50,
    ) -> QueuePage:
        """One page of the rows matching the filters.

        ``status``/``reason`` keep rows with one of those values; ``min_score``/``max_score``
        keep rows with a candidate scoring within the range (rows without one are left out when
        either is given); ``search`` matches the names of the record and its candidate
        (substring, accents and case folded). ``sort``: ``queue`` (the stable order above),
        ``score`` (best first) or ``score-asc``. A page past the end gives the last page.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        hits = self._hits(
            kind=kind,
            side=side,
            status=status,
            reason=reason,
            min_score=min_score,
            max_score=max_score,
            search=search,
            sort=sort,
        )
        total = len(hits)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(page, 0), pages - 1)
        chosen = hits[page * page_size : (page + 1) * page_size]
        return QueuePage(
            rows=tuple(self.rows[i] for i in chosen), total=total, page=page, pages=pages
        )

    def counts(self, **filters: object) -> dict[str, dict[str, int]]:
        """Rows per status, reason, kind and side among those matching the filters (badges)."""
        hits = self._hits(**filters)  # type: ignore[arg-type]
        out: dict[str, dict[str, int]] = {"status": {}, "reason": {}, "kind": {}, "side": {}}
        for name, codes, labels in (
            ("status", self._status, _STATUS_ORDER),
            ("kind", self._kind, _KINDS),
            ("side", self._side, _SIDES),
            ("reason", self._reason, self._reasons),
        ):
            found = (
                np.bincount(codes[hits], minlength=len(labels))
                if len(hits)
                else np.zeros(len(labels), dtype=np.int64)
            )
            out[name] = {str(label): int(n) for label, n in zip(labels, found) if n}
        out["total"] = {"rows": int(len(hits))}
        return out

    def without(self, keys: Iterable[QueueKey]) -> ReviewQueue:
        """The queue without the rows of ``keys`` (records just decided): no rebuild.

        The rows keep their order and their precomputed columns (a few milliseconds at scale
        20, where building the queue takes seconds).
        """
        gone = [self._position.get((Kind(k), Side(s), i)) for k, s, i in keys]
        drop = [i for i in gone if i is not None]
        if not drop:
            return self
        keep = np.ones(len(self.rows), dtype=bool)
        keep[drop] = False
        index = np.flatnonzero(keep)
        out = object.__new__(ReviewQueue)
        out.rows = tuple(self.rows[i] for i in index)
        out._position = {r.key: n for n, r in enumerate(out.rows)}
        out._kind, out._side = self._kind[index], self._side[index]
        out._status, out._score = self._status[index], self._score[index]
        out._reasons, out._reason = self._reasons, self._reason[index]
        out._names = [self._names[i] for i in index]
        out._search = None
        return out

    def _hits(
        self,
        *,
        kind: Kind | str | None = None,
        side: Side | str | None = None,
        status: Collection[QueueStatus | str] | None = None,
        reason: Collection[str] | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        search: str = "",
        sort: str = "queue",
    ) -> np.ndarray:
        mask = np.ones(len(self.rows), dtype=bool)
        if kind is not None:
            mask &= self._kind == _KINDS.index(Kind(kind))
        if side is not None:
            mask &= self._side == _SIDES.index(Side(side))
        if status is not None:
            wanted = [_STATUS_ORDER.index(QueueStatus(s)) for s in status]
            mask &= np.isin(self._status, wanted)
        if reason is not None:
            codes = [self._reasons.index(r) for r in reason if r in self._reasons]
            mask &= np.isin(self._reason, codes)
        if min_score is not None:
            mask &= self._score >= min_score  # NaN (no candidate) compares False
        if max_score is not None:
            mask &= self._score <= max_score
        words = search_words(search)
        if words:
            from pmtools.analysis.suggest import TextColumn

            if self._search is None:
                self._search = TextColumn(self._names)
            among = np.flatnonzero(mask)
            for word in words:  # every word, anywhere: "smith john" finds "John Smith"
                among = self._search.find(word, among=among)  # type: ignore[attr-defined]
            mask = np.zeros(len(self.rows), dtype=bool)
            mask[among] = True
        hits = np.flatnonzero(mask)
        if sort in ("score", "score-asc") and len(hits):
            scores = np.nan_to_num(self._score[hits], nan=-1.0)
            order = np.argsort(-scores if sort == "score" else scores, kind="stable")
            hits = hits[order]
        elif sort not in ("queue", "score", "score-asc"):
            raise ValueError(f"sort must be queue, score or score-asc, not {sort!r}")
        return hits


def _order(row: QueueRow) -> tuple[object, ...]:
    if row.status is QueueStatus.AMBIGUOUS:  # each group together, Liscio's records first
        return (
            _STATUS_ORDER.index(row.status),
            0.0,
            row.group,
            _SIDES.index(row.side),
            fold_for_search(row.name),
            row.record_id,
        )
    return (
        _STATUS_ORDER.index(row.status),
        -(row.score or 0.0),
        "",
        fold_for_search(row.name),
        _SIDES.index(row.side),
        row.record_id,
    )
