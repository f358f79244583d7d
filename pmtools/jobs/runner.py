"""Running one job: what a worker (or ``pmtools sync`` in its own process) does with it.

The order is what makes a dead worker detectable without a clock (docs/jobs.md): the firm's
store lock is taken **before** the job is claimed and given back only **after** it is
finished, so a ``running`` job whose firm lock can be taken has lost its worker.

Progress goes to the registry at most a few times a second (and on every stage change); the
reply says whether a cancel was asked, which sets the run's cancel event. A worker that is
stopping (SIGTERM, Ctrl-C) sets the same event through ``stop``: the run ends at its next step
and the job goes back to the queue instead of ending, so another worker takes it up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from pmtools.analysis.messages import service_error_text
from pmtools.connectors.redact import redact_text
from pmtools.core.plan import Op, SyncPolicy
from pmtools.core.records import Kind
from pmtools.core.timestamps import now_iso, parse, to_iso
from pmtools.errors import (
    ConfigError,
    ConnectorError,
    LockHeld,
    PlanChanged,
    PreflightRefused,
    StateError,
)
from pmtools.jobs.context import JobFirm, is_environment, resolve_job_firm
from pmtools.store import Store
from pmtools.store.backend import Backend, backend_from_env
from pmtools.store.registry import Job, Registry

log = logging.getLogger(__name__)

# A job a page runs itself (params ``{"in_page": true}``: it holds what only the page has, a
# previewed plan): never run by a worker; if its page dies, the watchdog ends it (interrupted).
IN_PAGE = "in_page"
PROGRESS_INTERVAL = 0.25  # seconds between progress writes within a stage
MAX_ERRORS_KEPT = 20  # record errors kept in a job's summary (the run's trail has them all)


class WorkerStopping(Exception):
    """The worker stopped the job at its next step; the job went back to the queue."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How a job ended: ``state`` in the registry's words, and the run's result if any."""

    state: str
    message: str = ""
    result: Any = None  # the engine's SyncResult (sync, dry run) or BulkResult (review)
    summary: dict[str, Any] | None = None  # a job without a result: its own summary (report)


def sync_policy(params: dict[str, Any]) -> SyncPolicy:
    """The sync policy a job's ``params`` ask for (kinds, force, min share)."""
    kinds = tuple(Kind(k) for k in params.get("kinds") or [k.value for k in Kind])
    policy = SyncPolicy(kinds=kinds, force=bool(params.get("force")))
    if params.get("min_share") is not None:
        policy = dataclasses.replace(policy, preflight_min_ratio=float(params["min_share"]))
    return policy


class Reporter:
    """``progress(stage, done, total, message)`` for the engine, writing to the registry.

    Throttled to one write per PROGRESS_INTERVAL within a stage; a stage change and a stage's
    end are always written. The ETA is the remaining units at the slower of the stage's
    observed pace and, on the linking stage (whose units are IPM requests or changes, each at
    least one request), the firm's IPM rate limit.
    """

    def __init__(
        self,
        registry: Registry,
        job_id: str,
        *,
        cancel: threading.Event,
        rate_limit: int,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
        echo: Callable[[str, int, int, str], None] | None = None,
    ) -> None:
        self.registry, self.job_id, self.cancel, self.stop = registry, job_id, cancel, stop
        self.echo = echo  # a command's own progress lines (every call, unthrottled)
        self.rate_limit, self.clock = rate_limit, clock
        self._stage = ""
        self._stage_start = 0.0
        self._last = float("-inf")
        self.writes = 0

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        if self.echo is not None:
            self.echo(stage, done, total, message)
        if self.stop is not None and self.stop.is_set():
            self.cancel.set()  # the worker is stopping: end at this step, back to the queue
        now = self.clock()
        if stage != self._stage:
            self._stage, self._stage_start = stage, now
        elif now - self._last < PROGRESS_INTERVAL and done < total:
            self.poll_cancel()  # a read, not a write: a cancel is seen at the very next step
            return
        self._last = now
        self.writes += 1
        eta = self.eta(stage, done, total, now)
        if self.registry.progress(
            self.job_id, stage=stage, done=done, total=total, message=message, eta=eta
        ):
            self.cancel.set()

    def eta(self, stage: str, done: int, total: int, now: float) -> str | None:
        """When the job should end (ISO), or None before anything can be said."""
        left = max(total - done, 0)
        per_unit = 0.0
        if done > 0:
            per_unit = (now - self._stage_start) / done
        if stage == "linking" and self.rate_limit > 0:
            per_unit = max(per_unit, 60.0 / self.rate_limit)
        if per_unit <= 0.0:
            return None
        return to_iso(parse(now_iso()) + timedelta(seconds=left * per_unit))

    def poll_cancel(self) -> None:
        """Ask the registry whether a cancel was asked (between progress writes)."""
        job = self.registry.get_job(self.job_id)
        if job.cancel_requested:
            self.cancel.set()


