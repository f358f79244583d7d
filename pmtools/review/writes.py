"""What linking two records would write, field by field, before → after on both sides.

:func:`pair_writes` is pure (the planner's first-sync rules for one pair); it says which
fields it could not decide because the IPM card is not loaded yet. :func:`load_card` reads
that card through the IPM connector (and keeps it in the state file's details cache);
:func:`link_preview` reads both records afresh and gives the writes a manual link would make,
which :func:`pmtools.operations.link` applies only while they are still the same
(``expected=``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pmtools.plan import Op
from pmtools.records import FieldValue, Kind, Record, Side
from pmtools.reports import format_value

__all__ = ["FieldWrite", "PairWrites", "link_preview", "load_card", "load_cards",
           "pair_writes", "row_writes", "show_value", "unread_records"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldWrite:
    """One field written on one side of a pair: its value before and after."""

    side: Side
    field: str
    before: FieldValue
    after: FieldValue
    rule: str = ""

    def text(self) -> str:
        """"IPM website: (empty) → https://…"."""
        side = "Liscio" if self.side is Side.LISCIO else "IPM"
        return f"{side} {self.field}: {show_value(self.before)} → {show_value(self.after)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PairWrites:
    """What linking a Liscio record with an IPM record writes (its first sync).

    ``unread`` names the fields that cannot be decided yet because the IPM record's details
    (an organization's address, on its business card) are not loaded: :func:`load_card` reads
    them. Until then a link leaves those fields to the next Sync Now (its preview shows them).
    """

    kind: Kind
    liscio_id: str
    ipm_key: str
    liscio_name: str
    ipm_name: str
    writes: tuple[FieldWrite, ...] = ()
    unread: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every field was decided (nothing waits for the IPM card)."""
        return not self.unread

    def text(self) -> str:
        """The writes in words, one per line; "nothing to write" when none."""
        lines = [w.text() for w in self.writes]
        lines += [f"IPM {f}: not read yet (read the IPM card to see it; a link leaves it to "
                  f"the next Sync Now, whose preview shows it)" for f in self.unread]
        return "\n".join(lines) or "nothing to write: the fields already agree"


def show_value(value: FieldValue) -> str:
    """A field value for people: "(empty)" when it has none."""
    text = format_value(value).strip()
    return text if text else "(empty)"


def pair_writes(kind: Kind, liscio: Record, ipm: Record) -> PairWrites:
    """What linking ``liscio`` with ``ipm`` would write: the first-sync rules, per field."""
    from pmtools.planner import RULE_DETAILS, plan_pair

    actions = plan_pair(Kind(kind), liscio, ipm, first_sync=True)
    writes = tuple(FieldWrite(side=a.side, field=a.field, before=a.before, after=a.after,
                              rule=a.rule)
                   for a in actions if a.op is Op.WRITE and a.side is not None and a.field)
    unread = tuple(a.field for a in actions
                   if a.op is Op.SKIP and a.rule == RULE_DETAILS and a.field)
    return PairWrites(kind=Kind(kind), liscio_id=liscio.id, ipm_key=ipm.id,
                      liscio_name=liscio.name, ipm_name=ipm.name, writes=writes, unread=unread)


def row_writes(row) -> PairWrites | None:
    """What linking a queue row's record with its candidate would write; None without one.

    ``unread`` on the result says which IPM fields wait for the card (:func:`load_card`).
    """
    if row.record is None or row.candidate is None:
        return None
    liscio, ipm = ((row.record, row.candidate) if row.side is Side.LISCIO
                   else (row.candidate, row.record))
    return pair_writes(row.kind, liscio, ipm)


def load_card(kind: Kind, record: Record, *, ipm, store=None) -> Record:
    """``record`` (an IPM record) with its details loaded: one request when they are missing.

    The loaded record is kept in the state file's details cache (``store``), as Sync Now keeps
    the cards it reads, so the next sync need not read it again.
    """
    if record.details_complete:
        return record
    if store is not None:  # a card Sync Now read, still current, costs no request
        cached = _cached_cards(store, Kind(kind), [record])
        if record.id in cached:
            return cached[record.id]
    loaded = ipm.load_details(Kind(kind), [record])
    fresh = loaded[0] if loaded else record
    if store is not None and fresh.details_complete:
        store.cache_details(Kind(kind), [fresh])
    return fresh


CARD_BATCH = 25  # cards read between two progress reports / cancel checks (as Sync Now)


def load_cards(kind: Kind, records: Sequence[Record], *, ipm, store=None,
               progress: Callable[[int, int], None] | None = None,
               cancel: threading.Event | None = None) -> dict[str, Record]:
    """The IPM ``records`` lacking details, with their cards read (one request each).

    For a bulk preview whose IPM fields are "not read yet": returns key → loaded record (pass
    them to :func:`pmtools.review.with_cards` and preview again). ``progress(done, total)``
    after each batch; ``cancel`` stops between batches (what was read is returned).
    """
    todo = [r for r in records if r.side is Side.IPM and not r.details_complete]
    todo = list({r.id: r for r in todo}.values())
    loaded: dict[str, Record] = _cached_cards(store, Kind(kind), todo) if store else {}
    todo = [r for r in todo if r.id not in loaded]
    for start in range(0, len(todo), CARD_BATCH):
        if cancel is not None and cancel.is_set():
            break
        batch = ipm.load_details(Kind(kind), todo[start:start + CARD_BATCH])
        fresh = [r for r in batch if r.details_complete]
        if store is not None and fresh:
            store.cache_details(Kind(kind), fresh)
        loaded.update((r.id, r) for r in fresh)
        if progress is not None:
            progress(min(start + CARD_BATCH, len(todo)), len(todo))
    return loaded


def _cached_cards(store, kind: Kind, rows: Sequence[Record]) -> dict[str, Record]:
    """Cards in the state file's details cache whose record has not changed since."""
    cached = store.cached_details(kind, [r.id for r in rows])
    return {r.id: cached[r.id][0] for r in rows if r.id in cached and r.modified_at
            and cached[r.id][0].modified_at == r.modified_at}


def unread_records(shown) -> dict[Kind, list[Record]]:
    """The IPM records of a bulk preview whose fields wait for their card, per kind."""
    out: dict[Kind, list[Record]] = {}
    for item in getattr(shown, "items", ()):
        if item.writes is not None and item.writes.unread and item.ipm_record is not None:
            out.setdefault(item.kind, []).append(item.ipm_record)
    return out


def link_preview(kind: Kind, liscio_id: str, ipm_key: str, *, liscio, ipm) -> PairWrites:
    """The writes a manual link would make, from fresh reads of both records.

    Raises ConfigError when either record does not exist. Pass the result to
    ``operations.link(..., expected=...)`` to apply exactly these writes.
    """
    from pmtools.operations import read_record

    kind = Kind(kind)
    left = read_record(liscio, kind, liscio_id)
    right = read_record(ipm, kind, ipm_key)
    return pair_writes(kind, left, right)
