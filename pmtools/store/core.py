"""The Store: a firm's state (links, decisions, baseline, runs, audit trail, IPM cache).

On one machine it is a SQLite state file (:mod:`pmtools.store.statefile`); on a team server, a
schema of a PostgreSQL database (:mod:`pmtools.store.pgstore`). Both speak the same small
``Sql`` interface, so every statement here is written once. Every method commits before it
returns (autocommit plus explicit transactions), so that what ``apply`` saved survives the
process being killed right after. The store keeps no secrets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from pmtools.core.plan import Decision, DecisionKind, Link, LinkHow, LinkStatus, SyncState
from pmtools.core.records import Identity, Kind, Side
from pmtools.core.timestamps import now_iso
from pmtools.errors import StateError
from pmtools.store.cache import CacheMixin
from pmtools.store.lock import FileLock
from pmtools.store.sql import Sql
from pmtools.store.trail import AuditMixin, ChangeIntent

CHANGE_STATUSES = ("intent", "confirmed", "failed", "abandoned")


class StoreSql(Sql, Protocol):
    """What the store needs of its connection: :class:`Sql`, and one statement for many rows."""

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per row, in one transaction."""
        ...


class SyncLock(Protocol):
    """The store's sync lock: a file lock (SQLite) or an advisory lock (PostgreSQL)."""

    def acquire(self, *, timeout: float = 0.0, by: str = "") -> None:
        """Take it, or raise LockHeld after ``timeout`` seconds."""
        ...

    def release(self) -> None:
        """Give it back (the outermost release unlocks)."""
        ...

    @property
    def held(self) -> bool:
        """True while held."""
        ...


