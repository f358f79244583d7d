"""The Sync Now panel's states, and how it follows a job in the registry and shows stages.

A mixin of :class:`~pmtools.workbench.syncing.SyncPanel` (split from it to keep each module
small): the watcher's callbacks run here, on the watcher's thread; they only set widget traits.
"""

from __future__ import annotations

import enum
import time
from typing import Any

from pmtools.workbench.common import esc, message_html
from pmtools.workbench.jobwords import job_counts, job_errors, progress_words
from pmtools.workbench.syncview import OUTCOME_WORDS, STAGES

# How a job's summary says the first-sync guard refused it (the page then offers the override).
PREFLIGHT_OUTCOMES = ("preflight", "preflight_refused", "duplicate_risk")
# The jobs whose end this panel announces as a change of the pairs. A review job's panel (the
# bulk panel that started it) redraws only the rows it changed itself: a reload of everything
# from here raced it (CI: rows reloaded, "Another action is running").
WRITING_KINDS = ("sync",)
PREFLIGHT_WORDS = "Refusing the first sync"  # how the guard's refusal begins (core/planner)


class PanelState(str, enum.Enum):
    """Where the Sync Now panel is; the state alone decides what it shows and offers."""

    IDLE = "idle"  # nothing run in this page yet (or a preview discarded)
    RUNNING = "running"  # a sync job or a preview runs: Cancel is offered
    PREVIEWED = "previewed"  # a plan is shown: Apply this plan or Discard
    REFUSED = "refused"  # the first-sync guard refused: the override is offered
    DONE = "done"  # the last sync finished (with or without record errors)
    FAILED = "failed"  # it stopped: a service failed or something unexpected
    CANCELLED = "cancelled"  # a person cancelled it

    def __str__(self) -> str:
        return self.value


# What each state shows: (the preflight override, the preview with Apply, Cancel enabled).
_SHOWS = {
    PanelState.IDLE: (False, False, False),
    PanelState.RUNNING: (False, False, True),
    PanelState.PREVIEWED: (False, True, False),
    PanelState.REFUSED: (True, False, False),
    PanelState.DONE: (False, False, False),
    PanelState.FAILED: (False, False, False),
    PanelState.CANCELLED: (False, False, False),
}


