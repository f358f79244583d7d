"""What differs on PostgreSQL: the schema is the state file's, a firm's schema is created once
however many processes open it, the backend comes from ``PMTOOLS_DATABASE_URL`` (a wrong URL or
password is one sentence, never the password), the registry and its one active job per firm
hold under concurrent submits, and a lost connection is opened again.

The behaviours both backends share are in ``tests/test_store_backends.py``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from pmtools.core.plan import LinkHow
from pmtools.core.records import Kind
from pmtools.errors import ConfigError, StateError
from pmtools.store import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parent.parent
A = Kind.ACCOUNTS


def firm_name(name: str) -> str:
    """A schema name of this test alone (tests share the session's cluster)."""
    return f"t{uuid.uuid4().hex[:10]}_{name}"


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


def test_the_database_in_words_never_has_the_password():
    from pmtools.store.postgres import describe_url

    assert describe_url("postgresql://u:hunter2@db.example:5433/pm") == (
        "PostgreSQL database pm on db.example:5433"
    )
    assert (
        describe_url("postgres://u:hunter2@db.example/pm") == "PostgreSQL database pm on db.example"
    )
    assert describe_url("postgresql:///pm?host=/run/postgresql") == (
        "PostgreSQL database pm on /run/postgresql"
    )
    assert describe_url("postgresql://u:hunter2@[::1]:5432/") == "PostgreSQL database u on ::1:5432"


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
