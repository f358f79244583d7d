"""``Sql``: the one small connection interface the registry (and the store) speak on any backend.

pmtools keeps its state in SQLite files on one machine and in PostgreSQL for a team server
(``PMTOOLS_DATABASE_URL``). Both sit behind this protocol so that the SQL above it is written
once: ``?`` placeholders, rows as dicts, portable statements only (``INSERT … ON CONFLICT``,
``RETURNING``, partial unique indexes; ids made in Python, times as ISO UTC text).

We keep this wrapper rather than an ORM (SQLAlchemy) because the statements are few and plain,
and the store's durability rules (every method commits before it returns; a re-entrant
transaction) are easier to see in forty lines than through an ORM's session.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from pmtools.errors import StateError

Params = Sequence[Any] | Mapping[str, Any]
Row = dict[str, Any]


class Sql(Protocol):
    """A connection: autocommit outside :meth:`tx`, one transaction inside it."""

    dialect: Literal["sqlite", "postgresql"]

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """The rows a query returns, as dicts."""
        ...

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row a query returns, or None."""
        ...

    def x(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def script(self, sql: str) -> None:
        """Run several statements (schema creation), in one transaction."""
        ...

    def tx(self) -> Any:
        """A context manager: one transaction (re-entrant: inner uses join the outer one)."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class SqliteSql:
    """:class:`Sql` on a SQLite file (WAL, full sync: a commit survives a kill -9)."""

    dialect: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StateError(f"cannot open {self.path}: {exc}") from None
        self._conn.row_factory = sqlite3.Row
        self._mutex = threading.RLock()
        self._depth = 0

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """The rows a query returns, as dicts."""
        with self._mutex:
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row a query returns, or None."""
        with self._mutex:
            row = self._conn.execute(sql, params).fetchone()
            return dict(row) if row is not None else None

    def x(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._mutex:
            return self._conn.execute(sql, params).rowcount

    def script(self, sql: str) -> None:
        """Run several statements in one transaction."""
        with self.tx():
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
                    self._conn.execute(statement)

    @contextmanager
    def tx(self) -> Iterator[SqliteSql]:
        """One transaction (``BEGIN IMMEDIATE``: writers queue at the start, not the commit)."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._mutex:
            self._conn.close()