def summary_of(result: Any) -> dict[str, Any]:
    """What the portfolio shows of a run without asking anyone: counts, errors, awaiting review."""
    if getattr(result, "plan", None) is None:  # a review run (BulkResult): no plan to count
        return {
            "counts": dict(result.counts),
            "errors": len(result.errors),
            "error_messages": [redact_text(e) for e in result.errors[:MAX_ERRORS_KEPT]],
            "left_alone": [redact_text(r.text()) for r in result.refused[:MAX_ERRORS_KEPT]],
            "outcome": result.outcome,
        }
    awaiting = {"ambiguous": 0, "unmatched": 0}
    for action in result.plan.actions:
        if action.op is Op.AMBIGUOUS:
            awaiting["ambiguous"] += 1
        elif action.op is Op.UNMATCHED:
            awaiting["unmatched"] += 1
    return {
        "counts": dict(result.counts),
        "errors": len(result.errors),
        "error_messages": [redact_text(e) for e in result.errors[:MAX_ERRORS_KEPT]],
        "awaiting_review": awaiting,
        "outcome": result.outcome,
    }


def error_words(exc: BaseException) -> tuple[str, str]:
    """(state, message) for a job that raised ``exc``."""
    if isinstance(exc, (PreflightRefused, PlanChanged, LockHeld)):
        return "refused", str(exc)
    if isinstance(exc, ConnectorError):
        return "failed", service_error_text(exc)
    if isinstance(exc, (ConfigError, StateError)):
        return "failed", str(exc)
    return "failed", (
        f"unexpected error ({type(exc).__name__}); the details are in the worker's log — "
        "report them to the pmtools maintainers"
    )


# errors a job ends on in words (refusals, services, the state): no traceback for them
_EXPECTED = (PreflightRefused, PlanChanged, LockHeld, ConnectorError, ConfigError, StateError)


def execute(
    job: Job,
    *,
    firm: JobFirm,
    store: Store,
    registry: Registry,
    stop: threading.Event | None = None,
    echo: Callable[[str, int, int, str], None] | None = None,
) -> Outcome:
    """Run the claimed ``job`` on ``store`` (whose lock the caller holds) and record its end.

    Returns how it ended; re-raises what stopped it (after recording it) so that a command can
    keep its own messages and exit codes. WorkerStopping when ``stop`` was set: the job is back
    in the queue. ``echo`` gets every progress call too (a command's own progress lines).
    """
    cancel = threading.Event()
    reporter = Reporter(
        registry, job.id, cancel=cancel, rate_limit=firm.rate_limit, stop=stop, echo=echo
    )
    watcher = _StopWatcher(reporter, stop)
    watcher.start()
    try:
        outcome = _run(job, firm=firm, store=store, reporter=reporter)
    except BaseException as exc:
        watcher.close()
        if stop is not None and stop.is_set() and not cancel_asked(registry, job.id):
            registry.requeue(job.id, worker=job.worker)
            log.info("job %s stopped with its worker; back in the queue", job.id)
            raise WorkerStopping() from exc
        if isinstance(exc, KeyboardInterrupt):
            registry.finish(job.id, state="cancelled", outcome="interrupted", message="interrupted")
            raise
        state, message = error_words(exc)
        ran = job.kind == "sync" or (job.kind == "review" and not isinstance(exc, PlanChanged))
        run_id = _last_run_id(store) if ran else None
        # the page offers the guard's override on this outcome (not on the message's words)
        why = "preflight" if isinstance(exc, PreflightRefused) else None
        registry.finish(job.id, state=state, outcome=why, message=message, run_id=run_id)
        if state == "failed" and not isinstance(exc, (ConnectorError, ConfigError, StateError)):
            # the traceback is the worker's to log (run_job): a command prints one line
            log.error("job %s failed unexpectedly (%s)", job.id, type(exc).__name__)
        else:
            log.info("job %s %s: %s", job.id, state, redact_text(message))
        raise
    watcher.close()
    result = outcome.result
    if outcome.state == "cancelled" or (result is not None and result.outcome == "cancelled"):
        if stop is not None and stop.is_set() and not cancel_asked(registry, job.id):
            registry.requeue(job.id, worker=job.worker)
            log.info("job %s stopped with its worker; back in the queue", job.id)
            raise WorkerStopping()
        words = outcome.message if outcome.state == "cancelled" else "cancelled"
        outcome = dataclasses.replace(outcome, state="cancelled", message=words)
    registry.finish(
        job.id,
        state=outcome.state,
        outcome=outcome.state if result is None else result.outcome,
        message=outcome.message,
        summary=outcome.summary if result is None else summary_of(result),
        run_id=None if result is None or result.run_id is None else str(result.run_id),
    )
    log.info("job %s %s", job.id, outcome.state)
    return outcome


def cancel_asked(registry: Registry, job_id: str) -> bool:
    """True when someone asked the job to stop (not the worker's own stop)."""
    return registry.get_job(job_id).cancel_requested


