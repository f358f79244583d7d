"""The onboarding specialist's guided migration, one function per step.

Used by ``notebooks/onboarding.ipynb``: check the client data is in Liscio (the duplicate
warning), dry run, review ambiguous and unmatched records, apply, export. Each step returns
data (DataFrames, a sync result) for the notebook to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Kind


def record_counts(session: Any) -> pd.DataFrame:
    """Records per kind on each side, and whether the first sync's preflight would pass.

    The first Sync Now refuses when IPM has records and Liscio none or far fewer: the client
    data must be uploaded to Liscio first, or the sync creates duplicates. ``problem`` is the
    preflight's own explanation (empty when it passes).
    """
    from pmtools.core.planner import preflight_problem

    policy = SyncPolicy()
    rows = []
    for kind in Kind:
        with session.lock:  # checks the tenant first
            liscio = sum(1 for r in session.liscio.iter_records(kind) if not r.archived)
            ipm = sum(1 for _ in session.ipm.iter_records(kind))
        problem = preflight_problem(
            liscio_counts={kind: liscio}, ipm_counts={kind: ipm}, policy=SyncPolicy(kinds=(kind,))
        )
        rows.append(
            {
                "kind": kind.value,
                "liscio": liscio,
                "ipm": ipm,
                "liscio_share": round(liscio / ipm, 3) if ipm else None,
                "min_share": policy.preflight_min_ratio,
                "ok": problem is None,
                "problem": problem or "",
            }
        )
    return pd.DataFrame(rows)


def dry_run(session: Any, *, force: bool = False) -> Any:
    """Plan a sync and write nothing; returns the sync result with its plan."""
    from pmtools.engine.sync import run_sync

    with session.lock:  # checks the tenant first
        return run_sync(
            liscio=session.liscio,
            ipm=session.ipm,
            store=session.store,
            policy=SyncPolicy(force=force),
            dry_run=True,
            started_by="onboarding",
        )


def plan_frame(plan: Any) -> pd.DataFrame:
    """Every action of a plan as a row: op, kind, ids, side, field, before, after, rule."""
    rows = [
        {
            "op": str(a.op),
            "kind": str(a.kind),
            "liscio_id": a.liscio_id,
            "ipm_key": a.ipm_key,
            "side": str(a.side) if a.side else "",
            "field": a.field or "",
            "before": "" if a.before is None else str(a.before),
            "after": "" if a.after is None else str(a.after),
            "rule": a.rule or a.reason,
            "name": a.record.name if a.record is not None else "",
        }
        for a in plan.actions
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "op",
            "kind",
            "liscio_id",
            "ipm_key",
            "side",
            "field",
            "before",
            "after",
            "rule",
            "name",
        ],
    )


def review(
    session: Any,
    kind: Kind | str,
    statuses: tuple[str, ...] = ("ambiguous", "unmatched in Liscio", "unmatched in IPM"),
) -> pd.DataFrame:
    """The View Details rows of ``kind`` that need a person: ambiguous and unmatched."""
    from pmtools.analysis.views import PairsView
    from pmtools.workbench.details import load_kind

    with session.lock:  # checks the tenant first
        data = load_kind(session, Kind(kind))
    view = PairsView(data.table)
    page = view.query(status=statuses, page=0, page_size=max(len(view), 1))
    return page.rows


def apply(session: Any, *, force: bool = False) -> Any:
    """Run the sync for real; returns its result (counts, errors, outcome)."""
    from pmtools.engine.sync import run_sync

    with session.lock:  # checks the tenant first
        return run_sync(
            liscio=session.liscio,
            ipm=session.ipm,
            store=session.store,
            policy=SyncPolicy(force=force),
            dry_run=False,
            started_by="onboarding",
        )


def export(session: Any, kind: Kind | str, path: str | Path, *, status: str = "all") -> Path:
    """Write the pairs report of ``kind`` to ``path`` (CSV or XLSX by its suffix)."""
    from pmtools.analysis.reports import write_report
    from pmtools.workbench.report import pairs_report

    with session.lock:  # checks the tenant first
        df = pairs_report(session, Kind(kind), status)
    return write_report(df, path)


# --- The notebook's steps that must not surprise (issue 10) ------------------------------------
# The dry run is reviewed as what the first sync *would* do (before it, View Details shows every
# record unmatched); a refused dry run is a sentence, not a traceback; the apply step writes
# only when a person set the confirming cell on purpose, and only the plan they reviewed.

OVERRIDE_HINT = (
    "In this notebook: if these counts are right, set OVERRIDE_DUPLICATE_GUARD = "
    "True in step 2's cell and run it again."
)
_LEVEL_WORDS = {
    "exact-name": "same name",
    "exact-name:middle-name-ignored": "same name but for a middle name",
}
REVIEW_COLUMNS = [
    "status",
    "side",
    "liscio_id",
    "liscio_name",
    "ipm_key",
    "ipm_name",
    "email",
    "phone",
    "why",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """A dry run as the onboarding notebook shows it: the would-be sync, or why it was refused."""

    result: Any = None  # the dry run's SyncResult; None when refused
    force: bool = False
    refused: str = ""

    @property
    def summary(self) -> str:
        """What the first sync would do, in one paragraph, or the refusal and how to override."""
        if self.result is None:
            return f"{self.refused}\n\n{OVERRIDE_HINT}"
        counts = self.result.plan.counts()
        return (
            "Dry run, nothing written. The sync would link {linked:,} pairs, create "
            "{created_in_ipm:,} records in IPM and {created_in_liscio:,} in Liscio, write "
            "{ipm_fields_written:,} IPM fields and fill {liscio_fields_filled:,} Liscio "
            "fields; {ambiguous:,} records are ambiguous and {unmatched:,} unmatched (a "
            "person decides those)."
        ).format(**counts, unmatched=counts["unmatched_liscio"] + counts["unmatched_ipm"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """What the apply step did: the sync's result, or why nothing was written."""

    result: Any = None  # the SyncResult; None when nothing was applied
    message: str = ""


