"""``pmtools report``, ``runs``, ``undo`` and ``explain`` end to end: the CLI against the
bundled simulator over loopback HTTP, with a real state file."""

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from pmtools.analysis.reports import ACCOUNT_COLUMNS, CHANGE_COLUMNS, ERROR_COLUMNS
from pmtools.cli import main
from pmtools.config import SANDBOX_IPM_ACCESS_KEY, SANDBOX_IPM_TOKEN, SANDBOX_LISCIO_TOKEN
from pmtools.sandbox.server import start_sandbox

ENV = (
    "PMTOOLS_STATE",
    "PMTOOLS_LISCIO_URL",
    "PMTOOLS_LISCIO_TOKEN",
    "PMTOOLS_IPM_URL",
    "PMTOOLS_IPM_TOKEN",
    "PMTOOLS_IPM_ACCESS_KEY",
)


def _card(phone=None, website=None):
    return {
        "IsPrimaryCard": True,
        "EmailAddresses": [],
        "Addresses": [],
        "WebSites": [website] if website else [],
        "PhoneNumbers": [{"Number": phone, "Label": "Work"}] if phone else [],
    }


DATASET = {
    "organizations": [
        {"FullName": "ACME LLC", "BusinessCards": [_card("555-0000")]},
        {"FullName": "=evil corp", "BusinessCards": [_card()]},
        {"FullName": "Only In IPM", "BusinessCards": [_card()]},
    ],
    "people": [],
    "accounts": [
        {"name": "Acme LLC", "phone": "555-1111", "website": "acme.com"},
        {"name": "=Evil Corp", "phone": "-5"},
        {"name": "Lonely Liscio"},
    ],
    "contacts": [],
}


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in ENV + ("PMTOOLS_IPM_RATE_LIMIT",):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(state))
    return state


