"""The review's bulk step: the whole effect of a decision list, then apply on confirmation.

:func:`pmtools.review.preview` gives the effect (links, creates, every field write with before
→ after, and what is refused and why); Apply submits it as a ``review`` job
(:mod:`pmtools.jobs.review`): a worker previews the decisions again, applies exactly that as one
run (undoable) only if nothing changed, and this box follows the job in the registry (progress,
Cancel, the outcome; a reload shows it). A page that runs its own jobs (a simulator in the
kernel, a test, a notebook) applies in a kernel thread, recorded as a job all the same. The
spreadsheet round trip ends here too: an imported file's decisions are previewed and applied
the same way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import ipywidgets as ipw

from pmtools.core.records import Side
from pmtools.workbench.bulkwords import (
    RESULT_WORDS,
    job_words,
    not_started,
    preview_rows,
    refused_rows,
    result_words,
)
from pmtools.workbench.common import Context, button, esc, html_table, message_html

log = logging.getLogger(__name__)

__all__ = [
    "PATCH_LIMIT",
    "RESULT_WORDS",
    "SHOWN",
    "BulkBox",
    "job_words",
    "not_started",
    "preview_rows",
    "refused_rows",
    "result_words",
]

SHOWN = 500  # preview rows shown in the page; the rest are counted (all are applied)
# Up to this many decisions redraw only their rows in View Details (one read each); more
# reload its tables (in this background thread, so the page stays usable).
PATCH_LIMIT = 50


class BulkBox(ipw.VBox):
    """Preview → Apply (background, progress, Cancel) → summary, for the review panel."""

    def __init__(self, ctx: Context, panel: Any) -> None:
        self.ctx = ctx
        self.panel = panel
        self.shown: Any = None
        self.result: Any = None
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.job: Any = None  # the review job this box runs or follows
        self.watcher: Any = None
        self._holding = False  # this box holds the page's busy state (ctx.acquire)
        self._following: Any = None  # the preview of the job followed (None after a reload)
        self._last = 0.0
        self.view = ipw.HTML()
        self.view.add_class("pm-bulk-preview")
        self.apply_button = button(
            "Apply these decisions", "pm-bulk-apply", icon="check", style="success"
        )
        self.discard_button = button("Discard", "pm-bulk-discard", icon="times")
        self.cancel_button = button("Cancel", "pm-bulk-cancel", icon="stop")
        self.cancel_button.disabled = True
        self.progress = ipw.IntProgress(value=0, min=0, max=1)
        self.progress.add_class("pm-bulk-progress")
        self.progress_text = ipw.HTML()
        self.progress_text.add_class("pm-bulk-progress-text")
        self.summary = ipw.HTML()
        self.summary.add_class("pm-bulk-summary")
        self.cards_button = button(
            "Read the IPM cards first", "pm-bulk-read-cards", icon="download"
        )
        self.confirm_box = ipw.HBox([self.apply_button, self.cards_button, self.discard_button])
        self.decisions: list[Any] = []
        self.what = ""
        self.run_box = ipw.HBox([self.progress, self.progress_text, self.cancel_button])
        ctx.freezable(self.apply_button, self.cards_button)
        self.cards_button.on_click(lambda _b: self.read_cards())
        for b in (self.apply_button, self.cards_button, self.discard_button):
            b.layout.width = "auto"
        self.apply_button.on_click(lambda _b: self.apply())
        self.discard_button.on_click(lambda _b: self.discard())
        self.cancel_button.on_click(lambda _b: self.request_cancel())
        super().__init__([self.view, self.confirm_box, self.run_box, self.summary])
        self.add_class("pm-bulk")
        self.confirm_box.layout.display = "none"
        self.run_box.layout.display = "none"
        try:  # a review job a reload (or another page) left running shows here
            self.resume()
        except Exception:  # the review works without it; the portfolio shows the job
            log.warning("reading the firm's running job failed", exc_info=True)

    # -- preview -------------------------------------------------------------------------
    def show(self, decisions: list[Any], what: str) -> Any:
        """Show the whole effect of ``decisions``; nothing is written until Apply."""
        from pmtools.review import preview

        self.summary.value = ""
        shown = preview(decisions, queue=self.panel.queue, sources=self.panel.sources)
        self.shown, self.decisions, self.what = shown, list(decisions), what
        unread = shown.counts()["fields_not_read"]
        self.cards_button.layout.display = "" if unread else "none"
        self.cards_button.description = f"Read the IPM cards first ({unread:,} fields)"
        rows = preview_rows(shown)
        refused = refused_rows(shown.refused)
        parts = [
            message_html(
                f"{what}: {shown.summary()} Nothing is written until you click "
                "Apply these decisions.",
                "info" if rows else "warning",
            )
        ]
        if rows:
            more = (
                (
                    f"<p>… and {len(rows) - SHOWN:,} more, not shown here: Apply applies every "
                    "one of them.</p>"
                )
                if len(rows) > SHOWN
                else ""
            )
            parts.append(
                '<div style="max-height:22em;overflow:auto">'
                + html_table(
                    ["Decision", "Kind", "Record", "With", "What it writes (before → after)"],
                    rows[:SHOWN],
                    css="pm-bulk-items",
                )
                + more
                + "</div>"
            )
        if refused:
            parts.append(
                "<b>Refused, and why (nothing is done for these)</b>"
                '<div style="max-height:14em;overflow:auto">'
                + html_table(
                    ["Row", "Record", "Decision", "Why"], refused[:SHOWN], css="pm-bulk-refused"
                )
                + "</div>"
            )
        self.view.value = "".join(parts)
        self.confirm_box.layout.display = "" if rows else "none"
        self.ctx.log.add(f"{what}: previewed; {shown.summary()}")
        return shown

    def withhold(self) -> None:
        """Keep the preview in sight but offer no Apply (the caller says why)."""
        self.shown = None
        self.confirm_box.layout.display = "none"

    def discard(self) -> None:
        """Forget the preview: nothing is written."""
        self.shown = None
        self.view.value = message_html("Discarded; nothing was written.")
        self.confirm_box.layout.display = "none"

    # -- apply -----------------------------------------------------------------------------
    def apply(self) -> bool:
        """Apply the preview as a ``review`` job; False when nothing to apply or busy.

        Where a worker runs the firm's jobs, the confirmed decisions go to it (it previews them
        again and applies them only if nothing changed) and this box follows the job in the
        registry. A page that runs its own jobs applies them in a kernel thread, recorded as
        a job all the same (:class:`~pmtools.workbench.jobrun.PageJob`).
        """
        if self.shown is None or not self.shown.items:
            return False
        if not self.ctx.acquire():
            self.summary.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        shown, self.shown = self.shown, None
        s = self.ctx.session
        from pmtools.jobs.review import review_params

        params = review_params(self.decisions, shown)
        held = contextlib.ExitStack()
        try:
            if s.jobs_in_page:
                from pmtools.jobs.runner import IN_PAGE

                # the firm's lock from before the job exists until it ends, as a worker's
                held.enter_context(s.store.lock(by="app"))
                job = s.registry.submit(
                    s.firm, "review", {**params, IN_PAGE: True}, started_by="app"
                )
            else:
                from pmtools.workbench.jobrun import jobs_api

                job = jobs_api().submit_review(s.firm, params, started_by="app")
        except Exception as exc:  # JobRunning or LockHeld: one job per firm, in one sentence
            held.close()
            self.shown = shown  # the preview stays confirmable once the other job ends
            self.summary.value = message_html(not_started(exc), "warning")
            self.ctx.release()
            return False
        self._cancel.clear()
        self._idle.clear()
        self.result = None
        self.job = job
        self._holding = True
        self.confirm_box.layout.display = "none"
        self._running(shown)
        if s.jobs_in_page:
            from pmtools.workbench.jobrun import PageJob

            page_job = PageJob(s.registry, job)
            self._cancel = page_job.cancel
            self.thread = threading.Thread(
                target=self._apply,
                args=(shown, page_job, held),
                daemon=True,
                name="pmtools-review-apply",
            )
            self.thread.start()
        else:
            self.follow(job, shown)
        return True

    def _running(self, shown: Any) -> None:
        self.run_box.layout.display = ""
        self.cancel_button.disabled = False
        total = len(shown.items) if shown is not None else 1
        self.progress.value, self.progress.max = 0, max(total, 1)
        self.progress_text.value = esc("Applying…")
        self.summary.value = ""

    def follow(self, job: Any, shown: Any = None) -> None:
        """Follow a worker's review job in the registry until it ends (also after a reload,
        with ``shown`` None: the page then reloads its tables)."""
        from pmtools.workbench.jobrun import RegistryWatcher

        registry = self.ctx.session.registry
        self.job, self._following = job, shown
        self.watcher = RegistryWatcher(
            lambda: registry.get_job(job.id), self._on_job, name="pmtools-review-job"
        ).start()

    def resume(self) -> bool:
        """Show the firm's running review job (one a reload or another page started); True if
        there is one."""
        s = self.ctx.session
        if s.jobs_in_page:
            return False
        job = s.registry.active_job(s.firm)
        if job is None or job.kind != "review":
            return False
        # the Sync Now panel may hold the page's busy state for this job already (it follows
        # any job of the firm): this box then only shows it
        self._holding = self.ctx.acquire()
        self._idle.clear()
        self._running(None)
        self.follow(job)
        return True

    def _on_job(self, job: Any) -> None:
        """A change of the followed job: its progress, or its end in words."""
        self.job = job
        if job.active:
            if job.state == "queued":
                self.progress_text.value = esc("Queued: a worker starts it shortly.")
            else:
                self._progress(job.stage, job.done, job.total, job.message)
            return
        if self.watcher is not None:
            self.watcher.stop()
        shown, self._following = self._following, None
        try:
            self.summary.value = job_words(job)
            self.progress_text.value = esc("Finished." if job.state == "done" else "Ended.")
            self.ctx.log.add(f"Review decisions: {job.message or job.state}")
            if job.state in ("done", "cancelled") and shown is not None and job.run_id:
                self.panel.decided(shown)
        finally:
            self.cancel_button.disabled = True
            if self._holding:
                self._holding = False
                self.ctx.release()
            self._idle.set()
        if shown is not None:
            self._changed(shown)
        elif job.run_id:
            self.ctx.changed("review")

    def read_cards(self) -> bool:
        """Read the IPM cards the preview lacks (background, progress, Cancel), then show the
        preview again with every field decided; False when busy."""
        if self.shown is None or not self.ctx.acquire():
            return False
        shown, self.shown = self.shown, None
        self._cancel.clear()
        self.confirm_box.layout.display = "none"
        self.run_box.layout.display = ""
        self.cancel_button.disabled = False
        self.thread = threading.Thread(
            target=self._read_cards, args=(shown,), daemon=True, name="pmtools-review-cards"
        )
        self.thread.start()
        return True

    def _read_cards(self, shown: Any) -> None:
        from pmtools.review import load_card, with_cards

        s = self.ctx.session
        todo = [i for i in shown.items if i.writes is not None and i.writes.unread]
        by_kind = {src.kind: src for src in self.panel.sources}
        cards: list[Any] = []
        try:
            for n, item in enumerate(todo):
                if self._cancel.is_set():
                    break
                record = by_kind[item.kind].record(Side.IPM, item.ipm_key)
                if record is not None:
                    with s.lock:  # one request each, at IPM's rate
                        cards.append(load_card(item.kind, record, ipm=s.ipm, store=s.store))
                self._progress("cards", n + 1, len(todo), "IPM cards read")
            self.panel.sources = [
                with_cards(src, [c for c in cards if c.kind is src.kind])
                for src in self.panel.sources
            ]
            self.progress_text.value = esc(
                f"{len(cards):,} IPM cards read"
                + (" (cancelled: the rest are still not read)" if self._cancel.is_set() else "")
            )
            self.show(self.decisions, self.what)
        except Exception as exc:  # a thread must report everything it meets
            self.ctx.report(exc, "reading the IPM cards", self.summary)
        finally:
            self.cancel_button.disabled = True
            self.ctx.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running apply (this page's, or the job followed); True when none runs."""
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                return False
        return self._idle.wait(timeout)

    def request_cancel(self) -> None:
        """Stop after the current step; what was applied stays applied (and undoable)."""
        self._cancel.set()
        if self.job is not None and self.job.active:
            from pmtools.workbench.jobrun import cancel_job

            try:
                cancel_job(self.ctx.session, self.job.id)
            except Exception as exc:  # the job may have ended meanwhile: say what happened
                self.ctx.report(exc, "cancelling the review job", self.summary)
        self.cancel_button.disabled = True
        self.progress_text.value = esc("Cancelling after the current step…")

    def _progress(self, _stage: str, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()  # a page update a few times a second is enough
        if done < total and now - self._last < 0.25:
            return
        self._last = now
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        self.progress_text.value = esc(
            f"{done:,} of {total:,}" + (f" — {message}" if message else "")
        )

    def _apply(self, shown: Any, page_job: Any, held: contextlib.ExitStack) -> None:
        from pmtools.jobs.runner import error_words, summary_of
        from pmtools.review import apply_preview

        s = self.ctx.session

        def progress(stage: str, done: int, total: int, message: str = "") -> None:
            self._progress(stage, done, total, message)
            page_job.progress(stage, done, total, message)

        try:
            try:
                with s.lock:
                    result = apply_preview(
                        shown,
                        store=s.store,
                        liscio=s.liscio,
                        ipm=s.ipm,
                        started_by="app",
                        progress=progress,
                        cancel=self._cancel,
                    )
            except BaseException as exc:
                state, message = error_words(exc)  # the run's trail names the run it stopped
                page_job.finish(state=state, outcome=state, message=message)
                raise
            page_job.finish(
                state="cancelled" if result.outcome == "cancelled" else "done",
                outcome=result.outcome,
                message=result.message,
                summary=summary_of(result),
                run_id=str(result.run_id),
            )
            self.result = result
            outcome = {
                "done": "Done",
                "done_with_errors": "Done with errors",
                "cancelled": "Cancelled",
            }.get(result.outcome, result.outcome)
            text = (
                f"{outcome} (run {result.run_id}, undoable in Runs and Undo): "
                f"{result_words(result.counts)}."
            )
            late = refused_rows(result.refused)
            errors = [[e] for e in result.errors[:100]]
            self.summary.value = (
                message_html(text, "success" if result.outcome == "done" else "warning")
                + (
                    (
                        "<b>Decided since the preview, left alone</b>"
                        + html_table(["Row", "Record", "Decision", "Why"], late, css="pm-bulk-late")
                    )
                    if late
                    else ""
                )
                + (
                    ("<b>Record errors</b>" + html_table(["Error"], errors, css="pm-bulk-errors"))
                    if errors
                    else ""
                )
            )
            self.progress_text.value = esc(
                "Finished."
                if result.outcome != "cancelled"
                else "Cancelled: the rest was not applied."
            )
            self.ctx.log.add(f"Review decisions applied: {text}")
            self.panel.decided(shown)
        except Exception as exc:  # a thread must report everything it meets
            self.ctx.report(exc, "applying the decisions", self.summary)
        finally:
            held.close()
            self.cancel_button.disabled = True
            self._holding = False
            self.ctx.release()
            self._idle.set()
        self._changed(shown)

    def _changed(self, shown: Any) -> None:
        """Tell the page: a few records redraw their rows, many reload the tables."""
        from pmtools.workbench.common import Touched

        items = list(shown.items)
        if len(items) > PATCH_LIMIT:
            self.ctx.changed("review")
            return
        for kind in {i.kind for i in items}:
            mine = [i for i in items if i.kind is kind]
            self.ctx.changed(
                "review",
                Touched(
                    kind=kind,
                    liscio_ids=frozenset(i.liscio_id for i in mine if i.liscio_id),
                    ipm_keys=frozenset(i.ipm_key for i in mine if i.ipm_key),
                ),
            )
