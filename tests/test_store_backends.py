"""The state store behaves the same on both backends: a SQLite file and a PostgreSQL schema.

Each behaviour test runs twice, on a real SQLite file and on a real PostgreSQL server (a
throwaway cluster: see ``tests/services.py``). The PostgreSQL-only tests cover what differs:
the schema is the state file's, the sync lock is an advisory lock that a SIGKILLed holder gives
back, firms live in schemas of their own, and a wrong URL or password is one sentence.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from pmtools.core.plan import DecisionKind, LinkHow, LinkStatus, SyncPolicy
from pmtools.core.records import Address, Identity, Kind, Record, Side
from pmtools.errors import ConfigError, LockHeld, StateError
from pmtools.store import SCHEMA_VERSION, ChangeIntent, Store

ROOT = Path(__file__).resolve().parent.parent
A, C = Kind.ACCOUNTS, Kind.CONTACTS
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def where(request, tmp_path):
    """Where a firm's store is opened: ``("sqlite", folder)`` or ``("postgresql", url)``.

    Each test gets its own schema names on the session's PostgreSQL cluster.
    """
    if request.param == "sqlite":
        return ("sqlite", str(tmp_path))
    return ("postgresql", request.getfixturevalue("postgres_url"))


def firm_name(name: str) -> str:
    """A schema name of this test alone (tests share the session's cluster)."""
    return f"t{uuid.uuid4().hex[:10]}_{name}"


def opener(where: tuple[str, str]):
    """A function opening the store of a firm (by name) on ``where``."""
    names: dict[str, str] = {}

    def open_firm(name: str = "acme") -> Store:
        unique = names.setdefault(name, firm_name(name))
        if where[0] == "sqlite":
            return Store.open(Path(where[1]) / f"{unique}.sqlite")
        return Store.open_postgres(where[1], unique)

    return open_firm


@pytest.fixture
def open_firm(where):
    """Opens a firm's store by name on this test's backend (the same name: the same store)."""
    return opener(where)


@pytest.fixture
def any_store(open_firm):
    """A new store on this test's backend, closed after the test."""
    with open_firm() as s:
        yield s


def test_the_store_says_where_it_is(any_store, where):
    assert any_store.dialect == where[0] and any_store.schema_version == SCHEMA_VERSION
    if where[0] == "postgresql":
        assert any_store.path is None and "PostgreSQL database pmtools" in any_store.location
        assert "@" not in any_store.location and ":" + where[1].split(":")[2] not in (
            any_store.location
        )
    else:
        assert any_store.location == str(any_store.path)


def test_links_are_unique_per_side_and_kind(any_store):
    store = any_store
    store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    assert store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None).ipm_key == "K1"
    with pytest.raises(StateError, match="already linked"):
        store.add_link(A, "L1", "K2", how=LinkHow.MANUAL, run_id=None)
    with pytest.raises(StateError, match="already linked"):
        store.add_link(A, "L2", "K1", how=LinkHow.MANUAL, run_id=None)
    store.add_link(C, "L1", "K1", how=LinkHow.CREATED, run_id=None)
    assert [(link.kind, link.how) for link in store.links()] == [
        (A, LinkHow.AUTOMATIC),
        (C, LinkHow.CREATED),
    ]
    store.mark_synced(A, "L1")
    store.set_link_status(A, "L1", LinkStatus.ORPHANED, reason="archived")
    link = store.link_for(A, liscio_id="L1")
    assert link.first_synced_at and link.status is LinkStatus.ORPHANED
    assert store.links(A, status=LinkStatus.ORPHANED) == [link]
    assert store.link_for(C, ipm_key="K1").liscio_id == "L1"
    assert store.remove_link(A, "L1", decision=DecisionKind.DELINKED).ipm_key == "K1"
    assert store.link_for(A, liscio_id="L1") is None and store.remove_link(A, "L1") is None
    assert [d.decision for d in store.decisions(A)] == [DecisionKind.DELINKED]


def test_decisions_baseline_and_state(any_store):
    store = any_store
    assert store.baseline() is None and store.connection() is None
    store.record_baseline([(A, "L1"), (C, "L2")])
    store.record_baseline([(A, "L9")])  # only the first Sync Now records it
    assert store.baseline() == frozenset({(A, "L1"), (C, "L2")})
    assert store.connection()["first_sync_at"]
    store.add_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH, run_id=None)
    again = store.add_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH, run_id=None)
    assert again.decision is DecisionKind.NOT_A_MATCH and len(store.decisions()) == 1
    assert store.state([C]).decisions == (again,)
    assert store.remove_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH)
    assert not store.remove_decision(C, "L3", "K3", DecisionKind.NOT_A_MATCH)