class Store(CacheMixin, AuditMixin):
    """A firm's state store. Open with :meth:`open` (a SQLite file) or :meth:`open_postgres`;
    use as a context manager to close it.

    Reads need no lock. Anything that syncs or changes links holds :meth:`lock` so that two
    processes never interleave.
    """

    def __init__(
        self, sql: StoreSql, *, lock: SyncLock, location: str, path: Path | None = None
    ) -> None:
        self._sql = sql
        self._lock = lock
        self.location = location  # where the state is, in words (no password)
        self.path = path  # the SQLite state file; None on PostgreSQL
        self._mutex = threading.RLock()
        self._bound: tuple[Identity, Identity] | None = None  # see bind()

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, start_over: bool = False) -> Store:
        """Open (or create, owner-only) the state file at ``path``, migrating its schema.

        Raises StateError for a file that is not a pmtools state file or is from a newer
        pmtools; such a file is never written to. Raises StateLost for a state file that was
        kept here and is now missing or empty, unless ``start_over`` (see
        :mod:`pmtools.store.files`).
        """
        from pmtools.store.statefile import open_state_file

        path = Path(path)
        sql = open_state_file(path, start_over=start_over)
        lock = FileLock(Path(str(path) + ".lock"), what=path)
        return cls(sql, lock=lock, location=str(path), path=path)

    @classmethod
    def open_postgres(cls, url: str, schema: str) -> Store:
        """Open (or create) the state store in ``schema`` of the PostgreSQL database ``url``.

        Raises StateError in words when the server cannot be reached or refuses the login,
        or when the schema was written by a newer pmtools.
        """
        from pmtools.store.pgstore import AdvisoryLock, ensure_schema
        from pmtools.store.postgres import PostgresSql

        sql = PostgresSql(url, schema)
        try:
            ensure_schema(sql)
        except BaseException:
            sql.close()
            raise
        return cls(sql, lock=AdvisoryLock(url, schema), location=sql.where)

    def close(self) -> None:
        """Close the store (and give back the lock if held)."""
        with self._mutex:
            while self._lock.held:
                self._lock.release()
            self._sql.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def lock(self, *, timeout: float = 0.0, by: str = "") -> Iterator[Store]:
        """Hold the store's sync lock; raises LockHeld when another process has it.

        ``by`` says who takes it (cli, app, …), for the message another process gets.
        """
        self._lock.acquire(timeout=timeout, by=by)
        try:
            yield self
        finally:
            self._lock.release()

    @property
    def lock_held(self) -> bool:
        """True while this store object holds its sync lock."""
        return self._lock.held

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._sql.dialect

    @property
    def schema_version(self) -> int:
        """The schema version of the open store."""
        row = self._sql.one("SELECT coalesce(max(version), 0) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    # -- low level -----------------------------------------------------------------------
    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._sql.q(sql, params)

    def _tx(self) -> Any:
        """One transaction (re-entrant); the backend says a failure in words."""
        return self._sql.tx()

    # -- connection and baseline ---------------------------------------------------------
    def _ensure_connection(self) -> None:
        created = self._sql.x(
            "INSERT INTO connection (id, created_at) VALUES (1, ?) ON CONFLICT DO NOTHING",
            (now_iso(),),
        )
        if created and self._bound is not None:  # bound in the same step as the first link
            self._write_identities(*self._bound)

    def connection(self) -> dict[str, Any] | None:
        """The connection row (created at, first sync at, labels, identities) or None."""
        return self._sql.one("SELECT * FROM connection WHERE id = 1")

    # -- identities (see pmtools.engine.tenant) -------------------------------------------------
    def identities(self) -> dict[Side, Identity]:
        """The Liscio firm and IPM tenant this state belongs to; empty when none yet."""
        info = self.connection() or {}
        out = {}
        if info.get("liscio_firm_id"):
            out[Side.LISCIO] = Identity(
                side=Side.LISCIO, id=info["liscio_firm_id"], name=info["liscio_firm_name"] or ""
            )
        if info.get("ipm_tenant_key"):
            out[Side.IPM] = Identity(side=Side.IPM, id=info["ipm_tenant_key"])
        return out

    def bind(self, *, liscio: Identity, ipm: Identity) -> None:
        """The services this process checked: recorded with the first link or baseline."""
        self._bound = (liscio, ipm)

    def record_identities(self, *, liscio: Identity, ipm: Identity) -> None:
        """Record which firm and tenant this state belongs to (replacing none)."""
        with self._tx():
            self._sql.x(
                "INSERT INTO connection (id, created_at) VALUES (1, ?) ON CONFLICT DO NOTHING",
                (now_iso(),),
            )
            self._write_identities(liscio, ipm)

    def _write_identities(self, liscio: Identity, ipm: Identity) -> None:
        self._sql.x(
            "UPDATE connection SET liscio_firm_id = ?, liscio_firm_name = ?, "
            "ipm_tenant_key = ? WHERE id = 1 AND liscio_firm_id IS NULL AND "
            "ipm_tenant_key IS NULL",
            (liscio.id, liscio.name, ipm.id),
        )

    def baseline(self) -> frozenset[tuple[Kind, str]] | None:
        """The Liscio ids that existed at the first Sync Now; None before it."""
        info = self.connection()
        if not info or not info["first_sync_at"]:
            return None
        return frozenset(
            (Kind(r["kind"]), r["liscio_id"])
            for r in self._q("SELECT kind, liscio_id FROM baseline")
        )

    def record_baseline(self, ids: Iterable[tuple[Kind, str]]) -> None:
        """Record the first Sync Now's baseline (once; later calls change nothing)."""
        with self._tx():
            self._ensure_connection()
            row = self._sql.one("SELECT first_sync_at FROM connection WHERE id = 1")
            if row and row["first_sync_at"]:
                return
            self._sql.many(
                "INSERT INTO baseline (kind, liscio_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(str(k), i) for k, i in ids],
            )
            self._sql.x("UPDATE connection SET first_sync_at = ? WHERE id = 1", (now_iso(),))

    def state(self, kinds: Iterable[Kind] | None = None) -> SyncState:
        """What the planner needs: links, decisions and baseline of ``kinds`` (default all)."""
        wanted = {str(k) for k in (kinds or tuple(Kind))}
        links = tuple(link for link in self.links() if str(link.kind) in wanted)
        decisions = tuple(d for d in self.decisions() if str(d.kind) in wanted)
        return SyncState(links=links, decisions=decisions, baseline=self.baseline())

    # -- links ---------------------------------------------------------------------------
    @staticmethod
    def _link(row: dict[str, Any]) -> Link:
        return Link(
            kind=Kind(row["kind"]),
            liscio_id=row["liscio_id"],
            ipm_key=row["ipm_key"],
            how=LinkHow(row["how"]),
            status=LinkStatus(row["status"]),
            linked_at=row["linked_at"],
            first_synced_at=row["first_synced_at"],
        )

    def links(self, kind: Kind | None = None, *, status: LinkStatus | None = None) -> list[Link]:
        """Stored links, optionally of one kind and status."""
        sql, params = "SELECT * FROM links WHERE 1=1", []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(str(kind))
        if status is not None:
            sql += " AND status = ?"
            params.append(str(status))
        return [self._link(r) for r in self._q(sql + " ORDER BY id", params)]

    def link_for(
        self, kind: Kind, *, liscio_id: str | None = None, ipm_key: str | None = None
    ) -> Link | None:
        """The link of a Liscio record or of an IPM record, or None."""
        if liscio_id is not None:
            row = self._sql.one(
                "SELECT * FROM links WHERE kind = ? AND liscio_id = ?", (str(kind), liscio_id)
            )
        else:
            row = self._sql.one(
                "SELECT * FROM links WHERE kind = ? AND ipm_key = ?", (str(kind), ipm_key)
            )
        return self._link(row) if row else None

    def add_link(
        self,
        kind: Kind,
        liscio_id: str,
        ipm_key: str,
        *,
        how: LinkHow,
        run_id: int | None,
        audit: ChangeIntent | None = None,
    ) -> Link:
        """Link two records; the same link again is a no-op.

        ``audit`` (with ``run_id``) is saved in the same transaction as a new link. Raises
        StateError when either record is already linked to another one.
        """
        with self._tx():
            self._ensure_connection()
            rows = self._q(
                "SELECT * FROM links WHERE kind = ? AND (liscio_id = ? OR ipm_key = ?)",
                (str(kind), liscio_id, ipm_key),
            )
            for row in rows:
                if row["liscio_id"] == liscio_id and row["ipm_key"] == ipm_key:
                    return self._link(row)
                raise StateError(
                    f"{kind} {row['liscio_id']} is already linked to {row['ipm_key']}; "
                    f"delink it first"
                )
            (row,) = self._q(
                "INSERT INTO links (kind, liscio_id, ipm_key, how, linked_at, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (str(kind), liscio_id, ipm_key, str(how), now_iso(), run_id),
            )
            if audit is not None and run_id is not None:
                self._insert_change(run_id, audit, "confirmed")
            return self._link(row)

    def mark_synced(self, kind: Kind, liscio_id: str) -> None:
        """Record that the pair's first sync is complete (once)."""
        self._sql.x(
            "UPDATE links SET first_synced_at = ? WHERE kind = ? AND liscio_id = ? "
            "AND first_synced_at IS NULL",
            (now_iso(), str(kind), liscio_id),
        )

    def set_link_status(
        self,
        kind: Kind,
        liscio_id: str,
        status: LinkStatus,
        *,
        reason: str | None = None,
        run_id: int | None = None,
        audit: ChangeIntent | None = None,
    ) -> None:
        """Mark a link linked or orphaned (with ``audit`` in the same transaction)."""
        with self._tx():
            self._sql.x(
                "UPDATE links SET status = ?, reason = ? WHERE kind = ? AND liscio_id = ?",
                (str(status), reason, str(kind), liscio_id),
            )
            if audit is not None and run_id is not None:
                self._insert_change(run_id, audit, "confirmed")

    def remove_link(
        self,
        kind: Kind,
        liscio_id: str,
        *,
        run_id: int | None = None,
        decision: DecisionKind | None = None,
        audit: ChangeIntent | None = None,
    ) -> Link | None:
        """Forget a link; returns it, or None when there was none.

        With ``decision`` the pair is remembered (e.g. delinked), and ``audit`` saved, in the
        same transaction.
        """
        with self._tx():
            row = self._sql.one(
                "SELECT * FROM links WHERE kind = ? AND liscio_id = ?", (str(kind), liscio_id)
            )
            if row is None:
                return None
            self._sql.x("DELETE FROM links WHERE id = ?", (row["id"],))
            if decision is not None:
                self._insert_decision(kind, liscio_id, row["ipm_key"], decision, run_id)
            if audit is not None and run_id is not None:
                self._insert_change(run_id, audit, "confirmed")
            return self._link(row)

    # -- decisions -----------------------------------------------------------------------
    def _insert_decision(
        self, kind: Kind, liscio_id: str, ipm_key: str, decision: DecisionKind, run_id: int | None
    ) -> None:
        self._sql.x(
            "INSERT INTO decisions (kind, liscio_id, ipm_key, decision, at, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (str(kind), liscio_id, ipm_key, str(decision), now_iso(), run_id),
        )

    def add_decision(
        self,
        kind: Kind,
        liscio_id: str,
        ipm_key: str,
        decision: DecisionKind,
        *,
        run_id: int | None,
        audit: ChangeIntent | None = None,
    ) -> Decision:
        """Record a person's decision about a pair (idempotent), ``audit`` alongside."""
        with self._tx():
            self._insert_decision(kind, liscio_id, ipm_key, decision, run_id)
            if audit is not None and run_id is not None:
                self._insert_change(run_id, audit, "confirmed")
        return next(
            d
            for d in self.decisions(kind)
            if d.liscio_id == liscio_id and d.ipm_key == ipm_key and d.decision is decision
        )

    def remove_decision(
        self, kind: Kind, liscio_id: str, ipm_key: str, decision: DecisionKind
    ) -> bool:
        """Forget a decision (undo of a delink or not-a-match); True when one was removed."""
        removed = self._sql.x(
            "DELETE FROM decisions WHERE kind = ? AND liscio_id = ? AND "
            "ipm_key = ? AND decision = ?",
            (str(kind), liscio_id, ipm_key, str(decision)),
        )
        return removed > 0

    def decisions(self, kind: Kind | None = None) -> list[Decision]:
        """Stored decisions, optionally of one kind."""
        sql, params = "SELECT * FROM decisions", []
        if kind is not None:
            sql, params = sql + " WHERE kind = ?", [str(kind)]
        return [
            Decision(
                kind=Kind(r["kind"]),
                liscio_id=r["liscio_id"],
                ipm_key=r["ipm_key"],
                decision=DecisionKind(r["decision"]),
                at=r["at"],
            )
            for r in self._q(sql + " ORDER BY id", params)
        ]

    # -- disconnect ----------------------------------------------------------------------
    def disconnect(self) -> dict[str, int]:
        """Forget links, decisions, baseline and the IPM cache; keep runs and the audit trail.

        Returns how many links and decisions were forgotten.
        """
        with self._tx():
            counts = self._sql.one(
                "SELECT (SELECT count(*) FROM links) AS links, "
                "(SELECT count(*) FROM decisions) AS decisions"
            )
            assert counts is not None  # a SELECT without FROM always has its one row
            for table in (
                "links",
                "decisions",
                "baseline",
                "connection",
                "ipm_cache",
                "high_water",
                "ipm_details",
                "full_pulls",
            ):
                self._sql.x(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        self._bound = None  # the firm of the next first sync is bound afresh
        return {"links": int(counts["links"]), "decisions": int(counts["decisions"])}
