"""The state store: schema and migrations, refusals, links, decisions, audit trail, lock."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pmtools.core.plan import DecisionKind, LinkHow, LinkStatus, SyncPolicy
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.errors import LockHeld, StateError
from pmtools.store import SCHEMA_VERSION, ChangeIntent, Store, decode_value, encode_value, schema

ROOT = Path(__file__).resolve().parent.parent
A, C = Kind.ACCOUNTS, Kind.CONTACTS


def test_new_file_is_migrated_to_latest_in_wal(tmp_path):
    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    with Store.open(path) as s:  # reopening migrates nothing and loses nothing
        assert s.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    assert versions == [m[0] for m in schema.MIGRATIONS]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "connection",
        "baseline",
        "links",
        "decisions",
        "runs",
        "changes",
        "errors",
        "pending_creates",
        "ipm_cache",
        "high_water",
    } <= tables


def test_file_from_newer_pmtools_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 'x')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer pmtools"):
        Store.open(path)


@pytest.mark.parametrize(
    "content", [b"just some text, not a database\n", b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_non_sqlite_or_corrupt_file_is_refused_and_left_alone(tmp_path, content):
    path = tmp_path / "s.sqlite"
    path.write_bytes(content)
    with pytest.raises(StateError, match="left as it is"):
        Store.open(path)
    assert path.read_bytes() == content


def test_foreign_sqlite_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="not a pmtools state file"):
        Store.open(path)
    assert path.read_bytes() == before


def test_failed_migration_leaves_no_version_row(tmp_path):
    # A broken migration rolls back together with its version row.
    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    bad = (SCHEMA_VERSION + 1, "broken", "CREATE TABLE extra (x); THIS IS NOT SQL")
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn, now="now", migrations=schema.MIGRATIONS + (bad,))
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='extra'").fetchone()


def test_links_are_unique_per_side_and_kind(store):
    store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    assert store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None).ipm_key == "K1"
    with pytest.raises(StateError, match="already linked"):
        store.add_link(A, "L1", "K2", how=LinkHow.MANUAL, run_id=None)
    with pytest.raises(StateError, match="already linked"):
        store.add_link(A, "L2", "K1", how=LinkHow.MANUAL, run_id=None)
    store.add_link(C, "L1", "K1", how=LinkHow.CREATED, run_id=None)  # other kind: fine
    assert len(store.links()) == 2
    link = store.link_for(A, ipm_key="K1")
    assert link.liscio_id == "L1" and link.first_synced_at is None and link.linked_at
    store.mark_synced(A, "L1")
    store.set_link_status(A, "L1", LinkStatus.ORPHANED, reason="archived")
    link = store.link_for(A, liscio_id="L1")
    assert link.first_synced_at and link.status is LinkStatus.ORPHANED
    assert store.remove_link(A, "L1").ipm_key == "K1"
    assert store.link_for(A, liscio_id="L1") is None and store.remove_link(A, "L1") is None


def test_baseline_and_state(store):
    assert store.baseline() is None and store.state().baseline is None
    store.record_baseline([(A, "L1"), (C, "L2")])
    store.record_baseline([(A, "L9")])  # only the first Sync Now records it
    assert store.baseline() == frozenset({(A, "L1"), (C, "L2")})
    store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    store.add_link(C, "L2", "K2", how=LinkHow.AUTOMATIC, run_id=None)
    store.add_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH, run_id=None)
    store.add_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH, run_id=None)
    state = store.state([C])
    assert [link.kind for link in state.links] == [C]
    assert [(d.liscio_id, d.decision) for d in state.decisions] == [
        ("L3", DecisionKind.NOT_A_MATCH)
    ]
    assert state.baseline == store.baseline()
    assert store.remove_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH)
    assert store.decisions() == []


def test_runs_changes_errors_and_values(store):
    run = store.start_run(
        command="sync", started_by="cli", kinds=[A], policy=SyncPolicy(kinds=(A,), force=True)
    )
    addr = Address(line1="1 Main St", city="Springfield")
    ids = store.record_intents(
        run,
        [
            ChangeIntent(
                kind=A,
                op="write",
                side=Side.IPM,
                liscio_id="L1",
                ipm_key="K1",
                liscio_name="Acme",
                ipm_name="ACME",
                field="address",
                before=None,
                after=addr,
                rule="first-sync:fill-ipm",
            ),
            ChangeIntent(
                kind=A,
                op="write",
                side=Side.IPM,
                liscio_id="L1",
                ipm_key="K1",
                field="phone",
                before="1",
                after="2",
            ),
        ],
    )
    assert [c["status"] for c in store.changes(status="intent")] == ["intent", "intent"]
    store.set_change_status(ids[:1], "confirmed")
    store.set_change_status(ids[1:], "failed", error="rejected")
    store.record_error(
        run,
        kind=A,
        op="write",
        side=Side.IPM,
        liscio_id="L1",
        ipm_key="K1",
        field="phone",
        message="rejected",
    )
    store.finish_run(run, outcome="done_with_errors", counts={"errors": 1})
    first, second = store.changes(run_id=run)
    assert first["after"] == addr and first["before"] is None and first["status"] == "confirmed"
    assert second["status"] == "failed" and second["error"] == "rejected"
    assert store.errors(run_id=run)[0]["message"] == "rejected"
    info = store.run(run)
    assert info["policy"]["force"] is True and info["policy"]["kinds"] == ["accounts"]
    assert info["counts"] == {"errors": 1} and info["finished_at"]
    with pytest.raises(ValueError):
        store.finish_run(run, outcome="great")


def test_value_encoding_round_trips():
    for value in (None, "", "x@y.z", Address(line1="1 Main", country="US")):
        assert decode_value(encode_value(value)) == value


def test_interrupted_runs_are_marked(store):
    run = store.start_run(command="sync", started_by="app", kinds=list(Kind))
    assert store.mark_interrupted_runs() == [run]
    assert store.run(run)["outcome"] == "interrupted"


def test_pending_creates(store):
    run = store.start_run(command="sync", started_by="cli", kinds=[A])
    store.begin_create(run, kind=A, target=Side.IPM, source_id="L1", external_id="x1")
    assert [p["external_id"] for p in store.pending_creates()] == ["x1"]
    store.finish_create("x1", status="confirmed", created_id="K9")
    assert store.pending_creates() == []
    assert store.pending_create("x1")["created_id"] == "K9"
    store.begin_create(run, kind=A, target=Side.IPM, source_id="L1", external_id="x1")
    assert store.pending_create("x1")["status"] == "intent"


def test_ipm_cache_and_high_water(store):
    rec = Record(
        side=Side.IPM,
        kind=A,
        id="K1",
        name="Acme",
        address=Address(line1="1 Main"),
        modified_at="2026-01-01T00:00:00Z",
    )
    store.cache_records(A, [rec])
    store.set_high_water(A, "2026-01-01T00:00:00Z")
    assert store.cached_records(A) == [rec] and store.cached_records(C) == []
    store.cache_records(A, [], replace_all=True)
    assert store.cached_records(A) == []
    assert store.high_water(A) == "2026-01-01T00:00:00Z"
    store.set_high_water(A, None)
    assert store.high_water(A) is None


def test_disconnect_keeps_the_audit_trail(store):
    run = store.start_run(command="sync", started_by="cli", kinds=[A])
    store.record_change(run, ChangeIntent(kind=A, op="link", liscio_id="L1", ipm_key="K1"))
    store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=run)
    store.add_decision(A, "L2", "K2", DecisionKind.DELINKED, run_id=run)
    store.record_baseline([(A, "L1")])
    assert store.disconnect() == {"links": 1, "decisions": 1}
    assert store.links() == [] and store.decisions() == [] and store.baseline() is None
    assert len(store.changes()) == 1 and len(store.runs()) == 1


def test_second_store_on_the_same_file_gets_lock_held(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.open(path) as one, Store.open(path) as two:
        with one.lock(), one.lock():  # re-entrant for its holder
            with pytest.raises(LockHeld, match="another sync is running"):
                with two.lock():
                    pass
        with two.lock():
            pass


def test_lock_waits_for_a_release(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.open(path) as one, Store.open(path) as two:
        ctx = one.lock()
        ctx.__enter__()
        threading.Timer(0.3, lambda: ctx.__exit__(None, None, None)).start()
        started = time.monotonic()
        with two.lock(timeout=5):
            assert time.monotonic() - started >= 0.2


HOLDER = textwrap.dedent("""
    import sys, time
    from pmtools.store import Store
    store = Store.open(sys.argv[1])
    with store.lock(by="cli"):
        print("locked", flush=True)
        time.sleep(60)
""")


def test_lock_held_by_another_process_and_freed_by_its_death(tmp_path):
    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store.open(path) as store:
            # Who and since when, never a pid (issue 10).
            with pytest.raises(
                LockHeld,
                match=r"another sync is running \(started by cli, "
                r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC\)",
            ) as held:
                with store.lock():
                    pass
            assert str(holder.pid) not in str(held.value)
            os.kill(holder.pid, signal.SIGKILL)  # a killed holder must not block forever
            holder.wait(10)
            with store.lock(timeout=5):
                pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_a_file_of_an_older_schema_is_migrated_keeping_its_data(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, now="then", migrations=schema.MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO links (kind, liscio_id, ipm_key, how, linked_at) "
        "VALUES ('accounts', 'L1', 'K1', 'manual', 'then')"
    )
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION > 1
        assert [link.ipm_key for link in store.links()] == ["K1"]
        rec = Record(side=Side.IPM, kind=A, id="K1", name="Acme", modified_at="m1")
        store.cache_details(A, [rec])
        assert store.cached_details(A, ["K1", "K2"])["K1"][0] == rec
        store.forget_details(A, ["K1"])
        assert store.cached_details(A, ["K1"]) == {}
