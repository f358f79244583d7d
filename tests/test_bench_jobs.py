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
    queue, stand_in = doc["queue"], doc["stand_in"]
    for passes in (queue["passes"], stand_in["passes"]):
        first, second = passes
        assert (first["run"], second["run"]) == ("first", "second")
        for p in passes:
            assert p["jobs"] == p["done"] == 3 and p["failed"] == []
            # three firms' bounds: the slowest is at least a third of their sum, never more
            assert p["sum_of_bounds_seconds"] / 3 <= p["slowest_bound_seconds"]
            assert p["slowest_bound_seconds"] <= p["sum_of_bounds_seconds"]
        # a second sync with no edits asks IPM for less than a first one
        assert second["ipm_requests_per_job"]["max"] < first["ipm_requests_per_job"]["mean"]
    # the queue's worker ran each job once (nobody died), its CPU was counted
    assert all(p["attempts_per_job"]["max"] == 1 for p in queue["passes"])
    assert queue["jobs_at_once"] == 3
    for p in stand_in["passes"]:
        assert p["ipm_429_seen"] == 0
        # every job writes its row at submit, claim and finish, and on each stage's progress
        assert p["registry_writes_per_job"]["mean"] > 3
    # every IPM request the stand-in counted reached a firm's simulator, none refused
    total = sum(p["ipm_requests_per_job"]["mean"] * p["jobs"] for p in stand_in["passes"])
    assert stand_in["simulator_ipm_requests"] == round(total)
    assert stand_in["simulator_ipm_429"] == 0
    assert stand_in["peak_running_jobs"] >= 1
    assert doc["update_delay"]["samples"] == 2
    text = (tmp_path / "jobs.md").read_text()
    assert text.count("| first | 3 / 3 |") == 2
    assert "update delay" in capsys.readouterr().out
