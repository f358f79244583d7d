"""Reports: pairs of records, the changes a sync made, record-level errors — as tables and files.

Building a report is pure (records and stored state in, a ``pandas.DataFrame`` out); writing it
is CSV or XLSX, by one writer (:func:`report_bytes`) that the CLI and the app's Report share.

- **CSV** is UTF-8 with a byte order mark, so that Excel reads "Núñez" as it is. Every cell
  whose text would start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with a single quote so that a spreadsheet opening the file shows it as text instead
  of running it as a formula: record names come from outside the firm. This applies to every
  cell, so a phone number written as ``-5`` comes out as ``'-5`` too (a spreadsheet cannot tell
  a formula from a negative number by its first character, and neither can we).
- **XLSX** stores every text as a text cell, never a formula, and so shows it exactly as it is
  ("+1 555 0100", "=HYPERLINK(…)": no quote added). Times (Last Synced, the changes' and
  errors' Time) are date-time cells in UTC.
- Both: characters a spreadsheet file cannot hold (NUL, ESC and the other C0 controls but tab
  and line feed — and carriage return, which a CSV keeps —, lone surrogates) are written as
  visible escapes (``\x00``), and an XLSX cell is cut at Excel's 32,767 characters with a
  note saying so (:func:`pmtools.core.text.for_cell`). One odd value never fails the whole report.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import numbers
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pmtools.core import timestamps
from pmtools.core.plan import LinkStatus, SyncState
from pmtools.core.records import SYNCED_FIELDS, Address, Kind, Record, Side
from pmtools.core.text import for_cell, shown
from pmtools.errors import ConfigError

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
STATUSES = ("linked", "unmatched", "ambiguous", "orphaned", "all")

CONTACT_COLUMNS = (
    "Liscio Contact Name",
    "Liscio Contact Title",
    "Liscio Contact Primary Email",
    "IPM Contact Name",
    "IPM Contact Title",
    "IPM Contact Primary Email",
    "Status",
    "Linked How",
    "Last Synced",
)
ACCOUNT_COLUMNS = (
    "Liscio Account Name",
    "Liscio Address",
    "Liscio Phone",
    "Liscio Website",
    "IPM Organization Name",
    "IPM Address",
    "IPM Phone",
    "IPM Website",
    "Status",
    "Linked How",
    "Last Synced",
)
CHANGE_COLUMNS = (
    "Run",
    "Time",
    "Kind",
    "Action",
    "Liscio Name",
    "Liscio ID",
    "IPM Name",
    "IPM Key",
    "Side",
    "Field",
    "Before",
    "After",
    "Rule",
    "Status",
    "Started By",
)
ERROR_COLUMNS = (
    "Run",
    "Time",
    "Kind",
    "Side",
    "Record ID",
    "Record Name",
    "Action",
    "Field",
    "Message",
)

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Columns holding an ISO 8601 time in UTC: date-time cells in XLSX.
TIME_COLUMNS = frozenset({"Last Synced", "Time"})
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_MIN_WIDTH, _MAX_WIDTH = 8, 60

_FIELD_COLUMNS = SYNCED_FIELDS  # the report's field columns are the synced fields, in order


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


def pairs_report(
    kind: Kind | str,
    *,
    liscio: Iterable[Record],
    ipm: Iterable[Record],
    state: SyncState,
    status: str = "all",
    last_synced: Mapping[Kind, str] | None = None,
) -> pd.DataFrame:
    """The pairs report of ``kind``: one row per link, per ambiguous or unmatched record.

    Linked and orphaned rows carry both sides; unlinked records one side. Unlinked archived
    Liscio records are left out (they are neither matched nor created). ``status`` keeps one
    status (linked, unmatched, ambiguous, orphaned) or ``all``; the Status column of an
    unmatched row says its side ("unmatched in Liscio", "unmatched in IPM"). ``Last Synced`` of
    a linked pair is the end of the last completed sync of its kind (``last_synced``, from
    :func:`pmtools.analysis.history.last_sync_times`) when the pair had had its first sync,
    else empty.
    """
    from pmtools.core.matching import match

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

    def add(
        left: Record | None, right: Record | None, row_status: str, how: str = "", synced: str = ""
    ) -> None:
        if status not in ("all", row_status):
            return
        label = row_status
        if row_status == "unmatched":  # the workbench's words: which side's record it is
            label = "unmatched in Liscio" if left is not None else "unmatched in IPM"
        cells = _side_cells(kind, left) + _side_cells(kind, right) + [label, how, synced]
        record = left or right
        name = record.name if record else ""
        rows.append((order[row_status], normalize_name_for_sort(name), cells))

    for link in state.links:
        if link.kind is not kind:
            continue
        left, right = by_liscio.get(link.liscio_id), by_ipm.get(link.ipm_key)
        orphaned = (
            link.status is LinkStatus.ORPHANED or left is None or left.archived or right is None
        )
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


def write_report(df: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``df`` to ``path`` as CSV or XLSX (``fmt``, else from the suffix); neutralised."""
    path = Path(path)
    fmt = _format(fmt or path.suffix.lstrip("."))
    path.write_bytes(report_bytes(df, fmt))
    return path


