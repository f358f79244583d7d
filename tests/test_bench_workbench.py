"""The workbench benchmark runs end to end at a tiny size (times are reported, never asserted)."""

import json

from bench import __main__ as dispatcher
from bench import workbench
from pmtools.core.names import name_key
from pmtools.core.records import Kind


def test_dispatcher_finds_the_workbench_benchmark():
    assert "workbench" in dispatcher.benchmark_names()
    assert dispatcher.main(["no-such-benchmark"]) == 2


def test_synthetic_firm_is_deterministic_and_has_the_variants():
    for kind in Kind:
        liscio, ipm = workbench.synthetic_firm(kind, 400)
        assert (liscio, ipm) == workbench.synthetic_firm(kind, 400)
        assert len(ipm) == 400 and 300 < len(liscio) < 430
        ipm_keys = {name_key(r) for r in ipm}
        shared = sum(name_key(r) in ipm_keys for r in liscio)
        assert 0.7 * len(liscio) < shared < len(liscio)  # most match, some do not


def test_workbench_benchmark_writes_its_results(tmp_path, capsys):
    code = workbench.main(["--scales", "300", "--queries", "10", "--out", str(tmp_path)])
    assert code in (0, 1)
    doc = json.loads((tmp_path / "workbench.json").read_text())
    assert doc["goals_ms"] == {"search_update": 100.0, "rank": 50.0}
    assert [r["kind"] for r in doc["rows"]] == ["accounts", "contacts"]
    for row in doc["rows"]:
        assert row["ipm"] == 300 and row["table_rows"] >= 300 and row["source"] == "synthetic"
        assert row["rank"]["n"] > 0 and row["keystroke"]["n"] > 0
        assert row["rank_ratio"] == round(row["rank"]["p95_ms"] / 50.0, 3)
    assert "| 300 | synthetic | contacts |" in (tmp_path / "workbench.md").read_text()
    assert "rank p50 / p95" in capsys.readouterr().out


def test_demo_dataset_is_read_from_the_simulator_over_http():
    records = workbench.firms("demo1")
    liscio, ipm = records[Kind.CONTACTS]
    assert len(ipm) >= 900 and 0.7 * len(ipm) < len(liscio)
    row = workbench.measure_kind(Kind.CONTACTS, liscio, ipm, queries=5)
    assert row["ambiguous_rows"] > 0  # the demo firm repeats some names on purpose
    assert row["linked"] > 0.5 * len(ipm)
