"""The SQLite state file as the store's ``Sql``: opened with every check, guarded at each commit.

:class:`StateFileSql` speaks the same small interface as :class:`pmtools.store.sql.SqliteSql`
(and :class:`pmtools.store.postgres.PostgresSql`), so the store's SQL is written once. It is
its own class rather than ``SqliteSql`` because a state file keeps promises a plain SQLite
database does not: it is opened only after the checks of :mod:`pmtools.store.schema` and
:mod:`pmtools.store.files` (never written to when it is not ours or is from a newer pmtools;
refused when it was lost), every failure is a sentence naming the file (disk full, read-only),
and every commit checks that the path still names the file that was opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pmtools.core.timestamps import now_iso
from pmtools.errors import StateError
from pmtools.store import files, schema
from pmtools.store.sql import Params, Row


def open_state_file(path: Path, *, start_over: bool = False) -> StateFileSql:
    """Open (or create, owner-only) the state file at ``path``, migrating its schema.

    Raises StateError for a file that is not a pmtools state file or is from a newer pmtools;
    such a file is never written to. Raises StateLost for a state file that was kept here and
    is now missing or empty, unless ``start_over`` (see :mod:`pmtools.store.files`).
    """
    schema.check_file(path)
    if path.parent and not path.parent.exists():
        raise StateError(f"the folder of the state file {path} does not exist")
    files.prepare(path, start_over=start_over)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
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
    return StateFileSql(path, conn)


class StateFileSql:
    """The ``Sql`` of an open state file (see the module docstring); autocommit outside tx."""

    dialect: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._file = files.file_id(path)  # checked at every commit: see store.files
        self._mutex = threading.RLock()
        self._depth = 0

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """The rows a query returns, as dicts."""
        with self._mutex:
            try:
                return [dict(r) for r in self._conn.execute(sql, params).fetchall()]
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, writing=bool(self._depth)) from None

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row a query returns, or None."""
        rows = self.q(sql, params)
        return rows[0] if rows else None

    def x(self, sql: str, params: Params = ()) -> int:
        """Run a statement (in a transaction of its own outside :meth:`tx`, so that its
        commit checks the file too); the number of rows it changed."""
        with self._mutex, self.tx():
            try:
                return self._conn.execute(sql, params).rowcount
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row, in one transaction."""
        with self.tx():
            try:
                self._conn.executemany(sql, rows)
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def script(self, sql: str) -> None:
        """Run several statements in one transaction."""
        with self.tx():
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
                    self.x(statement)

    @contextmanager
    def tx(self) -> Iterator[StateFileSql]:
        """One transaction (re-entrant); a failed write is a StateError in words, and every
        commit checks that the path still names the file opened (store.files)."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
            self._depth = 1
            try:
                yield self
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error(exc) from None
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0
            files.check_same(self.path, self._file)

    def close(self) -> None:
        """Close the file."""
        with self._mutex:
            self._conn.close()

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # SQLite already rolled back (e.g. after SQLITE_FULL)
            pass

    def _error(self, exc: sqlite3.Error, *, writing: bool = True) -> StateError:
        return files.state_error(self.path, exc, writing=writing)

    # -- the state file's own ------------------------------------------------------------
    def schema_version(self) -> int:
        """The file's schema version."""
        with self._mutex:
            return schema.current_version(self._conn)
