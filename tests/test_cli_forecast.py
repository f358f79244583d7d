"""``pmtools sync --forecast`` through ``pmtools.cli.main`` against the simulator over loopback."""

from __future__ import annotations

import json

import pytest
from fakes import point_at

from pmtools.cli import main
from pmtools.store import Store

HOSTILE = "Evil\x1b[2J\u202eCorp"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    from pmtools.sandbox.dataset import demo_dataset
    from pmtools.sandbox.server import start_sandbox

    monkeypatch.setenv("PMTOOLS_STATE", str(tmp_path / "state.sqlite"))
    server = start_sandbox(dataset=demo_dataset(organizations=12, people=20), rate_limit=0)
    try:
        point_at(monkeypatch, server)
        yield server
    finally:
        server.stop()


def test_forecast_prints_counts_requests_and_time_and_writes_nothing(sandbox, tmp_path, capsys):
    data, before = sandbox.state.canonical(), sandbox.stats.snapshot()
    assert main(["sync", "--forecast", "--json"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0] == "Forecast of the first Sync Now (nothing was written):"
    assert any(line.startswith("accounts: ") and "pairs will link" in line for line in lines)
    assert any(line.startswith("contacts: ") for line in lines)
    assert any(line.startswith("IPM requests: ") for line in lines)
    assert "Liscio publishes no rate limit" in out
    # the fixture sets no rate limit: the time is told at Karbon's
    assert "at Karbon's 120 requests a minute" in out
    assert any(line.startswith(("Review before syncing", "Nothing needs review")) for line in lines)
    got = json.loads(lines[-1])
    assert got["first_sync"] is True and got["rate_limit"] == 0
    sent = sandbox.stats.snapshot()
    assert got["forecast_requests"] == {
        "ipm": sent["ipm"] - before.get("ipm", 0),
        "liscio": sent["liscio"] - before.get("liscio", 0),
    }
    assert sandbox.state.canonical() == data  # nothing written to either service
    with Store.open(tmp_path / "state.sqlite") as store:
        assert store.runs() == [] and store.baseline() is None  # nor a run recorded


def test_the_time_is_told_at_the_firms_rate_limit(sandbox, monkeypatch, capsys):
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "6000")  # fast for the test; told as set
    assert main(["sync", "--forecast"]) == 0
    assert "at 6,000 IPM requests a minute" in capsys.readouterr().out


def test_forecast_exits_0_when_the_duplicate_guard_would_refuse(sandbox, capsys):
    for account in sandbox.state.all("accounts")[2:]:  # Liscio now holds far fewer accounts
        sandbox.state.put("accounts", {**account, "archived": True})
    assert main(["sync", "--forecast"]) == 0
    out = capsys.readouterr().out
    assert "The duplicate guard will refuse this first sync unless forced" in out
    assert main(["sync"]) == 3  # the sync itself still refuses


def test_forecast_and_dry_run_together_are_a_usage_error(sandbox, capsys):
    assert main(["sync", "--forecast", "--dry-run"]) == 2
    assert "choose one" in capsys.readouterr().err


def test_record_text_in_the_forecast_is_escaped_for_the_terminal(sandbox, capsys):
    account = sandbox.state.all("accounts")[0]
    sandbox.state.put("accounts", {**account, "name": HOSTILE, "phone": 12345})  # unreadable
    assert main(["sync", "--forecast"]) == 0
    out = capsys.readouterr().out
    assert "cannot be read" in out and "record errors" in out
    assert "\x1b" not in out and "\u202e" not in out