def report_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """The file contents of ``df`` as CSV (UTF-8 with BOM, neutralised) or XLSX (text cells)."""
    fmt = _format(fmt)
    if fmt == "csv":
        safe = neutralize_frame(df.map(_csv_text))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(safe.columns)
        for row in safe.itertuples(index=False, name=None):
            writer.writerow(["" if v is None else v for v in row])
        return buf.getvalue().encode("utf-8-sig")
    return _xlsx_bytes(df)


def _csv_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # A CSV holds a carriage return as it is (quoted), unlike XML: keep it, escape the rest.
    return "\r".join(for_cell(part, limit=None) for part in value.split("\r"))


def _format(fmt: str) -> str:
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"report format must be csv or xlsx, not {fmt!r}")
    return fmt


def _xlsx_bytes(df: pd.DataFrame) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "report"
    headers = [str(h) for h in df.columns]
    times = {i for i, h in enumerate(headers) if h in TIME_COLUMNS}
    widths = [len(h) for h in headers]
    for col, header in enumerate(headers, start=1):
        put_cell(ws.cell(row=1, column=col), header).font = Font(bold=True)
    for r, row in enumerate(df.itertuples(index=False, name=None), start=2):
        for i, value in enumerate(row):
            cell = put_cell(ws.cell(row=r, column=i + 1), value, time=i in times)
            if isinstance(cell.value, str):
                widths[i] = max(widths[i], max(len(x) for x in cell.value.split("\n")))
            elif cell.is_date:
                widths[i] = max(widths[i], len(_TIME_FORMAT))
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH)
    ws.freeze_panes = "A2"
    if headers:
        ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def put_cell(cell: Any, value: Any, *, time: bool = False) -> Any:
    """Set one openpyxl cell: text as a text cell (never a formula), a time as a date-time cell.

    Text is passed through :func:`pmtools.core.text.for_cell` first; a value openpyxl still refuses
    is written as its visible escape: one odd value never fails the whole file. Any XLSX that
    holds record text (the review sheet too) should set its cells with this.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return cell
    if time and isinstance(value, str) and (when := _utc_time(value)) is not None:
        cell.value = when
        cell.number_format = _TIME_FORMAT
        return cell
    if isinstance(value, numbers.Real):  # numpy's numbers too
        cell.value = value.item() if hasattr(value, "item") else value
        return cell
    text = for_cell(format_value(value))
    try:
        cell.value = text
    except (ValueError, TypeError):  # openpyxl's IllegalCharacterError is a ValueError
        log.warning("report cell %s written escaped", cell.coordinate)
        cell.value = for_cell(shown(text))
    # openpyxl reads a string starting with "=" as a formula: a text cell is never evaluated.
    cell.data_type = "s"
    return cell


def _utc_time(text: str) -> datetime | None:
    """An ISO 8601 time as a naive UTC datetime (Excel has no time zones); None if not one."""
    try:
        return timestamps.parse(text).astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        return None
