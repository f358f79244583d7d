"""The portfolio: every firm in one table — its last sync, errors, records awaiting review, the
job running now with its progress and ETA, the next scheduled sync — with Open, Sync now and
Cancel for the firm chosen.

Everything comes from the registry (no HTTP): a background thread reads it every
:data:`~pmtools.workbench.jobrun.POLL_SECONDS` and rebuilds only the rows whose values changed,
sending the table only when one did; so a job started from the CLI, a schedule or another
person appears by itself, and a reload shows the same. One HTML table, not a widget per firm:
200 firms render and refresh as one message the browser swaps in a few milliseconds.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import ipywidgets as ipw

from pmtools.core.timestamps import now_iso
from pmtools.store.firms import ENVIRONMENT_NAME
from pmtools.workbench.common import button, esc, message_html, readable
from pmtools.workbench.jobrun import RegistryWatcher, jobs_api
from pmtools.workbench.jobwords import (
    awaiting_review,
    job_counts,
    job_error_count,
    job_errors,
    outcome_words,
    progress_words,
    row_counts,
    schedule_words,
    when_words,
)

log = logging.getLogger(__name__)

COLUMNS = ["Firm", "Last sync", "Errors", "Awaiting review", "Running now", "Next sync"]
EMPTY = (
    "No firm is registered yet. Add one with the command pmtools firm add NAME (it asks for "
    "the firm's IPM and Liscio connections); it appears here by itself."
)
# The same where the environment firm is the simulator `pmtools app` started (the demo).
EMPTY_DEMO = (
    "No firm is registered yet, so the firm below is the demo: a simulated firm with made-up "
    "records, served by the bundled simulator (nothing real is touched). Open it, or start "
    "its Sync now, to try pmtools. Add your own firm with the command pmtools firm add NAME (it "
    "asks for the firm's IPM and Liscio connections); it appears here by itself."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmRow:
    """One firm's line of the portfolio, in words (equal rows are not redrawn)."""

    slug: str
    name: str
    last_sync: str
    errors: str
    review: str
    running: str
    next_sync: str
    job_id: str | None = None  # the active job (Cancel)
    job_state: str | None = None
    done: int = 0  # the running job's progress, for its bar
    total: int = 0

    def cells(self) -> list[str]:
        """The table's cells, in :data:`COLUMNS` order."""
        return [self.name, self.last_sync, self.errors, self.review, self.running, self.next_sync]


def percent(done: int, total: int) -> str:
    """ "33%" of a job's steps (0% before it knows how many)."""
    share = min(max(done / total, 0.0), 1.0) if total else 0.0
    return f"{round(share * 100)}%"


def firm_row(
    *,
    slug: str,
    name: str,
    firm: Any,
    active: Any,
    last: Any,
    fallback_run: dict[str, Any] | None = None,
    reviewed: Any = None,
    now: str | None = None,
) -> FirmRow:
    """A firm's row from its registry values: ``last`` is its last finished sync job;
    ``fallback_run`` its store's last sync run, for a firm synced before jobs existed;
    ``reviewed`` its last sync job that ended ``done``, whose records awaiting review still
    stand when ``last`` was cancelled, failed or refused (that one planned nothing to count)."""
    now = now or now_iso()
    counts: dict[str, int] = {}
    errors: list[str] = []
    n_errors = 0
    stopped = ""  # why the last sync failed or was refused, in its words
    if last is not None:
        counts, errors, n_errors = job_counts(last), job_errors(last), job_error_count(last)
        last_sync = f"{when_words(last.finished_at or last.updated_at, now)}: {outcome_words(last)}"
        if counts:
            last_sync += f" — {row_counts(counts)}"
        if last.state in ("failed", "refused"):
            stopped = last.message
    elif fallback_run is not None:
        counts = dict(fallback_run.get("counts") or {})
        n_errors = counts.get("errors", 0)
        at = fallback_run.get("finished_at") or fallback_run.get("started_at")
        outcome = str(fallback_run.get("outcome") or "")
        words = {"done": "finished", "done_with_errors": "finished with record errors"}
        last_sync = f"{when_words(at, now)}: {words.get(outcome, outcome.replace('_', ' '))}"
        last_sync += f" — {row_counts(counts)}" if counts else ""
    else:
        last_sync = "never synced"
    if stopped:
        error_words = stopped
    elif n_errors:
        error_words = f"{n_errors} record error{'s' if n_errors != 1 else ''}"
        error_words += f", the first: {errors[0]}" if n_errors > 1 and errors else ""
        error_words += f": {errors[0]}" if n_errors == 1 and errors else ""
    else:
        error_words = "none" if last is not None or fallback_run is not None else ""
    if last is not None and last.state != "done":
        review = (
            None if reviewed is None else awaiting_review(job_counts(reviewed), reviewed.summary)
        )
    else:
        review = awaiting_review(counts, last.summary if last is not None else None)
    running = ""
    if active is not None:
        if active.state == "queued":
            running = "queued: waiting for a worker"
        else:
            running = f"{percent(active.done, active.total)} {progress_words(active, now)}"
        if active.kind != "sync":  # "A review action: 40% Linking: …", not a sync's words
            running = f"{active.kind_words.capitalize()}: {running}"
        if active.cancel_requested:
            running += " (cancelling)"
    return FirmRow(
        slug=slug,
        name=name,
        last_sync=last_sync,
        errors=error_words,
        review="" if review is None else f"{review} record{'s' if review != 1 else ''}",
        running=running,
        next_sync=schedule_words(firm, now) if firm is not None else "no schedule",
        job_id=active.id if active is not None else None,
        job_state=active.state if active is not None else None,
        done=active.done if active is not None else 0,
        total=active.total if active is not None else 0,
    )


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A name's sort key with its numbers read as numbers, case-insensitive."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", name)
        if part
    )


