"""The Sync Now panel: three stages, a progress bar, Cancel, the preflight and a preview.

The sync runs in a background thread so the page stays live; the thread only sets widget
traits (ipywidgets sends those from any thread) and never touches another panel directly —
when it ends, :meth:`Context.changed` tells the others to refresh.
"""

from __future__ import annotations

import enum
import threading
import time
from typing import Any

import ipywidgets as ipw

from pmtools.core.plan import COUNT_KEYS, Op, Plan, SyncPolicy
from pmtools.engine.sync import SyncResult
from pmtools.errors import PlanChanged, PreflightRefused
from pmtools.workbench.common import Context, button, esc, html_table, message_html

STAGES = (
    ("organizations", "Organizations"),
    ("people", "People"),
    ("linking", "Linking and field sync"),
)
PREVIEW_LIMIT = 500  # plan rows shown in the page; the rest are counted
COUNT_LABELS = {
    "linked": "Pairs linked",
    "created_in_ipm": "Created in IPM",
    "created_in_liscio": "Created in Liscio",
    "ipm_fields_written": "IPM fields updated from Liscio",
    "liscio_fields_filled": "Empty Liscio fields filled from IPM",
    "unmatched_liscio": "Liscio records with no IPM match",
    "unmatched_ipm": "IPM records with no Liscio match",
    "ambiguous": "Ambiguous (a name shared by several records)",
    "orphaned": "Orphaned (a linked record archived or gone)",
    "errors": "Errors",
}
PREFLIGHT_HEADLINE = (
    "Nothing was synced: Liscio holds far fewer records than IPM, so the client data may not "
    "be in Liscio yet, and a first sync now would create duplicates. Upload the client data to "
    "Liscio first. If the counts are right, tick the box below and click Sync anyway."
)
OUTCOME_WORDS = {
    "done": "finished",
    "done_with_errors": "finished with errors",
    "cancelled": "cancelled",
    "failed": "failed",
    "dry_run": "planned",
    "stopped": "stopped before the end (a service failed; run it again)",
    "refused": "refused (nothing written)",
}


def plan_rows(plan: Any, names: dict[tuple[str, str], str] | None = None) -> list[list[str]]:
    """The writing actions of a plan as rows: what, kind, Liscio, IPM, field, before → after."""
    names = names or {}
    rows = []
    for a in plan.changes():  # no "mark synced" rows: one count with progress and summary
        lisc = a.liscio_id or ""
        ipm = a.ipm_key or ""
        if a.record is not None:
            label = a.record.name
            lisc = lisc or (label if a.op is Op.CREATE_IN_IPM else "")
            ipm = ipm or (label if a.op is Op.CREATE_IN_LISCIO else "")
        lisc = names.get(("liscio", lisc), lisc)
        ipm = names.get(("ipm", ipm), ipm)
        where = f" ({a.side})" if a.side is not None else ""
        rows.append(
            [
                str(a.op).replace("_", " "),
                str(a.kind),
                lisc,
                ipm,
                (a.field or "") + where,
                _text(a.before),
                _text(a.after),
                a.rule or a.reason,
            ]
        )
    return rows


def changes_html(shown: Any, plan: Any, names: dict[tuple[str, str], str]) -> str:
    """What differs between the plan shown and the new one: writes added and dropped."""
    if shown is None:
        return ""
    before, after = set(shown.changes()), set(plan.changes())
    added = [a for a in plan.changes() if a not in before]
    dropped = [a for a in shown.changes() if a not in after]
    rows = [["new", *row] for row in plan_rows(_only(added), names)] + [
        ["no longer planned", *row] for row in plan_rows(_only(dropped), names)
    ]
    if not rows:
        return ""
    return (
        f"<b>What changed: {len(added)} writes are new, {len(dropped)} are no longer "
        "planned</b>"
        + '<div style="max-height:16em;overflow:auto">'
        + html_table(
            [
                "",
                "action",
                "kind",
                "Liscio",
                "IPM",
                "field (side written)",
                "before",
                "after",
                "rule",
            ],
            rows[:PREVIEW_LIMIT],
            css="pm-plan-changes",
        )
        + "</div>"
    )


