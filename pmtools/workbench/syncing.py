"""The Sync Now panel: a job's three stages, progress, ETA and Cancel; the preflight; a preview.

Sync Now submits a **job** and the panel follows the job's row in the registry
(:mod:`pmtools.workbench.jobrun`): a worker runs it, so closing the page changes nothing, and a
reloaded page (or another person's) shows the running job with its progress and Cancel. A job
for this firm started elsewhere (the CLI, a schedule) shows the same way.

Two things stay in the page, because what they show or apply lives in the page:
- the **preview** (a dry run) runs in a kernel thread and writes nothing; its plan is shown;
- **Apply this plan** writes exactly the previewed plan, which only this page holds: the page
  runs it itself as a job (recorded in the registry like a worker's, one job per firm).
A page whose simulator lives in its own kernel runs Sync Now itself too (no worker can reach
that simulator). Threads only set widget traits; :meth:`Context.changed` tells the other panels.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import ipywidgets as ipw

from pmtools.core.plan import SyncPolicy
from pmtools.engine.sync import SyncResult
from pmtools.errors import LockHeld, PlanChanged, PreflightRefused
from pmtools.jobs.runner import IN_PAGE
from pmtools.workbench.common import Context, button, esc, message_html, readable
from pmtools.workbench.jobrun import PageJob, RegistryWatcher, cancel_job, submit_sync
from pmtools.workbench.syncjob import JobView, PanelState
from pmtools.workbench.syncview import (
    COUNT_LABELS,
    OUTCOME_WORDS,
    PREFLIGHT_HEADLINE,
    STAGES,
    WRITE_KEYS,
    changed_words,
    changes_html,
    counts_html,
    errors_html,
    plan_rows,
    preview_html,
)

BUSY = "another sync of this firm is running (a worker's or a command's); wait for it to end"
__all__ = ["COUNT_LABELS", "OUTCOME_WORDS", "PanelState", "SyncPanel", "plan_rows"]


class SyncPanel(JobView, ipw.VBox):
    """Sync Now as a job: stages, progress, ETA, Cancel, preflight override, preview-then-apply."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sync_now = button("Sync Now", "pm-sync-now", icon="refresh", style="primary")
        self.preview_first = ipw.Checkbox(
            value=False,
            indent=False,
            description="Preview first (write nothing yet)",
            layout=ipw.Layout(width="auto"),
        )
        self.preview_first.add_class("pm-preview-first")
        self.cancel = button("Cancel", "pm-cancel", icon="stop")
        self.cancel.disabled = True
        self.stages = {}
        for key, label in STAGES:
            b = ipw.Button(
                description=label, disabled=True, icon="circle-o", layout=ipw.Layout(width="auto")
            )
            b.add_class("pm-stage")
            b.add_class(f"pm-stage-{key}")
            self.stages[key] = b
        self.progress = ipw.IntProgress(value=0, min=0, max=1, description="")
        self.progress.add_class("pm-progress")
        self.progress_text = ipw.HTML()
        self.progress_text.add_class("pm-progress-text")
        self.status = ipw.HTML()
        self.status.add_class("pm-sync-status")
        self.force = ipw.Checkbox(
            value=False, indent=False, description="The client data is in Liscio: sync anyway"
        )
        self.force.add_class("pm-force")
        self.force_button = button("Sync anyway", "pm-sync-anyway", icon="warning", style="danger")
        self.preflight_box = ipw.VBox(
            [self.force, self.force_button], layout=ipw.Layout(display="none")
        )
        self.apply_button = button("Apply this plan", "pm-apply", icon="check", style="success")
        self.discard_button = button("Discard", "pm-discard", icon="times")
        self.preview = ipw.HTML()
        self.preview.add_class("pm-preview")
        self.preview_box = ipw.VBox(
            [self.preview, ipw.HBox([self.apply_button, self.discard_button])],
            layout=ipw.Layout(display="none"),
        )
        self.summary = ipw.HTML()
        self.summary.add_class("pm-sync-summary")
        # The Forecast box goes here (mount_forecast, under the buttons): before a first sync
        # it says what the sync will do and how long it will take.
        self.forecast_slot = ipw.VBox([])
        self.forecast_slot.add_class("pm-forecast-slot")

        self.sync_now.on_click(lambda _b: self._sync_now())
        self.cancel.on_click(lambda _b: self.request_cancel())
        self.force_button.on_click(lambda _b: self._force_clicked())
        self.apply_button.on_click(
            lambda _b: self.start(
                dry_run=False, force=self._forced_preview, expected=self._previewed
            )
        )
        self.discard_button.on_click(lambda _b: self._discard())
        ctx.freezable(self.sync_now, self.apply_button, self.force_button)

        self.thread: threading.Thread | None = None
        self.state = PanelState.IDLE
        self.result: SyncResult | None = None  # a run made in this page (preview, Apply)
        self.job: Any = None  # the job followed (a worker's or this page's)
        self.error: BaseException | None = None
        self._page_job: PageJob | None = None
        self._firm_lock = contextlib.ExitStack()  # the store's lock, while this page runs a job
        self._following: str | None = None  # the id of a job a worker runs, followed here
        self._holding = False  # this panel holds the page's busy state for a followed job
        self._idle = threading.Event()
        self._idle.set()
        self._cancel = threading.Event()
        self._last_stage, self._last_update = "", 0.0
        self._forced_preview = False  # the preview shown was made with the preflight overridden
        self._previewed: Any = None  # the plan shown in the preview: Apply applies only it
        self._preview_names: dict[tuple[str, str], str] = {}
        super().__init__(
            [
                ipw.HTML("<h3>Sync Now</h3>"),
                ipw.HBox([self.sync_now, self.preview_first, self.cancel]),
                self.forecast_slot,
                ipw.HBox(list(self.stages.values())),
                ipw.HBox([self.progress, self.progress_text]),
                self.status,
                self.preflight_box,
                self.preview_box,
                self.summary,
            ]
        )
        self.add_class("pm-sync-panel")
        self.show_last_sync()
        session = ctx.session
        self.watcher = RegistryWatcher(
            lambda: session.registry.active_job(session.firm), self._seen, name="pmtools-sync-job"
        )
        self.watcher.poll()  # a job running now shows at once, not a tick later
        self.watcher.start()

    def mount_forecast(self, widget: ipw.Widget) -> None:
        """Show the Forecast widget above Sync Now."""
        self.forecast_slot.children = (widget,)

    def close(self) -> None:
        """Stop following the registry, then close the widgets."""
        watcher = getattr(self, "watcher", None)
        if watcher is not None:
            watcher.stop()
        super().close()

    # -- starting ----------------------------------------------------------------------------
    def start(self, *, dry_run: bool, force: bool = False, expected: Any = None) -> bool:
        """Start a sync job (or a preview in the page); False when something else runs.

        ``expected``: the previewed plan; this page applies it only if planning again gives it.
        """
        if not self.ctx.acquire():
            self.status.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        self._begin(dry_run=dry_run, force=force)
        if dry_run:
            return self._thread(SyncPolicy(force=force), True, None, None)
        session = self.ctx.session
        in_page = expected is not None or session.jobs_in_page
        with self.watcher.held():  # the watcher sees the job only once it is this page's
            return self._submit(session, force=force, expected=expected, in_page=in_page)

    def _submit(self, session: Any, *, force: bool, expected: Any, in_page: bool) -> bool:
        if in_page:
            # The firm's lock, held from before the job exists until it ends: no worker can
            # take this page's job, and the watchdog sees its worker (this page) alive.
            try:
                self._firm_lock.enter_context(session.store.lock(by="app"))
            except LockHeld:
                return self._not_started(LockHeld(BUSY))
        try:
            if in_page:
                job = session.registry.submit(
                    session.firm,
                    "sync",
                    {"force": force, "previewed": expected is not None, IN_PAGE: True},
                    started_by="app",
                )
            else:
                job = submit_sync(session, force=force)
        except Exception as exc:  # JobRunning: one job per firm; say so in a sentence
            self._firm_lock.close()
            return self._not_started(exc)
        self.job = job
        if in_page:
            self._page_job = PageJob(session.registry, job)
            self._cancel = self._page_job.cancel
            return self._thread(SyncPolicy(force=force), False, expected, self._page_job)
        self._holding = True  # held until the job ends (_ended)
        self._following = job.id
        self.status.value = message_html("Sync queued: a worker starts it shortly.", "info")
        self.watcher.nudge()
        return True

    def _begin(self, *, dry_run: bool, force: bool) -> None:
        self._idle.clear()
        self._cancel = threading.Event()
        self.result = None
        self.error = None
        self._enter(PanelState.RUNNING)
        self._reset_stages()
        self.progress.value, self.progress.max = 0, 1
        self.progress_text.value = ""
        self.summary.value = ""
        what = "Preview (dry run)" if dry_run else "Sync"
        self.status.value = message_html(f"{what} running…", "info")
        self.ctx.log.add(f"{what} started" + (" with the preflight overridden" if force else ""))

    def _not_started(self, exc: BaseException) -> bool:
        self.error = exc
        self._enter(PanelState.IDLE)
        text = readable(exc)
        self.status.value = message_html(text[:1].upper() + text[1:] + ".", "warning")
        self.ctx.log.add(f"Sync not started: {text}", "warning")
        self.ctx.release()
        self._idle.set()
        self.watcher.nudge()
        return False

    def _thread(self, policy: SyncPolicy, dry_run: bool, expected: Any, job: Any) -> bool:
        self.thread = threading.Thread(
            target=self._run, args=(policy, dry_run, expected, job), name="pmtools-sync",
            daemon=True,
        )  # fmt: skip
        self.thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this page's run, or the job it follows, to end and show; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                return False
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._idle.wait(left)

    def request_cancel(self) -> None:
        """Ask the running sync (this page's, or the job followed) to stop after its step."""
        self._cancel.set()
        self.cancel.disabled = True
        self.status.value = message_html("Cancelling after the current step…", "warning")
        self.ctx.log.add("Cancel requested")
        if self.job is not None:
            try:
                cancel_job(self.ctx.session, self.job.id)
            except Exception as exc:
                self.ctx.report(exc, "cancelling the sync", self.status)
            self.watcher.nudge()

    # -- a run in this page (a preview, Apply this plan, a private simulator's sync) ---------
    def _run(self, policy: SyncPolicy, dry_run: bool, expected: Any, job: PageJob | None) -> None:
        from pmtools.engine.sync import run_sync

        s = self.ctx.session

        def progress(stage: str, done: int, total: int, message: str = "") -> None:
            self._progress(stage, done, total, message)
            if job is not None:
                job.progress(stage, done, total, message)

        try:
            try:
                progress("organizations", 0, 2, "checking the firms of Liscio and IPM")
                with s.lock:  # the tenant guard: both services are this state file's firm
                    self.result = run_sync(
                        liscio=s.liscio,
                        ipm=s.ipm,
                        store=s.store,
                        policy=policy,
                        dry_run=dry_run,
                        started_by="app",
                        progress=progress,
                        cancel=self._cancel,
                        expected=None if dry_run else expected,
                    )
            except PlanChanged as exc:
                self.error = exc
                if job is not None:
                    job.finish(state="refused", outcome="plan_changed", message=str(exc))
                plan, shown = exc.plan, self._previewed
                records = getattr(exc, "records", None) or {}
                self.result = SyncResult(
                    run_id=None, plan=plan, counts=plan.counts(), records=records, outcome="dry_run"
                )
                self._finished(True)
                self.status.value = message_html(str(exc), "warning") + changes_html(
                    shown, plan, self._preview_names
                )
                self.ctx.log.add("Apply refused: the data changed since the preview", "warning")
                return
            except PreflightRefused as exc:
                self.error = exc
                if job is not None:
                    job.finish(state="refused", outcome="preflight", message=str(exc))
                self._refused(str(exc))
                return
            except Exception as exc:  # a thread must report everything it meets
                self.error = exc
                if job is not None:
                    job.finish(state="failed", outcome="failed", message=readable(exc))
                self._enter(PanelState.FAILED)
                self._mark_stopped()
                self.ctx.report(exc, "the sync", self.status)
            else:
                if job is not None:
                    r = self.result
                    job.finish(
                        state="cancelled" if r.outcome == "cancelled" else "done",
                        outcome=r.outcome,
                        summary={"counts": dict(r.counts), "errors": list(r.errors[:100])},
                        run_id=r.run_id,
                    )
                self._finished(dry_run)
            if not dry_run:
                # Refresh while the buttons are still frozen; a run that stopped halfway
                # changed things too.
                self.ctx.changed("sync")
        except Exception as exc:
            self.ctx.report(exc, "showing the sync's result", self.status)
        finally:
            if self.state is PanelState.RUNNING:  # ended without saying how: it failed
                self._enter(PanelState.FAILED)
            self._firm_lock.close()  # taken in _submit (a page job)
            self._page_job = None
            self.ctx.release()
            self._idle.set()

    def _refused(self, why: str) -> None:
        """The first-sync guard refused: nothing written; the override is offered."""
        self._reset_stages()
        self.progress_text.value = esc("Stopped before writing anything.")
        self.status.value = (
            message_html(PREFLIGHT_HEADLINE, "warning")
            + f"<details><summary>Why?</summary><p>{esc(why)}</p></details>"
        )
        self._enter(PanelState.REFUSED)
        self.force.value = False
        self.ctx.log.add(f"Sync refused by the preflight: {why}", "warning")

    def _finished(self, dry_run: bool) -> None:
        r = self.result
        assert r is not None  # set by the run that finished
        self.ctx.detailed = [
            rec for recs in r.records.values() for rec in recs if rec.details_complete
        ]
        if not dry_run:
            self._show_end(r.outcome, dict(r.counts), list(r.errors), r.run_id)
            return
        self._previewed = r.plan
        names = {(rec.side.value, rec.id): rec.name for recs in r.records.values() for rec in recs}
        # Kept for a later "changed since the preview" (its new plan names records too).
        self._preview_names = {**self._preview_names, **self.ctx.names(), **names}
        self.preview.value = preview_html(r.plan, dict(r.counts), self._preview_names)
        self._reset_stages()  # blue means synced; a preview wrote nothing
        self.progress_text.value = esc("Preview: nothing written yet.")
        self._enter(PanelState.PREVIEWED)
        self.status.value = message_html(
            "Preview ready: review it, then Apply this plan or Discard.", "info"
        )
        self.ctx.log.add(f"Preview: {len(plan_rows(r.plan))} writes planned")

    def _show_end(
        self, outcome: str, counts: dict[str, int], errors: list[str], run_id: Any
    ) -> None:
        """A sync ended (done, with errors, or cancelled): stages, status and what changed."""
        self._enter(PanelState.CANCELLED if outcome == "cancelled" else PanelState.DONE)
        if outcome == "cancelled":
            self._mark_stopped()
        else:
            for k, _ in STAGES:
                self._mark_done(k)
        level = "success" if not errors and outcome not in ("cancelled", "failed") else "warning"
        run = f" (run {run_id})" if run_id is not None else ""
        self.status.value = message_html(f"Sync {OUTCOME_WORDS.get(outcome, outcome)}{run}.", level)
        wrote = {k: v for k, v in counts.items() if v and k in WRITE_KEYS}
        if outcome == "cancelled" and not wrote and not errors:
            # A table of zeros reads as "the sync found nothing": say what happened instead.
            self.summary.value = message_html(
                "Cancelled before anything was written: run Sync Now again when ready."
            )
        else:
            self.summary.value = "<b>What changed</b>" + counts_html(counts) + errors_html(errors)
        self.ctx.log.add(f"Sync {OUTCOME_WORDS.get(outcome, outcome)}: " + changed_words(counts))

    def show_last_sync(self) -> None:
        """Show the last finished Sync Now as the stages and status (a reloaded page too)."""
        runs = [r for r in self.ctx.session.store.runs() if r.get("command") == "sync"]
        last = runs[-1] if runs else None
        if last is None or last.get("outcome") not in ("done", "done_with_errors"):
            return
        from pmtools.workbench.details import short_time

        self._enter(PanelState.DONE)
        for k, _ in STAGES:
            self._mark_done(k)
        when = short_time(last.get("finished_at") or last.get("started_at"))
        self.status.value = message_html(
            f"The last Sync Now {OUTCOME_WORDS.get(last['outcome'], last['outcome'])} "
            f"at {when} UTC: " + changed_words(last.get("counts") or {}),
            "info",
        )

    # -- buttons -----------------------------------------------------------------------------
    def _force_clicked(self) -> None:
        if not self.force.value:
            self.status.value = message_html(
                "Tick the box to confirm the client data is in Liscio first.", "warning"
            )
            return
        self.ctx.log.add("Preflight overridden by the user", "warning")
        self._forced_preview = self.preview_first.value  # its Apply is forced too
        self.start(dry_run=self.preview_first.value, force=True)

    def _sync_now(self) -> None:
        self._forced_preview = False
        self.start(dry_run=self.preview_first.value)

    def _discard(self) -> None:
        self._forced_preview = False
        self._previewed = None
        self._enter(PanelState.IDLE)
        self.preview.value = ""
        self.status.value = message_html("Preview discarded; nothing was written.", "info")
