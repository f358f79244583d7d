"""View Details: one tab per kind, a server-side paged table of pairs, search and filters.

Only one page of rows travels to the browser at a time; searching and filtering run in the
kernel (``pmtools.analysis.views``). Each tab has a linking panel below its table for the record
selected in the "Record" list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as ipw
import pandas as pd

from pmtools.core.records import Kind, Record, Side
from pmtools.workbench.common import Context, button, esc, message_html, readable

PAGE_SIZE = 25
STATUS_OPTIONS = (
    ("All statuses", ""),
    ("Linked", "linked"),
    ("Unmatched (either side)", "unmatched"),
    ("Unmatched in Liscio", "unmatched in Liscio"),
    ("Unmatched in IPM", "unmatched in IPM"),
    ("Ambiguous", "ambiguous"),
    ("Orphaned", "orphaned"),
)
# Search, paging and the row count are the panel's own (server side), not DataTables'.
NO_CONTROLS = {"topStart": None, "topEnd": None, "bottomStart": None, "bottomEnd": None}
UNMATCHED = ("unmatched in Liscio", "unmatched in IPM")
SIDE_OPTIONS = (
    ("Either side", ""),
    ("Has a Liscio record", "liscio"),
    ("Has an IPM record", "ipm"),
)
NOT_READ = "(not read yet)"  # an IPM value pmtools has not loaded (addresses need a request each)
SHORT = ("status", "linked how", "last synced (utc)", "phone")  # stay on one line; others wrap
HINT = (
    "Click a row (or pick it in the Record list below the table) to link it, delink it, "
    "or create it on the other side."
)
UNREAD_NOTE = (
    f"{NOT_READ}: IPM sends addresses one record at a time, so Sync Now reads them "
    "only where it needs them. The report reads them all."
)


@dataclass(kw_only=True)
class KindData:
    """Everything the View Details tab of one kind shows: records of both sides and state."""

    kind: Kind
    liscio: list[Record]
    ipm: list[Record]
    state: Any
    table: pd.DataFrame
    by_id: dict[tuple[Side, str], Record] = field(default_factory=dict)
    ambiguous: Any = None  # the Ambiguity the table was built with
    positions: dict[tuple[Side, str], int] | None = None  # where each record is in its list

    def record(self, side: Side, record_id: str | None) -> Record | None:
        """The record with ``record_id`` on ``side``, if loaded."""
        return self.by_id.get((side, record_id)) if record_id else None


def load_kind(session: Any, kind: Kind, detailed: Iterable[Record] = ()) -> KindData:
    """Read both sides' records of ``kind`` and the stored state; build the pairs table.

    IPM records are the list rows cached by the last Sync Now (before the first sync they are
    listed from IPM), brought up to date with what pmtools wrote since
    (:func:`pmtools.engine.known.ipm_view_records`); ``detailed`` are fresher IPM
    records (loaded by the last sync, or read back after a link or create).
    """
    from pmtools.analysis.views import Ambiguity, build_pairs_table
    from pmtools.engine.known import ipm_view_records

    liscio = list(session.liscio.iter_records(kind))
    ipm = ipm_view_records(kind, store=session.store, ipm=session.ipm, detailed=detailed)
    state = session.store.state([kind])
    ambiguous = Ambiguity.from_match(kind, liscio, ipm, state)
    table = build_pairs_table(kind, liscio, ipm, state.links, ambiguous)
    by_id = {(r.side, r.id): r for r in liscio + ipm}
    return KindData(
        kind=kind,
        liscio=liscio,
        ipm=ipm,
        state=state,
        table=table,
        by_id=by_id,
        ambiguous=ambiguous,
    )


def patch_kind(
    data: KindData,
    state: Any,
    records: Iterable[Record],
    liscio_ids: Iterable[str],
    ipm_keys: Iterable[str],
) -> KindData:
    """``data`` after an action on a few records: their rows rebuilt in place, no re-read.

    ``records`` are the touched records as they are now; the rows of ``liscio_ids`` and
    ``ipm_keys`` (and of their pairs' partners, old and new) are replaced by rows built from
    ``state`` where the first of them stood, so the table does not jump. Rebuilding the whole
    table would need both systems read again: seconds at scale 20, for one or two rows.
    """
    from pmtools.analysis.views import build_pairs_table

    by_id = dict(data.by_id)
    for r in records:
        by_id[(r.side, r.id)] = r
    lisc, ipm = set(liscio_ids), set(ipm_keys)
    for links in (data.state.links, state.links):  # old partners and new ones
        for link in links:
            if link.kind is data.kind and (link.liscio_id in lisc or link.ipm_key in ipm):
                lisc.add(link.liscio_id)
                ipm.add(link.ipm_key)
    lisc.discard("")
    ipm.discard("")
    table = data.table
    drop = (table["liscio_id"].isin(lisc) | table["ipm_key"].isin(ipm)).to_numpy()
    rows = build_pairs_table(
        data.kind,
        [r for i in lisc if (r := by_id.get((Side.LISCIO, i))) is not None],
        [r for k in ipm if (r := by_id.get((Side.IPM, k))) is not None],
        [link for link in state.links if link.kind is data.kind and link.liscio_id in lisc],
        data.ambiguous,
    )
    at = int(drop.argmax()) if drop.any() else len(table)
    keep = ~drop
    table = pd.concat([table[:at][keep[:at]], rows, table[at:][keep[at:]]], ignore_index=True)
    # A record read again takes its old place in the lists, a new one goes at the end; the
    # places are looked up, not searched for (the lists hold 18,000 people at scale 20).
    if data.positions is None:
        data.positions = {
            (r.side, r.id): i for rs in (data.liscio, data.ipm) for i, r in enumerate(rs)
        }
    positions = data.positions
    lists = {Side.LISCIO: list(data.liscio), Side.IPM: list(data.ipm)}
    for r in records:
        target = lists[r.side]
        at_ = positions.get((r.side, r.id))
        if at_ is None:
            positions[(r.side, r.id)] = len(target)
            target.append(r)
        else:
            target[at_] = r
    return KindData(
        kind=data.kind,
        liscio=lists[Side.LISCIO],
        ipm=lists[Side.IPM],
        state=state,
        table=table,
        by_id=by_id,
        ambiguous=data.ambiguous,
        positions=positions,
    )


def row_label(row: dict[str, Any], data: KindData | None = None) -> str:
    """A short label of a table row for the record list.

    A record alone on its side says which side, and a few of its values: records sharing a
    name ("John Smith [ambiguous]" three times) must be told apart in the list.
    """
    from pmtools.workbench.linking import record_detail

    lisc = row.get("Liscio name") or ""
    ipm = row.get("IPM name") or ""
    status = str(row.get("status") or "")
    if lisc and ipm:
        return f"{lisc} ↔ {ipm} [{status}]"
    side, key = (Side.LISCIO, row.get("liscio_id")) if lisc else (Side.IPM, row.get("ipm_key"))
    where = "Liscio" if side is Side.LISCIO else "IPM"
    label = status if where.casefold() in status.casefold() else f"{status}, {where}"
    detail = record_detail(data.record(side, key or None)) if data is not None else ""
    return f"{lisc or ipm}{detail} [{label}]"


def mark_unread(rows: pd.DataFrame, data: KindData) -> pd.DataFrame:
    """``rows`` with IPM values pmtools has not read (not empty: unknown) shown as NOT_READ."""
    from pmtools.core.planner import DETAIL_FIELDS

    columns = [f"IPM {f}" for f in data.kind.fields if f in DETAIL_FIELDS]
    if rows.empty or not columns:
        return rows
    rows = rows.copy()
    unread = [
        (record := data.record(Side.IPM, key or None)) is not None and not record.details_complete
        for key in rows["ipm_key"]
    ]
    for column in columns:
        empty = rows[column].isna() | (rows[column].astype(str) == "")
        rows.loc[empty & pd.Series(unread, index=rows.index), column] = NOT_READ
    return rows


def short_time(value: object) -> str:
    """An ISO time as "YYYY-MM-DD HH:MM" (UTC), for a narrow column; other text unchanged."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    if len(text) >= 16 and text[10:11] == "T":
        return text[:10] + " " + text[11:16]
    return text


def _table_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The page as shown: readable headers, short times, ids left out."""
    hidden = [c for c in rows.columns if c in ("liscio_id", "ipm_key")]
    shown = rows.drop(columns=hidden).reset_index(drop=True)
    if "last synced" in shown.columns:
        shown["last synced"] = shown["last synced"].map(short_time)
        shown = shown.rename(columns={"last synced": "last synced (UTC)"})
    shown.columns = [c[:1].upper() + c[1:] for c in map(str, shown.columns)]
    return shown.fillna("").astype(str)


def search_text(kind: Kind, text: str) -> str:
    """The search as the table holds names: a person typed "Last, First" (as IPM shows
    people) is searched as "First Last"."""
    from pmtools.core.names import display_order

    return display_order(text.strip()) if kind is Kind.CONTACTS and "," in text else text


def wrapped_columns(frame: pd.DataFrame) -> list[int]:
    """Indexes of the columns allowed to wrap (names, addresses, websites, titles, emails)."""
    return [i for i, c in enumerate(frame.columns) if not str(c).lower().endswith(SHORT)]


class PairsTab(ipw.VBox):
    """The table of one kind with its search box, filters, pager and linking panel."""

    def __init__(self, ctx: Context, kind: Kind) -> None:
        from itables.widget import ITable

        from pmtools.workbench.linking import LinkingPanel

        self.ctx = ctx
        self.kind = kind
        self.data: KindData | None = None
        self.generation: object = None
        self.view: Any = None
        self.page_rows: list[dict[str, Any]] = []
        self._refresh_lock = threading.RLock()
        self.search = ipw.Text(
            placeholder="Search names on both sides", continuous_update=True, description="Search"
        )
        self.search.add_class("pm-search")
        self.status = ipw.Dropdown(options=STATUS_OPTIONS, value="", description="Status")
        self.status.add_class("pm-status-filter")
        self.side = ipw.Dropdown(options=SIDE_OPTIONS, value="", description="Side")
        self.side.add_class("pm-side-filter")
        self.prev_button = button("◀ Previous", "pm-page-prev")
        self.next_button = button("Next ▶", "pm-page-next")
        self.page_label = ipw.HTML()
        self.page_label.add_class("pm-page-label")
        self.page = 0
        self.table = ITable(
            pd.DataFrame(),
            paging=False,
            ordering=False,
            layout=NO_CONTROLS,
            select={"style": "single"},
            classes="display compact cell-border",
        )
        self.table.add_class("pm-table")
        self.table.add_class(f"pm-table-{kind.value}")
        self.message = ipw.HTML()
        self.hint = ipw.HTML(f'<div class="pm-hint">{esc(HINT)}</div>')
        self.note = ipw.HTML()
        self.note.add_class("pm-unread-note")
        self.record_select = ipw.Dropdown(
            options=[("(select a record)", -1)],
            value=-1,
            description="Record",
            layout=ipw.Layout(width="60%"),
        )
        self.record_select.add_class("pm-record-select")
        self.linking = LinkingPanel(ctx, self)
        # Stays in sight at the bottom of the window while the table scrolls: a row clicked
        # high up a long page shows its actions at once, not a screen further down.
        self.action_box = ipw.VBox([self.record_select, self.linking])
        self.action_box.add_class("pm-actions")
        self.search.observe(lambda _c: self._filters_changed(), "value")
        self.status.observe(lambda _c: self._filters_changed(), "value")
        self.side.observe(lambda _c: self._filters_changed(), "value")
        self.prev_button.on_click(lambda _b: self.go(self.page - 1))
        self.next_button.on_click(lambda _b: self.go(self.page + 1))
        self.record_select.observe(lambda _c: self._selected(), "value")
        self.table.observe(lambda _c: self._row_clicked(), "selected_rows")
        super().__init__(
            [
                ipw.HBox([self.search, self.status, self.side]),
                self.hint,
                self.table,
                ipw.HBox([self.prev_button, self.page_label, self.next_button]),
                self.note,
                self.message,
                self.action_box,
            ]
        )
        self.add_class(f"pm-tab-{kind.value}")

    # -- data --------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the records again and redraw the current page."""
        from pmtools.analysis.views import PairsView

        self.data = load_kind(self.ctx.session, self.kind, self.ctx.detailed)
        self.generation = object()  # a full read: what was built over the old records is old
        self.view = PairsView(self.data.table)
        names = dict(self.ctx.names())
        names.update({(r.side.value, r.id): r.name for r in self.data.liscio + self.data.ipm})
        self.ctx.set_names(names)
        self.linking.data_changed()
        self.refresh()
        # The selection may be the same row: offer its actions and targets on the new data
        # (a pair just marked "not a match" is no longer suggested).
        self.linking.show(self.selected_row())

    def patch(self, touched: Any) -> None:
        """Redraw only the rows of the records an action touched (see :func:`patch_kind`)."""
        from pmtools.analysis.views import PairsView

        if self.data is None:
            return
        s = self.ctx.session
        fresh = {(r.side, r.id): r for r in touched.records}
        lids, keys = set(touched.liscio_ids), set(touched.ipm_keys)
        state = self._state_after(lids, keys)
        for link in state.links:  # a record created on the other side is new to the table
            if link.kind is self.kind and (link.liscio_id in lids or link.ipm_key in keys):
                lids.add(link.liscio_id)
                keys.add(link.ipm_key)
        wanted = [(Side.LISCIO, i) for i in lids]  # a link may have filled Liscio fields
        wanted += [(Side.IPM, k) for k in keys if (Side.IPM, k) not in self.data.by_id]
        for side, rid in wanted:
            if (side, rid) in fresh:
                continue
            system = s.liscio if side is Side.LISCIO else s.ipm
            try:
                fresh[(side, rid)] = system.get_record(self.kind, rid)
            except Exception as exc:  # the action succeeded; the row may lag
                self.ctx.log.add(
                    f"The table may lag: a record could not be read back ({readable(exc)})",
                    "warning",
                )
        self.data = patch_kind(self.data, state, fresh.values(), lids, keys)
        self.view = PairsView(self.data.table)
        names = dict(self.ctx.names())
        names.update({(r.side.value, r.id): r.name for r in fresh.values()})
        self.ctx.set_names(names)
        self.refresh()
        self.linking.show(self.selected_row())

    def _state_after(self, lids: set[str], keys: set[str]) -> Any:
        """The stored state after an action on these records: their links read again, the
        others kept (reading 15,000 links at scale 20 would take longer than the action)."""
        from pmtools.core.plan import SyncState

        store, old = self.ctx.session.store, self.data.state
        for link in old.links:  # the old partners are touched too
            if link.liscio_id in lids or link.ipm_key in keys:
                lids.add(link.liscio_id)
                keys.add(link.ipm_key)
        kept = [
            link for link in old.links if link.liscio_id not in lids and link.ipm_key not in keys
        ]
        fresh = {}
        for found in [store.link_for(self.kind, liscio_id=i) for i in lids] + [
            store.link_for(self.kind, ipm_key=k) for k in keys
        ]:
            if found is not None:
                fresh[(found.liscio_id, found.ipm_key)] = found
        return SyncState(
            links=tuple(kept) + tuple(fresh.values()),
            decisions=tuple(store.decisions(self.kind)),
            baseline=old.baseline,
        )

    def _filters_changed(self) -> None:
        self.page = 0
        self.ctx.guard("searching", self.refresh, self.message, exclusive=False)

    def go(self, page: int) -> None:
        """Show page ``page`` (0-based, clamped)."""
        self.page = max(0, page)
        self.ctx.guard("paging", self.refresh, self.message, exclusive=False)

    def refresh(self) -> None:
        """Run the query and show the page (the sync's thread reloads while people search)."""
        with self._refresh_lock:
            self._refresh()

    def _refresh(self) -> None:
        if self.view is None:
            self.page_label.value = esc("No data yet: run Sync Now, or open this tab again.")
            return
        status = self.status.value
        statuses = UNMATCHED if status == "unmatched" else (status,) if status else None
        result = self.view.query(
            search=search_text(self.kind, self.search.value),
            status=statuses,
            side=self.side.value or None,
            page=self.page,
            page_size=PAGE_SIZE,
        )
        self.page = result.page
        rows = result.rows
        self.page_rows = rows.to_dict("records")
        rows = mark_unread(rows, self.data)
        frame = _table_frame(rows)
        self.table.update(
            frame,
            selected_rows=[],
            columnDefs=[{"targets": wrapped_columns(frame), "className": "pm-wrap"}],
        )
        self.note.value = (
            f'<div class="pm-hint">{esc(UNREAD_NOTE)}</div>'
            if (rows.astype(str) == NOT_READ).any().any()
            else ""
        )
        self.page_label.value = esc(
            f"Page {result.page + 1} of {result.pages} — {result.total} rows"
            if result.total
            else "No rows match the search and filters."
        )
        self.prev_button.disabled = result.page <= 0
        self.next_button.disabled = result.page >= result.pages - 1
        keep = self.linking.selected_key()
        options = [("(select a record)", -1)] + [
            (row_label(r, self.data), i) for i, r in enumerate(self.page_rows)
        ]
        value = next((i for i, r in enumerate(self.page_rows) if _key(r) == keep), -1)
        self.record_select.options = options
        self.record_select.value = value
        self.message.value = ""

    def select_row(self, index: int) -> None:
        """Select row ``index`` of the current page for linking."""
        self.record_select.value = index

    def selected_row(self) -> dict[str, Any] | None:
        """The table row selected in the record list, or None."""
        i = self.record_select.value
        return self.page_rows[i] if i is not None and 0 <= i < len(self.page_rows) else None

    def _row_clicked(self) -> None:
        """A click on a table row selects that record, as the record list does."""
        rows = self.table.selected_rows
        if rows and 0 <= rows[0] < len(self.page_rows) and self.record_select.value != rows[0]:
            self.record_select.value = rows[0]

    def _selected(self) -> None:
        self.ctx.guard(
            "selecting a record",
            lambda: self.linking.show(self.selected_row()),
            self.message,
            exclusive=False,
        )


def _key(row: dict[str, Any]) -> tuple[Any, Any]:
    return (row.get("liscio_id") or None, row.get("ipm_key") or None)


class DetailsPanel(ipw.VBox):
    """View Details: the Accounts and Contacts tabs, loaded on demand and after changes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tabs = {kind: PairsTab(ctx, kind) for kind in Kind}
        self.tab = ipw.Tab(children=list(self.tabs.values()), titles=("Accounts", "Contacts"))
        self.tab.add_class("pm-details-tabs")
        self.show_button = button("View Details", "pm-view-details", icon="table")
        self.message = ipw.HTML()
        self.message.add_class("pm-details-message")
        self.tab.layout.display = "none"
        self.show_button.on_click(lambda _b: self.load())
        ctx.freezable(self.show_button)
        ctx.on_change(self._changed, touched=True)
        self.loaded = False
        super().__init__(
            [ipw.HTML("<h3>View Details</h3>"), self.show_button, self.message, self.tab]
        )
        self.add_class("pm-details-panel")

    def _changed(self, what: str, touched: Any = None) -> None:
        """After an action on a few records redraw their rows; after a sync reload all."""
        if not self.loaded:
            return
        if touched is None:
            self.load()
            return
        self.ctx.guard(
            f"showing what {what.replace('_', ' ')} changed",
            lambda: self.tabs[touched.kind].patch(touched),
            self.message,
            exclusive=False,
        )

    def load(self) -> None:
        """(Re)load both tabs and show them."""

        def run() -> None:
            with self.ctx.session.lock:
                for tab in self.tabs.values():
                    tab.reload()
            self.loaded = True
            self.tab.layout.display = ""
            self.show_button.description = "Reload"
            self.message.value = ""

        self.message.value = message_html("Loading records…")
        self.ctx.guard("loading the records", run, self.message, exclusive=False)
