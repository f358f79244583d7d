"""The state store on PostgreSQL: :class:`PostgresSql`, the ``Sql`` of one schema, and the URL.

A team server keeps the registry in schema ``pmtools`` and each firm's state in schema
``firm_<slug>`` of one database (see :mod:`pmtools.store.backend`). Each :class:`PostgresSql`
is one connection whose ``search_path`` is its schema, so the store's SQL names no schema.
The store's SQL is written once with ``?`` placeholders (SQLite's); here they become psycopg's
``%s`` (and a literal ``%`` becomes ``%%``), leaving string literals and quoted names alone.

psycopg 3 is the driver (the maintained successor of psycopg2, binary wheels on PyPI). A
server that cannot be reached, or refuses the password, is one sentence naming the host and
database — never the URL, which may carry the password.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pmtools.errors import ConfigError, StateError
from pmtools.store.sql import Params

log = logging.getLogger(__name__)

URL_SCHEMES = ("postgresql", "postgres")
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONNECT_TIMEOUT = 15  # seconds: a wrong host fails in words instead of hanging
# Advisory locks are keyed by two integers; the first says what for, the second which schema.
LOCK_SPACE = 0x706D74  # a firm's sync lock ("pmt")
TX_LOCK_SPACE = 0x706D76  # a write transaction on a schema (see PostgresSql.tx)


def schema_key(schema: str) -> int:
    """The second advisory-lock key of ``schema`` (a non-negative int4)."""
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


def describe_url(url: str) -> str:
    """``PostgreSQL database pmtools on db.example:5432`` — the URL without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if _port(url) else ""
    database = unquote(parts.path.lstrip("/")) or (unquote(parts.username or "") or "postgres")
    return f"PostgreSQL database {database} on {host}{port}"


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def check_url(url: str, *, variable: str = "PMTOOLS_DATABASE_URL") -> str:
    """Return ``url`` if it is a PostgreSQL URL; ConfigError naming ``variable`` otherwise.

    The message never repeats the URL (it may hold a password).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigError(
            f"{variable} is not a valid URL; write it as "
            f"postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if parts.scheme not in URL_SCHEMES or not parts.netloc:
        raise ConfigError(
            f"{variable} must be a PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/"
            f"DATABASE); unset it to keep the state in SQLite files"
        )
    return url


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str, named: bool = False) -> str:
    """SQLite-style ``?`` placeholders as psycopg's ``%s`` (``:name`` as ``%(name)s`` when
    ``named``); a literal ``%`` doubled.

    Placeholders inside '…' literals, "…" names and -- comments are left as they are.
    """
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "%":
            out.append("%%")
        elif quote is not None:
            out.append(ch)
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same result
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        elif ch == "?" and not named:
            out.append("%s")
        elif ch == ":" and named and (m := _NAME.match(sql, i + 1)) and sql[i - 1 : i] != ":":
            out.append(f"%({m.group(0)})s")
            i = m.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def connect_error(url: str, exc: Exception) -> StateError:
    """A failure to connect as one sentence: which server, why, what to do (no URL)."""
    text = str(exc).lower()
    where = describe_url(url)
    if "password" in text or "authentication" in text:
        why = "the user name or password was refused; check PMTOOLS_DATABASE_URL"
    elif "does not exist" in text and "database" in text:
        why = "the database does not exist; create it (createdb) or fix PMTOOLS_DATABASE_URL"
    elif "timeout" in text or "timed out" in text:
        why = "the server did not answer; check the host in PMTOOLS_DATABASE_URL"
    else:
        why = (
            "the server could not be reached; check that PostgreSQL is running and that "
            "PMTOOLS_DATABASE_URL names it"
        )
    return StateError(f"cannot open the {where}: {why}")


def connect(url: str, *, application: str = "pmtools") -> Any:
    """An autocommit psycopg connection to ``url`` with rows as dicts; StateError in words."""
    import psycopg
    from psycopg.rows import dict_row

    check_url(url)
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=application,
        )
    except psycopg.Error as exc:
        raise connect_error(url, exc) from None


def _quote(schema: str) -> str:
    if not SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            f"{schema!r} cannot name a PostgreSQL schema: use lower-case letters, digits "
            f"and _ (at most 63)"
        )
    return f'"{schema}"'


class PostgresSql:
    """The ``Sql`` of one PostgreSQL schema: one connection, autocommit outside :meth:`tx`.

    The schema is created on first use. Safe to share between threads (one lock, held for a
    whole transaction).
    """

    dialect: Literal["sqlite", "postgresql"] = "postgresql"

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.where = f"schema {schema} of the {describe_url(url)}"
        self._quoted = _quote(schema)
        self._key = schema_key(schema)
        self._mutex = threading.RLock()
        self._depth = 0
        self._closed = False  # by close(); a connection lost otherwise is opened again
        self._conn = self._open()

    def _open(self) -> Any:
        """A connection whose ``search_path`` is the schema (created on first use)."""
        conn = connect(self.url, application=f"pmtools {self.schema}")
        try:
            self._ensure_schema(conn)
            conn.execute(f"SET search_path TO {self._quoted}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _reopen_if_lost(self) -> None:
        """Outside a transaction, a connection the server or network dropped (a restart, an
        idle page's connection cut by a firewall) is opened again: the statement that found
        it lost failed in words, the next one works."""
        if self._conn.closed and not self._closed and not self._depth:
            log.info("reconnecting to the %s", describe_url(self.url))
            self._conn = self._open()

    def _ensure_schema(self, conn: Any) -> None:
        import psycopg

        exists = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone()
        if exists:
            return
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._quoted}")
        except psycopg.errors.UniqueViolation:
            pass  # another process created it between our look and our create
        except psycopg.Error as exc:
            raise self._error(exc) from None

    # -- the Sql protocol ----------------------------------------------------------------
    def q(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Run a query; every row as a dict."""
        with self._mutex:
            cur = self._run(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        """The first row of a query, or None."""
        rows = self.q(sql, params)
        return rows[0] if rows else None

    def x(self, sql: str, params: Params = ()) -> int:
        """Run a statement; how many rows it touched."""
        with self._mutex:
            return int(self._run(sql, params).rowcount)

    def script(self, sql: str) -> None:
        """Run several statements (schema creation) in one transaction.

        Like every transaction on the schema, scripts take turns (see :meth:`tx`): two
        processes creating the same tables at once would otherwise collide in PostgreSQL's
        catalog, ``IF NOT EXISTS`` or not.
        """
        with self.tx():
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
                    self.x(statement)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row (pipelined by psycopg: one round trip, not many)."""
        if not rows:
            return
        import psycopg

        with self._mutex, self.tx():
            try:
                with self._conn.cursor() as cur:
                    cur.executemany(to_pyformat(sql), rows)
            except psycopg.Error as exc:
                raise self._error(exc) from None

    @contextmanager
    def tx(self) -> Iterator[PostgresSql]:
        """One transaction; a ``tx`` inside another joins it. Rolled back on any error.

        Transactions on one schema take turns, as SQLite's ``BEGIN IMMEDIATE`` makes them on
        one file: the shared SQL reads then writes inside ``tx`` (is a job already active?
        is this record already linked?) and must not be raced by another process between
        the two. Reads outside ``tx`` never wait; other schemas (firms) never wait.
        """
        import psycopg

        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._reopen_if_lost()
            self._depth = 1
            try:
                with self._conn.transaction():
                    self._conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", (TX_LOCK_SPACE, self._key)
                    )
                    yield self
            except psycopg.Error as exc:
                raise self._error(exc) from None
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the connection."""
        with self._mutex:
            self._closed = True
            self._conn.close()

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or was lost)."""
        return bool(self._conn.closed)

    # -- helpers -------------------------------------------------------------------------
    def _run(self, sql: str, params: Params) -> Any:
        import psycopg

        named = isinstance(params, Mapping)
        self._reopen_if_lost()
        try:
            return self._conn.execute(
                to_pyformat(sql, named), dict(params) if named else tuple(params)
            )
        except psycopg.Error as exc:
            if self._depth:
                raise  # tx() rolls back, then says it in words
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> StateError:
        import psycopg

        conn = getattr(self, "_conn", None)  # None while the first connection is made
        if isinstance(exc, psycopg.OperationalError) and (conn is None or conn.closed):
            return StateError(
                f"the connection to the {describe_url(self.url)} was lost; check that "
                f"PostgreSQL is running, then run the command again"
            )
        diag = getattr(exc, "diag", None)
        text = (getattr(diag, "message_primary", None) or str(exc)).strip()
        return StateError(f"the {self.where} refused a change: {text}")
