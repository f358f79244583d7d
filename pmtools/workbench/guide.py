"""The onboarding specialist's guided migration, one function per step.

Used by ``notebooks/onboarding.ipynb``: check the client data is in Liscio (the duplicate
warning), dry run, review ambiguous and unmatched records, apply, export. Each step returns
data (DataFrames, a sync result) for the notebook to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pmtools.plan import SyncPolicy
from pmtools.records import Kind


def record_counts(session: Any) -> pd.DataFrame:
    """Records per kind on each side, and whether the first sync's preflight would pass.

    The first Sync Now refuses when Liscio has no records or far fewer than IPM: the client
    data must be uploaded to Liscio first, or the sync creates duplicates. ``problem`` is the
    preflight's own explanation (empty when it passes).
    """
    from pmtools.planner import preflight_problem

    policy = SyncPolicy()
    rows = []
    for kind in Kind:
        with session.lock:  # checks the tenant first
            liscio = sum(1 for r in session.liscio.iter_records(kind) if not r.archived)
            ipm = sum(1 for _ in session.ipm.iter_records(kind))
        problem = preflight_problem(liscio_counts={kind: liscio}, ipm_counts={kind: ipm},
                                    policy=SyncPolicy(kinds=(kind,)))
        rows.append({"kind": kind.value, "liscio": liscio, "ipm": ipm,
                     "liscio_share": round(liscio / ipm, 3) if ipm else None,
                     "min_share": policy.preflight_min_ratio,
                     "ok": problem is None, "problem": problem or ""})
    return pd.DataFrame(rows)


def dry_run(session: Any, *, force: bool = False) -> Any:
    """Plan a sync and write nothing; returns the sync result with its plan."""
    from pmtools.sync import run_sync

    with session.lock:  # checks the tenant first
        return run_sync(liscio=session.liscio, ipm=session.ipm, store=session.store,
                        policy=SyncPolicy(force=force), dry_run=True, started_by="onboarding")


def plan_frame(plan: Any) -> pd.DataFrame:
    """Every action of a plan as a row: op, kind, ids, side, field, before, after, rule."""
    rows = [{"op": str(a.op), "kind": str(a.kind), "liscio_id": a.liscio_id,
             "ipm_key": a.ipm_key, "side": str(a.side) if a.side else "",
             "field": a.field or "", "before": "" if a.before is None else str(a.before),
             "after": "" if a.after is None else str(a.after),
             "rule": a.rule or a.reason,
             "name": a.record.name if a.record is not None else ""}
            for a in plan.actions]
    return pd.DataFrame(rows, columns=["op", "kind", "liscio_id", "ipm_key", "side", "field",
                                       "before", "after", "rule", "name"])


def review(session: Any, kind: Kind | str, statuses: tuple[str, ...] = (
        "ambiguous", "unmatched in Liscio", "unmatched in IPM")) -> pd.DataFrame:
    """The View Details rows of ``kind`` that need a person: ambiguous and unmatched."""
    from pmtools.views import PairsView
    from pmtools.workbench.details import load_kind

    with session.lock:  # checks the tenant first
        data = load_kind(session, Kind(kind))
    view = PairsView(data.table)
    page = view.query(status=statuses, page=0, page_size=max(len(view), 1))
    return page.rows


def apply(session: Any, *, force: bool = False) -> Any:
    """Run the sync for real; returns its result (counts, errors, outcome)."""
    from pmtools.sync import run_sync

    with session.lock:  # checks the tenant first
        return run_sync(liscio=session.liscio, ipm=session.ipm, store=session.store,
                        policy=SyncPolicy(force=force), dry_run=False, started_by="onboarding")


def export(session: Any, kind: Kind | str, path: str | Path, *, status: str = "all") -> Path:
    """Write the pairs report of ``kind`` to ``path`` (CSV or XLSX by its suffix)."""
    from pmtools.reports import write_report
    from pmtools.workbench.report import pairs_report

    with session.lock:  # checks the tenant first
        df = pairs_report(session, Kind(kind), status)
    return write_report(df, path)
