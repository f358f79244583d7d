"""The sync CLI through ``pmtools.cli.main`` with real state files; sync end to end against
the bundled simulator over loopback HTTP."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import point_at

from pmtools import config
from pmtools.cli import main
from pmtools.core.plan import COUNT_KEYS, DecisionKind, LinkHow
from pmtools.core.records import Kind
from pmtools.store import Store

ROOT = Path(__file__).resolve().parent.parent
A, C = Kind.ACCOUNTS, Kind.CONTACTS


@pytest.fixture
def state(tmp_path, monkeypatch):
    for var in (
        "PMTOOLS_STATE",
        "PMTOOLS_LISCIO_URL",
        "PMTOOLS_LISCIO_TOKEN",
        "PMTOOLS_IPM_URL",
        "PMTOOLS_IPM_TOKEN",
        "PMTOOLS_IPM_ACCESS_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(path))
    return path


def test_status_of_a_new_state_file(state, capsys):
    assert main(["status", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["connected"] is False and info["kinds"]["accounts"]["linked"] == 0
    assert main(["status"]) == 0
    assert "first Sync Now: not yet" in capsys.readouterr().out


def test_disconnect_needs_yes(state, capsys):
    with Store.open(state) as store:
        store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    assert main(["disconnect"]) == 2
    assert "--yes" in capsys.readouterr().err
    with Store.open(state) as store:
        assert len(store.links()) == 1
    assert main(["disconnect", "--yes"]) == 0
    with Store.open(state) as store:
        assert store.links() == [] and store.runs()[-1]["command"] == "disconnect"


def test_delink_and_not_a_match(state, capsys):
    with Store.open(state) as store:
        store.add_link(C, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    assert main(["delink", "contacts", "L1"]) == 0
    assert main(["delink", "contacts", "L1"]) == 2  # not linked any more
    assert "not linked" in capsys.readouterr().err
    assert main(["not-a-match", "accounts", "L2", "K2"]) == 0
    with Store.open(state) as store:
        assert store.links() == []
        assert {(d.liscio_id, d.decision) for d in store.decisions()} == {
            ("L1", DecisionKind.DELINKED),
            ("L2", DecisionKind.NOT_A_MATCH),
        }
        assert [r["started_by"] for r in store.runs()] == ["cli", "cli"]


def test_bad_usage_and_missing_configuration_exit_2(state, capsys):
    assert main(["delink", "widgets", "L1"]) == 2
    assert main(["sync"]) == 2
    assert "PMTOOLS_LISCIO_URL" in capsys.readouterr().err


def test_state_file_that_is_not_sqlite_fails_cleanly(state, capsys):
    state.write_text("hello")
    assert main(["status"]) == 5
    assert "not a pmtools state file" in capsys.readouterr().err
    assert state.read_text() == "hello"


def test_second_process_gets_exit_4_while_a_sync_holds_the_lock(state):
    env = {
        "PMTOOLS_STATE": str(state),
        "PMTOOLS_LISCIO_URL": "http://127.0.0.1:9/liscio",
        "PMTOOLS_LISCIO_TOKEN": "t",
        "PMTOOLS_IPM_URL": "http://127.0.0.1:9/karbon",
        "PMTOOLS_IPM_TOKEN": "t",
        "PMTOOLS_IPM_ACCESS_KEY": "k",
        "PATH": "/usr/bin:/bin",
    }
    code = "import sys; from pmtools.cli import main; sys.exit(main(sys.argv[1:]))"
    with Store.open(state) as store, store.lock():
        for argv in (["sync"], ["delink", "accounts", "L1"]):
            out = subprocess.run(
                [sys.executable, "-c", code, *argv],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert out.returncode == 4, out.stderr
            assert "another sync is running" in out.stderr


# -- end to end against the simulator --------------------------------------------------------
@pytest.fixture
def sandbox(state, monkeypatch):
    from pmtools.sandbox.dataset import demo_dataset
    from pmtools.sandbox.server import start_sandbox

    server = start_sandbox(dataset=demo_dataset(organizations=12, people=20), rate_limit=0)
    try:
        point_at(monkeypatch, server)
        yield server
    finally:
        server.stop()


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_sync_end_to_end(sandbox, state, capsys):
    assert main(["sync", "--dry-run", "--json"]) in (0, 3)
    out = capsys.readouterr().out
    with Store.open(state) as store:
        assert store.runs() == [] and store.baseline() is None  # a dry run writes nothing
    assert set(_last_json(out)) == set(COUNT_KEYS)
    assert "link      accounts: Liscio " in out and " -> " in out  # the plan, readable

    code = main(["sync", "--force", "--json"])
    counts = _last_json(capsys.readouterr().out)
    assert code in (0, 1) and list(counts) == list(COUNT_KEYS)
    assert counts["linked"] > 0
    with Store.open(state) as store:
        assert store.baseline() is not None
        assert len(store.links()) >= counts["linked"]

    assert main(["sync", "--json"]) in (0, 1)  # a second sync with no edits writes nothing
    again = _last_json(capsys.readouterr().out)
    assert again["linked"] == again["created_in_ipm"] == again["ipm_fields_written"] == 0
    assert again["liscio_fields_filled"] == 0

    assert main(["status", "--json"]) == 0
    info = _last_json(capsys.readouterr().out)
    assert info["connected"] and info["runs"] == 2


def test_the_preflight_share_is_configurable(sandbox, state, capsys):
    # The demo Liscio side holds fewer records than IPM: a share of 1.0 refuses, 0 lets it run.
    assert main(["sync", "--dry-run", "--min-share", "1.0"]) == 3
    assert "creates duplicates" in capsys.readouterr().err
    assert main(["sync", "--dry-run", "--min-share", "0"]) == 0
    assert main(["sync", "--min-share", "1.5"]) == 2
    with Store.open(state) as store:
        assert store.baseline() is None  # nothing ran for real


def test_rejected_credentials_exit_2_with_a_clear_message(sandbox, state, capsys, monkeypatch):
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", "eyJ.not-the-key.sig")
    assert main(["sync", "--force"]) == 2
    err = capsys.readouterr().err
    assert "401" in err and "check the credentials" in err
    assert "not-the-key" not in err
    with Store.open(state) as store:  # refused before a run started: nothing recorded
        assert store.links() == [] and store.runs() == []


def test_single_record_commands_end_to_end(sandbox, state, capsys):
    from pmtools.config import Settings
    from pmtools.connectors.factory import connect

    assert main(["sync", "--force"]) in (0, 1)
    liscio, ipm = connect(Settings.from_env())
    with Store.open(state) as store:
        linked = {(link.kind, link.liscio_id) for link in store.links()}
        linked |= {(link.kind, link.ipm_key) for link in store.links()}
    kind, lonely_l = next(
        (k, r)
        for k in Kind
        for r in liscio.iter_records(k)
        if (k, r.id) not in linked and not r.archived
    )
    lonely_i = next(r for r in ipm.iter_records(kind) if (kind, r.id) not in linked)
    name = str(kind)
    assert main(["create-in-ipm", name, lonely_l.id]) == 0
    assert main(["create-in-ipm", name, lonely_l.id]) == 2  # already linked
    assert main(["create-in-liscio", name, lonely_i.id]) == 0
    with Store.open(state) as store:
        made = store.link_for(kind, liscio_id=lonely_l.id)
        assert made.how is LinkHow.CREATED
        assert store.link_for(kind, ipm_key=lonely_i.id).how is LinkHow.CREATED
    assert ipm.get_record(kind, made.ipm_key).last_name == lonely_l.last_name
    assert main(["delink", name, lonely_l.id]) == 0
    assert main(["link", name, lonely_l.id, made.ipm_key]) == 0
    with Store.open(state) as store:
        assert store.link_for(kind, liscio_id=lonely_l.id).how is LinkHow.MANUAL
        commands = [r["command"] for r in store.runs()]
    assert commands == ["sync", "create_in_ipm", "create_in_liscio", "delink", "link"]


@pytest.mark.parametrize("kill_after", [1, 6])
def test_a_sync_killed_mid_run_is_finished_by_the_next_one(state, monkeypatch, kill_after):
    """SIGKILL a real ``pmtools sync`` process during its writes; run again: nothing twice."""
    import os
    import signal
    import time

    from pmtools.config import Settings
    from pmtools.connectors.factory import connect
    from pmtools.core.records import Record, Side
    from pmtools.sandbox.dataset import demo_dataset
    from pmtools.sandbox.server import start_sandbox

    server = start_sandbox(
        dataset=demo_dataset(organizations=12, people=20), rate_limit=0, latency_ms=30
    )
    try:
        env = {
            "PMTOOLS_STATE": str(state),
            "PMTOOLS_LISCIO_URL": server.url + "/liscio",
            "PMTOOLS_IPM_URL": server.url + "/karbon",
            "PMTOOLS_LISCIO_TOKEN": config.SANDBOX_LISCIO_TOKEN,
            "PMTOOLS_IPM_TOKEN": config.SANDBOX_IPM_TOKEN,
            "PMTOOLS_IPM_ACCESS_KEY": config.SANDBOX_IPM_ACCESS_KEY,
            "PMTOOLS_IPM_RATE_LIMIT": "0",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert main(["sync", "--force"]) in (0, 1)
        liscio, ipm = connect(Settings.from_env())
        names = [f"Killtest Number{i} LLC" for i in range(6)]
        for i, name in enumerate(names):  # new in Liscio: the next sync creates them in IPM
            liscio.create_record(
                A,
                Record(side=Side.LISCIO, kind=A, id="", name=name, phone=f"555-01{i:02d}"),
                external_id=f"test-{i}",
            )
        with Store.open(state) as store:
            linked = [link.liscio_id for link in store.links(A)][:6]
        for i, liscio_id in enumerate(linked):  # edited in Liscio: written to IPM
            liscio.update_fields(A, liscio_id, {"website": f"killtest{i}.example"})

        def writes():
            c = server.stats.counts
            return c["ipm:POST"] + c["ipm:PUT"]

        before = writes()
        code = "import sys; from pmtools.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "sync"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while (
            writes() < before + kill_after and proc.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        assert proc.poll() is None, "the sync finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

        assert main(["sync"]) in (0, 1)
        with Store.open(state) as store:
            outcomes = [r["outcome"] for r in store.runs()]
            assert outcomes[1] == "interrupted" and outcomes[2] in ("done", "done_with_errors")
            assert store.changes(status="intent") == []
            assert store.pending_creates() == []
            keys = [link.ipm_key for link in store.links(A) if link.liscio_id in linked]
        for name in names:  # each created exactly once, and linked
            assert [r.name for r in ipm.iter_records(A)].count(name) == 1
        websites = {ipm.get_record(A, key).website for key in keys}
        assert websites == {f"killtest{i}.example" for i in range(6)}
    finally:
        server.stop()
