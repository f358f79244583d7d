"""Reports: pairs of records, the changes a sync made, record-level errors — as tables and files.

Building a report is pure (records and stored state in, a ``pandas.DataFrame`` out); writing it
is CSV or XLSX. Every cell whose text would start with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote so that a spreadsheet shows it as text instead
of running it as a formula: record names come from outside the firm. This applies to every
cell, so a phone number written as ``-5`` comes out as ``'-5`` too (a spreadsheet cannot tell a
formula from a negative number by its first character, and neither can we).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pmtools.connectors.base import Connector
from pmtools.errors import ConfigError
from pmtools.plan import LinkStatus, SyncState
from pmtools.records import Address, Kind, Record, Side

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from pmtools.store import Store

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
STATUSES = ("linked", "unmatched", "ambiguous", "orphaned", "all")

CONTACT_COLUMNS = (
    "Liscio Contact Name", "Liscio Contact Title", "Liscio Contact Primary Email",
    "IPM Contact Name", "IPM Contact Title", "IPM Contact Primary Email",
    "Status", "Linked How", "Last Synced",
)
ACCOUNT_COLUMNS = (
    "Liscio Account Name", "Liscio Address", "Liscio Phone", "Liscio Website",
    "IPM Organization Name", "IPM Address", "IPM Phone", "IPM Website",
    "Status", "Linked How", "Last Synced",
)
CHANGE_COLUMNS = (
    "Run", "Time", "Kind", "Action", "Liscio Name", "Liscio ID", "IPM Name", "IPM Key", "Side",
    "Field", "Before", "After", "Rule", "Status", "Started By",
)
ERROR_COLUMNS = ("Run", "Time", "Kind", "Side", "Record ID", "Record Name", "Action", "Field",
                 "Message")

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_DETAILS_BATCH = 25  # IPM details read, then saved, at a time

_FIELD_COLUMNS = {
    Kind.ACCOUNTS: ("address", "phone", "website"),
    Kind.CONTACTS: ("title", "email"),
}


def report_columns(kind: Kind | str) -> tuple[str, ...]:
    """The column headers of a pairs report of ``kind``, in their fixed order."""
    return ACCOUNT_COLUMNS if Kind(kind) is Kind.ACCOUNTS else CONTACT_COLUMNS


def neutralize(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell: text that could start a formula gets a ``'``.

    None/NaN stay empty; other non-text values keep their type unless their text form would
    start with a trigger character (a negative number), in which case they become quoted text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_TRIGGERS):
        return "'" + text
    return value


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every cell and header passed through :func:`neutralize`."""
    out = df.astype(object).where(df.notna(), None)
    out = out.apply(lambda col: col.map(neutralize))
    out.columns = [neutralize(str(c)) for c in df.columns]
    return out


def format_value(value: Any) -> str:
    """A field value as report text: addresses on one line, None as empty."""
    if value is None:
        return ""
    if isinstance(value, Address):
        return str(value)
    return str(value)


def pairs_report(kind: Kind | str, *, liscio: Iterable[Record], ipm: Iterable[Record],
                 state: SyncState, status: str = "all",
                 last_synced: Mapping[Kind, str] | None = None) -> pd.DataFrame:
    """The pairs report of ``kind``: one row per link, per ambiguous or unmatched record.

    Linked and orphaned rows carry both sides; unlinked records one side. Unlinked archived
    Liscio records are left out (they are neither matched nor created). ``status`` keeps one
    status (linked, unmatched, ambiguous, orphaned) or ``all``. ``Last Synced`` of a linked
    pair is the end of the last completed sync of its kind (``last_synced``, from
    :func:`pmtools.audit.last_sync_times`) when the pair had had its first sync, else empty.
    """
    from pmtools.matching import match

    kind = Kind(kind)
    if status not in STATUSES:
        raise ConfigError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    lis = [r for r in liscio if r.kind is kind]
    ipm_recs = [r for r in ipm if r.kind is kind]
    by_liscio = {r.id: r for r in lis}
    by_ipm = {r.id: r for r in ipm_recs}
    last = (last_synced or {}).get(kind)
    rows: list[tuple[int, str, list[str]]] = []
    order = {"linked": 0, "orphaned": 1, "ambiguous": 2, "unmatched": 3}

    def add(left: Record | None, right: Record | None, row_status: str, how: str = "",
            synced: str = "") -> None:
        if status not in ("all", row_status):
            return
        cells = _side_cells(kind, left) + _side_cells(kind, right) + [row_status, how, synced]
        name = (left or right).name if (left or right) else ""
        rows.append((order[row_status], normalize_name_for_sort(name), cells))

    for link in state.links:
        if link.kind is not kind:
            continue
        left, right = by_liscio.get(link.liscio_id), by_ipm.get(link.ipm_key)
        orphaned = (link.status is LinkStatus.ORPHANED or left is None or left.archived
                    or right is None)
        synced = ""
        if link.first_synced_at and not orphaned:
            synced = max(link.first_synced_at, last or "")
        elif link.first_synced_at:
            synced = link.first_synced_at
        if left is None:
            left = _missing(kind, link.liscio_id)
        if right is None:
            right = _missing(kind, link.ipm_key)
        add(left, right, "orphaned" if orphaned else "linked", str(link.how), synced)
    result = match(kind, lis, ipm_recs, state)
    for group in result.ambiguous:
        for rid in group.liscio_ids:
            add(by_liscio[rid], None, "ambiguous")
        for key in group.ipm_keys:
            add(None, by_ipm[key], "ambiguous")
    for pair in result.pairs:  # to be linked by the next Sync Now: unmatched until then
        add(by_liscio[pair.liscio_id], None, "unmatched")
        add(None, by_ipm[pair.ipm_key], "unmatched")
    for rid in result.unmatched_liscio:
        add(by_liscio[rid], None, "unmatched")
    for key in result.unmatched_ipm:
        add(None, by_ipm[key], "unmatched")
    rows.sort(key=lambda r: (r[0], r[1]))
    return pd.DataFrame([r[2] for r in rows], columns=list(report_columns(kind)), dtype=object)


