"""The Store: one SQLite state file (links, decisions, baseline, runs, audit trail, IPM cache).

Every method commits before it returns (autocommit plus explicit transactions), so that what
``apply`` saved survives the process being killed right after. The store keeps no secrets.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pmtools.core.plan import Decision, DecisionKind, Link, LinkHow, LinkStatus, SyncState
from pmtools.core.records import Identity, Kind, Record, Side
from pmtools.core.timestamps import now_iso
from pmtools.errors import StateError
from pmtools.store import files, schema
from pmtools.store.lock import FileLock
from pmtools.store.trail import AuditMixin, ChangeIntent

CHANGE_STATUSES = ("intent", "confirmed", "failed", "abandoned")


class Store(AuditMixin):
    """A pmtools state file. Open with :meth:`open`; use as a context manager to close it.

    Reads need no lock. Anything that syncs or changes links holds :meth:`lock` so that two
    processes never interleave.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._file = files.file_id(path)  # checked at every commit: see store.files
        self._mutex = threading.RLock()
        self._lock = FileLock(Path(str(path) + ".lock"), what=path)
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
        path = Path(path)
        schema.check_file(path)
        if path.parent and not path.parent.exists():
            raise StateError(f"the folder of the state file {path} does not exist")
        files.prepare(path, start_over=start_over)
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state file {path}: {exc}") from None
        try:
            schema.current_version(conn)  # reads the header: fails on a corrupt file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            schema.migrate(conn, now=now_iso())
            files.restrict(path, main=False)  # the WAL and SHM SQLite may just have made
            files.ensure_id(conn, path, now=now_iso())
        except sqlite3.DatabaseError as exc:
            conn.close()
            error = files.state_error(path, exc)
            if str(error).startswith("state file error"):
                error = StateError(
                    f"the state file {path} is damaged or not a pmtools state "
                    f"file ({exc}); it was left as it is"
                )
            raise error from None
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        return cls(path, conn)

    def close(self) -> None:
        """Close the file (and give back the lock if held)."""
        with self._mutex:
            while self._lock.held:
                self._lock.release()
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def lock(self, *, timeout: float = 0.0, by: str = "") -> Iterator[Store]:
        """Hold the state file's sync lock; raises LockHeld when another process has it.

        ``by`` says who takes it (cli, app, …), for the message another process gets.
        """
        self._lock.acquire(timeout=timeout, by=by)
        try:
            yield self
        finally:
            self._lock.release()

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return schema.current_version(self._conn)

    # -- low level -----------------------------------------------------------------------
    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise files.state_error(self.path, exc, writing=False) from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a failed write (disk full, read-only) is a StateError in words, and
        every commit checks that the path still names the file opened (store.files)."""
        with self._mutex:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise files.state_error(self.path, exc) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise files.state_error(self.path, exc) from None
            except BaseException:
                self._rollback()
                raise
            files.check_same(self.path, self._file)

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # SQLite already rolled back (e.g. after SQLITE_FULL)
            pass

    # -- connection and baseline ---------------------------------------------------------
    def _ensure_connection(self, conn: sqlite3.Connection) -> None:
        created = conn.execute(
            "INSERT OR IGNORE INTO connection (id, created_at) VALUES (1, ?)", (now_iso(),)
        ).rowcount
        if created and self._bound is not None:  # bound in the same step as the first link
            self._write_identities(conn, *self._bound)

    def connection(self) -> dict[str, Any] | None:
        """The connection row (created at, first sync at, labels, identities) or None."""
        rows = self._q("SELECT * FROM connection WHERE id = 1")
        return dict(rows[0]) if rows else None

    # -- identities (see pmtools.engine.tenant) -------------------------------------------------
    def identities(self) -> dict[Side, Identity]:
        """The Liscio firm and IPM tenant this state file belongs to; empty when none yet."""
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
        """Record which firm and tenant this state file belongs to (replacing none)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO connection (id, created_at) VALUES (1, ?)", (now_iso(),)
            )
            self._write_identities(conn, liscio, ipm)

    @staticmethod
    def _write_identities(conn: sqlite3.Connection, liscio: Identity, ipm: Identity) -> None:
        conn.execute(
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
        with self._tx() as conn:
            self._ensure_connection(conn)
            row = conn.execute("SELECT first_sync_at FROM connection WHERE id = 1").fetchone()
            if row[0]:
                return
            conn.executemany(
                "INSERT OR IGNORE INTO baseline VALUES (?, ?)", [(str(k), i) for k, i in ids]
            )
            conn.execute("UPDATE connection SET first_sync_at = ? WHERE id = 1", (now_iso(),))

    def state(self, kinds: Iterable[Kind] | None = None) -> SyncState:
        """What the planner needs: links, decisions and baseline of ``kinds`` (default all)."""
        wanted = {str(k) for k in (kinds or tuple(Kind))}
        links = tuple(link for link in self.links() if str(link.kind) in wanted)
        decisions = tuple(d for d in self.decisions() if str(d.kind) in wanted)
        return SyncState(links=links, decisions=decisions, baseline=self.baseline())

    # -- links ---------------------------------------------------------------------------
    @staticmethod
    def _link(row: sqlite3.Row) -> Link:
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
            rows = self._q(
                "SELECT * FROM links WHERE kind = ? AND liscio_id = ?", (str(kind), liscio_id)
            )
        else:
            rows = self._q(
                "SELECT * FROM links WHERE kind = ? AND ipm_key = ?", (str(kind), ipm_key)
            )
        return self._link(rows[0]) if rows else None

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
        with self._tx() as conn:
            self._ensure_connection(conn)
            rows = conn.execute(
                "SELECT * FROM links WHERE kind = ? AND (liscio_id = ? OR ipm_key = ?)",
                (str(kind), liscio_id, ipm_key),
            ).fetchall()
            for row in rows:
                if row["liscio_id"] == liscio_id and row["ipm_key"] == ipm_key:
                    return self._link(row)
                raise StateError(
                    f"{kind} {row['liscio_id']} is already linked to {row['ipm_key']}; "
                    f"delink it first"
                )
            conn.execute(
                "INSERT INTO links (kind, liscio_id, ipm_key, how, linked_at, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (str(kind), liscio_id, ipm_key, str(how), now_iso(), run_id),
            )
            if audit is not None and run_id is not None:
                self._insert_change(conn, run_id, audit, "confirmed")
            row = conn.execute(
                "SELECT * FROM links WHERE kind = ? AND liscio_id = ?", (str(kind), liscio_id)
            ).fetchone()
            return self._link(row)

    def mark_synced(self, kind: Kind, liscio_id: str) -> None:
        """Record that the pair's first sync is complete (once)."""
        with self._tx() as conn:
            conn.execute(
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
        with self._tx() as conn:
            conn.execute(
                "UPDATE links SET status = ?, reason = ? WHERE kind = ? AND liscio_id = ?",
                (str(status), reason, str(kind), liscio_id),
            )
            if audit is not None and run_id is not None:
                self._insert_change(conn, run_id, audit, "confirmed")

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
        with self._tx() as conn:
            row = conn.execute(
                "SELECT * FROM links WHERE kind = ? AND liscio_id = ?", (str(kind), liscio_id)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM links WHERE id = ?", (row["id"],))
            if decision is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO decisions (kind, liscio_id, ipm_key, "
                    "decision, at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                    (str(kind), liscio_id, row["ipm_key"], str(decision), now_iso(), run_id),
                )
            if audit is not None and run_id is not None:
                self._insert_change(conn, run_id, audit, "confirmed")
            return self._link(row)

    # -- decisions -----------------------------------------------------------------------
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
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO decisions (kind, liscio_id, ipm_key, decision, "
                "at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                (str(kind), liscio_id, ipm_key, str(decision), now_iso(), run_id),
            )
            if audit is not None and run_id is not None:
                self._insert_change(conn, run_id, audit, "confirmed")
        return next(
            d
            for d in self.decisions(kind)
            if d.liscio_id == liscio_id and d.ipm_key == ipm_key and d.decision is decision
        )

    def remove_decision(
        self, kind: Kind, liscio_id: str, ipm_key: str, decision: DecisionKind
    ) -> bool:
        """Forget a decision (undo of a delink or not-a-match); True when one was removed."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM decisions WHERE kind = ? AND liscio_id = ? AND "
                "ipm_key = ? AND decision = ?",
                (str(kind), liscio_id, ipm_key, str(decision)),
            )
            return cur.rowcount > 0

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
        with self._tx() as conn:
            links = conn.execute("SELECT count(*) FROM links").fetchone()[0]
            decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
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
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        self._bound = None  # the firm of the next first sync is bound afresh
        return {"links": links, "decisions": decisions}

    # -- IPM cache -----------------------------------------------------------------------
    def cached_records(self, kind: Kind) -> list[Record]:
        """The IPM records of ``kind`` as last pulled or written."""
        return [
            Record.from_dict(json.loads(r["record"]))
            for r in self._q(
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
        with self._tx() as conn:
            if replace_all:
                conn.execute("DELETE FROM ipm_cache WHERE kind = ?", (str(kind),))
            conn.executemany("INSERT OR REPLACE INTO ipm_cache VALUES (?, ?, ?, ?)", rows)

    def high_water(self, kind: Kind) -> str | None:
        """The newest IPM LastModifiedDateTime seen in a pull of ``kind``, or None."""
        rows = self._q("SELECT modified_at FROM high_water WHERE kind = ?", (str(kind),))
        return rows[0][0] if rows else None

    def set_high_water(self, kind: Kind, modified_at: str | None) -> None:
        """Remember the newest LastModifiedDateTime seen (None forgets it: next pull is full)."""
        with self._tx() as conn:
            if modified_at is None:
                conn.execute("DELETE FROM high_water WHERE kind = ?", (str(kind),))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO high_water VALUES (?, ?)", (str(kind), modified_at)
                )

    def last_full_pull(self, kind: Kind) -> str | None:
        """When every IPM record of ``kind`` was last pulled (not only the changed ones)."""
        rows = self._q("SELECT at FROM full_pulls WHERE kind = ?", (str(kind),))
        return rows[0][0] if rows else None

    def set_full_pull(self, kind: Kind, at: str) -> None:
        """Remember when every IPM record of ``kind`` was pulled."""
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO full_pulls VALUES (?, ?)", (str(kind), at))

    def cached_details(self, kind: Kind, keys: Iterable[str]) -> dict[str, tuple[Record, str]]:
        """Loaded IPM records (with their details) by key, each with when it was loaded."""
        wanted = set(keys)
        out = {}
        for row in self._q(
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
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO ipm_details VALUES (?, ?, ?, ?, ?)", rows)

    def forget_details(self, kind: Kind, keys: Iterable[str]) -> None:
        """Drop loaded details (after a write to those records)."""
        with self._tx() as conn:
            conn.executemany(
                "DELETE FROM ipm_details WHERE kind = ? AND ipm_key = ?",
                [(str(kind), k) for k in keys],
            )
