"""The analyst's view of sync outcomes, as pandas DataFrames and matplotlib figures.

Used by ``notebooks/audit.ipynb``: runs over time, what each run changed per field and side,
match rates by kind. Every function reads the state store (and, for match rates, the records)
and returns data; the notebook only shows it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pmtools.core.records import Kind

COUNTS = (
    "linked",
    "created_in_ipm",
    "created_in_liscio",
    "ipm_fields_written",
    "liscio_fields_filled",
    "errors",
)


def runs_frame(store: Any) -> pd.DataFrame:
    """Every run, oldest first (``pmtools runs``' table), with times as timestamps."""
    from pmtools.analysis.history import runs_frame as table

    df = table(store)
    for c in ("Started", "Finished"):
        df[c] = pd.to_datetime(df[c].replace("", None), errors="coerce", utc=True)
    for c in COUNTS:
        df[c] = pd.to_numeric(df[c])
    return df


def changes_frame(store: Any, run_id: int | None = None) -> pd.DataFrame:
    """The audit trail: one row per change (field write, link, create), as in the reports."""
    from pmtools.analysis.history import changes_frame as table

    return table(store, run_id=run_id)


def writes_by_field(changes: pd.DataFrame) -> pd.DataFrame:
    """Confirmed field writes counted per run, kind, side and field."""
    w = changes[(changes["Action"] == "write") & (changes["Status"] == "confirmed")]
    if w.empty:
        return pd.DataFrame(columns=["Run", "Kind", "Side", "Field", "writes"])
    return (
        w.groupby(["Run", "Kind", "Side", "Field"], as_index=False)
        .size()
        .rename(columns={"size": "writes"})
    )


def match_rates(session: Any) -> pd.DataFrame:
    """Per kind: rows of View Details by status, and the share of Liscio records linked."""
    from pmtools.workbench.details import load_kind

    rows = []
    for kind in Kind:
        data = load_kind(session, kind)
        counts = data.table["status"].value_counts().to_dict()
        active = sum(1 for r in data.liscio if not r.archived)
        linked = counts.get("linked", 0)
        rows.append(
            {
                "kind": kind.value,
                "liscio_records": active,
                "ipm_records": len(data.ipm),
                **counts,
                "linked_share": round(linked / active, 3) if active else 0.0,
            }
        )
    return pd.DataFrame(rows).fillna(0)


RECORD_COUNTS = ("linked", "created_in_ipm", "created_in_liscio", "errors")
FIELD_COUNTS = ("ipm_fields_written", "liscio_fields_filled")


def run_labels(runs: pd.DataFrame) -> list[str]:
    """One tick label per run: its number, command and outcome ("#3 sync / done")."""
    return [
        f"#{r['Run']} {r.get('Command', '')}\n{str(r.get('Outcome', '')).replace('_', ' ')}"
        for _, r in runs.iterrows()
    ]


def plot_runs(runs: pd.DataFrame) -> Any:
    """What each run did: records (links, creates, errors) and field writes side by side.

    Two panels, bars grouped not stacked, on a logarithmic axis: a first sync at scale 20
    writes tens of thousands of fields, and a later run's handful must stay visible beside it.
    Each run is labelled with its command and outcome. Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if runs.empty:
        fig.suptitle("No runs yet")
        return fig
    labels = run_labels(runs)
    for ax, keys, unit in ((axes[0], RECORD_COUNTS, "records"), (axes[1], FIELD_COUNTS, "fields")):
        table = runs[[k for k in keys if k in runs]].astype(float)
        table.index = labels
        table.columns = [c.replace("_", " ") for c in table.columns]
        table.plot.bar(ax=ax, width=0.8, rot=0 if len(table) <= 8 else 90)
        if (table > 0).any().any():
            ax.set_yscale("log")  # zero bars are simply not drawn
        ax.set_ylabel(f"{unit} (log scale)")
        ax.set_xlabel("")
        ax.set_title(f"{unit.capitalize()} per run")
        ax.legend(fontsize="small")
    fig.suptitle("What each run did")
    fig.tight_layout()
    return fig


def plot_writes(writes: pd.DataFrame) -> Any:
    """A bar chart of field writes per field and side; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    if writes.empty:
        ax.set_title("No field writes yet")
        return fig
    table = writes.pivot_table(
        index="Field", columns="Side", values="writes", aggfunc="sum", fill_value=0
    )
    table.plot.bar(ax=ax)
    ax.set_ylabel("writes")
    ax.set_title("Field writes by field and side")
    fig.tight_layout()
    return fig
