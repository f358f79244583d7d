"""The onboarding and audit notebooks' steps (issue 10): in-process against the simulator.

The onboarding notebook reviews the dry run (not View Details, which before the first sync
shows every record unmatched), turns a refused first sync into its reason and the override,
applies only when a person set ``APPLY = True`` and only the plan reviewed, and exports where
the person can find the files after the session is closed. The audit notebook's run chart keeps
small later runs visible next to a large first sync.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from pmtools.config import Settings
from pmtools.core.records import Kind, Record, Side
from pmtools.workbench import audit, guide, open_session

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(tmp_path):
    """A session on the demo firm, before any sync."""
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    yield session
    session.close()


def _snapshot(session) -> tuple[int, int]:
    """What the state file holds: runs and links."""
    return len(session.store.runs()), len(session.store.links())


def test_a_refused_first_sync_is_its_reason_and_the_override_not_a_traceback(tmp_path):
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"), dataset="empty")
    try:
        session.ipm.create_record(
            Kind.ACCOUNTS,
            Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="", name="Only In IPM Ltd"),
            external_id="onb-only-ipm",
        )
        dry = guide.preview(session)
        assert dry.result is None
        assert "Refusing the first sync" in dry.summary
        assert "OVERRIDE_DUPLICATE_GUARD = True" in dry.summary
        assert guide.preview_plan(dry).empty
        assert guide.review_preview(dry, "accounts").empty
        applied = guide.apply_preview(session, dry, confirmed=True)
        assert applied.result is None and applied.message.startswith("Nothing applied")
        assert "refused" in applied.message
        assert _snapshot(session) == (0, 0)
        overridden = guide.preview(session, force=True)
        assert overridden.result is not None and overridden.force
        assert "Dry run, nothing written" in overridden.summary
    finally:
        session.close()


def test_the_review_shows_the_dry_runs_would_be_links_ambiguous_and_unmatched(demo):
    dry = guide.preview(demo)
    counts = dry.result.plan.counts()
    frames = {k: guide.review_preview(dry, k) for k in ("accounts", "contacts")}
    statuses = pd.concat(frames.values()).status.value_counts().to_dict()
    assert statuses["would link"] == counts["linked"] > 0
    assert statuses["ambiguous"] == counts["ambiguous"] > 0
    assert statuses.get("unmatched in Liscio", 0) == counts["unmatched_liscio"]
    assert statuses.get("unmatched in IPM", 0) == counts["unmatched_ipm"]
    links = frames["contacts"][frames["contacts"].status == "would link"]
    assert (links.liscio_name != "").all() and (links.ipm_name != "").all()
    assert set(links.why) <= {"same name", "same name but for a middle name"}
    ambiguous = frames["contacts"][frames["contacts"].status == "ambiguous"]
    smith = ambiguous[ambiguous.liscio_name == "John Smith"].iloc[0]
    # What tells the namesakes apart is shown: each candidate's email.
    assert "John Smith (john.smith@gmail.com)" in smith.why
    assert "John Smith (john.smith@outlook.com)" in smith.why
    plan = guide.preview_plan(dry)
    link_rows = plan[plan.op == "link"]
    assert (link_rows.liscio_name != "").all() and (link_rows.ipm_name != "").all()
    assert _snapshot(demo) == (0, 0), "a dry run and its review write nothing"


def test_apply_waits_for_the_confirming_cell_then_applies_the_reviewed_plan(demo):
    dry = guide.preview(demo)
    held = guide.apply_preview(demo, dry, confirmed=False)
    assert held.result is None and "APPLY = True" in held.message
    assert _snapshot(demo) == (0, 0)
    applied = guide.apply_preview(demo, dry, confirmed=True)
    assert applied.result.outcome == "done"
    assert applied.result.counts["linked"] == dry.result.plan.counts()["linked"]
    assert len(demo.store.links()) == dry.result.plan.counts()["linked"]
    assert applied.message.startswith("Applied: done")


def test_apply_refuses_a_plan_that_changed_since_the_review(demo):
    dry = guide.preview(demo)
    unmatched = guide.review_preview(dry, "accounts")
    ipm_only = unmatched[unmatched.status == "unmatched in IPM"].iloc[0]
    demo.liscio.create_record(
        Kind.ACCOUNTS,
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="", name=ipm_only.ipm_name),
        external_id="onb-new-match",
    )
    applied = guide.apply_preview(demo, dry, confirmed=True)
    assert applied.result is None and "changed since the dry run" in applied.message
    assert len(demo.store.links()) == 0


def test_exports_outlive_the_session(tmp_path):
    session = open_session(Settings(), dataset="empty")  # state in a temporary folder
    try:
        files = guide.export_reports(session, tmp_path / "exports")
    finally:
        session.close()
    assert [f.name for f in files] == ["accounts-pairs.xlsx", "contacts-pairs.xlsx"]
    assert all(f.is_file() and f.stat().st_size > 0 for f in files)


def test_run_all_of_the_onboarding_notebook_applies_nothing(tmp_path, jupyter_dirs, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    for name, value in jupyter_dirs.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("PMTOOLS_")]:
        monkeypatch.delenv(name)
    nb = nbformat.read(ROOT / "notebooks" / "onboarding.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = {
        c.id: "".join(o.get("text", "") for o in c.outputs)
        for c in nb.cells
        if c.cell_type == "code"
    }
    apply_cell = next(c for c in nb.cells if "apply_preview" in c.source)
    assert out[apply_cell.id].startswith("Nothing applied: set APPLY = True")
    assert any(c.source.strip() == "APPLY = False" for c in nb.cells), (
        "applying needs a cell a person sets on purpose"
    )
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "accounts-pairs.xlsx",
        "contacts-pairs.xlsx",
    ], "the exports outlive the last cell"


def _runs(*rows: dict) -> pd.DataFrame:
    base = {k: 0 for k in audit.COUNTS}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_run_chart_keeps_small_runs_visible_and_labels_command_and_outcome():
    runs = _runs(
        {
            "Run": 1,
            "Command": "sync",
            "Outcome": "done",
            "linked": 6000,
            "ipm_fields_written": 40000,
            "liscio_fields_filled": 30000,
        },
        {
            "Run": 2,
            "Command": "sync",
            "Outcome": "done_with_errors",
            "ipm_fields_written": 3,
            "errors": 1,
        },
        {"Run": 3, "Command": "undo", "Outcome": "done", "ipm_fields_written": 2},
    )
    fig = audit.plot_runs(runs)
    records, fields = fig.axes[:2]
    labels = [t.get_text() for t in fields.get_xticklabels()]
    assert labels == ["#1 sync\ndone", "#2 sync\ndone with errors", "#3 undo\ndone"]
    assert records.get_yscale() == fields.get_yscale() == "log"
    fig.canvas.draw()
    axis_px = fields.get_window_extent().height
    later = [p for p in fields.patches if 0 < p.get_height() < 10]
    assert len(later) == 2
    for bar in later:  # a later run's few writes stay visible beside the first sync's 40,000
        assert bar.get_window_extent().height > axis_px * 0.05


def test_the_run_chart_of_no_runs_says_so():
    fig = audit.plot_runs(pd.DataFrame(columns=["Run", "Command", "Outcome", *audit.COUNTS]))
    assert fig._suptitle.get_text() == "No runs yet"