@pytest.fixture
def sandbox(env, monkeypatch):
    server = start_sandbox(dataset=DATASET, rate_limit=100_000)
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", server.liscio_url)
    monkeypatch.setenv("PMTOOLS_IPM_URL", server.ipm_url)
    monkeypatch.setenv("PMTOOLS_LISCIO_TOKEN", SANDBOX_LISCIO_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", SANDBOX_IPM_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", SANDBOX_IPM_ACCESS_KEY)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "100000")  # no pacing against the simulator
    yield server
    server.stop()


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _csv(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def test_runs_report_explain_and_undo_end_to_end(sandbox, env, tmp_path, capsys):
    assert main(["sync", "--force", "--json"]) == 0
    assert _last_json(capsys)["linked"] == 2

    # runs
    assert main(["runs", "--json"]) == 0
    (run,) = _last_json(capsys)
    assert (run["id"], run["command"], run["started_by"], run["outcome"]) == (
        1,
        "sync",
        "cli",
        "done",
    )
    assert run["counts"]["linked"] == 2 and run["started_at"] and run["finished_at"]
    assert main(["runs"]) == 0
    assert "sync" in capsys.readouterr().out

    # the pairs report, as Excel and as CSV
    xlsx = tmp_path / "accounts.xlsx"
    assert main(["report", "--kind", "accounts", "--format", "xlsx", "-o", str(xlsx)]) == 0
    ws = load_workbook(xlsx).active
    assert [c.value for c in ws[1]] == list(ACCOUNT_COLUMNS)
    assert ws.freeze_panes == "A2"
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    evil = rows["=Evil Corp"]  # text cells, shown as they are (the CSV quotes them)
    assert evil[2] == "-5" and evil[4] == "=evil corp" and evil[8] == "linked"
    acme = rows["Acme LLC"]
    assert acme[6] == "555-1111" and acme[8:10] == ("linked", "automatic") and acme[10]
    linked_csv = tmp_path / "linked.csv"
    assert (
        main(["report", "--kind", "accounts", "--status", "unmatched", "-o", str(linked_csv)]) == 0
    )
    got = _csv(linked_csv)
    assert got[0] == list(ACCOUNT_COLUMNS)
    assert sorted((r[0], r[4], r[8]) for r in got[1:]) == [
        ("", "Only In IPM", "unmatched in IPM"),
        ("Lonely Liscio", "", "unmatched in Liscio"),
    ]

    # the changes report
    changes = tmp_path / "changes.csv"
    assert main(["report", "--changes", "--run", "1", "-o", str(changes)]) == 0
    got = _csv(changes)
    assert got[0] == list(CHANGE_COLUMNS)
    writes = [dict(zip(got[0], r)) for r in got[1:] if r[3] == "write"]
    phone = next(w for w in writes if w["Field"] == "phone" and w["Liscio Name"] == "Acme LLC")
    assert (phone["Side"], phone["Before"], phone["After"]) == ("ipm", "555-0000", "555-1111")
    assert phone["Rule"] and phone["Status"] == "confirmed" and phone["IPM Key"]
    errors = tmp_path / "errors.csv"
    assert main(["report", "--errors", "-o", str(errors)]) == 0
    assert _csv(errors) == [list(ERROR_COLUMNS)]

    # explain
    assert main(["explain", "accounts", "acme  llc"]) == 0
    out = capsys.readouterr().out
    assert "linked with IPM 'ACME LLC'" in out and "name key 'acme llc'" in out
    assert main(["explain", "accounts", "Lonely Liscio", "--json"]) == 0
    (finding,) = _last_json(capsys)["findings"]
    assert finding["status"] == "unmatched" and finding["side"] == "liscio"

    # undo: a dry run writes nothing; then for real (conflicts: tests/test_undo.py)
    acme_key = phone["IPM Key"]
    assert main(["undo", "1", "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0 and len(_last_json(capsys)) == 1
    assert main(["undo", "1", "--json"]) == 0
    result = _last_json(capsys)
    assert result["undoes_run"] == 1 and result["outcome"] == "done"
    assert {w["field"] for w in result["writes"] if w["ipm_key"] == acme_key} >= {"phone"}
    assert [c["op"] for c in result["links"]] == ["delink", "delink"]
    assert main(["explain", "accounts", "Acme LLC"]) == 0
    assert "delinked from IPM 'ACME LLC'" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    runs = _last_json(capsys)
    assert [(r["command"], r["undoes_run"]) for r in runs] == [("sync", None), ("undo", 1)]


def test_runs_without_a_state_file(env, capsys):
    assert main(["runs", "--json"]) == 0
    assert _last_json(capsys) == []
    assert not env.exists()


def test_changes_report_without_a_state_file_is_a_usage_error(env, tmp_path, capsys):
    assert main(["report", "--changes", "-o", str(tmp_path / "c.csv")]) == 2
    assert "no state file" in capsys.readouterr().err


def test_report_needs_a_known_format(env, tmp_path, capsys):
    assert main(["report", "--changes", "-o", str(tmp_path / "c.pdf")]) == 2
    assert main(["report", "-o", str(tmp_path / "c.csv")]) == 2  # --kind/--changes/--errors


def test_a_format_that_contradicts_the_file_name_is_refused(env, tmp_path, capsys):
    """QA: `--format csv -o r.xlsx` wrote CSV text into a file Excel cannot open."""
    assert main(["report", "--changes", "--format", "csv", "-o", str(tmp_path / "r.xlsx")]) == 2
    assert "does not fit the file name 'r.xlsx'" in capsys.readouterr().err
    assert not (tmp_path / "r.xlsx").exists()


def test_runs_lists_every_run_with_who_started_it(env, capsys):
    from pmtools.analysis import history
    from pmtools.core.plan import SyncPolicy
    from pmtools.core.records import Kind
    from pmtools.store import Store

    with Store.open(env) as store:
        first = store.start_run(
            command="sync", started_by="app", kinds=list(Kind), policy=SyncPolicy()
        )
        store.finish_run(
            first, outcome="done_with_errors", counts={"linked": 3, "errors": 1}, message=None
        )
        undo = store.start_run(
            command="undo", started_by="cli", kinds=[Kind.ACCOUNTS], undoes_run=first
        )
        store.finish_run(undo, outcome="done", counts={"ipm_fields_written": 2})
        frame = history.runs_frame(store)
    assert list(frame["Run"]) == [first, undo]
    assert list(frame["Started By"]) == ["app", "cli"]
    assert list(frame["linked"]) == [3, 0] and list(frame["Undoes Run"]) == ["", first]
    assert main(["runs", "--json"]) == 0
    runs = _last_json(capsys)
    assert [
        (r["command"], r["started_by"], r["outcome"], r["counts"].get("errors")) for r in runs
    ] == [("sync", "app", "done_with_errors", 1), ("undo", "cli", "done", None)]
    assert runs[1]["kinds"] == ["accounts"] and runs[1]["undoes_run"] == first
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "by app" in lines[0] and "linked=3 errors=1" in lines[0]
    assert f"(undoes run {first})" in lines[1]


def test_pairs_report_reuses_the_cards_of_the_last_sync_unless_fresh(
    sandbox, env, tmp_path, capsys
):
    def ipm_gets():
        return sandbox.stats.counts["ipm:GET"]

    assert main(["sync", "--force", "--json"]) == 0
    before = ipm_gets()
    assert main(["report", "--kind", "accounts", "-o", str(tmp_path / "first.csv")]) == 0
    first = ipm_gets() - before  # the organizations the sync wrote to (or did not read)
    before = ipm_gets()
    assert main(["report", "--kind", "accounts", "-o", str(tmp_path / "reused.csv")]) == 0
    reused = ipm_gets() - before
    assert reused < first  # the first report kept the cards it read
    before = ipm_gets()
    assert main(["report", "--kind", "accounts", "--fresh", "-o", str(tmp_path / "fresh.csv")]) == 0
    fresh = ipm_gets() - before
    assert fresh >= reused + 3  # one card (at least one request) per organization
    assert (
        _csv(tmp_path / "first.csv")
        == _csv(tmp_path / "reused.csv")
        == _csv(tmp_path / "fresh.csv")
    )
    acme = next(r for r in _csv(tmp_path / "fresh.csv") if r[0] == "Acme LLC")
    assert acme[6] == "555-1111"  # IPM Phone: the sync wrote it; the card read shows it


def test_pairs_report_without_a_state_file_reads_every_card(sandbox, env, tmp_path):
    assert main(["report", "--kind", "accounts", "-o", str(tmp_path / "r.csv")]) == 0
    assert not env.exists()  # a report does not make a state file
    rows = _csv(tmp_path / "r.csv")
    assert any(r[4] == "ACME LLC" and r[6] == "555-0000" for r in rows)
