"""The audit trail as tables: runs, the changes each made, record-level errors.

Shared by ``pmtools runs``/``pmtools report --changes|--errors`` and the audit notebook. Reads go
through the state store's query methods (:meth:`Store.runs`, :meth:`Store.changes`,
:meth:`Store.errors`); nothing here writes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pmtools.analysis.reports import CHANGE_COLUMNS, ERROR_COLUMNS, format_value
from pmtools.core.plan import COUNT_KEYS, change_total
from pmtools.core.records import Kind
from pmtools.store import Store

RUN_COLUMNS = (
    "Run",
    "Command",
    "Started By",
    "Started",
    "Finished",
    "Kinds",
    "Outcome",
    "Undoes Run",
    "Message",
) + COUNT_KEYS
_OP_WORDS = {
    "write": "write",
    "link": "link",
    "delink": "delink",
    "create": "create",
    "orphan": "orphan",
}


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every run, oldest first, as JSON-ready dicts (what ``pmtools runs --json`` prints)."""
    out = []
    for r in store.runs():
        out.append(
            {
                "id": r["id"],
                "command": r["command"],
                "started_by": r["started_by"],
                "started_at": r["started_at"],
                "finished_at": r["finished_at"],
                "kinds": r["kinds"],
                "outcome": r["outcome"],
                "message": r["message"],
                "undoes_run": r["undoes_run"],
                "counts": r["counts"],
                "changes": change_total(r["counts"] or {}),
            }
        )
    return out


def runs_frame(store: Store) -> pd.DataFrame:
    """Every run as a table: time, command, who started it, kinds, outcome and counts."""
    rows = []
    for r in list_runs(store):
        counts = r["counts"] or {}
        rows.append(
            [
                r["id"],
                r["command"],
                r["started_by"],
                r["started_at"],
                r["finished_at"] or "",
                ",".join(r["kinds"]),
                r["outcome"],
                r["undoes_run"] if r["undoes_run"] is not None else "",
                r["message"] or "",
            ]
            + [counts.get(k, 0) for k in COUNT_KEYS]
        )
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS), dtype=object)


def changes_frame(
    store: Store, *, run_id: int | None = None, include_intents: bool = True
) -> pd.DataFrame:
    """Every change (field writes, links, delinks, creates, orphanings) of one run or all.

    Columns: :data:`pmtools.analysis.reports.CHANGE_COLUMNS`. ``Status`` is confirmed, failed,
    abandoned (never sent: the run was cut off first) or intent (a run still going).
    """
    rows = []
    runs = {r["id"]: r for r in store.runs()}
    for c in store.changes(run_id=run_id):
        if not include_intents and c["status"] == "intent":
            continue
        rows.append(
            [
                c["run_id"],
                c["updated_at"],
                c["kind"],
                _OP_WORDS.get(c["op"], c["op"]),
                c["liscio_name"] or "",
                c["liscio_id"] or "",
                c["ipm_name"] or "",
                c["ipm_key"] or "",
                c["side"] or "",
                c["field"] or "",
                format_value(c["before"]),
                format_value(c["after"]),
                c["rule"],
                c["status"],
                runs.get(c["run_id"], {}).get("started_by", ""),
            ]
        )
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS), dtype=object)


def errors_frame(store: Store, *, run_id: int | None = None) -> pd.DataFrame:
    """Every record-level failure, with its message (columns: ERROR_COLUMNS)."""
    rows = []
    for e in store.errors(run_id=run_id):
        side = e["side"] or ""
        record_id = (
            (e["ipm_key"] if side == "ipm" else e["liscio_id"])
            or e["liscio_id"]
            or e["ipm_key"]
            or ""
        )
        rows.append(
            [
                e["run_id"],
                e["at"],
                e["kind"],
                side,
                record_id,
                e["name"] or "",
                e["op"],
                e["field"] or "",
                e["message"],
            ]
        )
    return pd.DataFrame(rows, columns=list(ERROR_COLUMNS), dtype=object)


def last_sync_times(store: Store) -> dict[Kind, str]:
    """When the last completed sync of each kind finished (for the reports' Last Synced)."""
    out: dict[Kind, str] = {}
    for r in store.runs():
        if r["command"] != "sync" or r["outcome"] not in ("done", "done_with_errors"):
            continue
        for k in r["kinds"]:
            if r["finished_at"]:
                out[Kind(k)] = max(out.get(Kind(k), ""), r["finished_at"])
    return out


def render_runs(store: Store) -> str:
    """The runs as aligned plain-text lines (``pmtools runs``)."""
    lines = []
    for r in list_runs(store):
        counts = {k: v for k, v in (r["counts"] or {}).items() if v}
        undo = f" (undoes run {r['undoes_run']})" if r["undoes_run"] is not None else ""
        lines.append(
            f"{r['id']:>5}  {r['started_at']}  {r['command']:<17} by {r['started_by']:<4} "
            f"{','.join(r['kinds']):<18} {r['outcome']:<16} changes={r['changes']} "
            + " ".join(f"{k}={v}" for k, v in counts.items())
            + undo
            + (f"  — {r['message']}" if r["message"] else "")
        )
    return "\n".join(lines) if lines else "no runs yet"
