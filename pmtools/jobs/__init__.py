"""Jobs: long work (Sync Now, dry runs, the review's bulk apply, long reports) run by a worker.

A job's state lives in the registry (:mod:`pmtools.store.registry`), so that every page and
command shows the same job and closing a page changes nothing. The queue (Huey,
:mod:`pmtools.jobs.queue`) only carries job ids to the workers. See docs/jobs.md.

The API for pages and commands::

    job = submit_sync(firm_slug, started_by="app")      # JobRunning: the firm has one active
    cancel(job.id)                                      # a queued job ends now, a running one
                                                        # at its next step
    registry.get_job(job.id)                            # the page polls the registry

``firm_slug`` is a registered firm's slug, or :func:`environment_slug` of the state file for
the firm set up by ``PMTOOLS_*`` variables (shown as :data:`ENVIRONMENT_NAME`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pmtools.jobs.context import (
    ENVIRONMENT_NAME,
    environment_firm,
    environment_slug,
    firm_words,
    is_environment,
)
from pmtools.jobs.runner import run_job
from pmtools.store.backend import backend_from_env
from pmtools.store.registry import Job, JobRunning


def submit_sync(
    firm_slug: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    started_by: str,
    full: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Job:
    """Queue a Sync Now (or a dry run) of the firm for a worker; JobRunning when it has one."""
    from pmtools.jobs.queue import submit_and_enqueue

    params: dict[str, Any] = {"force": bool(force), "full": bool(full)}
    kind = "dry_run" if dry_run else "sync"
    return submit_and_enqueue(firm_slug, kind, params, started_by=started_by, environ=environ)


def submit_review(
    firm_slug: str,
    params: dict[str, Any],
    *,
    started_by: str,
    environ: Mapping[str, str] | None = None,
) -> Job:
    """Queue a confirmed bulk review (``pmtools.jobs.review.review_params``) for a worker, which
    applies it only if its preview is still the one confirmed; JobRunning when one is active."""
    from pmtools.jobs.queue import submit_and_enqueue

    return submit_and_enqueue(firm_slug, "review", params, started_by=started_by, environ=environ)


def submit_report(
    firm_slug: str,
    kind: str,
    status: str = "all",
    *,
    started_by: str,
    environ: Mapping[str, str] | None = None,
) -> Job:
    """Queue a pairs report that reads every IPM card, for a worker to write under
    ``$PMTOOLS_HOME/reports/<firm>/``; JobRunning when the firm has an active job."""
    from pmtools.jobs.queue import submit_and_enqueue
    from pmtools.jobs.report import report_params

    params = report_params(kind, status)
    return submit_and_enqueue(firm_slug, "report", params, started_by=started_by, environ=environ)


def cancel(job_id: str, *, environ: Mapping[str, str] | None = None) -> Job:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next step."""
    with backend_from_env(environ).registry() as registry:
        return registry.request_cancel(job_id)


def get_job(job_id: str, *, environ: Mapping[str, str] | None = None) -> Job:
    """The job's state now (KeyError when there is none)."""
    with backend_from_env(environ).registry() as registry:
        return registry.get_job(job_id)


__all__ = [
    "ENVIRONMENT_NAME",
    "Job",
    "JobRunning",
    "cancel",
    "environment_firm",
    "environment_slug",
    "firm_words",
    "get_job",
    "is_environment",
    "run_job",
    "submit_report",
    "submit_review",
    "submit_sync",
]