class JobView:
    """Following the firm's job and drawing stages and progress (mixed into SyncPanel)."""

    # Set by SyncPanel.__init__.
    ctx: Any
    stages: dict[str, Any]
    progress: Any
    progress_text: Any
    status: Any
    summary: Any
    cancel: Any
    preflight_box: Any
    preview_box: Any
    state: Any
    job: Any
    _following: str | None
    _page_job: Any
    _holding: bool
    _idle: Any
    _last_stage: str
    _last_update: float

    def _enter(self, state: PanelState) -> None:
        """Become ``state``: its boxes shown, the others hidden, Cancel offered while running."""
        self.state = state
        preflight, preview, cancel = _SHOWS[state]
        self.preflight_box.layout.display = "" if preflight else "none"
        self.preview_box.layout.display = "" if preview else "none"
        self.cancel.disabled = not cancel

    # -- following a job ---------------------------------------------------------------------
    def _seen(self, job: Any) -> None:
        """The firm's active job changed (None: none is active); on the watcher's thread."""
        if self._following is not None and (job is None or job.id != self._following):
            self._ended(self.ctx.session.registry.get_job(self._following))
        if job is None or (self._page_job is not None and job.id == self._page_job.job.id):
            return  # nothing runs, or this page runs it and shows it directly
        if self._following != job.id:  # started elsewhere, or before this page was loaded
            self._following = job.id
            self._idle.clear()
            self._enter(PanelState.RUNNING)
            self._reset_stages()
            self.summary.value = ""
            who = f" ({job.started_by})" if job.started_by else ""
            what = job.kind_words.capitalize()
            self.status.value = message_html(f"{what} for this firm is running{who}.", "info")
        if not self._holding:
            self._holding = self.ctx.acquire()
        self.job = job
        self._show_progress(job)

    def _show_progress(self, job: Any) -> None:
        if job.state == "queued":
            self.progress_text.value = esc(progress_words(job))
            return
        self._progress(job.stage, job.done, job.total, job.message, throttle=False)
        self.progress_text.value = esc(progress_words(job))
        if job.cancel_requested:
            self.cancel.disabled = True

    def _ended(self, job: Any) -> None:
        """A followed job ended: show how, as a run in this page would."""
        self.job = job
        self._following = None
        try:
            counts, errors = self._job_counts(job)
            if job.kind == "review":  # the review's bulk apply: its panel shows the detail
                self._enter(PanelState.IDLE)
                self._reset_stages()
                words = (job.message or job.outcome or job.state).rstrip(".")
                self.status.value = message_html(
                    f"Review decisions for this firm {job.state}: {words}.", "info"
                )
            elif job.kind != "sync":  # a dry run or a report: nothing was written
                self._enter(PanelState.IDLE)
                self._reset_stages()
                self.status.value = (
                    ""  # the Report panel says how its report ended
                    if job.kind == "report"
                    else message_html(
                        f"{job.kind_words.capitalize()} for this firm ended "
                        f"({job.outcome or job.state}); nothing was written.",
                        "info",
                    )
                )
            elif job.state == "refused" and (
                job.outcome in PREFLIGHT_OUTCOMES or job.message.startswith(PREFLIGHT_WORDS)
            ):
                self._refused(job.message)
            elif job.state in ("done", "cancelled"):
                outcome = (job.outcome or "done") if job.state == "done" else "cancelled"
                if job.state == "done":  # the last progress ("… almost done") is over
                    self.progress.value = self.progress.max
                    self.progress_text.value = esc("Finished.")
                self._show_end(outcome, counts, errors, job.run_id)
            else:
                self._enter(PanelState.FAILED)
                self._mark_stopped()
                words = OUTCOME_WORDS.get(job.outcome or job.state, job.state)
                why = (job.message or "the worker's log says why").rstrip(".")
                self.status.value = message_html(f"Sync {words}: {why}.", "error")
            if job.kind in WRITING_KINDS:  # a report or a dry run changed no pair; see above
                self.ctx.changed("sync")
        except Exception as exc:
            self.ctx.report(exc, "showing the sync's result", self.status)
        finally:
            if self._holding:
                self._holding = False
                self.ctx.release()
            self._idle.set()

    def _job_counts(self, job: Any) -> tuple[dict[str, int], list[str]]:
        """The job's counts and record errors: its summary, else its run in the store."""
        counts, errors = job_counts(job), job_errors(job)
        if not counts and job.run_id and str(job.run_id).isdigit():
            run = self.ctx.session.store.run(int(job.run_id))
            counts = dict((run or {}).get("counts") or {})
        return counts, errors

    # -- showing -----------------------------------------------------------------------------
    def _progress(
        self, stage: str, done: int, total: int, message: str = "", *, throttle: bool = True
    ) -> None:
        # A big plan reports every step: send the page at most a few updates a second.
        now = time.monotonic()
        if throttle and stage == self._last_stage and done < total:
            if now - self._last_update < 0.25:
                return
        self._last_stage, self._last_update = stage, now
        keys = [k for k, _ in STAGES]
        if stage in self.stages:
            for k in keys[: keys.index(stage)]:
                self._mark_done(k)
            self.stages[stage].icon = "spinner"
            self.stages[stage].button_style = "" if total and done < total else "info"
            if total and done >= total:
                self._mark_done(stage)
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        label = dict(STAGES).get(stage, stage)
        self.progress_text.value = esc(
            f"{label}: {done} of {total}" + (f" — {message}" if message else "")
        )

    def _mark_done(self, stage: str) -> None:
        b = self.stages[stage]
        b.button_style = "info"
        b.icon = "check"
        b.add_class("pm-stage-done")

    def _reset_stages(self) -> None:
        for b in self.stages.values():
            b.button_style = ""
            b.icon = "circle-o"
            b.remove_class("pm-stage-done")

    def _mark_stopped(self) -> None:
        """The stage that was running shows it stopped (no spinner left turning)."""
        for key, label in STAGES:
            b = self.stages[key]
            if b.icon == "spinner":
                b.icon = "times"
                self.progress_text.value = esc(f"Stopped during {label}.")