def normalize_name_for_sort(name: str) -> str:
    """A name's sort key in reports (case and spacing ignored)."""
    return " ".join(name.casefold().split())


def _side_cells(kind: Kind, rec: Record | None) -> list[str]:
    names = _FIELD_COLUMNS[kind]
    if rec is None:
        return [""] * (1 + len(names))
    return [rec.name] + [format_value(getattr(rec, n)) for n in names]


def _missing(kind: Kind, record_id: str) -> Record:
    return Record(side=Side.LISCIO, kind=kind, id=record_id, name=f"(not found: {record_id})")


def fetch_records(kind: Kind | str, *, liscio: Connector, ipm: Connector,
                  store: Store | None = None, fresh: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: threading.Event | None = None
                  ) -> tuple[list[Record], list[Record]]:
    """Both sides' current records of ``kind``, IPM details (addresses) loaded.

    For the reports: an IPM organization's address is on its business card, one request per
    organization (Karbon allows about 120 a minute). With a ``store`` and not ``fresh``, a card
    the last sync (or report) loaded is reused while the organization's LastModifiedDateTime
    in the list is unchanged and it was loaded within :data:`pmtools.sync.FULL_PULL_EVERY` —
    the sync's own rule and assumption (a card edit moves its owner's modification time);
    only the other cards are read. Cards read are saved in ``store`` for the next sync or
    report. ``fresh`` (or no store) reads every card. ``progress(done, total)`` is called
    after each batch of cards; a set ``cancel`` stops reading them (the rest stay unloaded).
    """
    kind = Kind(kind)
    lis = list(liscio.iter_records(kind))
    ipm_recs = list(ipm.iter_records(kind))
    todo = [r for r in ipm_recs if not r.details_complete]
    loaded: dict[str, Record] = {}
    if store is not None and not fresh and todo:
        loaded = _reusable_details(store, kind, todo)
        todo = [r for r in todo if r.id not in loaded]
    log.info("IPM %s: %d details reused, %d to load", kind.ipm_name, len(loaded), len(todo))
    for start in range(0, len(todo), _DETAILS_BATCH):  # saved as we go: a cut-off report
        if cancel is not None and cancel.is_set():
            break
        batch = ipm.load_details(kind, todo[start:start + _DETAILS_BATCH])  # keeps its reads
        loaded.update((r.id, r) for r in batch)
        if store is not None:
            store.cache_details(kind, batch)
        if progress is not None:
            progress(min(start + _DETAILS_BATCH, len(todo)), len(todo))
    return lis, [loaded.get(r.id, r) for r in ipm_recs]


def _reusable_details(store: Store, kind: Kind, rows: list[Record]) -> dict[str, Record]:
    """Cached details of ``rows`` still good by the sync's rule (see :func:`fetch_records`)."""
    from pmtools.sync import FULL_PULL_EVERY, cached_details

    # the same text form as the store's loaded_at stamps (now_iso), so they compare as text
    cutoff = (datetime.now(UTC) - FULL_PULL_EVERY).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return cached_details(store, kind, rows, fresh_after=cutoff)


def write_report(df: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``df`` to ``path`` as CSV or XLSX (``fmt``, else from the suffix); neutralised."""
    path = Path(path)
    fmt = _format(fmt or path.suffix.lstrip("."))
    path.write_bytes(report_bytes(df, fmt))
    return path


def report_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """The file contents of ``df`` as CSV (UTF-8) or XLSX, every cell neutralised."""
    fmt = _format(fmt)
    safe = neutralize_frame(df)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(safe.columns)
        for row in safe.itertuples(index=False, name=None):
            writer.writerow(["" if v is None else v for v in row])
        return buf.getvalue().encode("utf-8")
    return _xlsx_bytes(safe)


def _format(fmt: str) -> str:
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"report format must be csv or xlsx, not {fmt!r}")
    return fmt


def _xlsx_bytes(safe: pd.DataFrame) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "report"
    headers = list(safe.columns)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [len(str(h)) for h in headers]
    for row in safe.itertuples(index=False, name=None):
        ws.append(list(row))
        for i, v in enumerate(row):
            if v is not None:
                widths[i] = max(widths[i], max(len(x) for x in str(v).split("\n")))
    # openpyxl reads any string starting with "=" as a formula; neutralised text never does,
    # but force the type anyway so that nothing written here is ever evaluated.
    for row in ws.iter_rows(min_row=1):
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH)
    ws.freeze_panes = "A2"
    if headers:
        ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
