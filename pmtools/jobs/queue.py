"""The job queue on Huey: SqliteHuey in ``PMTOOLS_HOME/queue.sqlite`` by default, RedisHuey for a
team (``PMTOOLS_QUEUE_URL=redis://…``). Why Huey, and why the queue only carries job ids: see
docs/jobs.md.

One task, ``execute(job_id)``; two periodic tasks, the **scheduler** (every minute: a sync for
each firm whose schedule is due) and the **watchdog** (requeue the jobs whose worker died;
enqueue again the queued jobs no message carries). A message is only a nudge: the job's truth
is in the registry, and running a message twice runs its job once (``claim`` is a
compare-and-set).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pmtools.errors import ConfigError
from pmtools.jobs import recovery
from pmtools.jobs.runner import run_job
from pmtools.store.backend import Backend, backend_from_env, home_from_env

log = logging.getLogger(__name__)

QUEUE_ENV = "PMTOOLS_QUEUE_URL"
QUEUE_NAME = "pmtools"
BUSY_RETRY_SECONDS = 5  # a firm lock held by a short command: try the job again this much later

# The worker's name, its stop event and its environment: set by the worker (pmtools worker, or
# a test's in-process consumer) before it consumes; the task functions read them.
_worker: dict[str, Any] = {"name": None, "stop": threading.Event(), "environ": None}


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    """A Huey instance with pmtools' tasks registered on it."""

    huey: Any
    execute: Any  # the Huey task: ``execute(job_id)`` enqueues
    where: str  # in words, no password

    def enqueue(self, job_id: str, *, delay: float | None = None) -> None:
        """Put a message for ``job_id`` on the queue (``delay`` seconds from now)."""
        if delay:
            self.execute.schedule((job_id,), delay=delay)
        else:
            self.execute(job_id)

    def pending_job_ids(self) -> set[str]:
        """The job ids of the messages waiting on the queue (scheduled ones included)."""
        ids: set[str] = set()
        for task in [*self.huey.pending(), *self.huey.scheduled()]:
            if getattr(task, "name", "").endswith("execute") and task.args:
                ids.add(str(task.args[0]))
        return ids


_queues: dict[tuple[str, str], Queue] = {}
_queues_mutex = threading.Lock()


def describe_queue_url(url: str) -> str:
    """A queue URL in words without its password: ``Redis at host:6379/0``."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"Redis at {host}{port}{parts.path or ''}"


def queue_from_env(environ: Mapping[str, str] | None = None) -> Queue:
    """The queue ``PMTOOLS_QUEUE_URL`` selects (unset: SqliteHuey under ``PMTOOLS_HOME``)."""
    environ = os.environ if environ is None else environ
    url = environ.get(QUEUE_ENV, "").strip()
    if url:
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"{QUEUE_ENV} must be a redis:// URL (or be unset for the embedded queue), "
                f"not a {scheme or 'blank'} address"
            )
        key = ("redis", url)
    else:
        key = ("sqlite", str(home_from_env(environ) / "queue.sqlite"))
    with _queues_mutex:
        queue = _queues.get(key)
        if queue is None:
            queue = _queues[key] = _build(*key)
        return queue


def _build(kind: str, location: str) -> Queue:
    from huey import RedisHuey, SqliteHuey, crontab

    if kind == "redis":
        huey: Any = RedisHuey(QUEUE_NAME, url=location, results=False, utc=True)
        where = describe_queue_url(location)
    else:
        huey = SqliteHuey(
            QUEUE_NAME, filename=location, results=False, utc=True, fsync=True, timeout=30
        )
        where = f"SQLite file {location}"

    @huey.task(name="execute")
    def execute(job_id: str) -> None:
        """Run the job (see pmtools.jobs.runner.run_job)."""
        outcome = run_job(
            job_id,
            worker_name(),
            environ=_worker["environ"],
            stop=_worker["stop"],
        )
        if outcome == "busy":
            queue.enqueue(job_id, delay=BUSY_RETRY_SECONDS)
        elif outcome == "stopped":  # back in the queue: a message for the next worker
            queue.enqueue(job_id)

    @huey.periodic_task(crontab(minute="*"), name="scheduler")
    def scheduler() -> None:
        """Start the syncs whose schedules are due."""
        backend = backend_from_env(_worker["environ"])
        for job in recovery.start_due_syncs(backend):
            queue.enqueue(job.id)

    @huey.periodic_task(crontab(minute="*"), name="watchdog")
    def watchdog() -> None:
        """Requeue the jobs whose worker died; enqueue the queued jobs without a message."""
        run_watchdog(queue, backend_from_env(_worker["environ"]))

    queue = Queue(huey=huey, execute=execute, where=where)
    del scheduler, watchdog  # registered on huey; kept by it
    return queue


def run_watchdog(queue: Queue, backend: Backend, *, min_age: float = 30.0) -> list[str]:
    """One pass of the watchdog; returns the ids of the jobs it put on the queue.

    A queued job without a message is sent again once it has waited ``min_age`` seconds (a
    message may be on its way to a worker that has not claimed it yet; a duplicate is harmless,
    only wasted). A job whose worker died is sent at once.
    """
    environ = _worker["environ"]
    requeued = recovery.requeue_dead(backend, environ=environ)
    waiting = recovery.servable_queued(backend, environ=environ, min_age=min_age)
    pending = queue.pending_job_ids()
    sent = []
    for job_id in [*requeued, *[j for j in waiting if j not in requeued]]:
        if job_id not in pending:
            queue.enqueue(job_id)
            sent.append(job_id)
    if sent:
        log.info("watchdog: %d job(s) put on the queue again", len(sent))
    return sent


def worker_name() -> str:
    """This process's worker name (set by the worker; a default for a lone process)."""
    name = _worker["name"]
    if name is None:
        import socket
        import uuid

        name = _worker["name"] = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    return str(name)


def set_worker(
    *, name: str | None = None, stop: threading.Event, environ: Mapping[str, str] | None
) -> None:
    """Make this process a worker: its name, its stop event, the environment it serves."""
    _worker.update({"name": name, "stop": stop, "environ": environ})
    worker_name()


def submit_and_enqueue(
    firm: str, kind: str, params: dict[str, Any], *, started_by: str, environ: Any = None
) -> Any:
    """Record a job and put it on the queue (JobRunning when the firm has an active one)."""
    backend = backend_from_env(environ)
    queue = queue_from_env(environ)
    with backend.registry() as registry:
        job = registry.submit(firm, kind, params, started_by=started_by)
    queue.enqueue(job.id)
    return job
