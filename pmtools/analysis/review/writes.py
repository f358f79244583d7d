"""What linking two records would write, field by field, before → after on both sides.

:func:`pair_writes` is pure (the planner's first-sync rules for one pair); it says which
fields it could not decide because the IPM card is not loaded yet.
:func:`pmtools.engine.review.load_card` reads that card; :func:`pmtools.engine.review.link_preview`
reads both records afresh and gives the writes a manual link would make, which
:func:`pmtools.engine.operations.link` applies only while they are still the same
(``expected=``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pmtools.analysis.reports import format_value
from pmtools.core.plan import Op
from pmtools.core.records import FieldValue, Kind, Record, Side
from pmtools.core.rulebook import Rule

__all__ = ["FieldWrite", "PairWrites", "pair_writes", "row_writes", "show_value", "unread_records"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldWrite:
    """One field written on one side of a pair: its value before and after."""

    side: Side
    field: str
    before: FieldValue
    after: FieldValue
    rule: str = ""

    def text(self) -> str:
        """ "IPM website: (empty) → https://…"."""
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
        lines += [
            f"IPM {f}: not read yet (read the IPM card to see it; a link leaves it to "
            f"the next Sync Now, whose preview shows it)"
            for f in self.unread
        ]
        return "\n".join(lines) or "nothing to write: the fields already agree"


def show_value(value: FieldValue) -> str:
    """A field value for people: "(empty)" when it has none."""
    text = format_value(value).strip()
    return text if text else "(empty)"


def pair_writes(kind: Kind, liscio: Record, ipm: Record) -> PairWrites:
    """What linking ``liscio`` with ``ipm`` would write: the first-sync rules, per field."""
    from pmtools.core.planner import plan_pair

    actions = plan_pair(Kind(kind), liscio, ipm, first_sync=True)
    writes = tuple(
        FieldWrite(side=a.side, field=a.field, before=a.before, after=a.after, rule=a.rule)
        for a in actions
        if a.op is Op.WRITE and a.side is not None and a.field
    )
    unread = tuple(
        a.field
        for a in actions
        if a.op is Op.SKIP and a.rule == Rule.SKIP_DETAILS_NOT_LOADED and a.field
    )
    return PairWrites(
        kind=Kind(kind),
        liscio_id=liscio.id,
        ipm_key=ipm.id,
        liscio_name=liscio.name,
        ipm_name=ipm.name,
        writes=writes,
        unread=unread,
    )


def row_writes(row) -> PairWrites | None:
    """What linking a queue row's record with its candidate would write; None without one.

    ``unread`` on the result says which IPM fields wait for the card (:func:`load_card`).
    """
    if row.record is None or row.candidate is None:
        return None
    liscio, ipm = (
        (row.record, row.candidate) if row.side is Side.LISCIO else (row.candidate, row.record)
    )
    return pair_writes(row.kind, liscio, ipm)


def unread_records(shown) -> dict[Kind, list[Record]]:
    """The IPM records of a bulk preview whose fields wait for their card, per kind."""
    out: dict[Kind, list[Record]] = {}
    for item in getattr(shown, "items", ()):
        if item.writes is not None and item.writes.unread and item.ipm_record is not None:
            out.setdefault(item.kind, []).append(item.ipm_record)
    return out
