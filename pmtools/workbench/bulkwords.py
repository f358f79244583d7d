"""The review's bulk step in words: preview rows, refusals, a run's counts, a job's end.

Split from :mod:`pmtools.workbench.bulk` (the box itself) to keep each module short.
"""

from __future__ import annotations

from typing import Any

from pmtools.core.records import Side
from pmtools.workbench.common import html_table, message_html

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


def not_started(exc: BaseException) -> str:
    """Why a review job did not start, as one sentence (another job holds the firm)."""
    from pmtools.workbench.common import readable

    text = readable(exc)
    return f"Not applied: {text}; nothing was written."


def job_words(job: Any) -> str:
    """A review job's end as the page shows it (the registry's words, any page or reload)."""
    outcome = {
        "done": "Done",
        "done_with_errors": "Done with errors",
        "cancelled": "Cancelled",
    }.get(job.outcome or "", "")
    if job.state in ("done", "cancelled") and job.run_id:
        counts = dict(job.summary.get("counts") or {})
        text = (
            f"{outcome or 'Ended'} (run {job.run_id}, undoable in Runs and Undo): "
            f"{result_words(counts)}."
        )
        late = [[t] for t in job.summary.get("left_alone") or []]
        errors = [[e] for e in job.summary.get("error_messages") or []]
        return (
            message_html(text, "success" if job.outcome == "done" else "warning")
            + ("<b>Left alone</b>" + html_table(["Why"], late, css="pm-bulk-late") if late else "")
            + ("<b>Record errors</b>" + html_table(["Error"], errors, css="pm-bulk-errors")
               if errors else "")
        )  # fmt: skip
    what = {"refused": "Not applied", "failed": "Stopped", "cancelled": "Cancelled"}
    text = job.message or job.state
    return message_html(f"{what.get(job.state, 'Ended')}: {text}", "warning")
