"""The review's spreadsheet round trip in the page: export the queue, import a filled file.

Export is :func:`pmtools.review.to_frame` of the rows the filters show, written by
:func:`pmtools.review.write_sheet` (Excel and CSV) and offered as downloads. Import reads an
uploaded file with :func:`pmtools.review.read_sheet` and :func:`pmtools.review.parse_decisions`:
any bad row is listed (row number, record, what is wrong) and nothing changes; a good file's
decisions go to the bulk preview, applied only on confirmation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as ipw

from pmtools.workbench.common import Context, button, html_table, message_html

SUFFIXES = (".xlsx", ".csv")


def uploaded(value: Any) -> tuple[str, bytes] | None:
    """The name and bytes of the first file of a FileUpload's value, or None."""
    files = list(value or ())
    if not files:
        return None
    first = files[0]
    name = str(first.get("name") if isinstance(first, dict) else getattr(first, "name", ""))
    content = first.get("content") if isinstance(first, dict) else first.content
    return name, bytes(content)


class SheetBox(ipw.VBox):
    """Download the queue as Excel/CSV; upload a filled file, see its problems or its effect."""

    def __init__(self, ctx: Context, panel: Any) -> None:
        self.ctx = ctx
        self.panel = panel
        self.export_button = button("Export the rows shown", "pm-review-export", icon="download")
        self.links = ipw.HTML()
        self.links.add_class("pm-review-downloads")
        self.files: dict[str, bytes] = {}
        self.upload = ipw.FileUpload(
            accept=",".join(SUFFIXES), multiple=False, description="Import a filled file"
        )
        self.upload.add_class("pm-review-upload")
        self.problems = ipw.HTML()
        self.problems.add_class("pm-review-import")
        self.export_button.on_click(lambda _b: self.export())
        self.upload.observe(lambda _c: self._uploaded(), "value")
        super().__init__(
            [
                ipw.HTML(
                    "<b>Spreadsheet</b>: export the queue, fill the Decision column (link, "
                    "not-a-match, create or skip; Link To for another record), import it."
                ),
                ipw.HBox([self.export_button, self.upload]),
                self.links,
                self.problems,
            ]
        )
        self.add_class("pm-review-sheet")

    def export(self) -> None:
        """Offer the rows the filters show as Excel and CSV downloads."""
        self.ctx.guard("exporting the queue", self._export, self.problems, exclusive=False)

    def _export(self) -> None:
        from pmtools.review import to_frame, write_sheet
        from pmtools.workbench.report import download_link

        rows = self.panel.queue.select(**self.panel.filters())
        frame = to_frame(rows)
        with tempfile.TemporaryDirectory(prefix="pmtools-review-") as folder:
            for suffix in SUFFIXES:
                path = write_sheet(frame, Path(folder) / f"review{suffix}")
                self.files[suffix[1:]] = path.read_bytes()
        self.links.value = (
            f"<p>{len(frame):,} rows to decide.</p>"
            + download_link(
                self.files["xlsx"],
                "pmtools-review.xlsx",
                "xlsx",
                "Download Excel",
                "pm-review-download-xlsx",
            )
            + download_link(
                self.files["csv"],
                "pmtools-review.csv",
                "csv",
                "Download CSV",
                "pm-review-download-csv",
            )
        )
        self.ctx.log.add(f"Review exported: {len(frame)} rows")

    def _uploaded(self) -> None:
        got = uploaded(self.upload.value)
        if got is None:
            return
        self.ctx.guard(
            "importing the file", lambda: self.import_bytes(*got), self.problems, exclusive=False
        )

    def import_bytes(self, name: str, data: bytes) -> Any:
        """Validate a filled file; list its bad rows, or preview its decisions in bulk."""
        from pmtools.review import parse_decisions, read_sheet

        suffix = Path(name).suffix.lower()
        self.problems.value = ""
        if suffix not in SUFFIXES:
            self.problems.value = message_html(
                f"{name} is not an Excel (.xlsx) or CSV file: nothing was changed.", "error"
            )
            return None
        with tempfile.TemporaryDirectory(prefix="pmtools-review-") as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                frame = read_sheet(path)
            except Exception as exc:  # ConfigError: not a review file; said as it is
                self.problems.value = message_html(
                    f"{name} could not be read: {exc} Nothing was changed.", "error"
                )
                return None
        decisions, problems = parse_decisions(frame)
        if problems:
            self.problems.value = message_html(
                f"{name}: {len(problems)} rows cannot be used, so nothing was "
                "changed. Correct them and import the file again.",
                "error",
            ) + html_table(
                ["Row", "Record", "What is wrong"],
                [[p.row, p.name, p.message] for p in problems],
                css="pm-import-problems",
            )
            return problems
        if not decisions:
            self.problems.value = message_html(
                f"{name} holds no decision (the Decision column is empty): nothing to do.",
                "warning",
            )
            return None
        shown = self.panel.bulk.show(decisions, f"Import of {name}")
        if shown.refused:  # as `pmtools review import`: a file with a bad row changes nothing
            self.panel.bulk.withhold()
            self.problems.value = message_html(
                f"{name}: {len(shown.refused)} rows cannot be applied, so nothing "
                "was changed. Correct them and import the file again.",
                "error",
            ) + html_table(
                ["Row", "Record", "What is wrong"],
                [[r.row, r.name, r.reason] for r in shown.refused],
                css="pm-import-problems",
            )
            return shown
        self.problems.value = message_html(
            f"{name}: {len(decisions)} decisions read; their effect is shown above, to apply "
            "on confirmation."
        )
        return shown
