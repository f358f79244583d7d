"""The review queue as a spreadsheet and back: export, then parse and validate a filled file.

:func:`to_frame` gives one row per queue record with the pinned columns (:data:`COLUMNS`);
:func:`write_sheet` writes it as XLSX (every cell a text cell, never a formula) or CSV (UTF-8
with a byte order mark so that Excel shows "Núñez"; cells that could start a formula get a
leading ``'``). :func:`read_sheet` reads a filled file (ids as text) and :func:`parse_decisions`
turns its rows into :class:`~pmtools.analysis.review.bulk.ReviewDecision` with a
:class:`RowProblem` for each bad row — nothing is applied while any row is bad.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pmtools.analysis.review.bulk import ReviewDecision, Verdict
from pmtools.analysis.review.queue import QueueRow
from pmtools.core.records import Kind, Side
from pmtools.errors import ConfigError

__all__ = [
    "COLUMNS",
    "DECISION_WORDS",
    "RowProblem",
    "parse_decisions",
    "read_sheet",
    "to_frame",
    "write_sheet",
]

COLUMNS = (
    "Kind",
    "Side",
    "Record ID",
    "Name",
    "Status",
    "Suggested ID",
    "Suggested Name",
    "Reason",
    "Score",
    "Details",
    "Suggested Details",
    "Decision",
    "Link To",
)
REQUIRED = ("Kind", "Side", "Record ID", "Decision", "Link To")
DECISION_WORDS = {
    "link": (Verdict.LINK, False),
    "not-a-match": (Verdict.NOT_A_MATCH, False),
    "create": (Verdict.CREATE, False),
    "create-anyway": (Verdict.CREATE, True),
    "skip": (Verdict.SKIP, False),
    "": (Verdict.SKIP, False),
}
_SIDE_WORDS = {"liscio": Side.LISCIO, "ipm": Side.IPM}
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FIRST_ROW = 2  # the header is row 1, as a spreadsheet numbers them


@dataclass(frozen=True, slots=True, kw_only=True)
class RowProblem:
    """A bad spreadsheet row: its row number, the record's name (if known), and what is wrong."""

    row: int
    name: str
    message: str

    def text(self) -> str:
        """ "Row 7 (Zoe Allen): …"."""
        who = f" ({self.name})" if self.name else ""
        return f"Row {self.row}{who}: {self.message}"


def to_frame(rows: Iterable[QueueRow]) -> pd.DataFrame:
    """One spreadsheet row per queue row, the pinned columns in order, Decision empty."""
    data = [
        {
            "Kind": str(r.kind),
            "Side": "Liscio" if r.side is Side.LISCIO else "IPM",
            "Record ID": r.record_id,
            "Name": r.name,
            "Status": str(r.status),
            "Suggested ID": r.candidate_id or "",
            "Suggested Name": r.candidate_name or "",
            "Reason": r.reason + (" (tied with another)" if r.tie else ""),
            "Score": "" if r.score is None else f"{r.score:g}",
            "Details": r.details,
            "Suggested Details": r.candidate_details,
            "Decision": "",
            "Link To": "",
        }
        for r in rows
    ]
    return pd.DataFrame(data, columns=list(COLUMNS))


