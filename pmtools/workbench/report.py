"""The Report panel: preview the pairs report, download it as CSV or Excel.

A report that reads every IPM card, where a worker runs the firm's jobs, is a ``report`` job
(:mod:`pmtools.jobs.report`): the worker writes the files, this panel offers them when done.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import pandas as pd

from pmtools.core.records import Kind, Record
from pmtools.workbench.common import Context, button, esc, html_table, message_html, readable

PREVIEW_ROWS = 10
MIME = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CHANGE_WORDS = {
    "sync": "the last Sync Now",
    "link": "a link",
    "delink": "a delink",
    "not_a_match": "a “not a match”",
    "create_in_ipm": "a create in IPM",
    "create_in_liscio": "a create in Liscio",
    "disconnect": "the disconnect",
    "undo": "an undo",
    "review": "the review's decisions",
}
STATUS_OPTIONS = (
    ("All", "all"),
    ("Linked", "linked"),
    ("Unmatched", "unmatched"),
    ("Ambiguous", "ambiguous"),
    ("Orphaned", "orphaned"),
)


def download_link(data: bytes, filename: str, fmt: str, label: str, css: str) -> str:
    """An ``<a download>`` with the file in a data URI (works in Voilà without a server)."""
    payload = base64.b64encode(data).decode("ascii")
    return (
        f'<a class="{css}" download="{esc(filename)}" '
        f'href="data:{MIME[fmt]};base64,{payload}" '
        'style="display:inline-block;margin:0.3em 1em 0.3em 0;padding:0.3em 0.8em;'
        'border:1px solid #1976d2;border-radius:3px;color:#1976d2;text-decoration:none">'
        f"{esc(label)}</a>"
    )


class ReportPanel(ipw.VBox):
    """Build the pairs report of one kind; show its first rows and two download links."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.kind = ipw.Dropdown(
            options=(("Accounts", "accounts"), ("Contacts", "contacts")),
            value="accounts",
            description="Kind",
        )
        self.kind.add_class("pm-report-kind")
        self.status = ipw.Dropdown(options=STATUS_OPTIONS, value="all", description="Status")
        self.status.add_class("pm-report-status")
        self.fresh = ipw.Checkbox(
            value=True,
            indent=False,
            description="Read every IPM address (one request per organization: slow on a big firm)",
            layout=ipw.Layout(width="auto"),
        )
        self.fresh.add_class("pm-report-fresh")
        self.build_button = button("Build report", "pm-report-build", icon="file")
        self.preview = ipw.HTML()
        self.preview.add_class("pm-report-preview")
        self.links = ipw.HTML()
        self.links.add_class("pm-report-links")
        self.frame: pd.DataFrame | None = None
        self.files: dict[str, bytes] = {}
        self.build_button.on_click(lambda _b: self.build())
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.cancel_button = button("Cancel", "pm-report-cancel", icon="stop")
        self.cancel_button.disabled = True
        self.cancel_button.on_click(lambda _b: self._cancel_job())
        self.job: Any = None  # the report job followed (a worker builds it)
        self.watcher: Any = None
        self._idle = threading.Event()
        self._idle.set()
        self.progress = ipw.IntProgress(value=0, min=0, max=1)
        self.progress.add_class("pm-report-progress")
        self.progress_text = ipw.HTML()
        self.progress_text.add_class("pm-report-progress-text")
        self.progress_box = ipw.HBox(
            [self.progress, self.progress_text, self.cancel_button],
            layout=ipw.Layout(display="none"),
        )
        ctx.freezable(self.build_button)
        ctx.on_change(self.data_changed)
        super().__init__(
            [
                ipw.HTML("<h3>Report</h3>"),
                ipw.HBox([self.kind, self.status, self.build_button]),
                self.fresh,
                self.progress_box,
                self.preview,
                self.links,
            ]
        )
        self.add_class("pm-report-panel")

    def data_changed(self, what: str) -> None:
        """Withdraw a report built before ``what`` (a link, a disconnect…) changed the pairs."""
        if self.frame is None:
            return
        self.frame = None
        self.files = {}
        self.links.value = ""
        self.preview.value = message_html(
            f"The report shown was built before {CHANGE_WORDS.get(what, 'a change')}: "
            "click Build report for an up-to-date one.",
            "info",
        )

    def build(self) -> bool:
        """Build the report in the background (reading every IPM card takes minutes on a big
        firm: the page stays usable, with progress and Cancel); False when something runs.

        Where a worker runs the firm's jobs, a report that reads every IPM card is a
        ``report`` job (:mod:`pmtools.jobs.report`): the worker writes the files and this
        panel offers them when it is done. A report from the cached rows stays in the page.
        """
        if not self.ctx.acquire():
            self.preview.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        session = self.ctx.session
        if self.fresh.value and not session.jobs_in_page:
            return self._submit(session)
        self._cancel.clear()
        self.cancel_button.disabled = False
        self.progress.value, self.progress.max = 0, 1
        self.progress_box.layout.display = ""
        self.progress_text.value = esc("Reading the records…")
        self.preview.value = ""
        self.links.value = ""
        self.thread = threading.Thread(target=self._run, daemon=True, name="pmtools-report")
        self.thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a report being built (here, or the job followed); True when none is."""
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                return False
        return self._idle.wait(timeout)

    # -- a report job (a worker writes it) -----------------------------------------------------
    def _submit(self, session: Any) -> bool:
        from pmtools.workbench.jobrun import RegistryWatcher, jobs_api

        try:
            job = jobs_api().submit_report(
                session.firm, self.kind.value, self.status.value, started_by="app"
            )
        except Exception as exc:  # JobRunning: one job per firm, in one sentence
            self.preview.value = message_html(f"Not built: {readable(exc)}.", "warning")
            self.ctx.release()
            return False
        self.job = job
        self._idle.clear()
        self.cancel_button.disabled = False
        self.progress.value, self.progress.max = 0, 1
        self.progress_box.layout.display = ""
        self.progress_text.value = esc("Queued: a worker builds the report.")
        self.preview.value = self.links.value = ""
        registry = session.registry
        self.watcher = RegistryWatcher(
            lambda: registry.get_job(job.id), self._on_job, name="pmtools-report-job"
        ).start()
        return True

    def _cancel_job(self) -> None:
        self._cancel.set()
        if self.job is not None and self.job.active:
            from pmtools.workbench.jobrun import cancel_job

            try:
                cancel_job(self.ctx.session, self.job.id)
            except Exception as exc:  # it may have ended meanwhile: say what happened
                self.ctx.report(exc, "cancelling the report", self.preview)

    def _on_job(self, job: Any) -> None:
        self.job = job
        if job.active:
            if job.state == "running" and job.total:
                self._progress(job.done, job.total)
            return
        self.watcher.stop()
        try:
            if job.state != "done":
                self.progress_text.value = esc("Ended.")
                words = (job.message or job.state).rstrip(".")
                self.preview.value = message_html(f"Report not built: {words}.", "warning")
                return
            files = {fmt: Path(p).read_bytes() for fmt, p in job.summary["files"].items()}
            frame = pd.read_excel(io.BytesIO(files["xlsx"]), dtype=str).fillna("")
            self._show(frame, files, Kind(job.summary["kind"]), job.summary["status"])
        except OSError:  # the worker is on another machine that does not share PMTOOLS_HOME
            self.preview.value = message_html(
                "The report was written by a worker whose folder this app cannot read; "
                "give the app and the workers one PMTOOLS_HOME (docs/jobs.md).",
                "warning",
            )
        except Exception as exc:
            self.ctx.report(exc, "showing the report", self.preview)
        finally:
            self.cancel_button.disabled = True
            self.ctx.release()
            self._idle.set()

    def _run(self) -> None:
        try:
            self._build()
        except Exception as exc:  # a thread must report everything it meets
            self.ctx.report(exc, "building the report", self.preview)
        finally:
            self.cancel_button.disabled = True
            self.ctx.release()

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        self.progress_text.value = esc(f"IPM cards read: {done:,} of {total:,}")

    def _build(self) -> None:
        from pmtools.analysis.reports import report_bytes

        kind = Kind(self.kind.value)
        with self.ctx.session.lock:
            df = pairs_report(
                self.ctx.session,
                kind,
                self.status.value,
                fresh=self.fresh.value,
                detailed=self.ctx.detailed,
                progress=self._progress,
                cancel=self._cancel,
            )
        if self._cancel.is_set():
            self.progress_text.value = esc("Cancelled.")
            self.preview.value = message_html(
                "Report cancelled: nothing was built. The IPM cards already read are kept, so "
                "the next report reads only the rest.",
                "warning",
            )
            return
        self._show(df, {fmt: report_bytes(df, fmt) for fmt in ("csv", "xlsx")}, kind, None)

    def _show(self, df: pd.DataFrame, files: dict[str, bytes], kind: Kind, status: Any) -> None:
        """Show the report's first rows and offer its files."""
        status = status or self.status.value
        self.progress_text.value = esc("Done.")
        self.frame = df
        self.files = files
        head = df.head(PREVIEW_ROWS).fillna("").astype(str)
        self.preview.value = (
            f"<p>{len(df)} rows; the first {len(head)}:</p>"
            '<div style="max-height:22em;overflow:auto">'
            + html_table(
                list(df.columns), head.itertuples(index=False, name=None), css="pm-report-preview"
            )
            + "</div>"
        )
        name = f"pmtools-{kind.value}-{status}"
        self.links.value = download_link(
            self.files["csv"], f"{name}.csv", "csv", "Download CSV", "pm-download-csv"
        ) + download_link(
            self.files["xlsx"], f"{name}.xlsx", "xlsx", "Download Excel", "pm-download-xlsx"
        )
        self.ctx.log.add(f"Report built: {kind.value}, {status}, {len(df)} rows")


def pairs_report(
    session: Any,
    kind: Kind,
    status: str,
    *,
    fresh: bool = True,
    detailed: Iterable[Record] = (),
    progress: Any = None,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """The pairs report of ``kind`` (``pmtools.analysis.reports`` defines its columns).

    ``fresh`` reads both sides again with every IPM detail (as ``pmtools report --fresh``
    does), keeping the details read in the state file for the next sync; otherwise the report
    uses what View Details shows (IPM list rows cached by the last sync, with the details that
    sync loaded), which costs no IPM request.
    """
    from pmtools.analysis import reports
    from pmtools.analysis.history import last_sync_times
    from pmtools.engine.fetch import fetch_records
    from pmtools.workbench.details import load_kind

    if fresh:
        liscio, ipm = fetch_records(
            kind,
            liscio=session.liscio,
            ipm=session.ipm,
            store=session.store,
            fresh=True,
            progress=progress,
            cancel=cancel,
        )
    else:
        data = load_kind(session, kind, detailed)
        liscio, ipm = data.liscio, data.ipm
    return reports.pairs_report(
        kind,
        liscio=liscio,
        ipm=ipm,
        state=session.store.state([kind]),
        status=status,
        last_synced=last_sync_times(session.store),
    )