def _run(job: Job, *, firm: JobFirm, store: Store, reporter: Reporter) -> Outcome:
    """The work of one job kind."""
    from pmtools.engine.tenant import connect_checked

    if job.kind not in ("sync", "dry_run", "review", "report"):
        raise ConfigError(f"this pmtools cannot run {job.kind_words} as a job yet")
    firm.settings.require_services()
    liscio, ipm = connect_checked(firm.settings, store)
    if job.kind == "review":
        return _run_review(job, store=store, liscio=liscio, ipm=ipm, reporter=reporter)
    if job.kind == "report":
        from pmtools.jobs.report import build_report

        summary = build_report(
            job.id,
            job.firm,
            job.params,
            store=store,
            liscio=liscio,
            ipm=ipm,
            progress=reporter,
            cancel=reporter.cancel,
        )
        if summary is None:
            return Outcome(state="cancelled", message="cancelled: no report was written")
        return Outcome(state="done", message=f"{summary['rows']:,} rows", summary=summary)
    from pmtools.engine.sync import run_sync

    result = run_sync(
        liscio=liscio,
        ipm=ipm,
        store=store,
        policy=sync_policy(job.params),
        # a page's job may say dry_run in its params: never write what was asked as a preview
        dry_run=job.kind == "dry_run" or bool(job.params.get("dry_run")),
        started_by=job.started_by or "worker",
        progress=reporter,
        cancel=reporter.cancel,
        full=bool(job.params.get("full")),
    )
    state = "done"
    message = ""
    if result.outcome == "done_with_errors":
        message = f"{len(result.errors)} record error(s)"
    return Outcome(state=state, message=message, result=result)


def _run_review(job: Job, *, store: Store, liscio: Any, ipm: Any, reporter: Reporter) -> Outcome:
    """A confirmed bulk review: previewed again, applied only if it is the one confirmed."""
    from pmtools.jobs.review import preview_again
    from pmtools.review import apply_preview

    if job.params.get("dry_run"):  # never write what was asked as a preview
        raise ConfigError("a review job cannot be a dry run: the preview is the page's")
    shown = preview_again(job.params, store=store, liscio=liscio, ipm=ipm)
    result = apply_preview(
        shown,
        store=store,
        liscio=liscio,
        ipm=ipm,
        started_by=job.started_by or "worker",
        progress=reporter,
        cancel=reporter.cancel,
    )
    return Outcome(state="done", message=result.message, result=result)


def _last_run_id(store: Store) -> str | None:
    runs = store.runs()
    return None if not runs else str(runs[-1]["id"])


class _StopWatcher:
    """Polls the registry for a cancel and watches the worker's stop, between progress writes.

    The engine checks its cancel event at every step; this sets it within a second of a cancel
    asked from a page, even in a long stage that reports little.
    """

    def __init__(self, reporter: Reporter, stop: threading.Event | None) -> None:
        self.reporter, self.stop = reporter, stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pmtools-job-watch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def close(self) -> None:
        """Stop watching."""
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._done.wait(1.0):
            try:
                if self.stop is not None and self.stop.is_set():
                    self.reporter.cancel.set()
                self.reporter.poll_cancel()
            except Exception:  # a registry hiccup must not end the job; the next poll retries
                log.debug("cancel poll failed", exc_info=True)


def run_job(
    job_id: str,
    worker: str,
    *,
    backend: Backend | None = None,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    lock_wait: float = 5.0,
) -> str:
    """What a worker does with one queue message; returns what happened, in one word.

    ``ran`` (the job ran and ended, whatever its outcome), ``skipped`` (not queued any more:
    a duplicate message, or another worker has it; or a job of another environment's firm),
    ``busy`` (the firm's lock is held by a short command: try again shortly), ``stopped`` (the
    worker is stopping: the job is back in the queue), ``gone`` (no such job).
    """
    backend = backend or backend_from_env(environ)
    with backend.registry() as registry:
        try:
            job = registry.get_job(job_id)
        except KeyError:
            return "gone"
        if job.state != "queued" or job.params.get(IN_PAGE):
            return "skipped"  # taken, ended, or a page's own job (its page runs it)
        try:
            firm = resolve_job_firm(job.firm, backend=backend, environ=environ)
            store = firm.open_store()
        except (ConfigError, StateError) as exc:
            if is_environment(job.firm):
                return "skipped"  # another command's environment: not this worker's to run
            if registry.claim(job_id, worker) is not None:
                registry.finish(job_id, state="failed", message=str(exc))
                log.info("job %s failed: %s", job_id, redact_text(str(exc)))
            return "ran"
        with contextlib.closing(store), contextlib.ExitStack() as held:
            try:
                held.enter_context(store.lock(timeout=lock_wait, by="a worker"))
            except LockHeld:
                return "busy" if registry.get_job(job_id).state == "queued" else "skipped"
            claimed = registry.claim(job_id, worker)
            if claimed is None:
                return "skipped"
            log.info("job %s (%s) started by %s", job_id, job.kind, worker)
            try:
                execute(claimed, firm=firm, store=store, registry=registry, stop=stop)
            except WorkerStopping:
                return "stopped"
            except Exception as exc:  # recorded in the registry by execute()
                if not isinstance(exc, _EXPECTED):
                    log.error("job %s: the unexpected error's details", job_id, exc_info=exc)
                return "ran"
            return "ran"