def read_rows(
    registry: Any,
    fallback: Callable[[str], dict | None] | None = None,
    *,
    environment: str | None = None,
    environment_name: str = ENVIRONMENT_NAME,
) -> tuple[FirmRow, ...]:
    """Every firm's row, from the registry (and ``fallback(slug)``: its store's last run).

    ``environment``: the key of this page's environment firm, listed when it has jobs or no
    firm is registered.
    """
    now = now_iso()
    firms = registry.list_firms()
    active = {j.firm: j for j in (*registry.running_jobs(), *registry.queued_jobs())}
    # by name as people sort: "Simulated firm 2" before "Simulated firm 10"
    entries: list[tuple[str, str, Any]] = sorted(
        ((f.slug, f.name, f) for f in firms), key=lambda e: natural_key(e[1])
    )
    if environment and (not firms or registry.last_job(environment) is not None):
        entries.append((environment, environment_name, None))
    rows = []
    for slug, name, firm in entries:
        recent = [j for j in registry.jobs(slug, limit=5) if j.kind == "sync" and not j.active]
        last = recent[0] if recent else None
        reviewed = next((j for j in recent if j.state == "done"), None)
        # A firm with no finished job: its store's last run (one synced before jobs existed).
        run = fallback(slug) if fallback is not None and last is None else None
        rows.append(
            firm_row(
                slug=slug,
                name=name,
                firm=firm,
                active=active.get(slug),
                last=last,
                fallback_run=run,
                reviewed=reviewed,
                now=now,
            )
        )
    return tuple(rows)


