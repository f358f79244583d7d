"""The review queue in the page: every record to decide, filtered, selected, decided in bulk.

The queue is :mod:`pmtools.review`'s (built once in the background; queries take milliseconds);
this panel shows one page of it, badges of counts per group, the selected record's candidate
and what linking would write (the IPM card is read when it is not yet), and the bulk actions
(:mod:`pmtools.workbench.bulk`), the keyboard flow (:mod:`pmtools.workbench.keys`) and the
spreadsheet round trip.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as ipw

from pmtools.core.records import Side
from pmtools.workbench.common import Context, button, esc, html_table, message_html

PAGE_SIZE = 25
KIND_OPTIONS = (("Both kinds", ""), ("Accounts", "accounts"), ("Contacts", "contacts"))
SIDE_OPTIONS = (("Either side", ""), ("Liscio records", "liscio"), ("IPM records", "ipm"))
STATUS_OPTIONS = (
    ("Every status", ""),
    ("Likely match", "likely match"),
    ("Possible match (check it)", "possible match"),
    ("Ambiguous", "ambiguous"),
    ("No candidate", "no candidate"),
    ("Orphaned", "orphaned"),
)
SORT_OPTIONS = (
    ("Queue order (groups together)", "queue"),
    ("Best score first", "score"),
    ("Lowest score first", "score-asc"),
)
STATUS_WORDS = dict((v, k) for k, v in STATUS_OPTIONS if v)
LOADING_CARD = "loading the IPM card…"


def side_word(side: Side) -> str:
    """ "Liscio" or "IPM"."""
    return "Liscio" if side is Side.LISCIO else "IPM"


def row_label(n: int, row: Any) -> str:
    """One queue row in the selection list: "12. Zoe Allen (Liscio) → Allen, Zoë — same email
    (97)"."""
    cand = f" → {row.candidate_name}" if row.candidate_name else ""
    score = f" ({row.score:.0f})" if row.score is not None else ""
    detail = f" · {row.details}" if row.details and row.status.value == "ambiguous" else ""
    return (
        f"{n}. {row.name}{detail} ({side_word(row.side)}, {row.kind}){cand} — {row.reason}{score}"
    )


def badges_html(counts: dict[str, dict[str, int]]) -> str:
    """Counts per status and per reason as badges."""

    def badge(label: str, n: int) -> str:
        return (
            f'<span class="pm-badge" style="display:inline-block;margin:0 0.4em 0.2em 0;'
            f'padding:0 0.5em;border-radius:0.8em;background:#e3f2fd;color:#0d47a1">'
            f"{esc(label)} <b>{n:,}</b></span>"
        )

    total = counts.get("total", {}).get("rows", 0)
    status = "".join(badge(STATUS_WORDS.get(k, k), n) for k, n in counts["status"].items())
    reasons = "".join(
        badge(k, n) for k, n in sorted(counts["reason"].items(), key=lambda kv: -kv[1])
    )
    return (
        f'<div class="pm-review-badges-inner"><b>{total:,} to decide</b> · {status}'
        f"<br>Reasons: {reasons}</div>"
    )


