"""The jobs benchmark runs end to end on three tiny firms (times are reported, never asserted)."""

import json

from bench import __main__ as dispatcher
from bench import jobs


def test_jobs_benchmark_syncs_every_firm_and_counts_against_each_bound(tmp_path, capsys):
    assert "jobs" in dispatcher.benchmark_names()
    code = jobs.main(
        [
            "--firms",
            "3",
            "--rate-limit",
            "6000",
            "--poll-seconds",
            "0.05",
            "--delay-samples",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "jobs.json").read_text())
    assert doc["firms"] == 3 and doc["backend"] == "embedded"
    first, second = doc["passes"]
    assert (first["run"], second["run"]) == ("first", "second")
    for p in (first, second):
        assert p["jobs"] == p["done"] == 3 and p["failed"] == []
        assert p["ipm_429_seen"] == 0
        # three firms' bounds: the slowest is at least a third of their sum, never more
        assert p["sum_of_bounds_seconds"] / 3 <= p["slowest_bound_seconds"]
        assert p["slowest_bound_seconds"] <= p["sum_of_bounds_seconds"]
        # every job writes its row at submit, claim and finish, and once per progress report
        assert p["registry_writes_per_job"]["mean"] > 3
    # a second sync with no edits asks IPM for less than a first one
    assert second["ipm_requests_per_job"]["max"] < first["ipm_requests_per_job"]["mean"]
    # every IPM request the workers counted reached a firm's simulator, none refused
    total = sum(p["ipm_requests_per_job"]["mean"] * p["jobs"] for p in doc["passes"])
    assert doc["simulator_ipm_requests"] == round(total)
    assert doc["simulator_ipm_429"] == 0
    assert doc["peak_running_jobs"] >= 1
    assert doc["update_delay"]["samples"] == 2
    assert "| first | 3 / 3 |" in (tmp_path / "jobs.md").read_text()
    assert "update delay" in capsys.readouterr().out
