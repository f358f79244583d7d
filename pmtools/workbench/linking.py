"""Linking by hand: ranked link targets with reasons, a search box, and the pair actions.

For the selected row: an unmatched (or ambiguous) record offers link targets on the other side,
ranked by :class:`pmtools.analysis.suggest.SuggestionIndex`, and the buttons Link and Not a
match; a Liscio-only record also Create in IPM, an IPM-only record Create in Liscio; a linked or
orphaned pair offers Delink. Every action says what it wrote.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as ipw

from pmtools.core.records import Kind, Record, Side, has_value
from pmtools.workbench.common import (
    Context,
    Touched,
    button,
    esc,
    html_table,
    message_html,
    readable,
)
from pmtools.workbench.outcome import (  # noqa: F401  (record_detail & co: their old home)
    NO_TARGET,
    _linked_ids,
    _rejected,
    _why_html,
    choose_label,
    describe_outcome,
    preselect,
    record_detail,
    target_options,
    writes_html,
)

SUGGESTIONS = 20
SEARCH_SLACK = 20  # search hits asked for beyond SUGGESTIONS: those linked since are left out


class LinkingPanel(ipw.VBox):
    """The actions on the record selected in a View Details tab."""

    def __init__(self, ctx: Context, tab: Any) -> None:
        self.ctx = ctx
        self.tab = tab
        self.kind: Kind = tab.kind
        self.row: dict[str, Any] | None = None
        self._indexes: dict[Side, Any] = {}
        self._linked_at: dict[Side, set[str]] = {}  # the ids linked when each index was built
        self.suggestions: list[Any] = []  # the targets offered, best first
        self.heading = ipw.HTML()
        self.heading.add_class("pm-selected")
        self.explain = ipw.HTML()
        self.explain.add_class("pm-explain")
        self.why_button = button("Why?", "pm-why", icon="question-circle")
        self.why_button.layout.width = "auto"
        self.why_button.on_click(lambda _b: self.why())
        self.target = ipw.Dropdown(
            options=[("(no suggestions)", NO_TARGET)],
            value=NO_TARGET,
            description="Link to",
            layout=ipw.Layout(width="70%"),
        )
        self.target.add_class("pm-target-select")
        self.target_search = ipw.Text(
            placeholder="Search any other record by name",
            description="Find",
            continuous_update=True,
        )
        self.target_search.add_class("pm-target-search")
        self.link_button = button("Link", "pm-link", icon="link", style="primary")
        self.not_match_button = button("Not a match", "pm-not-a-match", icon="ban")
        self.delink_button = button("Delink", "pm-delink", icon="unlink", style="warning")
        self.create_liscio_button = button("Create in Liscio", "pm-create-liscio", icon="plus")
        self.create_ipm_button = button("Create in IPM", "pm-create-ipm", icon="plus")
        self.result = ipw.HTML()
        self.result.add_class("pm-action-result")
        # Nothing is written that the person did not see first: a link shows its writes, a
        # create its likely duplicates, and each waits here for a confirmation.
        self.confirm_text = ipw.HTML()
        self.confirm_text.add_class("pm-confirm-text")
        self.confirm_button = button(
            "Confirm link", "pm-confirm-link", icon="check", style="success"
        )
        self.anyway_button = button(
            "Create anyway", "pm-create-anyway", icon="plus", style="danger"
        )
        self.instead = ipw.Dropdown(
            options=[], description="Link to", layout=ipw.Layout(width="60%")
        )
        self.instead.add_class("pm-instead-select")
        self.instead_button = button(
            "Link instead", "pm-link-instead", icon="link", style="primary"
        )
        self.dismiss_button = button("Cancel", "pm-confirm-cancel", icon="times")
        self.confirm_box = ipw.VBox(
            [
                self.confirm_text,
                ipw.HBox([self.instead, self.instead_button]),
                ipw.HBox([self.confirm_button, self.anyway_button, self.dismiss_button]),
            ]
        )
        self.confirm_box.add_class("pm-confirm-box")
        self.pending: dict[str, Any] | None = None  # what the confirm box would do
        self._explain_want: Any = None
        self._finder: Any = None  # (the tab's generation, a DuplicateFinder of its IPM side)
        self._created: list[Record] = []  # IPM records created since that finder was built
        self.target_box = ipw.VBox(
            [self.target, self.target_search, ipw.HBox([self.link_button, self.not_match_button])]
        )
        self.buttons = (
            self.link_button,
            self.not_match_button,
            self.delink_button,
            self.create_liscio_button,
            self.create_ipm_button,
        )
        ctx.freezable(*self.buttons, self.confirm_button, self.anyway_button, self.instead_button)
        self.confirm_button.on_click(lambda _b: self.confirm())
        self.anyway_button.on_click(lambda _b: self.confirm(anyway=True))
        self.instead_button.on_click(lambda _b: self.link_instead())
        self.dismiss_button.on_click(lambda _b: self.dismiss())
        self.link_button.on_click(lambda _b: self.act("link"))
        self.not_match_button.on_click(lambda _b: self.act("not_a_match"))
        self.delink_button.on_click(lambda _b: self.act("delink"))
        self.create_liscio_button.on_click(lambda _b: self.act("create_in_liscio"))
        self.create_ipm_button.on_click(lambda _b: self.act("create_in_ipm"))
        self.target_search.observe(lambda _c: self._search(), "value")
        super().__init__(
            [
                self.heading,
                self.why_button,
                self.explain,
                self.target_box,
                ipw.HBox([self.delink_button, self.create_liscio_button, self.create_ipm_button]),
                self.confirm_box,
                self.result,
            ]
        )
        self.add_class("pm-linking")
        self.show(None)

    # -- selection ---------------------------------------------------------------------------
    def data_changed(self) -> None:
        """Forget the suggestion indexes: the records changed."""
        self._indexes.clear()

    def selected_key(self) -> tuple[Any, Any] | None:
        """The (Liscio id, IPM key) of the selected row."""
        if self.row is None:
            return None
        return (self.row.get("liscio_id") or None, self.row.get("ipm_key") or None)

    def _source(self) -> tuple[Side, Record | None]:
        """The side and record the targets are for (the unmatched record's)."""
        lisc, ipm = self.selected_key() or (None, None)
        data = self.tab.data
        if lisc:
            return Side.LISCIO, data.record(Side.LISCIO, lisc)
        return Side.IPM, data.record(Side.IPM, ipm)

    def show(self, row: dict[str, Any] | None) -> None:
        """Offer the actions that fit ``row`` (None hides them)."""
        self.row = row
        self.dismiss()
        self.target_search.value = ""
        for b in self.buttons:
            b.layout.display = "none"
        self.target_box.layout.display = "none"
        if row is None:
            self.heading.value = ""
            self._explain_want = None
            self.why_button.layout.display = "none"
            self.explain.value = ""
            return
        status = str(row.get("status") or "")
        lisc, ipm = self.selected_key()
        names = " ↔ ".join(esc(n) for n in (row.get("Liscio name"), row.get("IPM name")) if n)
        self.heading.value = f"<b>Selected:</b> {names} <i>({esc(status)})</i>"
        self.explain_on_request(lisc or ipm, status)
        if lisc and ipm and status in ("linked", "orphaned"):
            self.delink_button.layout.display = ""
            return
        self.target_box.layout.display = ""
        self.link_button.layout.display = ""
        self.not_match_button.layout.display = ""
        if lisc:
            self.create_ipm_button.layout.display = ""
        else:
            self.create_liscio_button.layout.display = ""
        self._suggest()

    def explain_on_request(self, record_id: str, status: str = "") -> None:
        """Offer "Why is it …?" for the selected record; the answer is worked out on a click.

        The answer runs the matcher over every record (seconds at scale 20): worked out on
        every selection or action, it would hold the page (and the next action) that long.
        """
        question = "Why is it linked?" if status == "linked" else f"Why is it {status or 'so'}?"
        self._explain_want = (record_id, question)
        self.why_button.description = question
        self.why_button.layout.display = ""
        self.explain.value = ""

    def why(self) -> None:
        """Work out and show why the selected record is (not) linked."""
        self.ctx.guard("working out why", self._why, self.result, exclusive=False)

    def _why(self) -> None:
        from pmtools.analysis.explain import explain_record

        if self._explain_want is None:
            return
        record_id, question = self._explain_want
        data = self.tab.data
        text = explain_record(
            self.kind, record_id, liscio_records=data.liscio, ipm_records=data.ipm, state=data.state
        ).text
        self.explain.value = _why_html(question, text, open_=True)

    def _index(self, side: Side) -> Any:
        """The suggestion index over the records of ``side`` unlinked when it was built.

        It outlives the actions after it (building an index of 18,000 people takes longer
        than an action may): records linked since are excluded when ranking
        (:meth:`_linked_since`).
        """
        if side not in self._indexes:
            from pmtools.analysis.suggest import SuggestionIndex

            data = self.tab.data
            linked = _linked_ids(data.state, side)
            records = data.ipm if side is Side.IPM else data.liscio
            self._indexes[side] = SuggestionIndex(
                [r for r in records if r.id not in linked and not r.archived]
            )
            self._linked_at[side] = linked
        return self._indexes[side]

    def _linked_since(self, side: Side) -> set[str]:
        """Ids of ``side`` linked since its index was built (a few, not 15,000)."""
        self._index(side)
        return _linked_ids(self.tab.data.state, side) - self._linked_at[side]

    def _suggest(self) -> None:
        side, record = self._source()
        if record is None:
            self._set_targets([])
            return
        other = Side.IPM if side is Side.LISCIO else Side.LISCIO
        state = self.tab.data.state
        rejected = _rejected(state, side, record.id)  # "not a match" before
        rejected |= self._linked_since(other)
        # An ambiguous name is a person's call: several records share it, so none is chosen.
        ambiguous = str((self.row or {}).get("status") or "") == "ambiguous"
        self._set_targets(
            self._index(other).rank(record, limit=SUGGESTIONS, exclude=rejected),
            choose=not ambiguous,
        )

    def _search(self) -> None:
        query = self.target_search.value.strip()
        if not query:
            self._suggest()
            return
        side, _record = self._source()
        other = Side.IPM if side is Side.LISCIO else Side.LISCIO
        linked = self._linked_since(other)
        found = self._index(other).search(query, limit=SUGGESTIONS + SEARCH_SLACK)
        self._set_targets([f for f in found if f.id not in linked][:SUGGESTIONS], searched=True)

    def _set_targets(
        self, suggestions: list[Any], *, searched: bool = False, choose: bool = True
    ) -> None:
        self.suggestions = list(suggestions)
        chosen = preselect(self.suggestions, searched=searched) if choose else NO_TARGET
        options = target_options(self.suggestions)
        if chosen == NO_TARGET:
            options = [(choose_label(len(options), searched=searched), NO_TARGET)] + options
        self.target.options = options
        self.target.value = chosen

    def _read_back(self, outcome: Any) -> Record | None:
        """The pair's IPM record as the action left it (read back by the operation)."""
        if getattr(outcome, "read_back_error", ""):  # the action succeeded; the table may lag
            self.ctx.log.add(
                "The table may lag: the IPM record could not be read back "
                f"({readable(outcome.read_back_error)})",
                "warning",
            )
        fresh = getattr(outcome, "ipm_record", None)
        if fresh is not None:
            self.ctx.detailed = [
                r for r in self.ctx.detailed if not (r.kind is self.kind and r.id == fresh.id)
            ] + [fresh]
        return fresh

    def _headline(
        self,
        action: str,
        lisc: str | None,
        ipm: str | None,
        source: Record | None,
        fresh: Record | None,
    ) -> str:
        """What the action did, in words, naming the records (not their ids)."""
        data = self.tab.data
        lisc_rec = data.record(Side.LISCIO, lisc)
        ipm_rec = data.record(Side.IPM, ipm)
        lname = repr(lisc_rec.name if lisc_rec is not None else lisc)
        iname = repr(ipm_rec.name if ipm_rec is not None else ipm)
        if action == "link":
            return f"Linked {lname} (Liscio) with {iname} (IPM)."
        if action == "delink":
            return (
                f"Delinked {lname} (Liscio) from {iname} (IPM). Nothing was written to "
                "either system, and Sync Now will not link them again by name."
            )
        if action == "not_a_match":
            return (
                f"Marked {lname} (Liscio) and {iname} (IPM) as not a match: Sync Now will "
                "never link them. Nothing was written to either system."
            )
        where = "IPM" if action == "create_in_ipm" else "Liscio"
        # A created Liscio record copies the IPM one as read back (an IPM list row lacks the
        # address); a created IPM record copies the Liscio one.
        copied = fresh if action == "create_in_liscio" and fresh is not None else source
        name = repr(copied.name if copied is not None else lisc or ipm)
        text = f"Created {name} in {where} and linked the two."
        if copied is not None:
            carried = [f"{f} {v}" for f, v in copied.field_values().items() if has_value(v)]
            text += (
                " The new record carries " + ", ".join(carried) + "."
                if carried
                else " The new record carries no synced field values."
            )
        return text

    # -- confirmations -----------------------------------------------------------------------
    def dismiss(self) -> None:
        """Close the confirm box: nothing is written."""
        self.pending = None
        self.confirm_text.value = ""
        self.confirm_box.layout.display = "none"

    def _ask(
        self,
        html_text: str,
        pending: dict[str, Any],
        *,
        link: bool = False,
        anyway: bool = False,
        instead: list[tuple[str, str]] | None = None,
    ) -> None:
        self.pending = pending
        self.confirm_text.value = html_text
        self.confirm_button.layout.display = "" if link else "none"
        self.anyway_button.layout.display = "" if anyway else "none"
        show_instead = "" if instead else "none"
        self.instead.options = instead or []
        self.instead.value = instead[0][1] if instead else None
        self.instead.layout.display = self.instead_button.layout.display = show_instead
        self.confirm_box.layout.display = ""

    def _ask_link(self, lisc: str, ipm: str) -> None:
        """Show what linking the pair would write (fresh reads of both) and wait."""
        from pmtools.review import link_preview

        s = self.ctx.session
        with s.lock:
            writes = link_preview(self.kind, lisc, ipm, liscio=s.liscio, ipm=s.ipm)
        self._ask_writes(writes, "Linking")

    def _ask_writes(self, writes: Any, doing: str, changed: str = "") -> None:
        self._ask(
            writes_html(writes, doing, changed),
            {"action": "link", "pair": (writes.liscio_id, writes.ipm_key), "expected": writes},
            link=True,
        )

    def confirm(self, *, anyway: bool = False) -> Any:
        """Apply what the confirm box showed (a link's writes, or a create anyway)."""
        pending = self.pending
        if pending is None:
            return None
        return self.ctx.guard(
            ACTION_WORDS.get(pending["action"], pending["action"]),
            lambda: self._act(
                pending["action"],
                pair=pending["pair"],
                expected=pending.get("expected"),
                anyway=anyway,
            ),
            self.result,
        )

    def link_instead(self) -> None:
        """Link the record to the duplicate chosen in the confirm box, after its preview."""
        pending, target = self.pending, self.instead.value
        if pending is None or not target:
            return
        lisc, ipm = pending["pair"]
        pair = (lisc, target) if lisc else (target, ipm)
        self.ctx.guard("linking", lambda: self._ask_link(*pair), self.result)

    # -- actions -----------------------------------------------------------------------------
    def act(self, action: str) -> Any:
        """Run ``action`` on the selected row; Link first shows its writes and waits for
        Confirm; a create with likely duplicates lists them and waits for Create anyway."""
        return self.ctx.guard(
            ACTION_WORDS.get(action, action), lambda: self._act(action), self.result
        )

    def _act(
        self,
        action: str,
        *,
        pair: tuple[Any, Any] | None = None,
        expected: Any = None,
        anyway: bool = False,
    ) -> Any:
        from pmtools.errors import DuplicateRisk, PlanChanged

        if self.row is None:
            self.result.value = message_html("Select a record first.", "warning")
            return None
        s = self.ctx.session
        lisc, ipm = pair or self.selected_key()
        side, source = self._source()
        if action in ("link", "not_a_match") and pair is None:
            target = self.target.value
            if not target:
                self.result.value = message_html("Choose a record to link to.", "warning")
                return None
            if side is Side.LISCIO:
                ipm = target
            else:
                lisc = target
        if action == "link" and expected is None:
            self.result.value = ""
            self._ask_link(lisc, ipm)
            return None
        self.dismiss()
        if action == "create_in_ipm" and not anyway and source is not None:
            found = self._duplicates_in_ipm(source)
            if found:
                self._ask_duplicates(action, lisc, ipm, source, found)
                return None
        common = {"liscio": s.liscio, "ipm": s.ipm, "store": s.store, "started_by": "app"}
        if action == "create_in_ipm" and self._finder is not None:
            # The engine checks again with the finder this page holds (the same IPM records
            # its guard reads), instead of reading every record again first.
            common["finder"] = self._finder[1]
        try:
            outcome = self._run(action, lisc, ipm, common, expected=expected, anyway=anyway)
        except PlanChanged as exc:  # the records changed since the person saw the writes
            self._ask_writes(exc.plan, "Linking", changed=str(exc))
            self.result.value = message_html(
                "The records changed since the preview: review the new writes and confirm again.",
                "warning",
            )
            return None
        except DuplicateRisk as exc:
            self._ask_duplicates(action, lisc, ipm, source, list(exc.candidates))
            return None
        fresh = self._read_back(outcome)
        with s.lock:
            touched = self._touched(lisc, ipm, fresh)
        if action == "create_in_ipm" and fresh is not None:
            self._created.append(fresh)  # a candidate for the next create's check
        text = self._headline(action, lisc, ipm, source, fresh)
        details = describe_outcome(outcome, headline=False)
        text += (" " + details) if details else ""
        level = "warning" if getattr(outcome, "errors", ()) else "success"
        self.ctx.log.add(text, "warning" if level == "warning" else "info")
        self.result.value = message_html(text, level)
        self.ctx.changed(action, touched)
        return outcome

    def _run(
        self,
        action: str,
        lisc: Any,
        ipm: Any,
        common: dict[str, Any],
        *,
        expected: Any,
        anyway: bool,
    ) -> Any:
        from pmtools.engine import operations

        with self.ctx.session.lock:
            if action == "link":
                return operations.link(self.kind, lisc, ipm, expected=expected, **common)
            if action == "not_a_match":
                return operations.not_a_match(self.kind, lisc, ipm, **common)
            if action == "delink":
                return operations.delink(self.kind, lisc, **common)
            if action == "create_in_liscio":
                return operations.create_in_liscio(self.kind, ipm, anyway=anyway, **common)
            if action == "create_in_ipm":
                return operations.create_in_ipm(self.kind, lisc, anyway=anyway, **common)
        raise ValueError(f"unknown action {action!r}")

    def _duplicates_in_ipm(self, source: Record) -> list[Any]:
        """The IPM records creating ``source`` there would likely duplicate (the engine's
        :class:`pmtools.review.DuplicateFinder`, kept while the records stay the same)."""
        from dataclasses import replace

        from pmtools.review import DuplicateFinder

        data = self.tab.data
        if self._finder is None or self._finder[0] is not self.tab.generation:
            # Built once per full read (a second or so at scale 20); records created since
            # are checked by a small finder of their own.
            self._finder = (self.tab.generation, DuplicateFinder(self.kind, Side.IPM, data.ipm))
            self._created = []
        found = self._finder[1].find(source)
        if self._created:
            found += DuplicateFinder(self.kind, Side.IPM, self._created).find(source)
        linked = _linked_ids(data.state, Side.IPM)
        return [replace(d, linked=d.id in linked) for d in found]

    def _ask_duplicates(
        self, action: str, lisc: Any, ipm: Any, source: Record | None, candidates: list[Any]
    ) -> None:
        """List the likely duplicates a create was refused for; offer Link or Create anyway."""
        where = "IPM" if action == "create_in_ipm" else "Liscio"
        name = source.name if source is not None else ""
        rows = [
            [d.name, "yes" if d.linked else "no", d.reason, record_detail(d.record).lstrip(" ·")]
            for d in candidates
        ]
        html_text = message_html(
            f"Not created yet: {name!r} likely exists in {where} already. "
            "Link it to one of these instead, or create it anyway if it "
            "is a different client.",
            "warning",
        ) + html_table(
            [f"In {where}", "Already linked", "Why", "Details"], rows, css="pm-duplicates"
        )
        instead = [(f"{d.name} — {d.reason}", d.id) for d in candidates if not d.linked]
        self._ask(html_text, {"action": action, "pair": (lisc, ipm)}, anyway=True, instead=instead)
        self.result.value = ""
        self.ctx.log.add(
            f"Create in {where} of {name!r} held back: {len(candidates)} likely duplicates shown",
            "warning",
        )

    def _touched(self, lisc: str | None, ipm: str | None, fresh: Record | None) -> Touched:
        """The records the action changed: the pair's, and a record it created."""
        s = self.ctx.session
        link = (
            s.store.link_for(self.kind, liscio_id=lisc)
            if lisc
            else s.store.link_for(self.kind, ipm_key=ipm)
            if ipm
            else None
        )
        lids = {i for i in (lisc, link.liscio_id if link else None) if i}
        keys = {k for k in (ipm, link.ipm_key if link else None) if k}
        return Touched(
            kind=self.kind,
            liscio_ids=frozenset(lids),
            ipm_keys=frozenset(keys),
            records=(fresh,) if fresh is not None else (),
        )


ACTION_WORDS = {
    "link": "linking",
    "not_a_match": "marking as not a match",
    "delink": "delinking",
    "create_in_ipm": "creating in IPM",
    "create_in_liscio": "creating in Liscio",
}