def test_runs_intents_and_their_confirmation(any_store):
    store = any_store
    run = store.start_run(
        command="sync", started_by="cli", kinds=[A], policy=SyncPolicy(kinds=(A,), force=True)
    )
    addr = Address(line1="1 Main St", city="Springfield")
    ids = store.record_intents(
        run,
        [
            ChangeIntent(kind=A, op="write", side=Side.IPM, liscio_id="L1", ipm_key="K1",
                         liscio_name="Acme", field="address", after=addr, rule="r"),
            ChangeIntent(kind=A, op="write", side=Side.IPM, liscio_id="L1", ipm_key="K1",
                         field="phone", before="1", after="2"),
        ],
    )  # fmt: skip
    assert ids == sorted(ids) and len(set(ids)) == 2
    assert [c["status"] for c in store.changes(status="intent")] == ["intent", "intent"]
    store.set_change_status(ids[:1], "confirmed")
    store.set_change_status(ids[1:], "failed", error="rejected")
    store.record_error(run, kind=A, op="write", side=Side.IPM, ipm_key="K1", message="rejected")
    store.finish_run(run, outcome="done_with_errors", counts={"errors": 1})
    first, second = store.changes(run_id=run)
    assert first["after"] == addr and first["before"] is None and first["status"] == "confirmed"
    assert second["status"] == "failed" and second["error"] == "rejected"
    assert store.changes(op="write", kind=A, side=Side.IPM, status="failed") == [second]
    assert store.errors(run_id=run)[0]["message"] == "rejected" and len(store.errors()) == 1
    info = store.run(run)
    assert info["policy"]["force"] is True and info["counts"] == {"errors": 1}
    assert info["outcome"] == "done_with_errors" and store.run(run + 1000) is None
    later = store.start_run(command="sync", started_by="app", kinds=list(Kind))
    assert later > run and store.mark_interrupted_runs() == [later]
    assert [r["outcome"] for r in store.runs()] == ["done_with_errors", "interrupted"]


def test_pending_creates_and_the_undo_trail(any_store):
    store = any_store
    run = store.start_run(command="sync", started_by="cli", kinds=[A])
    audit = ChangeIntent(kind=A, op="create", side=Side.IPM, liscio_id="L1", external_id="x1")
    change = store.begin_create(
        run, kind=A, target=Side.IPM, source_id="L1", external_id="x1", audit=audit
    )
    assert [p["external_id"] for p in store.pending_creates()] == ["x1"]
    store.finish_create("x1", status="confirmed", created_id="K9")
    store.set_change_status([change], "confirmed", ipm_key="K9")
    store.add_link(A, "L1", "K9", how=LinkHow.CREATED, run_id=run)
    assert store.pending_creates() == [] and store.pending_create("x1")["created_id"] == "K9"
    store.finish_run(run, outcome="done")
    undo = store.start_run(command="undo", started_by="cli", kinds=[A], undoes_run=run)
    store.remove_link(A, "L1", run_id=undo, audit=ChangeIntent(kind=A, op="delink"))
    assert store.run(undo)["undoes_run"] == run
    assert [c["ipm_key"] for c in store.changes(run_id=run, op="create")] == ["K9"]
    assert [c["op"] for c in store.changes(run_id=undo)] == ["delink"]


def test_the_tenant_is_bound_with_the_first_link_and_never_replaced(any_store):
    store = any_store
    liscio = Identity(side=Side.LISCIO, id="F1", name="Smith CPA")
    ipm = Identity(side=Side.IPM, id="T1")
    store.bind(liscio=liscio, ipm=ipm)
    assert store.identities() == {}  # nothing recorded before the first link
    store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
    assert store.identities() == {Side.LISCIO: liscio, Side.IPM: ipm}
    store.record_identities(liscio=Identity(side=Side.LISCIO, id="F2"), ipm=ipm)
    assert store.identities()[Side.LISCIO].id == "F1"
    assert store.disconnect() == {"links": 1, "decisions": 0}
    assert store.identities() == {} and store.links() == []


