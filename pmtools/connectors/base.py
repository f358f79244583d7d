"""The one protocol both connectors speak; the engine sees nothing else of either system."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pmtools.core.records import FieldValue, Identity, Kind, Record, Side

_ONE = {
    (Side.IPM, Kind.ACCOUNTS): "organization",
    (Side.IPM, Kind.CONTACTS): "person",
    (Side.LISCIO, Kind.ACCOUNTS): "account",
    (Side.LISCIO, Kind.CONTACTS): "contact",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """A record a pull left out: its fields have the wrong types (a record error, not a
    malformed page). ``name`` is its name when that much was readable, else empty."""

    side: Side
    kind: Kind
    id: str
    name: str
    problem: str

    def message(self) -> str:
        """One sentence for a person: which record, what is wrong, what to do."""
        system = "IPM" if self.side is Side.IPM else "Liscio"
        what = _ONE[(self.side, self.kind)]
        who = repr(self.name) if self.name else f"with id {self.id}"
        return (
            f"{system} {what} {who} cannot be read ({self.problem}): it is left out of "
            f"this sync, with its linked record; correct it in {system}"
        )


@runtime_checkable
class Connector(Protocol):
    """A system of record (Liscio or IPM) as the sync engine needs it.

    Record ids are Liscio ids on the Liscio side and Karbon keys on the IPM side. Every method
    raises only :mod:`pmtools.errors` exceptions (classified at the boundary).
    """

    side: Side

    def iter_records(self, kind: Kind, *, modified_since: str | None = None) -> Iterator[Record]:
        """Yield every record of ``kind`` (archived Liscio records included, flagged).

        With ``modified_since`` (an ISO-8601 UTC timestamp), a connector may yield only the
        records modified at or after it (IPM: newest first, stopping at the mark). A connector
        that cannot filter yields everything: callers merge, so both are correct.
        """
        ...

    def get_record(self, kind: Kind, record_id: str) -> Record:
        """Read one record with every synced field loaded; raises NotFound when it is gone."""
        ...

    def load_details(self, kind: Kind, records: Sequence[Record]) -> list[Record]:
        """Return ``records`` with every synced field loaded (``details_complete``).

        IPM organizations need their business card for the address; everything else is
        returned as it is, without a request.
        """
        ...

    def create_record(self, kind: Kind, draft: Record, *, external_id: str) -> Record:
        """Create a record from ``draft`` (its name, name parts and synced fields).

        ``external_id`` is stable for the thing being created (IPM: UserDefinedIdentifier), so
        that a create whose reply was lost is found by :meth:`find_by_external_id` instead of
        made twice. Raises DuplicateCreate when the id is already in use.
        """
        ...

    def find_by_external_id(self, kind: Kind, external_id: str) -> Record | None:
        """The record created with ``external_id``, or None."""
        ...

    def update_fields(self, kind: Kind, record_id: str, values: Mapping[str, FieldValue]) -> Record:
        """Write the given synced fields of one record, leaving everything else as it was.

        Returns the record as it is after the write.
        """
        ...

    def check(self) -> str:
        """A cheap call that proves the connection and credentials; returns a short label."""
        ...

    def identity(self) -> Identity:
        """Which firm this service is (one request): what a state file is bound to."""
        ...

    def take_unreadable(self) -> list[Unreadable]:
        """The records :meth:`iter_records` left out since the last call (then forgotten)."""
        ...