def _only(actions: list[Any]) -> Plan:
    """A plan holding just ``actions`` (for :func:`plan_rows`)."""
    return Plan(actions=tuple(actions), policy=SyncPolicy())


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# The counts that say something was written (the others count what is left to decide).
WRITE_KEYS = (
    "linked",
    "created_in_ipm",
    "created_in_liscio",
    "ipm_fields_written",
    "liscio_fields_filled",
)


def changed_words(counts: dict[str, int]) -> str:
    """What a run wrote, in words ("Pairs linked 12, …"), or that it wrote nothing."""
    parts = [f"{COUNT_LABELS[k]} {counts[k]}" for k in WRITE_KEYS if counts.get(k)]
    errors = counts.get("errors")
    if errors:
        parts.append(f"{COUNT_LABELS['errors']} {errors}")
    return (", ".join(parts) if parts else "nothing was written") + "."


def counts_html(counts: dict[str, int]) -> str:
    """The run's counts as a small escaped table."""
    keys = [k for k in COUNT_KEYS if k in counts] + [k for k in counts if k not in COUNT_KEYS]
    return html_table(
        ["What", "Count"],
        [[COUNT_LABELS.get(k, k.replace("_", " ")), counts[k]] for k in keys],
        css="pm-counts",
    )


class PanelState(str, enum.Enum):
    """Where the Sync Now panel is; the state alone decides what it shows and offers."""

    IDLE = "idle"  # nothing run in this page yet (or a preview discarded)
    RUNNING = "running"  # a sync or a preview runs: Cancel is offered
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


