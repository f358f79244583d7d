"""Likely duplicates: what a create on the other side might duplicate. Pure.

IPM has no delete, so a create next to an obvious match is the one mistake that cannot be
undone. A create is refused (unless the person says "create anyway") when the other side holds
a record with the same email, the same loose name key (a person's first and last name; an
organization's name without LLC/Inc./punctuation), a suggestion above :data:`HIGH_SCORE`, or
records the record's name is ambiguous with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmtools.analysis.suggest import SuggestionIndex, display_name, name_keys
from pmtools.core.names import loose_key, person_full_key
from pmtools.core.records import Kind, Record, Side

__all__ = ["HIGH_SCORE", "Duplicate", "DuplicateFinder", "describe_duplicates", "likely_duplicates"]

HIGH_SCORE = 90.0  # a suggestion this close is a likely duplicate (close spelling and above)


@dataclass(frozen=True, slots=True, kw_only=True)
class Duplicate:
    """A record on the other side that a create would likely duplicate, and why."""

    side: Side
    id: str
    name: str
    reason: str
    score: float | None = None
    linked: bool = False
    record: Record | None = None

    def text(self) -> str:
        """ "Allen, Zoë (IPM) — same email"."""
        side = "Liscio" if self.side is Side.LISCIO else "IPM"
        linked = ", already linked" if self.linked else ""
        return f"{self.name} ({side}{linked}) — {self.reason}"


def _loose(kind: Kind, record: Record) -> str:
    if kind is Kind.CONTACTS:
        return loose_key(person_full_key(record))
    return name_keys(display_name(record)).plain


class DuplicateFinder:
    """The records of one side (``records``: linked ones too), indexed for duplicate checks."""

    def __init__(
        self,
        kind: Kind,
        side: Side,
        records: Sequence[Record],
        *,
        linked: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self.kind, self.side = Kind(kind), side
        self._records = [r for r in records if r.kind is self.kind and not r.archived]
        self._linked = set(linked)
        self._index = SuggestionIndex(self._records)
        self._by_email: dict[str, list[Record]] = {}
        self._by_loose: dict[str, list[Record]] = {}
        for r in self._records:
            if r.email and r.email.strip():
                self._by_email.setdefault(r.email.strip().casefold(), []).append(r)
            key = _loose(self.kind, r)
            if key:
                self._by_loose.setdefault(key, []).append(r)

    def find(self, record: Record, *, ambiguous_with: Sequence[str] = ()) -> list[Duplicate]:
        """The likely duplicates of ``record`` (of the other side) among this side's records.

        ``ambiguous_with`` are ids of this side the record's name is ambiguous with.
        """
        found: dict[str, Duplicate] = {}

        def add(rec: Record, reason: str, score: float | None = None) -> None:
            if rec.id not in found:
                found[rec.id] = Duplicate(
                    side=self.side,
                    id=rec.id,
                    name=display_name(rec),
                    reason=reason,
                    score=score,
                    linked=rec.id in self._linked,
                    record=rec,
                )

        email = (record.email or "").strip().casefold()
        for rec in self._by_email.get(email, []) if email else []:
            add(rec, f"same email ({rec.email.strip()})")  # type: ignore[union-attr]
        by_id = {r.id: r for r in self._records} if ambiguous_with else {}
        for rid in ambiguous_with:
            if rid in by_id:
                add(by_id[rid], "its name is ambiguous with this record")
        key = _loose(self.kind, record)
        for rec in self._by_loose.get(key, []) if key else []:
            add(rec, "same name" if self.kind is Kind.ACCOUNTS else "same first and last name")
        for s in self._index.rank(record, limit=5, min_score=HIGH_SCORE):
            if s.record is not None:
                add(s.record, f"suggested: {s.reason} (score {s.score:.0f})", s.score)
        return list(found.values())


def likely_duplicates(
    kind: Kind,
    side: Side,
    record: Record,
    *,
    others: Sequence[Record],
    linked: frozenset[str] | set[str] = frozenset(),
    ambiguous_with: Sequence[str] = (),
) -> list[Duplicate]:
    """The records of the other side that creating ``record`` there would likely duplicate.

    ``side`` is the record's own side; ``others`` the other side's records of ``kind``
    (linked ones too: a duplicate of a linked record is a duplicate still), ``linked`` the ids
    among them already linked. Empty when a create is safe.
    """
    target = Side.IPM if Side(side) is Side.LISCIO else Side.LISCIO
    return DuplicateFinder(kind, target, others, linked=linked).find(
        record, ambiguous_with=ambiguous_with
    )


def describe_duplicates(name: str, target: Side, duplicates: Sequence[Duplicate]) -> str:
    """One sentence for people: what was refused, the candidates, and what to do."""
    where = "Liscio" if target is Side.LISCIO else "IPM"
    listed = "; ".join(d.text() for d in duplicates[:5])
    more = f" and {len(duplicates) - 5} more" if len(duplicates) > 5 else ""
    return (
        f"Not created: {name!r} likely exists in {where} already ({listed}{more}); link it "
        f"to one of these instead, or create it anyway if it is a different client."
    )
