"""The worker process: Huey's consumer with worker **threads**, plus our watchdog thread.

Threads, not processes: a job spends its time waiting on IPM's rate limit and on HTTP replies,
so N threads serve N firms at once for the memory of one process; each job builds its own
connectors, so each firm keeps to its own rate limit. A kill -9 takes all of a worker's jobs
with it; the other workers' watchdogs take them up (docs/jobs.md).

Stopping (SIGTERM or Ctrl-C): the running jobs stop at their next step and go back to the
queue (not lost: a worker takes them up again), then the process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from pmtools.jobs.queue import Queue, queue_from_env, run_watchdog, set_worker
from pmtools.store.backend import backend_from_env

log = logging.getLogger(__name__)

WATCHDOG_SECONDS = 5.0  # Huey's periodic tasks run at most once a minute; a dead job waits less
SHUTDOWN_SECONDS = 120.0  # how long a stopping worker waits for its jobs to reach a step


def make_consumer(queue: Queue, *, concurrency: int, stop: threading.Event) -> Any:
    """Huey's consumer for ``queue``: ``concurrency`` worker threads, the periodic tasks on."""
    from huey.consumer import Consumer

    class _Consumer(Consumer):  # type: ignore[misc]
        """Any stop is graceful: the jobs are told first, so they stop at their next step."""

        def stop(self, graceful: bool = False) -> None:
            stop.set()
            log.warning(
                "worker stopping: running jobs stop at their next step and go back to the queue"
            )
            super().stop(graceful=True)

    return _Consumer(
        queue.huey,
        workers=concurrency,
        worker_type="thread",
        periodic=True,
        initial_delay=0.1,
        max_delay=1.0,  # an idle worker looks at the queue every second: Sync Now starts soon
        check_worker_health=True,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )


def serve(
    *, concurrency: int = 2, name: str | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """Run a worker until SIGTERM or Ctrl-C; returns the exit code."""
    queue = queue_from_env(environ)
    backend = backend_from_env(environ)
    stop = threading.Event()
    set_worker(name=name, stop=stop, environ=environ)
    if not log.isEnabledFor(logging.DEBUG):  # Huey logs every task it runs; -v shows them
        logging.getLogger("huey").setLevel(logging.WARNING)
    _watch_once(queue, backend, min_age=0.0)  # what a dead or stopped worker left
    consumer = make_consumer(queue, concurrency=concurrency, stop=stop)
    watcher = threading.Thread(
        target=_watch, args=(queue, backend, stop), name="pmtools-watchdog", daemon=True
    )
    watcher.start()
    log.info(
        "worker started: %d job(s) at a time, queue in %s, state in %s",
        concurrency,
        queue.where,
        backend.describe(),
    )
    consumer.run()
    stop.set()
    watcher.join(timeout=10)
    log.info("worker stopped")
    return 0


def _watch(queue: Queue, backend: Any, stop: threading.Event) -> None:
    while not stop.wait(WATCHDOG_SECONDS):
        _watch_once(queue, backend)


def _watch_once(queue: Queue, backend: Any, *, min_age: float = 30.0) -> None:
    try:
        run_watchdog(queue, backend, min_age=min_age)
    except Exception:  # the next pass tries again; a worker must not die of a busy registry
        log.warning("watchdog pass failed", exc_info=True)
