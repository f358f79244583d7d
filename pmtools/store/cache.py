"""The store's cache of IPM records: as last pulled or written, and with their details.

A mixin of :class:`pmtools.store.Store` (kept apart to keep modules small). Pulling every IPM
record costs requests at Karbon's rate limit, so the store keeps what it saw, the newest
modification time per kind (the next pull asks only for newer ones) and when each kind was last
pulled whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pmtools.core.records import Kind, Record
from pmtools.core.timestamps import now_iso


class CacheMixin:
    """The IPM cache (see the module docstring)."""

    _sql: Any  # the Store's StoreSql

    def cached_records(self, kind: Kind) -> list[Record]:
        """The IPM records of ``kind`` as last pulled or written."""
        return [
            Record.from_dict(json.loads(r["record"]))
            for r in self._sql.q(
                "SELECT record FROM ipm_cache WHERE kind = ? ORDER BY ipm_key", (str(kind),)
            )
        ]

    def cache_records(
        self, kind: Kind, records: Iterable[Record], *, replace_all: bool = False
    ) -> None:
        """Store IPM records in the cache (replacing those with the same key)."""
        rows = [
            (str(kind), r.id, json.dumps(r.to_dict(), sort_keys=True), r.modified_at)
            for r in records
        ]
        with self._sql.tx():
            if replace_all:
                self._sql.x("DELETE FROM ipm_cache WHERE kind = ?", (str(kind),))
            self._sql.many(
                "INSERT INTO ipm_cache (kind, ipm_key, record, modified_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, ipm_key) DO UPDATE SET record = excluded.record, "
                "modified_at = excluded.modified_at",
                rows,
            )

    def high_water(self, kind: Kind) -> str | None:
        """The newest IPM LastModifiedDateTime seen in a pull of ``kind``, or None."""
        row = self._sql.one("SELECT modified_at FROM high_water WHERE kind = ?", (str(kind),))
        return row["modified_at"] if row else None

    def set_high_water(self, kind: Kind, modified_at: str | None) -> None:
        """Remember the newest LastModifiedDateTime seen (None forgets it: next pull is full)."""
        if modified_at is None:
            self._sql.x("DELETE FROM high_water WHERE kind = ?", (str(kind),))
        else:
            self._sql.x(
                "INSERT INTO high_water (kind, modified_at) VALUES (?, ?) ON CONFLICT (kind) "
                "DO UPDATE SET modified_at = excluded.modified_at",
                (str(kind), modified_at),
            )

    def last_full_pull(self, kind: Kind) -> str | None:
        """When every IPM record of ``kind`` was last pulled (not only the changed ones)."""
        row = self._sql.one("SELECT at FROM full_pulls WHERE kind = ?", (str(kind),))
        return row["at"] if row else None

    def set_full_pull(self, kind: Kind, at: str) -> None:
        """Remember when every IPM record of ``kind`` was pulled."""
        self._sql.x(
            "INSERT INTO full_pulls (kind, at) VALUES (?, ?) ON CONFLICT (kind) "
            "DO UPDATE SET at = excluded.at",
            (str(kind), at),
        )

    def cached_details(self, kind: Kind, keys: Iterable[str]) -> dict[str, tuple[Record, str]]:
        """Loaded IPM records (with their details) by key, each with when it was loaded."""
        wanted = set(keys)
        out = {}
        for row in self._sql.q(
            "SELECT ipm_key, record, loaded_at FROM ipm_details WHERE kind = ?", (str(kind),)
        ):
            if row["ipm_key"] in wanted:
                out[row["ipm_key"]] = (
                    Record.from_dict(json.loads(row["record"])),
                    row["loaded_at"],
                )
        return out

    def cache_details(self, kind: Kind, records: Iterable[Record]) -> None:
        """Keep IPM records whose details were just loaded."""
        at = now_iso()
        rows = [
            (str(kind), r.id, json.dumps(r.to_dict(), sort_keys=True), r.modified_at, at)
            for r in records
            if r.details_complete
        ]
        self._sql.many(
            "INSERT INTO ipm_details (kind, ipm_key, record, modified_at, loaded_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, ipm_key) DO UPDATE SET "
            "record = excluded.record, modified_at = excluded.modified_at, "
            "loaded_at = excluded.loaded_at",
            rows,
        )

    def forget_details(self, kind: Kind, keys: Iterable[str]) -> None:
        """Drop loaded details (after a write to those records)."""
        self._sql.many(
            "DELETE FROM ipm_details WHERE kind = ? AND ipm_key = ?",
            [(str(kind), k) for k in keys],
        )