def test_ipm_cache_high_water_and_details(any_store):
    store = any_store
    rec = Record(side=Side.IPM, kind=A, id="K1", name="Acme", modified_at="2026-01-01T00:00:00Z")
    store.cache_records(A, [rec, Record(side=Side.IPM, kind=A, id="K2", name="Bo 100%")])
    store.cache_records(A, [rec])  # the same key again replaces it
    assert [r.id for r in store.cached_records(A)] == ["K1", "K2"] and not store.cached_records(C)
    store.cache_records(A, [rec], replace_all=True)
    assert store.cached_records(A) == [rec]
    store.set_high_water(A, "m1")
    store.set_high_water(A, "m2")
    assert store.high_water(A) == "m2"
    store.set_high_water(A, None)
    assert store.high_water(A) is None
    store.set_full_pull(A, "t1")
    store.set_full_pull(A, "t2")
    assert store.last_full_pull(A) == "t2" and store.last_full_pull(C) is None
    detailed = Record(side=Side.IPM, kind=A, id="K1", name="Acme", modified_at="m1")
    store.cache_details(A, [detailed])
    store.cache_details(A, [detailed])
    assert store.cached_details(A, ["K1", "K2"])["K1"][0] == detailed
    store.forget_details(A, ["K1"])
    assert store.cached_details(A, ["K1"]) == {}


def test_two_firms_never_see_each_others_state(open_firm):
    with open_firm("one") as one, open_firm("two") as two:
        one.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
        run = one.start_run(command="sync", started_by="cli", kinds=[A])
        assert two.links() == [] and two.runs() == [] and two.baseline() is None
        assert two.start_run(command="sync", started_by="cli", kinds=[A]) == run  # own ids
        with one.lock():
            with two.lock():  # each firm has its own lock
                pass
    with open_firm("one") as again:  # reopened: still there
        assert [link.liscio_id for link in again.links()] == ["L1"]


def test_the_lock_is_held_per_store_and_reentrant(open_firm):
    with open_firm() as one, open_firm() as two:
        with one.lock(by="cli"), one.lock():
            assert one.lock_held
            with pytest.raises(LockHeld, match=r"another sync is running \(started by cli, at "):
                with two.lock():
                    pass
        assert not one.lock_held
        with two.lock():
            pass


def test_the_lock_waits_for_its_release(open_firm):
    with open_firm() as one, open_firm() as two:
        ctx = one.lock()
        ctx.__enter__()
        waiting = threading.Event()

        def take() -> None:
            waiting.set()
            with two.lock(timeout=120):  # a bound against hanging, not a measure
                pass

        taker = threading.Thread(target=take)
        taker.start()
        waiting.wait()
        ctx.__exit__(None, None, None)
        taker.join(120)
        assert not taker.is_alive()


HOLDER = textwrap.dedent("""
    import sys, time
    from pmtools.store import Store
    kind, where, name = sys.argv[1:4]
    store = Store.open(where) if kind == "sqlite" else Store.open_postgres(where, name)
    with store.lock(by="worker"):
        run = store.start_run(command="sync", started_by="worker", kinds=[])
        store.record_intents(run, [])
        print("locked", flush=True)
        sys.stdin.read()  # hold until killed
""")


def test_a_holder_killed_with_sigkill_gives_the_lock_back(where, tmp_path):
    name = firm_name("killed")
    target = str(tmp_path / f"{name}.sqlite") if where[0] == "sqlite" else where[1]
    with Store.open(target) if where[0] == "sqlite" else Store.open_postgres(target, name) as store:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, where[0], target, name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(LockHeld, match=r"started by worker") as held:
                with store.lock():
                    pass
            assert str(holder.pid) not in str(held.value)
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(60)
            with store.lock(timeout=120):  # the server (or kernel) released it: no clock
                assert store.mark_interrupted_runs() == [store.runs()[-1]["id"]]
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(60)


SAVER = textwrap.dedent("""
    import sys
    from pmtools.core.records import Kind, Side
    from pmtools.store import ChangeIntent, Store
    kind, where, name = sys.argv[1:4]
    store = Store.open(where) if kind == "sqlite" else Store.open_postgres(where, name)
    run = store.start_run(command="sync", started_by="cli", kinds=[Kind.ACCOUNTS])
    intent = ChangeIntent(kind=Kind.ACCOUNTS, op="write", side=Side.IPM, ipm_key="K1",
                          field="phone", before="1", after="2")
    ids = store.record_intents(run, [intent])
    print("saved", flush=True)
    sys.stdin.read()  # killed here, before any close or commit of its own
""")