def write_sheet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the frame as ``.xlsx`` or ``.csv`` (from the suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(frame.columns)
        for row in frame.itertuples(index=False, name=None):
            writer.writerow([_safe(v) for v in row])
        path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    elif suffix == ".xlsx":
        path.write_bytes(_xlsx(frame))
    else:
        raise ConfigError(f"the review file must end in .xlsx or .csv, not {path.name!r}")
    return path


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text


def _xlsx(frame: pd.DataFrame) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "review"
    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(frame.itertuples(index=False, name=None), start=FIRST_ROW):
        for c, value in enumerate(row, start=1):
            text = "" if value is None else str(value)
            if not text:
                continue
            cell = ws.cell(row=r, column=c)
            cell.value = text
            cell.data_type = "s"  # text as it is: never a formula, no visible apostrophe
            cell.number_format = "@"
    widths = {
        "Name": 32,
        "Suggested Name": 32,
        "Reason": 34,
        "Details": 40,
        "Suggested Details": 40,
        "Record ID": 22,
        "Suggested ID": 22,
        "Link To": 22,
    }
    for c, name in enumerate(frame.columns, start=1):
        ws.column_dimensions[ws.cell(row=1, column=c).column_letter].width = widths.get(name, 14)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read_sheet(path: str | Path) -> pd.DataFrame:
    """A filled review file as text cells; ConfigError when it is not a usable review file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ConfigError(f"there is no file {path.name!r}")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        else:
            raise ConfigError(f"{path.name!r} is not a review file: it must be .xlsx or .csv")
    except ConfigError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many kinds for a damaged file
        raise ConfigError(
            f"{path.name!r} could not be read as {suffix[1:].upper()} "
            f"({type(exc).__name__}); nothing was changed"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{path.name!r} lacks the column(s) {', '.join(missing)}: export a "
            f"new file with `pmtools review export`; nothing was changed"
        )
    if frame.empty:
        raise ConfigError(f"{path.name!r} has no rows; nothing was changed")
    return frame.fillna("").astype(str)


def parse_decisions(frame: pd.DataFrame) -> tuple[list[ReviewDecision], list[RowProblem]]:
    """The decisions of a filled frame, and a problem for each row that cannot be read.

    Only the file's own form is checked here (kind, side, id, decision word, two rows for one
    record); whether each decision can be applied is :func:`pmtools.analysis.review.bulk.preview`'s.
    """
    decisions: list[ReviewDecision] = []
    problems: list[RowProblem] = []
    first_row: dict[tuple[str, str, str], int] = {}
    for i, values in enumerate(frame.to_dict("records")):
        row = FIRST_ROW + i
        cell = {k: _unquote(str(v)) for k, v in values.items()}
        name = cell.get("Name", "")
        word = cell.get("Decision", "").strip().lower().replace(" ", "-").replace("_", "-")
        if word not in DECISION_WORDS:
            problems.append(
                RowProblem(
                    row=row,
                    name=name,
                    message=(
                        f"unknown decision {cell.get('Decision')!r}: write link, not-a-match, "
                        f"create or skip (or leave it empty)"
                    ),
                )
            )
            continue
        kind_text = cell.get("Kind", "").strip().lower()
        side = _SIDE_WORDS.get(cell.get("Side", "").strip().lower())
        rid = cell.get("Record ID", "").strip()
        link_to = cell.get("Link To", "").strip() or None
        if not word and not link_to:
            continue  # undecided: left for later
        bad = []
        if kind_text not in ("accounts", "contacts"):
            bad.append(f"Kind must be accounts or contacts, not {cell.get('Kind')!r}")
        if side is None:
            bad.append(f"Side must be Liscio or IPM, not {cell.get('Side')!r}")
        if not rid:
            bad.append("Record ID is empty")
        if link_to and word in ("create", "create-anyway", "skip"):
            bad.append(
                f"Link To is given but the decision is {word}: write link or "
                f"not-a-match, or clear Link To"
            )
        if bad:
            problems.append(RowProblem(row=row, name=name, message="; ".join(bad)))
            continue
        verdict, anyway = (
            DECISION_WORDS[word or "link"] if link_to and not word else DECISION_WORDS[word]
        )
        key = (kind_text, str(side), rid)
        if key in first_row:
            problems.append(
                RowProblem(
                    row=row,
                    name=name,
                    message=(
                        f"a second row for this record (the first is row "
                        f"{first_row[key]}): keep one"
                    ),
                )
            )
            continue
        first_row[key] = row
        decisions.append(
            ReviewDecision(
                kind=Kind(kind_text),
                side=side,
                record_id=rid,
                verdict=verdict,
                link_to=link_to,
                anyway=anyway,
                row=row,
            )
        )
    return decisions, problems


def _unquote(text: str) -> str:
    """A cell as written, without the ``'`` a CSV export put before a formula character."""
    if text.startswith("'") and text[1:2] and text[1:].startswith(_TRIGGERS):
        return text[1:]
    return text


def problems_from_refusals(
    refusals: Sequence, names: dict[int, str] | None = None
) -> list[RowProblem]:
    """Preview refusals of spreadsheet rows as row problems (for the import's report)."""
    return [
        RowProblem(row=r.row if r.row is not None else 0, name=r.name, message=r.reason)
        for r in refusals
    ]
