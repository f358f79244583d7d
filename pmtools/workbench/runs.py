"""Runs and Undo: every run with what it wrote, and *Undo this run* after its preview.

The undo is :func:`pmtools.engine.undo.plan_undo` shown first (what would be put back, the links
taken away, the conflicts left alone, the records that stay because IPM cannot delete) and
:func:`pmtools.engine.undo.undo_run` on confirmation, in a background thread: a big run's undo
goes at IPM's rate, and the page must stay usable meanwhile.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as ipw

from pmtools.workbench.common import Context, button, html_table, message_html

RUNS_SHOWN = 50
CHANGES_SHOWN = 300
OP_WORDS = {
    "write": "field written",
    "link": "linked",
    "delink": "delinked",
    "create": "created",
    "not_a_match": "not a match",
    "relink": "linked again",
}


def change_rows(changes: list[dict[str, Any]]) -> list[list[str]]:
    """Audit rows as table rows for people: what, side, record names, field, before → after."""
    rows = []
    for c in changes:
        if c.get("status") != "confirmed":
            continue
        side = {"liscio": "Liscio", "ipm": "IPM"}.get(str(c.get("side") or ""), "")
        rows.append(
            [
                OP_WORDS.get(str(c.get("op")), str(c.get("op"))),
                str(c.get("kind") or ""),
                side,
                c.get("liscio_name") or "",
                c.get("ipm_name") or "",
                c.get("field") or "",
                _shown(c.get("before")),
                _shown(c.get("after")),
            ]
        )
    return rows


def _shown(value: object) -> str:
    return "" if value is None else str(value)


def undo_html(plan: Any) -> str:
    """An undo plan for a confirmation: restores, link changes, conflicts, kept creates."""
    from pmtools.core.records import Side
    from pmtools.review import show_value

    rows = []
    for a in plan.writes:
        rid = a.liscio_id if a.side is Side.LISCIO else a.ipm_key
        name = plan.names.get((a.side, a.kind, rid or ""), "")
        rows.append(
            [
                "put back" if a.after is not None else "empty",
                "Liscio" if a.side is Side.LISCIO else "IPM",
                name,
                a.field,
                show_value(a.before),
                show_value(a.after),
            ]
        )
    for c in plan.links:
        rows.append([c.op, str(c.kind), f"{c.liscio_name or ''} ↔ {c.ipm_name or ''}", "", "", ""])
    out = (
        html_table(
            ["Undo does", "Side", "Record", "Field", "Now", "After the undo"],
            rows,
            css="pm-undo-plan",
        )
        if rows
        else message_html("Nothing to put back.")
    )
    if plan.conflicts:
        out += "<b>Conflicts, left alone (changed since the run)</b>" + html_table(
            ["Side", "Record", "Field", "The run wrote", "Now"],
            [
                [
                    "Liscio" if c.side is Side.LISCIO else "IPM",
                    c.name or "",
                    c.field,
                    show_value(c.written),
                    show_value(c.current),
                ]
                for c in plan.conflicts
            ],
            css="pm-undo-conflicts",
        )
    if plan.created:
        out += "<b>Created by the run, kept (IPM cannot delete)</b>" + html_table(
            ["Side", "Record"],
            [[str(r.get("side")), str(r.get("name"))] for r in plan.created],
            css="pm-undo-created",
        )
    return out


class RunsPanel(ipw.VBox):
    """The runs list with what each wrote, and Undo this run (preview, then confirm)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.show_button = button("Show runs", "pm-runs-show", icon="history")
        self.run_select = ipw.Dropdown(
            options=[], description="Run", layout=ipw.Layout(width="70%")
        )
        self.run_select.add_class("pm-run-select")
        self.changes = ipw.HTML()
        self.changes.add_class("pm-run-changes")
        self.undo_button = button("Undo this run…", "pm-undo", icon="undo", style="warning")
        self.confirm_button = button("Undo it", "pm-undo-confirm", icon="check", style="danger")
        self.keep_button = button("Keep it", "pm-undo-keep", icon="times")
        self.plan_view = ipw.HTML()
        self.plan_view.add_class("pm-undo-preview")
        self.confirm_box = ipw.VBox(
            [self.plan_view, ipw.HBox([self.confirm_button, self.keep_button])]
        )
        self.confirm_box.layout.display = "none"
        self.result = ipw.HTML()
        self.result.add_class("pm-undo-result")
        self.body = ipw.VBox(
            [self.run_select, self.changes, self.undo_button, self.confirm_box, self.result]
        )
        self.body.layout.display = "none"
        self.thread: threading.Thread | None = None
        self._plan: Any = None
        ctx.freezable(self.undo_button, self.confirm_button)
        self.show_button.on_click(lambda _b: self.load())
        self.run_select.observe(lambda _c: self._selected(), "value")
        self.undo_button.on_click(lambda _b: self.ask_undo())
        self.confirm_button.on_click(lambda _b: self.undo())
        self.keep_button.on_click(lambda _b: self._keep())
        ctx.on_change(lambda _what: self.load() if self.body.layout.display != "none" else None)
        super().__init__([ipw.HTML("<h3>Runs and Undo</h3>"), self.show_button, self.body])
        self.add_class("pm-runs-panel")

    def load(self) -> None:
        """List the runs, newest first, and show the selected one's changes."""

        def run() -> None:
            from pmtools.workbench.connection import describe_run

            runs = list(reversed(self.ctx.session.store.runs()))[:RUNS_SHOWN]
            keep = self.run_select.value
            self.run_select.options = [
                (describe_run(r).removeprefix("Last action: "), r["id"]) for r in runs
            ]
            ids = [r["id"] for r in runs]
            self.run_select.value = keep if keep in ids else (ids[0] if ids else None)
            self.body.layout.display = ""
            self.show_button.description = "Reload runs"
            self._selected()

        self.ctx.guard("listing the runs", run, self.result, exclusive=False)

    def _selected(self) -> None:
        self._keep()
        run_id = self.run_select.value
        if run_id is None:
            self.changes.value = message_html("No run yet.")
            return
        rows = change_rows(self.ctx.session.store.changes(run_id=run_id))
        more = (
            f"<p>… and {len(rows) - CHANGES_SHOWN} more.</p>" if len(rows) > CHANGES_SHOWN else ""
        )
        self.changes.value = (
            f"<b>What this run wrote: {len(rows)} changes</b>"
            '<div style="max-height:18em;overflow:auto">'
            + html_table(
                ["What", "Kind", "Side", "Liscio", "IPM", "Field", "Before", "After"],
                rows[:CHANGES_SHOWN],
                css="pm-run-writes",
            )
            + more
            + "</div>"
            if rows
            else message_html("This run wrote nothing.")
        )

    def ask_undo(self) -> None:
        """Show what undoing the selected run would do; nothing is written yet."""

        def run() -> None:
            from pmtools.engine.undo import plan_undo

            s = self.ctx.session
            with s.lock:
                self._plan = plan_undo(s.store, self.run_select.value, liscio=s.liscio, ipm=s.ipm)
            self.plan_view.value = message_html(
                "Undoing this run would do the following; nothing is written until you "
                "click Undo it."
            ) + undo_html(self._plan)
            self.confirm_box.layout.display = ""

        self.result.value = ""
        self.ctx.guard("planning the undo", run, self.result)

    def undo(self) -> bool:
        """Undo the previewed run in the background; False when something else runs."""
        if self._plan is None or not self.ctx.acquire():
            return False
        run_id = self._plan.run_id
        self.confirm_box.layout.display = "none"
        self.result.value = message_html("Undoing… the page stays usable meanwhile.")
        self.thread = threading.Thread(
            target=self._undo, args=(run_id,), daemon=True, name="pmtools-undo"
        )
        self.thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running undo; True when none is running."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    def _undo(self, run_id: int) -> None:
        from pmtools.engine.undo import undo_run

        s = self.ctx.session
        try:
            with s.lock:
                result = undo_run(s.store, run_id, liscio=s.liscio, ipm=s.ipm, started_by="app")
            c = result.counts
            text = (
                f"Undone: {c.get('delinked', 0)} links taken away, "
                f"{c.get('ipm_fields_written', 0) + c.get('liscio_fields_filled', 0)} "
                f"fields put back, {len(result.plan.conflicts)} conflicts left alone."
            )
            self.result.value = message_html(
                text, "success" if result.outcome == "done" else "warning"
            )
            self.ctx.log.add(text)
        except Exception as exc:  # a thread must report everything it meets
            self.ctx.report(exc, "undoing the run", self.result)
        finally:
            self._plan = None
            self.ctx.release()
        self.ctx.changed("undo")

    def _keep(self) -> None:
        self._plan = None
        self.confirm_box.layout.display = "none"
        self.plan_view.value = ""


__all__ = ["RunsPanel", "change_rows", "undo_html"]
