"""What the Sync Now panel shows: the plan of a preview, what changed, counts in words.

Split from :mod:`pmtools.workbench.syncing` (the panel's states and jobs) so that each stays
small; functions of values only, no widgets.
"""

from __future__ import annotations

from typing import Any

from pmtools.core.plan import COUNT_KEYS, Op, Plan, SyncPolicy
from pmtools.workbench.common import html_table

STAGES = (
    ("organizations", "Organizations"),
    ("people", "People"),
    ("linking", "Linking and field sync"),
)
PREVIEW_LIMIT = 500  # plan rows shown in the page; the rest are counted
COUNT_LABELS = {
    "linked": "Pairs linked",
    "created_in_ipm": "Created in IPM",
    "created_in_liscio": "Created in Liscio",
    "ipm_fields_written": "IPM fields updated from Liscio",
    "liscio_fields_filled": "Empty Liscio fields filled from IPM",
    "unmatched_liscio": "Liscio records with no IPM match",
    "unmatched_ipm": "IPM records with no Liscio match",
    "ambiguous": "Ambiguous (a name shared by several records)",
    "orphaned": "Orphaned (a linked record archived or gone)",
    "errors": "Errors",
}
PREFLIGHT_HEADLINE = (
    "Nothing was synced: Liscio holds far fewer records than IPM, so the client data may not "
    "be in Liscio yet, and a first sync now would create duplicates. Upload the client data to "
    "Liscio first. If the counts are right, tick the box below and click Sync anyway."
)
OUTCOME_WORDS = {
    "done": "finished",
    "done_with_errors": "finished with errors",
    "cancelled": "cancelled",
    "failed": "failed",
    "dry_run": "planned",
    "stopped": "stopped before the end (a service failed; run it again)",
    "refused": "refused (nothing written)",
}


def plan_rows(plan: Any, names: dict[tuple[str, str], str] | None = None) -> list[list[str]]:
    """The writing actions of a plan as rows: what, kind, Liscio, IPM, field, before → after."""
    names = names or {}
    rows = []
    for a in plan.changes():  # no "mark synced" rows: one count with progress and summary
        lisc = a.liscio_id or ""
        ipm = a.ipm_key or ""
        if a.record is not None:
            label = a.record.name
            lisc = lisc or (label if a.op is Op.CREATE_IN_IPM else "")
            ipm = ipm or (label if a.op is Op.CREATE_IN_LISCIO else "")
        lisc = names.get(("liscio", lisc), lisc)
        ipm = names.get(("ipm", ipm), ipm)
        where = f" ({a.side})" if a.side is not None else ""
        rows.append(
            [
                str(a.op).replace("_", " "),
                str(a.kind),
                lisc,
                ipm,
                (a.field or "") + where,
                _text(a.before),
                _text(a.after),
                a.rule or a.reason,
            ]
        )
    return rows


def changes_html(shown: Any, plan: Any, names: dict[tuple[str, str], str]) -> str:
    """What differs between the plan shown and the new one: writes added and dropped."""
    if shown is None:
        return ""
    before, after = set(shown.changes()), set(plan.changes())
    added = [a for a in plan.changes() if a not in before]
    dropped = [a for a in shown.changes() if a not in after]
    rows = [["new", *row] for row in plan_rows(_only(added), names)] + [
        ["no longer planned", *row] for row in plan_rows(_only(dropped), names)
    ]
    if not rows:
        return ""
    return (
        f"<b>What changed: {len(added)} writes are new, {len(dropped)} are no longer "
        "planned</b>"
        + '<div style="max-height:16em;overflow:auto">'
        + html_table(
            [
                "",
                "action",
                "kind",
                "Liscio",
                "IPM",
                "field (side written)",
                "before",
                "after",
                "rule",
            ],
            rows[:PREVIEW_LIMIT],
            css="pm-plan-changes",
        )
        + "</div>"
    )


def _only(actions: list[Any]) -> Plan:
    """A plan holding just ``actions`` (for :func:`plan_rows`)."""
    return Plan(actions=tuple(actions), policy=SyncPolicy())


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# The counts that say something was written (the others count what is left to decide).
WRITE_KEYS = (
    "linked",
    "created_in_ipm",
    "created_in_liscio",
    "ipm_fields_written",
    "liscio_fields_filled",
)


def changed_words(counts: dict[str, int]) -> str:
    """What a run wrote, in words ("Pairs linked 12, …"), or that it wrote nothing."""
    parts = [f"{COUNT_LABELS[k]} {counts[k]}" for k in WRITE_KEYS if counts.get(k)]
    errors = counts.get("errors")
    if errors:
        parts.append(f"{COUNT_LABELS['errors']} {errors}")
    return (", ".join(parts) if parts else "nothing was written") + "."


def counts_html(counts: dict[str, int]) -> str:
    """The run's counts as a small escaped table."""
    keys = [k for k in COUNT_KEYS if k in counts] + [k for k in counts if k not in COUNT_KEYS]
    return html_table(
        ["What", "Count"],
        [[COUNT_LABELS.get(k, k.replace("_", " ")), counts[k]] for k in keys],
        css="pm-counts",
    )


PLAN_HEADERS = [
    "action",
    "kind",
    "Liscio",
    "IPM",
    "field (side written)",
    "before",
    "after",
    "rule",
]


def preview_html(plan: Any, counts: dict[str, int], names: dict[tuple[str, str], str]) -> str:
    """A dry run's plan: its counts and every write with its value before and after."""
    rows = plan_rows(plan, names)
    shown = rows[:PREVIEW_LIMIT]
    more = (
        (
            f"<p>… and {len(rows) - len(shown)} more, not shown here: Apply this plan "
            "applies every one of them.</p>"
        )
        if len(rows) > len(shown)
        else ""
    )
    return (
        f"<b>The plan: {len(rows)} writes. Nothing has been written yet.</b>"
        + counts_html(counts)
        + "<b>Every write, with its value before and after</b>"
        '<div style="max-height:24em;overflow:auto">'
        + html_table(PLAN_HEADERS, shown, css="pm-plan")
        + more
        + "</div>"
    )


def errors_html(errors: list[str]) -> str:
    """A run's record errors as a table (the first hundred), or "" without any."""
    if not errors:
        return ""
    return "<b>Record errors</b>" + html_table(
        ["error"], [[str(e)] for e in errors[:100]], css="pm-sync-errors"
    )