class SyncPanel(ipw.VBox):
    """Sync Now with stages, progress, Cancel, preflight override and preview-then-apply."""

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
        self.result: SyncResult | None = None
        self.error: BaseException | None = None
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

    # -- running -----------------------------------------------------------------------------
    def start(self, *, dry_run: bool, force: bool = False, expected: Any = None) -> bool:
        """Start a sync (or a dry run) in the background; False when something else runs.

        ``expected``: the previewed plan; the sync writes only if planning again gives it.
        """
        if not self.ctx.acquire():
            self.status.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        self._cancel.clear()
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
        policy = SyncPolicy(force=force)
        self.thread = threading.Thread(
            target=self._run, args=(policy, dry_run, expected), name="pmtools-sync", daemon=True
        )
        self.thread.start()
        return True

    def _enter(self, state: PanelState) -> None:
        """Become ``state``: its boxes shown, the others hidden, Cancel offered while running."""
        self.state = state
        preflight, preview, cancel = _SHOWS[state]
        self.preflight_box.layout.display = "" if preflight else "none"
        self.preview_box.layout.display = "" if preview else "none"
        self.cancel.disabled = not cancel

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running sync to end; True when it has ended."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    def request_cancel(self) -> None:
        """Ask the running sync to stop after the step it is on."""
        self._cancel.set()
        self.cancel.disabled = True
        self.status.value = message_html("Cancelling after the current step…", "warning")
        self.ctx.log.add("Cancel requested")

    def _progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        # A big plan reports every step: send the page at most a few updates a second.
        now = time.monotonic()
        if stage == self._last_stage and done < total and now - self._last_update < 0.25:
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

    def _run(self, policy: SyncPolicy, dry_run: bool, expected: Any = None) -> None:
        from pmtools.engine.sync import run_sync

        s = self.ctx.session
        try:
            try:
                self._progress("organizations", 0, 2, "checking the firms of Liscio and IPM")
                with s.lock:  # the tenant guard: both services are this state file's firm
                    self.result = run_sync(
                        liscio=s.liscio,
                        ipm=s.ipm,
                        store=s.store,
                        policy=policy,
                        dry_run=dry_run,
                        started_by="app",
                        progress=self._progress,
                        cancel=self._cancel,
                        expected=None if dry_run else expected,
                    )
            except PlanChanged as exc:
                self.error = exc
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
                self._reset_stages()
                self.progress_text.value = esc("Stopped before writing anything.")
                self.status.value = (
                    message_html(PREFLIGHT_HEADLINE, "warning")
                    + f"<details><summary>Why?</summary><p>{esc(str(exc))}"
                    "</p></details>"
                )
                self._enter(PanelState.REFUSED)
                self.force.value = False
                self.ctx.log.add(f"Sync refused by the preflight: {exc}", "warning")
                return
            except Exception as exc:  # a thread must report everything it meets
                self.error = exc
                self._enter(PanelState.FAILED)
                self._mark_stopped()
                self.ctx.report(exc, "the sync", self.status)
            else:
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
            self.ctx.release()

    def _finished(self, dry_run: bool) -> None:
        r = self.result
        assert r is not None  # set by the run that finished
        self.ctx.detailed = [
            rec for recs in r.records.values() for rec in recs if rec.details_complete
        ]
        counts = dict(r.counts)
        outcome = r.outcome
        errors = list(r.errors)
        if dry_run:
            self._previewed = r.plan
            names = {
                (rec.side.value, rec.id): rec.name for recs in r.records.values() for rec in recs
            }
            # Kept for a later "changed since the preview" (its new plan names records too).
            self._preview_names = {**self._preview_names, **self.ctx.names(), **names}
            rows = plan_rows(r.plan, self._preview_names)
            shown = rows[:PREVIEW_LIMIT]
            more = (
                (
                    f"<p>… and {len(rows) - len(shown)} more, not shown here: Apply this plan "
                    "applies every one of them.</p>"
                )
                if len(rows) > len(shown)
                else ""
            )
            self.preview.value = (
                f"<b>The plan: {len(rows)} writes. Nothing has been written yet.</b>"
                + counts_html(counts)
                + "<b>Every write, with its value before and after</b>"
                '<div style="max-height:24em;overflow:auto">'
                + html_table(
                    [
                        "action",
                        "kind",
                        "Liscio",
                        "IPM",
                        "field (side written)",
                        "before",
                        "after",
                        "rule",
                    ],
                    shown,
                    css="pm-plan",
                )
                + more
                + "</div>"
            )
            self._reset_stages()  # blue means synced; a preview wrote nothing
            self.progress_text.value = esc("Preview: nothing written yet.")
            self._enter(PanelState.PREVIEWED)
            self.status.value = message_html(
                "Preview ready: review it, then Apply this plan or Discard.", "info"
            )
            self.ctx.log.add(f"Preview: {len(rows)} writes planned")
            return
        self._enter(PanelState.CANCELLED if outcome == "cancelled" else PanelState.DONE)
        if outcome == "cancelled":
            self._mark_stopped()
        else:
            for k, _ in STAGES:
                self._mark_done(k)
        level = "success" if not errors and outcome not in ("cancelled", "failed") else "warning"
        self.status.value = message_html(
            f"Sync {OUTCOME_WORDS.get(outcome, outcome)} (run {r.run_id}).", level
        )
        err_html = ""
        if errors:
            err_html = "<b>Record errors</b>" + html_table(
                ["error"], [[str(e)] for e in errors[:100]], css="pm-sync-errors"
            )
        wrote = {k: v for k, v in counts.items() if v and k in WRITE_KEYS}
        if outcome == "cancelled" and not wrote and not errors:
            # A table of zeros reads as "the sync found nothing": say what happened instead.
            self.summary.value = message_html(
                "Cancelled before anything was written: run Sync Now again when ready."
            )
        else:
            self.summary.value = "<b>What changed</b>" + counts_html(counts) + err_html
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