def test_what_a_method_saved_survives_a_kill(where, tmp_path):
    name = firm_name("durable")
    target = str(tmp_path / f"{name}.sqlite") if where[0] == "sqlite" else where[1]
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, where[0], target, name],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert saver.stdout.readline().strip() == "saved"
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait(60)
    finally:
        if saver.poll() is None:
            saver.kill()
            saver.wait(60)
    with Store.open(target) if where[0] == "sqlite" else Store.open_postgres(target, name) as store:
        (intent,) = store.changes(status="intent")
        assert intent["field"] == "phone" and intent["after"] == "2"
        assert [r["outcome"] for r in store.runs()] == ["running"]


# -- PostgreSQL only ---------------------------------------------------------------------
def _columns_sqlite(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def test_the_postgresql_schema_is_the_state_files(postgres_url, tmp_path):
    Store.open(tmp_path / "s.sqlite").close()
    want = _columns_sqlite(tmp_path / "s.sqlite")
    import psycopg

    name = firm_name("parity")
    Store.open_postgres(postgres_url, name).close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            (name,),
        ).fetchall()
    got: dict[str, list[str]] = {}
    for table, column in rows:
        got.setdefault(table, []).append(column)
    assert got == want


def test_a_schema_from_a_newer_pmtools_is_refused(postgres_url):
    import psycopg

    name = firm_name("newer")
    Store.open_postgres(postgres_url, name).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            f"INSERT INTO {name}.schema_version VALUES (%s, 'future', 'x')", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(StateError, match="newer pmtools"):
        Store.open_postgres(postgres_url, name)


