"""The planning benchmark's pieces on a small firm: the data, both methods, the table."""

from bench.planning import match_only, pandas_link, planner_link, synthetic_firm, to_markdown
from pmtools.core.records import Kind


def test_both_methods_link_the_same_pairs_on_a_small_firm():
    liscio, ipm = synthetic_firm(300)
    assert len(ipm[Kind.CONTACTS]) > 800 and len(liscio[Kind.ACCOUNTS]) > 250
    linked = pandas_link(liscio, ipm)
    assert 0.8 * len(liscio[Kind.ACCOUNTS]) * 4 < linked
    assert planner_link(liscio, ipm) == linked == match_only(liscio, ipm)


def test_markdown_table_marks_the_goal_row_only():
    row = {
        "organizations": 100_000,
        "records_per_side": 400_000,
        "pmtools_seconds": 3.0,
        "pmtools_match_seconds": 1.0,
        "pandas_seconds": 2.0,
        "ratio": 1.5,
        "pmtools_peak_rss_mb": 600.0,
        "pandas_peak_rss_mb": 500.0,
        "pmtools_linked": 1,
        "pandas_linked": 1,
        "goal_size": True,
        "goal_met": True,
    }
    small = {**row, "organizations": 1_000, "goal_size": False, "goal_met": False}
    text = to_markdown(
        {"at": "now", "python": "3.11", "cpus": 2, "goal": "g", "rows": [small, row]}
    )
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[1].endswith("| — |") and lines[2].endswith("| met |")