def preview(session: Any, *, force: bool = False) -> Preview:
    """Dry-run the sync; a refused first sync comes back as its reason, not an exception."""
    from pmtools.engine.sync import run_sync
    from pmtools.errors import PreflightRefused

    try:
        with session.lock:
            result = run_sync(
                liscio=session.liscio,
                ipm=session.ipm,
                store=session.store,
                policy=SyncPolicy(force=force),
                dry_run=True,
                started_by="onboarding",
            )
    except PreflightRefused as exc:
        return Preview(force=force, refused=str(exc))
    return Preview(result=result, force=force)


def preview_plan(dry: Preview) -> pd.DataFrame:
    """The dry run's actions as rows (:func:`plan_frame`) with both records' names; empty when
    the dry run was refused."""
    from pmtools.core.plan import Plan
    from pmtools.core.records import Side

    if dry.result is None:
        return plan_frame(Plan(actions=(), policy=SyncPolicy()))
    frame = plan_frame(dry.result.plan)
    names = {
        (side, k.value, r.id): r.name
        for (side, k), recs in dry.result.records.items()
        for r in recs
    }
    frame["liscio_name"] = [
        names.get((Side.LISCIO, k, i), "") if i else ""
        for k, i in zip(frame["kind"], frame["liscio_id"])
    ]
    frame["ipm_name"] = [
        names.get((Side.IPM, k, i), "") if i else ""
        for k, i in zip(frame["kind"], frame["ipm_key"])
    ]
    return frame