def test_many_processes_opening_a_new_firm_at_once_create_it_once(postgres_url):
    name = firm_name("race")
    code = (
        "import sys; from pmtools.store import Store; "
        "Store.open_postgres(sys.argv[1], sys.argv[2]).close(); print('ok')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_url, name],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [o[0].strip() for o in outs] == ["ok"] * 4, [o[1][-500:] for o in outs]
    with Store.open_postgres(postgres_url, name) as store:
        assert store.schema_version == SCHEMA_VERSION


def _password(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).password or ""


def test_a_wrong_password_or_server_is_one_sentence_without_the_password(postgres_url):
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    wrong = postgres_url.replace(f":{parts.password}@", ":not-the-password@")
    with pytest.raises(StateError) as refused:
        Store.open_postgres(wrong, firm_name("x"))
    text = str(refused.value)
    assert "password was refused" in text and "PMTOOLS_DATABASE_URL" in text
    assert "not-the-password" not in text and "postgresql://" not in text and "\n" not in text

    from services import free_port

    nowhere = postgres_url.replace(f":{parts.port}/", f":{free_port()}/")
    with pytest.raises(StateError, match="could not be reached") as refused:
        Store.open_postgres(nowhere, firm_name("x"))
    assert parts.password not in str(refused.value)


def test_the_backend_from_the_environment(postgres_url, tmp_path):
    from pmtools.store.backend import backend_from_env, firm_schema

    env = {"PMTOOLS_HOME": str(tmp_path), "PMTOOLS_DATABASE_URL": postgres_url}
    backend = backend_from_env(env)
    secret = _password(postgres_url)
    assert backend.kind == "postgresql"
    assert secret not in backend.describe() and secret not in repr(backend)
    assert backend.describe().startswith("PostgreSQL database pmtools on 127.0.0.1:")
    slug_a, slug_b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    assert not backend.store_exists(slug_a)
    assert not backend.store_exists(slug_a)  # looking made nothing
    with backend.open_store(slug_a) as a, backend.open_store(slug_b) as b:
        assert backend.store_exists(slug_a)
        a.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
        assert b.links() == [] and firm_schema(slug_a) in a.location
    assert firm_schema("smith-co") == "firm_smith_co"
    assert firm_schema("smith_co") != firm_schema("smith-co")  # never the same schema
    assert len(firm_schema("x" * 80)) <= 63


@pytest.mark.parametrize(
    "url", ["mysql://u:hunter2@db/x", "hunter2", "postgresql://u:hunter2@db:port/x"]
)
def test_a_database_url_that_is_not_postgresql_is_refused_by_name(url, tmp_path):
    from pmtools.store.backend import backend_from_env

    with pytest.raises(ConfigError, match="PMTOOLS_DATABASE_URL") as refused:
        backend_from_env({"PMTOOLS_HOME": str(tmp_path), "PMTOOLS_DATABASE_URL": url})
    assert "hunter2" not in str(refused.value)


def test_the_sqlite_backend_looks_for_a_state_file_without_making_one(tmp_path):
    from pmtools.store.backend import backend_from_env

    backend = backend_from_env({"PMTOOLS_HOME": str(tmp_path)})
    assert backend.kind == "sqlite" and not backend.store_exists("acme")
    assert not backend.store_exists("acme") and not (tmp_path / "firms" / "acme").exists()
    backend.open_store("acme").close()
    assert backend.store_exists("acme")


def test_the_registry_on_postgresql(postgres_url, tmp_path):
    from pmtools.store.backend import backend_from_env
    from pmtools.store.registry import JobRunning

    backend = backend_from_env(
        {"PMTOOLS_HOME": str(tmp_path), "PMTOOLS_DATABASE_URL": postgres_url}
    )
    name = f"Smith {uuid.uuid4().hex[:6]} CPA"
    with backend.registry() as registry:
        firm = registry.add_firm(name, ipm_url="http://ipm", schedule_minutes=30)
        job = registry.submit(firm.slug, "sync", {"dry_run": False}, started_by="cli")
        with pytest.raises(JobRunning):
            registry.submit(firm.slug, "sync", started_by="app")
    with backend.registry() as again:  # another connection sees the same
        assert again.get_firm(name).schedule_minutes == 30
        claimed = again.claim(job.id, "w1")
        assert claimed.state == "running" and again.claim(job.id, "w2") is None
        again.progress(job.id, stage="pull", done=1, total=4, message="pulling")
        done = again.finish(job.id, state="done", summary={"created": 2}, run_id="7")
        assert done.summary == {"created": 2} and again.active_job(firm.slug) is None
        assert [j.id for j in again.jobs(firm.slug)] == [job.id]
        again.remove_firm(firm.slug)


def test_one_active_job_per_firm_when_many_submit_at_once_on_postgresql(postgres_url, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from pmtools.store.backend import backend_from_env
    from pmtools.store.registry import JobRunning

    backend = backend_from_env(
        {"PMTOOLS_HOME": str(tmp_path), "PMTOOLS_DATABASE_URL": postgres_url}
    )
    with backend.registry() as registry:
        slug = registry.add_firm(f"Race {uuid.uuid4().hex[:6]}").slug
    registries = [backend.registry() for _ in range(6)]  # six connections: six "people"
    start = threading.Barrier(len(registries))

    def submit(registry):
        start.wait()
        try:
            return registry.submit(slug, "sync", started_by="cli").id
        except JobRunning as exc:
            return ("refused", exc.job.id)

    try:
        with ThreadPoolExecutor(len(registries)) as pool:
            results = list(pool.map(submit, registries))
    finally:
        for registry in registries:
            registry.close()
    accepted = [r for r in results if isinstance(r, str)]
    assert len(accepted) == 1
    assert all(r == ("refused", accepted[0]) for r in results if not isinstance(r, str))


MISSING = textwrap.dedent("""
    from services import unavailable

    def test_needs_a_server():
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
""")


@pytest.mark.parametrize("required, outcome", [("1", "1 failed"), ("", "1 skipped")])
def test_a_missing_server_fails_only_where_services_are_required(tmp_path, required, outcome):
    (tmp_path / "test_missing.py").write_text(MISSING)
    env = {k: v for k, v in os.environ.items() if k != "PMTOOLS_REQUIRE_SERVICES"}
    env["PMTOOLS_REQUIRE_SERVICES"] = required
    env["PYTHONPATH"] = str(ROOT / "tests")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome in out.stdout, out.stdout[-2000:]
    assert "apt-get install postgresql" in out.stdout


def test_a_lost_connection_fails_once_in_words_then_is_opened_again(postgres_url):
    import psycopg

    name = firm_name("lost")
    with Store.open_postgres(postgres_url, name) as store:
        store.add_link(A, "L1", "K1", how=LinkHow.AUTOMATIC, run_id=None)
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # a restart, a firewall
            (killed,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (f"pmtools {name}",),
            ).fetchone()
        assert killed == 1
        with pytest.raises(StateError, match="connection to the PostgreSQL database .* was lost"):
            store.links()
        assert [link.liscio_id for link in store.links()] == ["L1"]
        store.add_link(A, "L2", "K2", how=LinkHow.AUTOMATIC, run_id=None)
        assert len(store.links()) == 2
