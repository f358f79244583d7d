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
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pmtools.plan import LinkStatus, SyncState
from pmtools.records import Address, Kind, Record

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
    "Run", "Time", "Kind", "Liscio Name", "Liscio ID", "IPM Name", "IPM Key", "Side", "Field",
    "Before", "After", "Rule", "Status",
)
ERROR_COLUMNS = ("Run", "Time", "Kind", "Side", "Record ID", "Record Name", "Action", "Message")

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MIN_WIDTH, _MAX_WIDTH = 8, 60

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
        from pmtools.errors import ConfigError
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
