"""Jobs as the page sees them: submit, cancel, watch the registry, or run one in the page.

The page reads a job's state only from the registry (design point 6): a
:class:`RegistryWatcher` polls it in a background thread and calls back when a watched row
changed, so a job started from the CLI, a schedule or another page shows by itself.

Where no worker can run the job — a simulator started inside this kernel, the plan of a preview
that only this page holds, a session opened directly in a notebook — :class:`PageJob` runs it
in a kernel thread *as a job*: claimed, its progress and outcome written to the registry like a
worker's, so the portfolio and other pages show it and the one-job-per-firm rule holds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from pmtools.core.timestamps import now_iso, to_iso

log = logging.getLogger(__name__)

POLL_SECONDS = 1.5  # how often a page reads the registry: a job's progress shows within this
PROGRESS_EVERY = 0.5  # at most two registry writes a second for a page-run job's progress


def jobs_api() -> Any:
    """:mod:`pmtools.jobs` (the worker's API: ``submit_sync``, ``cancel``)."""
    import pmtools.jobs as jobs

    return jobs


def submit_sync(session: Any, *, dry_run: bool = False, force: bool = False) -> Any:
    """Submit the session's firm's sync as a job; raises JobRunning when one is active.

    A page that runs its own jobs records it in its registry without queueing it (no worker
    must take it); otherwise it is queued for the workers.
    """
    if session.jobs_in_page:
        return session.registry.submit(
            session.firm, "sync", {"dry_run": dry_run, "force": force}, started_by="app"
        )
    return jobs_api().submit_sync(session.firm, dry_run=dry_run, force=force, started_by="app")


def cancel_job(session: Any, job_id: str) -> Any:
    """Ask the job to stop (a queued one ends now, a running one at its next step)."""
    if session.jobs_in_page:
        return session.registry.request_cancel(job_id)
    return jobs_api().cancel(job_id)


class RegistryWatcher:
    """Calls ``on_change(value)`` from a background thread when ``read()`` gives a new value.

    ``read`` returns something comparable (a job, a tuple of rows); the callback runs only when
    it differs from the last one, so an unchanged registry costs one query and nothing more.
    """

    def __init__(
        self,
        read: Callable[[], Hashable | Any],
        on_change: Callable[[Any], None],
        *,
        interval: float = POLL_SECONDS,
        name: str = "pmtools-watch",
    ) -> None:
        self._read = read
        self._on_change = on_change
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last: Any = object()
        self.paused = False  # True: no polls (the view is hidden); a nudge after resuming
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> RegistryWatcher:
        """Start polling."""
        self._thread.start()
        return self

    def poll(self) -> bool:
        """Read now (any thread); True when the value changed and the callback ran."""
        with self._lock:  # one read-and-call at a time: callbacks see values in order
            value = self._read()
            if value == self._last:
                return False
            self._last = value
            self._on_change(value)
            return True

    @contextmanager
    def held(self) -> Iterator[None]:
        """No poll runs inside this block (the page is changing what the watcher reads)."""
        with self._lock:
            yield

    def nudge(self) -> None:
        """Poll at once instead of at the next tick (after this page changed something)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop polling (the thread ends within one tick)."""
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.paused:
                    self.poll()
            except sqlite3.ProgrammingError:  # the session closed its registry: nothing to watch
                return
            except Exception:  # a failed read is retried at the next tick; say so once
                log.warning("reading the registry failed", exc_info=True)
            self._wake.wait(self._interval)
            self._wake.clear()


class PageJob:
    """Run one claimed sync job in a kernel thread, recording it in the registry as a worker.

    ``run(progress, cancel)`` does the work; this class mirrors its progress into the registry
    (at most every :data:`PROGRESS_EVERY` seconds), turns a cancel asked in the registry (by
    any page or ``pmtools jobs cancel``) into ``cancel``, and records the end.
    """

    def __init__(self, registry: Any, job: Any) -> None:
        self.registry = registry
        # one name per page, so that a requeue or an end "by worker" never touches another's job
        self.job = registry.claim(job.id, f"app page {uuid.uuid4().hex[:8]}") or job
        self.cancel = threading.Event()
        self._last = 0.0
        self._started = time.monotonic()

    def progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        """Record progress (throttled); a cancel asked in the registry sets :attr:`cancel`."""
        now = time.monotonic()
        if done < total and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        eta = None
        if stage == "linking" and total and 0 < done < total:
            # The linking stage's writes dominate a first sync: extrapolate its pace.
            spent = now - self._started
            eta = to_iso_after(spent / done * (total - done))
        try:
            if self.registry.progress(
                self.job.id, stage=stage, done=done, total=total, message=message, eta=eta
            ):
                self.cancel.set()
        except Exception:  # the sync goes on; the page shows the next progress
            log.warning("recording a job's progress failed", exc_info=True)

    def cancel_requested(self) -> bool:
        """True when someone asked the job to stop."""
        if not self.cancel.is_set():
            try:
                if self.registry.get_job(self.job.id).cancel_requested:
                    self.cancel.set()
            except Exception:
                log.warning("reading a job's cancel flag failed", exc_info=True)
        return self.cancel.is_set()

    def finish(self, *, state: str, outcome: str, message: str = "", summary=None, run_id=None):
        """Record the job's end."""
        try:
            return self.registry.finish(
                self.job.id,
                state=state,
                outcome=outcome,
                message=message,
                summary=summary or {},
                run_id=run_id,
            )
        except Exception:
            log.error("recording a job's end failed", exc_info=True)
            return None


def to_iso_after(seconds: float) -> str:
    """The ISO time ``seconds`` from now."""
    from datetime import UTC, datetime, timedelta

    return to_iso(datetime.now(UTC) + timedelta(seconds=seconds))


__all__ = [
    "POLL_SECONDS",
    "PageJob",
    "RegistryWatcher",
    "cancel_job",
    "jobs_api",
    "now_iso",
    "submit_sync",
]
