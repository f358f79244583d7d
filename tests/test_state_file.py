"""The state file itself (issue 8 §4, §6): owner-only, never silently replaced by a new one,
a failed write said in words (exit 5, the run marked failed), and an unexpected error never
exit 1 (exit 6, one line; the traceback only with -v).

Real SQLite files and, where a sync runs, the bundled simulator over loopback; the CLI runs in
a child process where its real stderr and exit code matter.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import point_at

from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Kind
from pmtools.engine.sync import run_sync
from pmtools.errors import StateLost
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import start_sandbox
from pmtools.store import Store

ROOT = Path(__file__).resolve().parent.parent
CODE = "import sys; from pmtools.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def state(tmp_path, monkeypatch):
    for var in ("PMTOOLS_STATE", "PMTOOLS_LISCIO_URL", "PMTOOLS_IPM_URL"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(path))
    return path


@pytest.fixture
def sandbox(state, monkeypatch, request):
    size = getattr(request, "param", {"organizations": 12, "people": 20})
    server = start_sandbox(dataset=demo_dataset(**size), rate_limit=0)
    try:
        point_at(monkeypatch, server)
        yield server
    finally:
        server.stop()


def cli(*argv: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    """``pmtools ARGV`` in a child process (the environment as set), optionally with the
    size of any file it writes capped — how a full disk looks to the process."""

    def cap() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-c", CODE, *argv],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=cap,
    )


def runs(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT command, outcome FROM runs ORDER BY id").fetchall()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- owner-only ------------------------------------------------------------------------------
def test_the_state_file_its_wal_and_shm_are_owner_only(state):
    old = os.umask(0o022)
    try:
        with Store.open(state) as store:
            store.add_link(Kind.ACCOUNTS, "L1", "K1", how="manual", run_id=None)
            files = [state, Path(f"{state}-wal"), Path(f"{state}-shm"), Path(f"{state}.id")]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        os.umask(old)


def test_a_state_file_left_world_readable_is_narrowed_when_opened(state):
    with Store.open(state):
        pass
    os.chmod(state, 0o644)
    with Store.open(state):
        assert mode(state) == 0o600


# -- a state file that existed never silently becomes a new one ------------------------------
@pytest.mark.parametrize("loss", ["truncated", "deleted"])
def test_a_lost_state_file_is_refused_until_started_over_on_purpose(sandbox, state, loss):
    with Store.open(state) as store:
        store.add_link(Kind.ACCOUNTS, "L1", "K1", how="manual", run_id=None)
    if loss == "truncated":
        state.write_bytes(b"")
    else:
        state.unlink()
    for argv in (["status"], ["sync", "--dry-run"], ["runs"], ["delink", "accounts", "L1"]):
        out = cli(*argv)
        assert out.returncode == 5, (argv, out.stderr)
        line = out.stderr.strip().splitlines()[-1]
        assert ("is empty" if loss == "truncated" else "is missing") in line
        assert "restore it from a backup" in line and "disconnect --yes" in line
        assert "Traceback" not in out.stderr
    assert (state.stat().st_size == 0) if loss == "truncated" else not state.exists()
    out = cli("disconnect", "--yes")  # starting over is a deliberate act
    assert out.returncode == 0, out.stderr
    assert cli("status").returncode == 0
    assert runs(state) == [("disconnect", "done")]


def test_a_state_file_deleted_mid_run_stops_the_run_instead_of_saying_done(sandbox, state):
    from pmtools.config import Settings
    from pmtools.engine.tenant import connect_checked

    def delete_when_planning(stage, done, total, message):
        if stage == "linking" and message == "planning":
            state.unlink()  # as an operator's cleanup script might, while the run writes

    with Store.open(state) as store:
        liscio, ipm = connect_checked(Settings.from_env(), store)
        with pytest.raises(StateLost, match="was deleted while pmtools was using it"):
            run_sync(
                liscio=liscio,
                ipm=ipm,
                store=store,
                policy=SyncPolicy(force=True),
                progress=delete_when_planning,
            )
    out = cli("sync")  # the next command does not start over silently either
    assert out.returncode == 5 and "is missing" in out.stderr


# -- a state file that cannot be written -----------------------------------------------------
@pytest.mark.parametrize("sandbox", [{}], indirect=True)  # the demo firm: 300 organizations
def test_a_full_disk_is_said_in_words_and_the_run_marked_failed(sandbox, state):
    assert cli("status").returncode == 0  # the file with its schema
    biggest = max(p.stat().st_size for p in state.parent.iterdir() if p.is_file())
    # Room for the run's first rows, not for the organizations pulled into the cache (~40
    # pages in one transaction): the disk fills in the middle of a big write, as it does.
    out = cli("sync", "--force", limit_bytes=biggest + 64 * 1024)
    assert out.returncode == 5, out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith(f"pmtools: the state file {state} could not be written")
    assert "Traceback" not in out.stderr
    assert runs(state) == [("sync", "failed")]
    with sqlite3.connect(state) as db:
        assert "could not be written" in db.execute("SELECT message FROM runs").fetchone()[0]
    assert cli("sync", "--force").returncode in (0, 1)  # with room again, it syncs


def _make_read_only(path: Path) -> None:
    os.chmod(path, 0o444)
    try:
        with open(path, "r+b"):
            pass
    except PermissionError:
        return
    # root ignores the mode: the immutable attribute is what a read-only disk looks like.
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot make a file read-only on this machine")


def test_a_read_only_state_file_is_said_in_words(sandbox, state):
    assert cli("status").returncode == 0
    _make_read_only(state)
    try:
        for argv in (["sync", "--force"], ["not-a-match", "accounts", "L1", "K1"]):
            out = cli(*argv)
            assert out.returncode == 5, (argv, out.stderr)
            line = out.stderr.strip().splitlines()[-1]
            assert "could not be written: it is read-only" in line
            assert "Traceback" not in out.stderr
        assert cli("status").returncode == 0  # reading it still works
    finally:
        subprocess.run(["chattr", "-i", str(state)], capture_output=True)
        os.chmod(state, 0o600)
    assert runs(state) == []


# -- unexpected errors -----------------------------------------------------------------------
def test_an_unexpected_error_exits_6_in_one_line_and_marks_the_run_failed(sandbox, state):
    assert cli("sync", "--force").returncode in (0, 1)
    with sqlite3.connect(state) as db:  # a cache row no pmtools wrote: reading it crashes
        db.execute("UPDATE ipm_cache SET record = '{\"unexpected\": true}'")
    out = cli("sync")
    assert out.returncode == 6, out.stderr
    assert "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("pmtools: unexpected error (") and "marked failed" in line
    assert "-v" in line
    assert runs(state)[-1] == ("sync", "failed")
    verbose = cli("-v", "sync")
    assert verbose.returncode == 6 and "Traceback" in verbose.stderr


def test_the_exit_codes_are_documented():
    from pmtools.cli import EXIT_UNEXPECTED

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{EXIT_UNEXPECTED} an unexpected error" in readme


def test_a_state_file_emptied_mid_run_stops_the_run(sandbox, state):
    from pmtools.config import Settings
    from pmtools.engine.tenant import connect_checked

    def truncate_when_planning(stage, done, total, message):
        if stage == "linking" and message == "planning":
            os.truncate(state, 0)  # e.g. `> state.sqlite` by mistake, while the run writes

    with Store.open(state) as store:
        liscio, ipm = connect_checked(Settings.from_env(), store)
        with pytest.raises(StateLost, match="was emptied"):
            run_sync(
                liscio=liscio,
                ipm=ipm,
                store=store,
                policy=SyncPolicy(force=True),
                progress=truncate_when_planning,
            )
    out = cli("status")  # SQLite put back what its WAL held, or the file is refused as damaged
    assert out.returncode == 5 or "failed (the state file" in out.stdout, out
