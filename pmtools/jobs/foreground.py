"""A job run in the command's own process: ``pmtools sync`` (and ``pmtools review import
--yes``) is the worker of its job.

The job is recorded like any other, so the app shows it, Cancel from the app stops it, and a
second sync of the same firm (a command, Sync Now, a schedule) is refused with its words. The
firm's lock is taken first, as a worker does (:mod:`pmtools.jobs.runner`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pmtools.config import Settings
from pmtools.errors import LockHeld
from pmtools.jobs.context import JobFirm, environment_firm
from pmtools.jobs.runner import Outcome, execute
from pmtools.store.backend import backend_from_env
from pmtools.store.registry import Job, JobRunning, Registry

log = logging.getLogger(__name__)


def firm_of(settings: Settings) -> JobFirm:
    """The firm a command's ``settings`` are for: a registered firm's (``settings.firm``, from
    ``--firm`` or ``PMTOOLS_FIRM``), else the environment's."""
    if not settings.firm:
        return environment_firm(settings)
    from pmtools.store.firms import open_state

    with backend_from_env().registry() as registry:
        firm = registry.get_firm(settings.firm)
    return JobFirm(
        slug=firm.slug,
        name=firm.name,
        settings=settings,
        open_store=lambda: open_state(settings),
        rate_limit=settings.ipm_rate_limit,
    )


def queue_job(firm: JobFirm, kind: str, params: dict[str, Any], *, started_by: str) -> Job:
    """Record the job and put it on the queue for a worker (JobRunning → LockHeld's exit 4)."""
    from pmtools.jobs.queue import submit_and_enqueue

    try:
        return submit_and_enqueue(firm.slug, kind, params, started_by=started_by)
    except JobRunning as exc:
        raise LockHeld(str(exc)) from None


def run_in_process(
    firm: JobFirm,
    kind: str,
    params: dict[str, Any],
    *,
    started_by: str,
    wait: float = 0.0,
    echo: Callable[[str, int, int, str], None] | None = None,
) -> Outcome:
    """Record the job and run it here; raises what stopped it (recorded first).

    ``echo`` gets the job's progress too (the command's own progress lines).

    LockHeld, in the words of the firm's active job where there is one, when another sync
    holds the firm (after ``wait`` seconds).
    """
    backend = backend_from_env()
    with firm.open_store() as store, contextlib.ExitStack() as held:
        try:
            held.enter_context(store.lock(timeout=wait, by=started_by))
        except LockHeld as exc:
            with backend.registry() as registry:
                active = registry.active_job(firm.slug)
            raise LockHeld(str(JobRunning(active)) if active else str(exc)) from None
        with backend.registry() as registry:
            job = _submit_here(registry, firm, kind, params, started_by=started_by)
            return execute(job, firm=firm, store=store, registry=registry, echo=echo)


def _submit_here(
    registry: Registry, firm: JobFirm, kind: str, params: dict[str, Any], *, started_by: str
) -> Job:
    """Submit and claim the job for this process, which holds the firm's lock.

    A ``running`` job of the firm found now lost its process (this one holds the lock): it is
    ended as interrupted and this run takes over its work (the intent log settles what it
    left). A queued one is waiting for a worker: refused, as any second job is.
    """
    from pmtools.jobs.queue import worker_name

    try:
        job = registry.submit(firm.slug, kind, params, started_by=started_by)
    except JobRunning as exc:
        if exc.job.state != "running":
            raise LockHeld(str(exc)) from None
        registry.finish(
            exc.job.id,
            state="cancelled",
            outcome="interrupted",
            message="its process stopped before it finished; a new sync took over",
        )
        log.info("job %s lost its process; replaced", exc.job.id)
        try:
            job = registry.submit(firm.slug, kind, params, started_by=started_by)
        except JobRunning as again:
            raise LockHeld(str(again)) from None
    claimed = registry.claim(job.id, worker_name())
    if claimed is None:  # cancelled from a page in between
        raise LockHeld(f"{job.kind_words} of this firm was cancelled before it started")
    return claimed