def table_html(rows: tuple[FirmRow, ...], selected: str | None = None) -> str:
    """The firms as one HTML table (every value escaped): a firm's name opens it (the page's
    ``?firm=`` address); a running job has a progress bar."""
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join(_row_html(r, r.slug == selected) for r in rows)
    return (
        f'<table class="pm-html-table pm-portfolio" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _row_html(row: FirmRow, selected: bool) -> str:
    link = f'<a href="?firm={quote(row.slug)}" target="_self">{esc(row.name)}</a>'
    running = esc(row.running)
    if row.job_state == "running":
        running = f'<progress max="{max(row.total, 1)}" value="{row.done}"></progress> {running}'
    cells = [link, *(esc(c) for c in row.cells()[1:4]), running, esc(row.next_sync)]
    css = ' class="pm-selected"' if selected else ""
    return (
        f'<tr data-firm="{esc(row.slug)}"{css}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    )


class Portfolio(ipw.VBox):
    """The firms' table with Open, Sync now and Cancel for the firm chosen."""

    def __init__(
        self,
        registry: Any,
        *,
        on_open: Callable[[str], None] | None = None,
        fallback: Callable[[str], dict | None] | None = None,
        environment: str | None = None,
        environment_name: str = ENVIRONMENT_NAME,
        watch: bool = True,
        demo: bool | None = None,
    ) -> None:
        self.registry = registry
        self.environment = environment
        # the environment firm is the demo simulator `pmtools app` started (it says so)
        self.demo = os.environ.get("PMTOOLS_SIMULATOR", "") == "1" if demo is None else demo
        self.on_open = on_open
        self.rows: tuple[FirmRow, ...] = ()
        self._about: tuple[str, str] | None = None  # (firm, job) the message speaks of
        # One HTML table, not a widget per firm nor a data grid: the browser replaces it in a
        # few milliseconds (itables' table took about a second at 200 firms, freezing the page).
        self.table = ipw.HTML()
        self.table.add_class("pm-portfolio-table")
        self.empty = ipw.HTML()
        self.empty.add_class("pm-portfolio-empty")
        self.firm = ipw.Dropdown(
            options=[("(choose a firm)", "")], value="", description="Firm",
            layout=ipw.Layout(width="28em"),
        )  # fmt: skip
        self.firm.add_class("pm-firm-select")
        self.open_button = button("Open", "pm-firm-open", icon="folder-open", style="primary")
        self.sync_button = button("Sync now", "pm-firm-sync", icon="refresh")
        self.cancel_button = button("Cancel", "pm-firm-cancel", icon="stop")
        self.message = ipw.HTML()
        self.message.add_class("pm-portfolio-message")
        self.open_button.on_click(lambda _b: self.open_firm(self.selected_slug()))
        self.sync_button.on_click(lambda _b: self.sync(self.selected_slug()))
        self.cancel_button.on_click(lambda _b: self.cancel(self.selected_slug()))
        self.firm.observe(lambda _c: self._show_selected(), "value")
        actions = ipw.HBox([self.firm, self.open_button, self.sync_button, self.cancel_button])
        actions.add_class("pm-actions")
        super().__init__(
            [
                ipw.HTML(
                    "<h2>Firms</h2><p class='pm-hint'>Click a firm's name to open its "
                    "workbench, or choose it below to start its sync or cancel the sync "
                    "running now. This page follows every firm's jobs by itself (times in "
                    "UTC).</p>"
                ),
                self.empty,
                self.table,
                actions,
                self.message,
            ]
        )
        self.add_class("pm-portfolio")
        self.watcher = RegistryWatcher(
            lambda: read_rows(
                registry, fallback, environment=environment, environment_name=environment_name
            ),
            self._redraw,
            name="pmtools-portfolio",
        )
        self.watcher.poll()  # the first paint has every row
        if watch:
            self.watcher.start()

    # -- showing -----------------------------------------------------------------------------
    def _redraw(self, rows: tuple[FirmRow, ...]) -> None:
        """Show ``rows``; sent only when a row changed (the watcher compares)."""
        names = [(r.name, r.slug) for r in rows]
        if [(n, s) for n, s in self.firm.options[1:]] != names:
            keep = self.firm.value if any(s == self.firm.value for _, s in names) else ""
            self.firm.options = [("(choose a firm)", ""), *names]
            self.firm.value = keep
        self.rows = rows
        if self._about is not None:  # "sync queued." / "cancelling…" end with their job
            slug, job_id = self._about
            said = self.row(slug)
            if said is None or said.job_id != job_id:
                self.message.value = ""
                self._about = None
        self.table.value = table_html(rows, self.selected_slug())
        registered = any(r.slug != self.environment for r in rows)
        empty = EMPTY_DEMO if self.demo else EMPTY
        self.empty.value = "" if registered else message_html(empty, "info")
        self._show_selected(redraw=False)

    def selected_slug(self) -> str | None:
        """The slug of the firm chosen, or None."""
        return self.firm.value or None

    def row(self, slug: str | None) -> FirmRow | None:
        """The row of ``slug``, or None."""
        return next((r for r in self.rows if r.slug == slug), None)

    def select(self, slug: str) -> None:
        """Choose the firm ``slug``."""
        self.firm.value = slug

    def _show_selected(self, *, redraw: bool = True) -> None:
        row = self.row(self.selected_slug())
        for b in (self.open_button, self.sync_button, self.cancel_button):
            b.disabled = row is None
        if redraw:  # the chosen firm's row is marked in the table
            self.table.value = table_html(self.rows, self.selected_slug())
        if row is None:
            return
        self.sync_button.disabled = row.job_id is not None
        self.cancel_button.disabled = row.job_id is None

    # -- actions -----------------------------------------------------------------------------
    def open_firm(self, slug: str | None) -> None:
        """Open the firm's workbench in this page."""
        if slug is not None and self.on_open is not None:
            self.on_open(slug)

    def sync(self, slug: str | None) -> Any:
        """Start the firm's sync as a job; one sentence when it cannot start."""
        row = self.row(slug)
        if row is None:
            return None
        try:
            job = jobs_api().submit_sync(row.slug, started_by="app")
        except Exception as exc:  # JobRunning and the firm's configuration errors
            text = readable(exc)
            self.message.value = message_html(f"{row.name}: {text}.", "warning")
            return None
        self.message.value = message_html(f"{row.name}: sync queued.", "info")
        self._about = (row.slug, job.id)
        self.watcher.nudge()
        return job

    def cancel(self, slug: str | None) -> None:
        """Ask the firm's running job to stop."""
        row = self.row(slug)
        if row is None or row.job_id is None:
            return
        try:
            jobs_api().cancel(row.job_id)
        except Exception as exc:
            self.message.value = message_html(f"{row.name}: {readable(exc)}.", "warning")
            return
        self.message.value = message_html(f"{row.name}: cancelling after the current step.", "info")
        self._about = (row.slug, row.job_id)
        self.watcher.nudge()

    def close(self) -> None:
        """Stop following the registry, then close the widgets."""
        watcher = getattr(self, "watcher", None)
        if watcher is not None:
            watcher.stop()
        super().close()
