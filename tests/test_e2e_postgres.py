"""End to end on the team server's state store: ``pmtools sync`` (a subprocess, real HTTP to a
started simulator) with ``PMTOOLS_DATABASE_URL`` set keeps a registered firm's state in its
PostgreSQL schema; a second sync finds nothing to do and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from pmtools.sandbox.server import start_sandbox
from pmtools.store.backend import backend_from_env

ROOT = Path(__file__).resolve().parent.parent
PMTOOLS = [sys.executable, "-c", "from pmtools.cli import entry; entry()"]
WRITES = ("linked", "created_in_ipm", "ipm_fields_written", "liscio_fields_filled")


def test_sync_on_postgresql_then_a_second_sync_writes_nothing(postgres_url, tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTOOLS_")} | {
        "PMTOOLS_HOME": str(home),
        "PMTOOLS_DATABASE_URL": postgres_url,
        "PMTOOLS_IPM_RATE_LIMIT": "0",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    backend = backend_from_env(env)
    name = f"Demo {uuid.uuid4().hex[:6]} CPA"
    with start_sandbox(dataset="demo", seed=1, rate_limit=0) as server:
        with backend.registry() as registry:
            slug = registry.add_firm(
                name, ipm_url=server.ipm_url, liscio_url=server.liscio_url, simulator=True
            ).slug

        def sync(*flags: str) -> dict[str, int]:
            done = subprocess.run(
                [*PMTOOLS, "--firm", name, "sync", "--json", *flags],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=1800,  # only stops a hang
            )
            assert done.returncode in (0, 1), done.stderr[-3000:]
            password = postgres_url.split(":")[2].split("@")[0]
            assert password not in done.stdout + done.stderr
            return json.loads(done.stdout.strip().splitlines()[-1])

        def pmtools(*args: str) -> str:
            done = subprocess.run(
                [*PMTOOLS, "--firm", name, *args],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=600,  # only stops a hang
            )
            assert done.returncode == 0, done.stderr[-3000:]
            return done.stdout

        assert json.loads(pmtools("runs", "--json")) == []  # nothing yet, and nothing made
        assert pmtools("runs").strip() == "no runs yet (this firm has no state yet)"
        first = sync("--force")
        assert first["linked"] > 0 and first["ipm_fields_written"] > 0
        after_first = server.state.canonical()
        again = sync()
        assert {k: again[k] for k in WRITES} == dict.fromkeys(WRITES, 0)
        assert server.state.canonical() == after_first  # nothing written the second time

        runs = json.loads(pmtools("runs", "--json"))  # the commands that read find it
        assert [r["command"] for r in runs] == ["sync", "sync"]
        status = json.loads(pmtools("status", "--json").strip().splitlines()[-1])
        assert status["connected"] and status["runs"] == 2
        assert status["state"].startswith("schema firm_") and "PostgreSQL" in status["state"]

    with backend.open_store(slug) as store:
        assert store.dialect == "postgresql" and store.path is None
        assert [r["outcome"] for r in store.runs()][-1] in ("done", "done_with_errors")
        assert len(store.runs()) == 2 and len(store.links()) >= first["linked"]
        assert store.baseline() and store.identities()  # bound to the simulator's tenant
    assert not list(home.rglob("state.sqlite"))  # no state file: the state is in PostgreSQL


def test_a_wrong_password_is_one_sentence_from_the_command_line(postgres_url, tmp_path):
    from urllib.parse import urlsplit

    password = urlsplit(postgres_url).password
    wrong = postgres_url.replace(f":{password}@", ":hunter2@")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTOOLS_")} | {
        "PMTOOLS_HOME": str(tmp_path / "home"),
        "PMTOOLS_DATABASE_URL": wrong,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    done = subprocess.run(
        [*PMTOOLS, "--firm", "Acme", "runs"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,  # only stops a hang
    )
    assert done.returncode == 5  # a state error (see pmtools.errors)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "password was refused" in lines[0], done.stderr
    assert "hunter2" not in done.stderr and password not in done.stderr
    assert "postgresql://" not in done.stderr and "Traceback" not in done.stderr
