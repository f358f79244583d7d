"""The review's bulk step: the whole effect of a decision list, then apply on confirmation.

:func:`pmtools.review.preview` gives the effect (links, creates, every field write with before
→ after, and what is refused and why); :func:`pmtools.review.apply_preview` applies exactly that
as one run (undoable), here in a background thread with progress and Cancel, so the page stays
usable. The spreadsheet round trip ends here too: an imported file's decisions are previewed
and applied the same way.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as ipw

from pmtools.core.records import Side
from pmtools.workbench.common import Context, button, esc, html_table, message_html

SHOWN = 500  # preview rows shown in the page; the rest are counted (all are applied)
# Up to this many decisions redraw only their rows in View Details (one read each); more
# reload its tables (in this background thread, so the page stays usable).
PATCH_LIMIT = 50
RESULT_WORDS = {
    "linked": "linked",
    "created_in_ipm": "created in IPM",
    "created_in_liscio": "created in Liscio",
    "not_a_match": "not a match",
    "ipm_fields_written": "IPM fields written",
    "liscio_fields_filled": "Liscio fields filled",
    "errors": "errors",
}


def preview_rows(shown: Any) -> list[list[str]]:
    """The accepted decisions as rows: decision, kind, record, with / in, writes."""
    from pmtools.review import Verdict, show_value

    rows = []
    for item in shown.items:
        if item.verdict is Verdict.LINK:
            writes = item.writes.writes if item.writes else ()
            lines = [
                f"{'Liscio' if w.side is Side.LISCIO else 'IPM'} {w.field}: "
                f"{show_value(w.before)} → {show_value(w.after)}"
                for w in writes
            ]
            lines += [
                f"IPM {f}: not read yet (left to the next Sync Now)"
                for f in (item.writes.unread if item.writes else ())
            ]
            rows.append(
                [
                    "link",
                    str(item.kind),
                    item.name,
                    item.target_name,
                    "; ".join(lines) or "nothing to write",
                ]
            )
        elif item.verdict is Verdict.CREATE:
            where = "IPM" if item.side is Side.LISCIO else "Liscio"
            fields = "; ".join(f"{w.field}: {show_value(w.after)}" for w in item.created)
            rows.append(
                [f"create in {where}", str(item.kind), item.name, "", fields or "name only"]
            )
        else:
            rows.append(
                [
                    "not a match",
                    str(item.kind),
                    item.name,
                    item.target_name,
                    "nothing is written to either system",
                ]
            )
    return rows


def refused_rows(refused: Any) -> list[list[str]]:
    """The refused decisions as rows: spreadsheet row (if any), record, decision, why."""
    return [["" if r.row is None else str(r.row), r.name, r.verdict, r.reason] for r in refused]


def result_words(counts: dict[str, int]) -> str:
    """A bulk run's counts in words: "12 linked, 3 IPM fields written"."""
    parts = [f"{counts[k]:,} {w}" for k, w in RESULT_WORDS.items() if counts.get(k)]
    return ", ".join(parts) if parts else "nothing was written"


class BulkBox(ipw.VBox):
    """Preview → Apply (background, progress, Cancel) → summary, for the review panel."""

    def __init__(self, ctx: Context, panel: Any) -> None:
        self.ctx = ctx
        self.panel = panel
        self.shown: Any = None
        self.result: Any = None
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()
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
        """Apply the preview in the background; False when nothing to apply or busy."""
        if self.shown is None or not self.shown.items:
            return False
        if not self.ctx.acquire():
            self.summary.value = message_html(
                "Another action is running; wait for it to finish.", "warning"
            )
            return False
        shown, self.shown = self.shown, None
        self._cancel.clear()
        self.result = None
        self.confirm_box.layout.display = "none"
        self.run_box.layout.display = ""
        self.cancel_button.disabled = False
        self.progress.value, self.progress.max = 0, max(len(shown.items), 1)
        self.progress_text.value = esc("Applying…")
        self.summary.value = ""
        self.thread = threading.Thread(
            target=self._apply, args=(shown,), daemon=True, name="pmtools-review-apply"
        )
        self.thread.start()
        return True

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
        """Wait for a running apply; True when none is running."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    def request_cancel(self) -> None:
        """Stop after the current step; what was applied stays applied (and undoable)."""
        self._cancel.set()
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

    def _apply(self, shown: Any) -> None:
        from pmtools.review import apply_preview

        s = self.ctx.session
        try:
            with s.lock:
                result = apply_preview(
                    shown,
                    store=s.store,
                    liscio=s.liscio,
                    ipm=s.ipm,
                    started_by="app",
                    progress=self._progress,
                    cancel=self._cancel,
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
            self.cancel_button.disabled = True
            self.ctx.release()
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
