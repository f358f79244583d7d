"""The workbench actions benchmark runs end to end at a small scale (times reported, never
asserted)."""

import json

from bench import __main__ as dispatcher
from bench import workbench_actions


def test_workbench_actions_benchmark_writes_its_results(tmp_path, capsys):
    assert "workbench_actions" in dispatcher.benchmark_names()
    code = workbench_actions.main(["--scale", "1", "--actions", "2", "--out", str(tmp_path)])
    assert code in (0, 1)
    doc = json.loads((tmp_path / "workbench_actions.json").read_text())
    [row] = doc["rows"]
    assert doc["goal_ms"] == 500.0 and row["scale"] == 1
    for key in ("link_preview", "link_confirm", "not_a_match", "create_in_ipm"):
        assert row[key]["n"] == 2, key
    assert row["queue_rows"] > 0 and row["bulk_preview"]["decisions"] > 0
    assert "Link: confirm" in (tmp_path / "workbench_actions.md").read_text()
    assert "Not a match" in capsys.readouterr().out