class ReviewPanel(ipw.VBox):
    """The review queue: filters, badges, a page of rows, selection, bulk, keys, spreadsheet."""

    def __init__(self, ctx: Context) -> None:
        from pmtools.workbench.bulk import BulkBox
        from pmtools.workbench.keys import KeyListener

        self.ctx = ctx
        self.queue: Any = None
        self.sources: list[Any] = []
        self.page_rows: list[Any] = []
        self.page = 0
        self.selected: dict[Any, Any] = {}
        self.cursor: Any = None  # the row shown in the detail (the keyboard's current record)
        self.thread: threading.Thread | None = None
        self._card_thread: threading.Thread | None = None
        self.load_button = button("Open the review", "pm-review-load", icon="tasks")
        self.message = ipw.HTML()
        self.message.add_class("pm-review-message")
        self.kind = self._dropdown(KIND_OPTIONS, "Kind", "pm-review-kind")
        self.side = self._dropdown(SIDE_OPTIONS, "Side", "pm-review-side")
        self.status = self._dropdown(STATUS_OPTIONS, "Status", "pm-review-status")
        self.reason = self._dropdown((("Every reason", ""),), "Reason", "pm-review-reason")
        self.sort = self._dropdown(SORT_OPTIONS, "Sort", "pm-review-sort")
        self.score = ipw.FloatRangeSlider(
            value=(0, 100), min=0, max=100, step=1, description="Score", continuous_update=False
        )
        self.score.add_class("pm-review-score")
        self.search = ipw.Text(
            placeholder="Search the record or its candidate",
            description="Search",
            continuous_update=True,
        )
        self.search.add_class("pm-review-search")
        self.badges = ipw.HTML()
        self.badges.add_class("pm-review-badges")
        self.table = ipw.HTML()
        self.table.add_class("pm-review-table")
        self.rows = ipw.SelectMultiple(options=[], rows=10, layout=ipw.Layout(width="100%"))
        self.rows.add_class("pm-review-rows")
        self.prev_button = button("◀ Previous page", "pm-review-prev")
        self.next_button = button("Next page ▶", "pm-review-next-page")
        self.page_label = ipw.HTML()
        self.page_label.add_class("pm-review-page")
        self.select_all = button(
            "Select all shown by the filter", "pm-review-select-all", icon="check-square-o"
        )
        self.clear_button = button("Clear selection", "pm-review-clear", icon="square-o")
        self.selection_label = ipw.HTML()
        self.selection_label.add_class("pm-review-selection")
        self.link_button = button("Link selected", "pm-review-link", icon="link", style="primary")
        self.not_match_button = button("Not a match", "pm-review-not-a-match", icon="ban")
        self.create_button = button("Create on the other side", "pm-review-create", icon="plus")
        self.detail = ipw.HTML()
        self.detail.add_class("pm-review-detail")
        self.key_listener = KeyListener(self.key)
        self.key_listener.add_class("pm-review-keys")
        self.key_buttons = {
            c: button(label, f"pm-review-{c.replace('_', '-')}")
            for c, label in (
                ("previous", "◀ Previous"),
                ("next", "Next ▶"),
                ("accept", "Accept the suggestion"),
                ("not_a_match", "Not a match"),
                ("skip", "Skip"),
            )
        }
        for b in (
            self.select_all,
            self.clear_button,
            self.link_button,
            self.not_match_button,
            self.create_button,
            self.prev_button,
            self.next_button,
            *self.key_buttons.values(),
        ):
            b.layout.width = "auto"  # their words are the instructions: never cut short
        self.bulk = BulkBox(ctx, self)
        from pmtools.workbench.sheet import SheetBox

        self.sheet = SheetBox(ctx, self)
        ctx.freezable(
            self.load_button,
            self.link_button,
            self.not_match_button,
            self.create_button,
            self.key_buttons["accept"],
            self.key_buttons["not_a_match"],
        )
        self.load_button.on_click(lambda _b: self.load())
        ctx.on_change(self._changed, touched=True)
        for w in (
            self.kind,
            self.side,
            self.status,
            self.reason,
            self.sort,
            self.score,
            self.search,
        ):
            w.observe(lambda _c: self._filters_changed(), "value")
        self.rows.observe(lambda _c: self._rows_selected(), "value")
        self.prev_button.on_click(lambda _b: self.go(self.page - 1))
        self.next_button.on_click(lambda _b: self.go(self.page + 1))
        self.select_all.on_click(lambda _b: self.select_shown())
        self.clear_button.on_click(lambda _b: self.clear_selection())
        self.link_button.on_click(lambda _b: self.decide_selected("link"))
        self.not_match_button.on_click(lambda _b: self.decide_selected("not-a-match"))
        self.create_button.on_click(lambda _b: self.decide_selected("create"))
        for command, b in self.key_buttons.items():
            b.on_click(lambda _b, c=command: self.key(c))
        self.body = ipw.VBox(
            [
                ipw.HBox([self.kind, self.side, self.status]),
                ipw.HBox([self.reason, self.sort]),
                ipw.HBox([self.score, self.search]),
                self.badges,
                self.table,
                ipw.HBox([self.prev_button, self.page_label, self.next_button]),
                ipw.HTML(
                    '<div class="pm-hint">Select rows below (Shift-click a range, Ctrl-click '
                    "several) or every row the filter shows.</div>"
                ),
                self.rows,
                ipw.HBox([self.select_all, self.clear_button, self.selection_label]),
                ipw.HBox([self.link_button, self.not_match_button, self.create_button]),
                self.bulk,
                ipw.HTML("<b>One by one</b>"),
                self.key_listener,
                ipw.HBox(list(self.key_buttons.values())),
                self.detail,
                self.sheet,
            ]
        )
        self.body.layout.display = "none"
        super().__init__(
            [ipw.HTML("<h3>Review queue</h3>"), self.load_button, self.message, self.body]
        )
        self.add_class("pm-review-panel")

    @staticmethod
    def _dropdown(options: Any, description: str, css: str) -> ipw.Dropdown:
        d = ipw.Dropdown(options=options, value=options[0][1], description=description)
        d.add_class(css)
        return d

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> bool:
        """Build the queue in the background (both sides read once); False when busy."""
        if self.thread is not None and self.thread.is_alive():
            return False
        self.message.value = message_html(
            "Reading both sides and building the queue… the "
            "rest of the page stays usable meanwhile."
        )
        self.thread = threading.Thread(target=self._load, daemon=True, name="pmtools-review")
        self.thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the queue to be built and for a bulk apply; True when both are done."""
        done = True
        for t in (self.thread, self.bulk.thread, self.sheet_thread()):
            if t is not None:
                t.join(timeout)
                done = done and not t.is_alive()
        return done

    def sheet_thread(self) -> threading.Thread | None:
        """The thread reading an IPM card for the detail, if any."""
        return self._card_thread

    def _load(self) -> None:
        from pmtools.review import build_queue, load_sources

        s = self.ctx.session
        try:
            with s.lock:
                sources = load_sources(store=s.store, liscio=s.liscio, ipm=s.ipm)
            self.sources = sources
            self.queue = build_queue(sources)
            self.selected = {}
            self.reason.options = (("Every reason", ""),) + tuple(
                (r, r) for r in self.queue.reasons()
            )
            self.page = 0
            self.refresh()
            self.body.layout.display = ""
            self.load_button.description = "Rebuild the queue"
            self.message.value = message_html(
                f"The queue holds {len(self.queue):,} records to decide.", "info"
            )
        except Exception as exc:  # a thread must report everything it meets
            self.ctx.report(exc, "building the review queue", self.message)

    def _changed(self, what: str, touched: Any = None) -> None:
        """Keep the queue true after an action elsewhere in the page (its own applies are
        handled by :meth:`decided`): decided rows leave it; after a sync it says it is old."""
        if self.queue is None or what == "review":
            return
        if touched is None:
            self.message.value = message_html(
                "The records changed since the queue was built: click Rebuild the queue to "
                "see them as they are now.",
                "warning",
            )
            return
        lids, keys = set(touched.liscio_ids), set(touched.ipm_keys)
        rows = [
            r
            for r in self.queue
            if r.kind is touched.kind and (r.liscio_id in lids or r.ipm_key in keys)
        ]
        self._drop_decided(rows)

    def decided(self, shown: Any) -> None:
        """After an apply: drop the decided rows (no rebuild) and read the state again."""
        self._drop_decided(shown.items)

    def _drop_decided(self, items: Any) -> None:
        """Drop the rows of ``items`` (queue rows or preview items) now decided."""
        from pmtools.review import KindRecords

        state = self.ctx.session.store.state([s.kind for s in self.sources])
        # Only what was applied leaves the queue (a cancelled or failed apply left the rest).
        linked = {(link.kind, Side.LISCIO, link.liscio_id) for link in state.links}
        linked |= {(link.kind, Side.IPM, link.ipm_key) for link in state.links}
        rejected = {(d.kind, d.liscio_id, d.ipm_key) for d in state.decisions}
        done = [i for i in items if i.key in linked or (i.kind, i.liscio_id, i.ipm_key) in rejected]
        # A pair has a row on each side (each the other's candidate): both are decided.
        pairs = {(i.kind, i.liscio_id, i.ipm_key) for i in done}
        keys = [item.key for item in done] + [
            r.key for r in self.queue if (r.kind, r.liscio_id, r.ipm_key) in pairs
        ]
        self.sources = [
            KindRecords(kind=s.kind, liscio=s.liscio, ipm=s.ipm, state=state, accounts=s.accounts)
            for s in self.sources
        ]
        self.queue = self.queue.without(keys)
        self.selected = {k: r for k, r in self.selected.items() if k not in set(keys)}
        self.refresh()

    # -- the page ----------------------------------------------------------------------------
    def filters(self) -> dict[str, Any]:
        """The filters as :meth:`pmtools.review.ReviewQueue.query` takes them."""
        f: dict[str, Any] = {"sort": self.sort.value, "search": self.search.value}
        if self.kind.value:
            f["kind"] = self.kind.value
        if self.side.value:
            f["side"] = self.side.value
        if self.status.value:
            f["status"] = [self.status.value]
        if self.reason.value:
            f["reason"] = [self.reason.value]
        low, high = self.score.value
        if (low, high) != (0, 100):
            f["min_score"], f["max_score"] = low, high
        return f

    def _filters_changed(self) -> None:
        self.page = 0
        self.ctx.guard("filtering the queue", self.refresh, self.message, exclusive=False)

    def go(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped)."""
        self.page = max(0, page)
        self.ctx.guard("paging the queue", self.refresh, self.message, exclusive=False)

    def refresh(self) -> None:
        """Query the queue and show the page, badges and selection."""
        if self.queue is None:
            return
        f = self.filters()
        result = self.queue.query(**f, page=self.page, page_size=PAGE_SIZE)
        self.page = result.page
        self.page_rows = list(result.rows)
        counted = {k: v for k, v in f.items() if k not in ("status", "reason", "sort")}
        self.badges.value = badges_html(self.queue.counts(**counted))
        start = result.page * PAGE_SIZE
        self.table.value = html_table(
            [
                "#",
                "Kind",
                "Side",
                "Record",
                "Tells it apart",
                "Status",
                "Best candidate",
                "Candidate's details",
                "Reason",
                "Score",
            ],
            [
                [
                    start + i + 1,
                    str(r.kind),
                    side_word(r.side),
                    r.name,
                    r.details,
                    STATUS_WORDS.get(r.status.value, r.status.value)
                    + (f" (group of {r.group_size})" if r.group_size else ""),
                    r.candidate_name or "",
                    r.candidate_details,
                    r.reason,
                    "" if r.score is None else f"{r.score:.0f}",
                ]
                for i, r in enumerate(self.page_rows)
            ],
            css="pm-review-rows-table",
        )
        self.page_label.value = esc(
            f"Page {result.page + 1} of {result.pages} — {result.total:,} rows"
            if result.total
            else "No record matches the filters."
        )
        self.prev_button.disabled = result.page <= 0
        self.next_button.disabled = result.page >= result.pages - 1
        self.rows.options = [(row_label(start + i + 1, r), i) for i, r in enumerate(self.page_rows)]
        self.rows.value = tuple(i for i, r in enumerate(self.page_rows) if r.key in self.selected)
        self._show_selection()
        if self.cursor is None or self.cursor.key not in {r.key for r in self.page_rows}:
            self.show_detail(self.page_rows[0] if self.page_rows else None)

    def _rows_selected(self) -> None:
        chosen = set(self.rows.value)
        for i, r in enumerate(self.page_rows):
            if i in chosen:
                self.selected[r.key] = r
            else:
                self.selected.pop(r.key, None)
        self._show_selection()
        if len(chosen) == 1:
            self.ctx.guard(
                "showing the record",
                lambda: self.show_detail(self.page_rows[next(iter(chosen))]),
                self.message,
                exclusive=False,
            )

    def _show_selection(self) -> None:
        self.selection_label.value = esc(f"{len(self.selected):,} selected")

    def select_shown(self) -> None:
        """Select every row the filters show (all pages)."""
        self.selected = {r.key: r for r in self.queue.select(**self.filters())}
        self.rows.value = tuple(range(len(self.page_rows)))
        self._show_selection()

    def clear_selection(self) -> None:
        """Select nothing."""
        self.selected = {}
        self.rows.value = ()
        self._show_selection()

    # -- deciding ----------------------------------------------------------------------------
    def decide_selected(self, word: str) -> Any:
        """Preview a decision for every selected row (``link``, ``not-a-match``, ``create``)."""
        from pmtools.review import ReviewDecision, Verdict

        if not self.selected:
            self.bulk.view.value = message_html("Select rows first.", "warning")
            return None
        verdict = Verdict(word)
        decisions = [
            ReviewDecision(kind=r.kind, side=r.side, record_id=r.record_id, verdict=verdict)
            for r in self.selected.values()
        ]
        what = {
            "link": "Link selected",
            "not-a-match": "Not a match",
            "create": "Create on the other side",
        }[word]
        return self.ctx.guard(
            "previewing the decisions", lambda: self.bulk.show(decisions, what), self.bulk.view
        )

    def key(self, command: str) -> None:
        """One step of the keyboard flow: next, previous, accept, not_a_match or skip."""
        self.ctx.guard("reviewing", lambda: self._key(command), self.message, exclusive=False)

    def _key(self, command: str) -> None:
        if self.queue is None or not self.page_rows:
            return
        if command in ("next", "skip", "previous"):
            self._move(-1 if command == "previous" else 1)
            return
        row = self.cursor
        if row is None:
            return
        from pmtools.review import ReviewDecision, Verdict

        verdict = Verdict.LINK if command == "accept" else Verdict.NOT_A_MATCH
        decision = ReviewDecision(
            kind=row.kind, side=row.side, record_id=row.record_id, verdict=verdict
        )
        at = [r.key for r in self.page_rows].index(row.key) if row in self.page_rows else 0
        shown = self.bulk.show([decision], f"{row.name}")
        # The detail showed this record's writes; a refusal is shown and nothing applied.
        if shown.items and self.bulk.apply():
            self.bulk.wait()
            if self.page_rows:  # the decided row is gone: the next one stands in its place
                self.show_detail(self.page_rows[min(at, len(self.page_rows) - 1)])

    def _move(self, step: int) -> None:
        keys = [r.key for r in self.page_rows]
        at = keys.index(self.cursor.key) if self.cursor and self.cursor.key in keys else -1
        target = at + step if at >= 0 else 0
        if target >= len(self.page_rows) and self.page_rows:
            self.page += 1
            self.refresh()
            target = 0
        elif target < 0:
            if self.page > 0:
                self.page -= 1
                self.refresh()
                target = len(self.page_rows) - 1
            else:
                target = 0
        if self.page_rows:
            self.show_detail(self.page_rows[min(target, len(self.page_rows) - 1)])

    # -- the selected record -----------------------------------------------------------------
    def show_detail(self, row: Any) -> None:
        """Show ``row``: record, candidate, reason, group, and what linking would write."""
        self.cursor = row
        if row is None:
            self.detail.value = ""
            return
        self.detail.value = self._detail_html(row)
        writes = self._writes(row)
        if writes is not None and writes.unread:
            self._load_card(row)

    def _pair(self, row: Any) -> tuple[Any, Any]:
        src = next((s for s in self.sources if s.kind is row.kind), None)
        if src is None or not row.candidate_id:
            return None, None
        return src.record(Side.LISCIO, row.liscio_id), src.record(Side.IPM, row.ipm_key)

    def _writes(self, row: Any) -> Any:
        from pmtools.review import pair_writes

        lisc, ipm = self._pair(row)
        if lisc is None or ipm is None or row.status.value == "orphaned":
            return None
        return pair_writes(row.kind, lisc, ipm)

    def _detail_html(self, row: Any, loading: bool = False) -> str:
        from pmtools.workbench.linking import writes_html

        head = (
            f"<b>{esc(row.name)}</b> ({esc(side_word(row.side))} {esc(row.kind)}"
            + (f" · {esc(row.details)}" if row.details else "")
            + ")"
            + (
                f" → <b>{esc(row.candidate_name)}</b>"
                + (f" ({esc(row.candidate_details)})" if row.candidate_details else "")
                if row.candidate_name
                else ""
            )
            + f" — {esc(row.reason)}"
            + (
                f" (score {row.score:.0f}{', tied' if row.tie else ''})"
                if row.score is not None
                else ""
            )
        )
        parts = [f'<div class="pm-review-current">{head}</div>']
        writes = self._writes(row)
        if writes is not None:
            parts.append("<b>What linking would write</b>" + writes_html(writes, "Linking"))
            if writes.unread:
                parts.append(
                    message_html(
                        LOADING_CARD
                        if not loading
                        else "The IPM card could not be read: see the log.",
                        "info" if not loading else "warning",
                    )
                )
        if row.group:
            members = self.queue.group(row.group)
            parts.append(
                f"<b>Its ambiguous group ({len(members)} records)</b>"
                + html_table(
                    ["Side", "Record", "Tells it apart"],
                    [[side_word(m.side), m.name, m.details] for m in members],
                    css="pm-review-group",
                )
            )
        return "".join(parts)

    def _load_card(self, row: Any) -> None:
        """Read the candidate pair's IPM card in the background, then show the writes."""

        def run() -> None:
            from pmtools.review import load_card, with_cards

            s = self.ctx.session
            try:
                _lisc, ipm = self._pair(row)
                with s.lock:
                    card = load_card(row.kind, ipm, ipm=s.ipm, store=s.store)
                self.sources = [
                    with_cards(src, [card]) if src.kind is row.kind else src for src in self.sources
                ]
                if self.cursor is row:
                    self.detail.value = self._detail_html(row)
            except Exception as exc:  # a thread must report everything it meets
                self.ctx.report(exc, "reading the IPM card")
                if self.cursor is row:
                    self.detail.value = self._detail_html(row, loading=True)

        self._card_thread = threading.Thread(target=run, daemon=True, name="pmtools-card")
        self._card_thread.start()


__all__ = ["ReviewPanel", "badges_html", "row_label"]
