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

    def acquire(self, *, timeout: float = 0.0, poll: float = 0.1) -> None:
        """Take the lock, or raise LockHeld after ``timeout`` seconds."""
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
                        who = f" (pid {holder})" if holder else ""
                        raise LockHeld(
                            f"another pmtools process{who} is syncing with the state file "
                            f"{self.what}; wait for it to finish and run "
                            f"the command again") from None
                    time.sleep(poll)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
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


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode(errors="replace").strip()
    except OSError:
        return ""
