"""One syncing process per state file: an OS lock on ``<state>.lock``.

``fcntl.flock`` locks belong to the open file, so the kernel releases them when the holder
exits in any way, SIGKILL included: a dead holder never blocks the next run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pmtools.errors import LockHeld


class FileLock:
    """A re-entrant (per object) exclusive lock on ``path``; waits up to ``timeout`` seconds."""

    def __init__(self, path: Path, *, what: Path | None = None) -> None:
        self.path = path
        self.what = what or path
        self._fd: int | None = None
        self._depth = 0
        self._mutex = threading.RLock()

    def acquire(self, *, timeout: float = 0.0, poll: float = 0.1, by: str = "") -> None:
        """Take the lock, or raise LockHeld after ``timeout`` seconds.

        ``by`` (cli, app, …) is written beside the time into the lock file, so that a refused
        process can say who holds the lock and since when (never the holder's pid).
        """
        import fcntl

        with self._mutex:
            if self._depth:
                self._depth += 1
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            deadline = time.monotonic() + max(timeout, 0.0)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = _read_holder(fd)
                        os.close(fd)
                        raise LockHeld(
                            holder_words(holder) + "; wait for it to finish and "
                            "run the command again"
                        ) from None
                    time.sleep(poll)
            os.ftruncate(fd, 0)
            # pid first (the file's old form); then when, and by whom, for the message above.
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            os.write(fd, f"{os.getpid()}\t{stamp}\t{by}".encode())
            self._fd = fd
            self._depth = 1

    def release(self) -> None:
        """Give the lock back (the outermost release unlocks)."""
        import fcntl

        with self._mutex:
            if not self._depth:
                return
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._depth > 0


def holder_words(holder: str) -> str:
    """ "another sync is running (started by app, at 2026-12-03 11:02 UTC)" from a lock file."""
    parts = holder.split("\t")
    at = parts[1].strip() if len(parts) > 1 else ""
    by = parts[2].strip() if len(parts) > 2 else ""
    details = ", ".join(
        x for x in (f"started by {by}" if by else "", f"at {at}" if at else "") if x
    )
    return "another sync is running" + (f" ({details})" if details else "")


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""