def review_preview(dry: Preview, kind: Kind | str) -> pd.DataFrame:
    """What the dry run leaves to look at for ``kind``: would-be links and creates, ambiguous
    and unmatched records, by name, with what tells them apart (email, phone)."""
    from pmtools.core.plan import Op
    from pmtools.core.records import Side

    kind = Kind(kind)
    sides = {Side.LISCIO: "Liscio", Side.IPM: "IPM"}
    if dry.result is None:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    by_id = {
        (side, r.id): r for (side, k), recs in dry.result.records.items() if k is kind for r in recs
    }
    rows = []
    for a in dry.result.plan.actions:
        if a.kind is not kind:
            continue
        liscio = by_id.get((Side.LISCIO, a.liscio_id)) if a.liscio_id else None
        ipm = by_id.get((Side.IPM, a.ipm_key)) if a.ipm_key else None
        if a.op is Op.LINK:
            status, why = "would link", _LEVEL_WORDS.get(a.rule, a.rule)
        elif a.op in (Op.CREATE_IN_IPM, Op.CREATE_IN_LISCIO):
            status = "would create in IPM" if a.op is Op.CREATE_IN_IPM else "would create in Liscio"
            liscio = liscio or (a.record if a.record and a.record.side is Side.LISCIO else None)
            ipm = ipm or (a.record if a.record and a.record.side is Side.IPM else None)
            why = a.reason
        elif a.op is Op.AMBIGUOUS:
            other = Side.IPM if a.side is Side.LISCIO else Side.LISCIO
            names = sorted(
                _told_apart(by_id[(other, c)]) for c in a.candidates if (other, c) in by_id
            )
            status = "ambiguous"
            n = len(a.candidates)
            why = (
                f"{_LEVEL_WORDS.get(a.rule, a.rule)} as {n} {sides[other]} "
                f"record{'s' if n != 1 else ''}: " + "; ".join(names)
            )
        elif a.op is Op.UNMATCHED:
            status, why = f"unmatched in {sides[a.side]}", a.reason
        elif a.op is Op.ORPHAN:
            status, why = "orphaned", a.reason
        else:
            continue
        shown = liscio or ipm
        rows.append(
            {
                "status": status,
                "side": sides.get(a.side, "both"),
                "liscio_id": a.liscio_id or "",
                "liscio_name": liscio.name if liscio else "",
                "ipm_key": a.ipm_key or "",
                "ipm_name": ipm.name if ipm else "",
                "email": (shown.email or "") if shown else "",
                "phone": (shown.phone or "") if shown else "",
                "why": why,
            }
        )
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def _told_apart(record: Any) -> str:
    """A record's name with what tells it from its namesakes (email, else phone, else id)."""
    detail = record.email or record.phone or record.id
    return f"{record.name} ({detail})"


def apply_preview(session: Any, dry: Preview, *, confirmed: bool) -> Applied:
    """Apply the reviewed dry run, only when ``confirmed`` and only if the plan is unchanged."""
    from pmtools.engine.sync import run_sync
    from pmtools.errors import PlanChanged, PreflightRefused

    if not confirmed:
        return Applied(
            message="Nothing applied: set APPLY = True in the cell above, on "
            "purpose, once the dry run and the review are what you want."
        )
    if dry.result is None:
        return Applied(message="Nothing applied: the dry run was refused. " + dry.refused)
    try:
        with session.lock:
            result = run_sync(
                liscio=session.liscio,
                ipm=session.ipm,
                store=session.store,
                policy=SyncPolicy(force=dry.force),
                dry_run=False,
                started_by="onboarding",
                expected=dry.result.plan,
            )
    except PlanChanged:
        return Applied(
            message="Nothing applied: Liscio or IPM changed since the dry run, so "
            "its plan is no longer the one you reviewed; run step 2 again "
            "and review the new plan."
        )
    except PreflightRefused as exc:
        return Applied(message=f"Nothing applied. {exc}\n\n{OVERRIDE_HINT}")
    return Applied(
        result=result,
        message=(
            f"Applied: {result.outcome.replace('_', ' ')}; "
            + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.counts.items() if v)
        ),
    )


def export_reports(session: Any, folder: str | Path) -> list[Path]:
    """Write both kinds' pairs reports (XLSX) into ``folder``, created if needed; their paths.

    ``folder`` is the person's: not the session's temporary folder, which closing removes.
    """
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return [export(session, kind, folder / f"{kind.value}-pairs.xlsx") for kind in Kind]
