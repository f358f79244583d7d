"""The state file's schema, as an ordered list of migrations.

Each migration runs in the same transaction as the ``schema_version`` row that says it ran
(sqlite-utils' habit), so a file is always at exactly one version. A file whose version is
newer than the last migration here was written by a newer pmtools and is refused, never
downgraded. A file that is not SQLite is refused and never overwritten.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pmtools.errors import StateError

SQLITE_HEADER = b"SQLite format 3\x00"

# (version, description, SQL). Append only: never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "connection, baseline, links, decisions, runs, changes, errors, IPM cache, creates",
        """
CREATE TABLE connection (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created_at TEXT NOT NULL,
    first_sync_at TEXT,
    liscio_label TEXT,
    ipm_label TEXT
);
CREATE TABLE baseline (
    kind TEXT NOT NULL,
    liscio_id TEXT NOT NULL,
    PRIMARY KEY (kind, liscio_id)
) WITHOUT ROWID;
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    kinds TEXT NOT NULL,
    policy TEXT NOT NULL,
    counts TEXT,
    outcome TEXT NOT NULL,
    message TEXT,
    undoes_run INTEGER REFERENCES runs(id)
);
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    liscio_id TEXT NOT NULL,
    ipm_key TEXT NOT NULL,
    how TEXT NOT NULL CHECK (how IN ('automatic', 'manual', 'created')),
    status TEXT NOT NULL DEFAULT 'linked' CHECK (status IN ('linked', 'orphaned')),
    linked_at TEXT NOT NULL,
    first_synced_at TEXT,
    run_id INTEGER REFERENCES runs(id),
    reason TEXT,
    UNIQUE (kind, liscio_id),
    UNIQUE (kind, ipm_key)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    liscio_id TEXT NOT NULL,
    ipm_key TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('not_a_match', 'delinked')),
    at TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(id),
    UNIQUE (kind, liscio_id, ipm_key, decision)
);
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    op TEXT NOT NULL,
    side TEXT,
    liscio_id TEXT,
    ipm_key TEXT,
    liscio_name TEXT,
    ipm_name TEXT,
    field TEXT,
    before TEXT,
    after TEXT,
    rule TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('intent', 'confirmed', 'failed', 'abandoned')),
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX changes_run ON changes (run_id);
CREATE INDEX changes_open ON changes (status) WHERE status = 'intent';
CREATE TABLE errors (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    op TEXT NOT NULL,
    side TEXT,
    liscio_id TEXT,
    ipm_key TEXT,
    name TEXT,
    field TEXT,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX errors_run ON errors (run_id);
CREATE TABLE pending_creates (
    external_id TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    target TEXT NOT NULL CHECK (target IN ('liscio', 'ipm')),
    source_id TEXT NOT NULL,
    created_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('intent', 'confirmed', 'failed', 'abandoned')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE ipm_cache (
    kind TEXT NOT NULL,
    ipm_key TEXT NOT NULL,
    record TEXT NOT NULL,
    modified_at TEXT,
    PRIMARY KEY (kind, ipm_key)
) WITHOUT ROWID;
CREATE TABLE high_water (
    kind TEXT PRIMARY KEY,
    modified_at TEXT NOT NULL
);
""",
    ),
    (
        2,
        "IPM details cache and the time of each kind's last full pull",
        """
CREATE TABLE ipm_details (
    kind TEXT NOT NULL,
    ipm_key TEXT NOT NULL,
    record TEXT NOT NULL,
    modified_at TEXT,
    loaded_at TEXT NOT NULL,
    PRIMARY KEY (kind, ipm_key)
) WITHOUT ROWID;
CREATE TABLE full_pulls (
    kind TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
""",
    ),
    (
        3,
        "index the audit trail by kind, op and status (View Details overlays confirmed writes)",
        """
CREATE INDEX changes_kind_op ON changes (kind, op, status);
""",
    ),
    (
        4,
        "the Liscio firm and IPM tenant the state file belongs to; the state file's own id",
        """
ALTER TABLE connection ADD COLUMN liscio_firm_id TEXT;
ALTER TABLE connection ADD COLUMN liscio_firm_name TEXT;
ALTER TABLE connection ADD COLUMN ipm_tenant_key TEXT;
CREATE TABLE state_file (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
""",
    ),
)

LATEST = MIGRATIONS[-1][0]


def check_file(path: Path) -> None:
    """Raise StateError unless ``path`` is missing, empty, or starts like a SQLite file."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"cannot read the state file {path}: {exc.strerror}") from None
    if head and head != SQLITE_HEADER:
        raise StateError(
            f"{path} is not a pmtools state file (not SQLite); it was left as it "
            f"is — point PMTOOLS_STATE at another file"
        )


def current_version(conn: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a new, empty file."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if row is None:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise StateError(
                "the file is a SQLite database but not a pmtools state file; it "
                "was left as it is — point PMTOOLS_STATE at another file"
            )
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, *, now: str, migrations: tuple[tuple[int, str, str], ...] = MIGRATIONS
) -> int:
    """Bring the schema up to date; returns the version. ``conn`` must be in autocommit mode."""
    version = current_version(conn)
    latest = migrations[-1][0]
    if version > latest:
        raise StateError(
            f"the state file was written by a newer pmtools (schema version "
            f"{version}; this pmtools knows up to {latest}): upgrade pmtools"
        )
    if version == 0:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY "
                "KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    for number, description, sql in migrations:
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our read and the write lock.
            done = conn.execute(
                "SELECT 1 FROM schema_version WHERE version = ?", (number,)
            ).fetchone()
            if not done:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", (number, description, now)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = number
    return version


def _statements(sql: str) -> list[str]:
    # executescript() would commit the open transaction; run the statements one by one.
    return [s.strip() for s in sql.split(";") if s.strip()]
