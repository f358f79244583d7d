"""The state file on disk: owner-only permissions, the marker beside it, errors in plain words.

The state file holds client emails and the audit trail, so it is created owner-only (0600), and
SQLite gives its ``-wal`` and ``-shm`` files the same mode; files left group- or world-readable
by an older pmtools are narrowed when opened.

A state file that existed must never silently become a new one (its audit trail, decisions and
undo history would be gone with no word). So each state file has an id (a UUID in the file) and
a marker beside it, ``<state>.id``, holding the same id. A missing or empty state file next to
a marker was lost — deleted or truncated — and is refused with how to restore it or start over
on purpose (``pmtools disconnect --yes``). While a command runs, every commit checks that the
path still names the file that was opened (same device and inode, not emptied), so a file
deleted or replaced mid-run stops the run instead of letting it say "done" into a deleted file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import uuid
from pathlib import Path

from pmtools.errors import StateError, StateLost

log = logging.getLogger(__name__)

MARKER_SUFFIX = ".id"
OWNER_ONLY = 0o600


def marker_path(path: Path) -> Path:
    """The marker beside the state file ``path``."""
    return Path(str(path) + MARKER_SUFFIX)


def _sidecars(path: Path) -> list[Path]:
    return [Path(str(path) + suffix) for suffix in ("-wal", "-shm")]


def prepare(path: Path, *, start_over: bool = False) -> None:
    """Before SQLite opens ``path``: refuse a lost state file, create a new one owner-only.

    ``start_over`` (``pmtools disconnect --yes``) forgets a lost file's marker on purpose and
    starts a new state file.
    """
    marker = marker_path(path)
    size = path.stat().st_size if path.exists() else None
    if not size and marker.exists():
        if not start_over:
            refuse_if_lost(path)
        for stale in (marker, *_sidecars(path), *([path] if size == 0 else [])):
            stale.unlink(missing_ok=True)  # an old -wal must not be replayed into the new file
        log.warning("started a new state file at %s on purpose; the lost one is forgotten", path)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, OWNER_ONLY))
        except FileExistsError:
            pass  # another process created it first: its mode is already owner-only
        except OSError as exc:
            raise StateError(f"cannot create the state file {path}: {exc.strerror}") from None
    restrict(path)


def refuse_if_lost(path: Path) -> None:
    """Raise StateLost when the state file kept at ``path`` is now missing or empty.

    Commands that read without opening (``runs``, reports) call it before taking a missing
    file for "nothing yet".
    """
    marker = marker_path(path)
    size = path.stat().st_size if path.exists() else None
    if not size and marker.exists():
        what = "is missing" if size is None else "is empty (0 bytes)"
        raise StateLost(
            f"the state file {path} {what}, but a state file was kept there (its marker "
            f"{marker.name} is beside it): restore it from a backup, or run `pmtools "
            f"disconnect --yes` to start a new one on purpose (the lost file's links, "
            f"decisions, audit trail and undo history cannot be recovered by pmtools)"
        )


def restrict(path: Path, *, main: bool = True) -> None:
    """Narrow the state file (unless not ``main``), its WAL and SHM to owner-only where an
    older pmtools or a wide umask left more."""
    for item in ([path] if main else []) + _sidecars(path):
        try:
            mode = stat.S_IMODE(item.stat().st_mode)
            if mode & 0o077:
                os.chmod(item, mode & ~0o077)
        except FileNotFoundError:
            continue
        except OSError as exc:  # not our file: say so, it still works
            log.warning("could not make %s owner-only: %s", item, exc.strerror)


def ensure_id(conn: sqlite3.Connection, path: Path, *, now: str) -> str:
    """The state file's id (made on first use), with the marker beside it kept in step."""
    row = conn.execute("SELECT state_id FROM state_file WHERE id = 1").fetchone()
    if row is None:
        conn.execute(
            "INSERT OR IGNORE INTO state_file (id, state_id, created_at) VALUES (1, ?, ?)",
            (uuid.uuid4().hex, now),
        )
        row = conn.execute("SELECT state_id FROM state_file WHERE id = 1").fetchone()
    state_id = str(row[0])
    marker = marker_path(path)
    try:
        if not marker.exists() or marker.read_text(encoding="utf-8").strip() != state_id:
            tmp = Path(str(marker) + ".tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, OWNER_ONLY)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(state_id + "\n")
            os.replace(tmp, marker)
    except OSError as exc:  # a read-only folder: the file still works, unguarded
        log.warning("could not write the marker %s: %s", marker, exc.strerror)
    return state_id


def file_id(path: Path) -> tuple[int, int]:
    """What identifies the open file on disk: (device, inode)."""
    st = path.stat()
    return st.st_dev, st.st_ino


def check_same(path: Path, opened: tuple[int, int]) -> None:
    """Raise StateLost unless ``path`` is still the non-empty file opened as ``opened``."""
    try:
        st = path.stat()
    except FileNotFoundError:
        what, then = "was deleted", "what this command recorded is lost with it"
    else:
        if (st.st_dev, st.st_ino) != opened:
            what, then = "was replaced by another file", "this command stopped"
        elif st.st_size == 0:
            what, then = "was emptied (truncated to 0 bytes)", "this command stopped"
        else:
            return
    raise StateLost(
        f"the state file {path} {what} while pmtools was using it, so {then}: "
        f"restore the file from a backup, or run `pmtools disconnect --yes` to "
        f"start a new one on purpose"
    )


def state_error(path: Path, exc: sqlite3.Error, *, writing: bool = True) -> StateError:
    """A SQLite failure as one sentence saying what is wrong and what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    verb = "written" if writing else "read"
    if name == "SQLITE_FULL" or "is full" in text:
        why = "the disk is full; free some space"
    elif name.startswith("SQLITE_READONLY") or "readonly" in text:
        why = "it is read-only; make the file and its folder writable"
    elif name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "I/O error" in text:
        why = (
            f"the disk failed ({text}); check that the disk is not full and that the file "
            f"and its folder are writable"
        )
    elif name == "SQLITE_BUSY" or "locked" in text:
        why = "another program holds it locked; close it"
    else:
        return StateError(f"state file error: {text}")
    return StateError(
        f"the state file {path} could not be {verb}: {why}, then run the command again"
    )


__all__ = [
    "MARKER_SUFFIX",
    "StateLost",
    "check_same",
    "ensure_id",
    "file_id",
    "marker_path",
    "prepare",
    "refuse_if_lost",
    "restrict",
    "state_error",
]
