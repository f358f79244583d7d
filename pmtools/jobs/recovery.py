"""The watchdog's and the scheduler's work, on the registry only (the queue is the caller's).

Dead-worker detection needs no clock and no heartbeat: a job's worker holds its firm's store
lock for the whole job (an ``fcntl`` lock on SQLite, released by the kernel when the process
dies in any way; a session advisory lock on PostgreSQL, released when its connection drops).
A ``running`` job whose firm lock can be taken has therefore lost its worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from pmtools.core.timestamps import is_before, minus, now_iso
from pmtools.errors import ConfigError, LockHeld, StateError
from pmtools.jobs.context import resolve_job_firm
from pmtools.store.backend import Backend
from pmtools.store.registry import Job, JobRunning, Registry

log = logging.getLogger(__name__)

SCHEDULER = "the schedule"


def requeue_dead(backend: Backend, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Put back in the queue each running job whose worker died; returns their ids.

    Only jobs this process could run are looked at (another environment's firm is left to its
    own command). The firm's lock is held while the job is requeued, so its worker cannot be
    half-way through taking it up.
    """
    requeued = []
    with backend.registry() as registry:
        for job in registry.running_jobs():
            try:
                firm = resolve_job_firm(job.firm, backend=backend, environ=environ)
                store = firm.open_store()
            except (ConfigError, StateError):
                continue
            try:
                with store.lock(timeout=0, by="the watchdog"):
                    if registry.requeue(job.id, worker=job.worker):
                        requeued.append(job.id)
                        log.warning(
                            "job %s lost its worker %s; back in the queue", job.id, job.worker
                        )
            except LockHeld:
                pass  # its worker is alive
            finally:
                store.close()
    return requeued


def servable_queued(
    backend: Backend, *, environ: Mapping[str, str] | None = None, min_age: float = 0.0
) -> list[str]:
    """The ids of the queued jobs this process could run that have waited ``min_age`` seconds
    since their last change, oldest first."""
    out = []
    before = minus(now_iso(), timedelta(seconds=min_age))
    with backend.registry() as registry:
        for job in registry.queued_jobs():
            if min_age and not is_before(job.updated_at, before):
                continue
            try:
                resolve_job_firm(job.firm, backend=backend, environ=environ)
            except ConfigError:
                continue
            out.append(job.id)
    return out


def claim_schedule(registry: Registry, slug: str, seen: str | None, at: str) -> bool:
    """Mark the firm's schedule as started at ``at`` unless someone did since ``seen``.

    A compare-and-set: with several workers, each runs the scheduler every minute, and only
    the one whose update lands starts the sync.
    """
    if seen is None:
        sql = "UPDATE firms SET last_scheduled_at = ? WHERE slug = ? AND last_scheduled_at IS NULL"
        return registry.sql.x(sql, (at, slug)) > 0
    sql = "UPDATE firms SET last_scheduled_at = ? WHERE slug = ? AND last_scheduled_at = ?"
    return registry.sql.x(sql, (at, slug, seen)) > 0


def start_due_syncs(backend: Backend, *, now: str | None = None) -> list[Job]:
    """Submit a sync for each firm whose schedule is due (none while it has a job active).

    Returns the jobs submitted; the caller puts them on the queue.
    """
    at = now or now_iso()
    started = []
    with backend.registry() as registry:
        for firm in registry.due_firms(at):
            if registry.active_job(firm.slug) is not None:
                # Busy: the schedule counts this as its turn, so it does not queue up behind.
                claim_schedule(registry, firm.slug, firm.last_scheduled_at, at)
                continue
            if not claim_schedule(registry, firm.slug, firm.last_scheduled_at, at):
                continue  # another worker's scheduler took this turn
            try:
                job = registry.submit(firm.slug, "sync", {}, started_by=SCHEDULER)
            except JobRunning:
                continue
            log.info("scheduled sync of %s submitted", firm.name)
            started.append(job)
    return started
