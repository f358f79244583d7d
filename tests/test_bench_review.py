"""The review benchmark runs end to end at a tiny size (times are reported, never asserted)."""

import json

from bench import __main__ as dispatcher
from bench import review


def test_review_benchmark_writes_its_results(tmp_path, capsys):
    assert "review" in dispatcher.benchmark_names()
    code = review.main(
        ["--scales", "300", "--links", "50", "--repeat", "1", "--out", str(tmp_path)]
    )
    assert code in (0, 1)
    doc = json.loads((tmp_path / "review.json").read_text())
    assert doc["goals"] == {"build_s": 5.0, "query_ms": 100.0, "preview_s": 2.0}
    (row,) = doc["rows"]
    assert row["source"] == "synthetic" and row["queue_rows"] > 0
    assert 0 < row["preview_decisions"] <= 50
    assert row["preview_links"] + row["preview_refused"] <= 50
    assert row["build"]["n"] == 1 and row["query"]["n"] == 6
    assert "| 300 | synthetic |" in (tmp_path / "review.md").read_text()
    assert "preview" in capsys.readouterr().out
