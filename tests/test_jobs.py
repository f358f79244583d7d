"""Jobs on the embedded default: the runner in-process, one job per firm across the command line
and the queue, the scheduler, the watchdog, a worker stopped with SIGTERM.

Real parts throughout: the simulator over loopback HTTP, SQLite registry and state files, the
Huey queue in the test's PMTOOLS_HOME, ``pmtools`` commands and workers as subprocesses. Every
wait is on an observed event (a held write, a job's state) with a timeout that only stops a
hang.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakes import point_at

from pmtools import jobs
from pmtools.cli import main
from pmtools.jobs import recovery
from pmtools.jobs.runner import Reporter, run_job
from pmtools.sandbox.app import Credentials
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import SandboxServer, start_sandbox
from pmtools.store import Store
from pmtools.store.backend import backend_from_env

HANG = 600
CLI = [sys.executable, "-c", "from pmtools.cli import entry; entry()"]


@pytest.fixture
def sandbox():
    server = start_sandbox(dataset=demo_dataset(seed=5, organizations=14, people=28), rate_limit=0)
    yield server
    server.stop()


def add_firm(server: SandboxServer, name: str = "Jobs Test Firm", **values: Any) -> str:
    with backend_from_env().registry() as registry:
        return registry.add_firm(
            name,
            ipm_url=server.ipm_url,
            liscio_url=server.liscio_url,
            ipm_rate_limit=0,
            simulator=True,
            **values,
        ).slug


def submit(slug: str, **params: Any) -> Any:
    with backend_from_env().registry() as registry:
        return registry.submit(slug, "sync", params, started_by="test")


def wait_for(what: str, check: Any) -> Any:
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- the runner --------------------------------------------------------------------------------
def test_a_job_runs_records_its_progress_and_ends_with_a_summary(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug, force=True)
    assert run_job(job.id, "test-worker") == "ran"
    done = jobs.get_job(job.id)
    assert done.state == "done" and done.outcome == "done" and done.attempt == 1
    assert done.stage == "linking" and done.done == done.total > 0
    assert done.run_id == "1" and done.finished_at and done.eta is None
    summary = done.summary
    assert summary["counts"]["linked"] > 0 and summary["errors"] == 0
    assert set(summary["awaiting_review"]) == {"ambiguous", "unmatched"}
    assert summary["awaiting_review"]["ambiguous"] == summary["counts"]["ambiguous"]
    with backend_from_env().open_store(slug) as store:
        assert [r["outcome"] for r in store.runs()] == ["done"]
    assert run_job(job.id, "another-worker") == "skipped"  # a duplicate message runs nothing


def test_progress_is_throttled_and_gives_an_eta_from_the_rate_limit(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug)
    clock = [100.0]
    cancel = threading.Event()
    with backend_from_env().registry() as registry:
        reporter = Reporter(registry, job.id, cancel=cancel, rate_limit=60, clock=lambda: clock[0])
        reporter("linking", 0, 10, "planning")
        written = registry.get_job(job.id)
        assert written.stage == "linking" and written.total == 10
        # 60 requests a minute and 10 left: at least 10 seconds from now
        from pmtools.core.timestamps import now_iso, parse

        assert (parse(written.eta) - parse(now_iso())).total_seconds() > 8
        reporter("linking", 1, 10, "same instant")  # throttled: not written
        assert registry.get_job(job.id).done == 0 and reporter.writes == 1
        clock[0] += 1.0
        reporter("linking", 2, 10, "a second later")
        assert registry.get_job(job.id).done == 2 and reporter.writes == 2
        reporter("linking", 10, 10, "the end is always written")
        assert registry.get_job(job.id).done == 10
        registry.request_cancel(job.id)
        reporter("linking", 10, 10, "")
        assert cancel.is_set()


def test_a_cancel_asked_mid_run_stops_the_job_at_its_next_step(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug, force=True)
    held = sandbox.hold_write(2, commit=True)
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(run_job(job.id, "w")))
    runner.start()
    assert held.reached.wait(HANG)
    assert jobs.cancel(job.id).state == "running"  # a running job stops at its next step
    held.release()
    runner.join(HANG)
    ended = jobs.get_job(job.id)
    assert outcome == ["ran"] and ended.state == "cancelled" and ended.outcome == "cancelled"
    with backend_from_env().open_store(slug) as store:
        assert [r["outcome"] for r in store.runs()] == ["cancelled"]


def test_a_queued_job_cancelled_never_runs(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug, force=True)
    assert jobs.cancel(job.id).state == "cancelled"
    assert run_job(job.id, "w") == "skipped"
    with backend_from_env().open_store(slug) as store:
        assert store.runs() == []


def test_a_refused_first_sync_is_a_refused_job_in_words(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug, min_share=1.0)  # the duplicate guard refuses this firm's first sync
    assert run_job(job.id, "w") == "ran"
    ended = jobs.get_job(job.id)
    # the guard's refusal is named, so that the page offers its override
    assert ended.state == "refused" and ended.outcome == "preflight"
    assert "Liscio" in ended.message and "Traceback" not in ended.message


def test_a_service_failure_is_a_failed_job_in_words(tmp_path):
    wrong = Credentials(ipm_token="another-token-than-the-sandboxes")
    with start_sandbox(dataset=demo_dataset(organizations=5, people=5), credentials=wrong) as srv:
        slug = add_firm(srv)
        job = submit(slug, force=True)
        assert run_job(job.id, "w") == "ran"
    ended = jobs.get_job(job.id)
    assert ended.state == "failed"
    assert ended.message.startswith("IPM refused pmtools' credentials")
    assert "http" not in ended.message and "Traceback" not in ended.message


# -- one job per firm across the command line and the queue ------------------------------------
def test_the_command_line_and_the_queue_share_one_job_per_firm(sandbox, tmp_path, monkeypatch):
    point_at(monkeypatch, sandbox)
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(state))
    slug = jobs.environment_slug(state)

    queued = jobs.submit_sync(slug, started_by="app")  # Sync Now from the page, no worker yet
    proc = subprocess.run(
        [*CLI, "sync"], env=dict(os.environ), capture_output=True, text=True, timeout=HANG
    )
    assert proc.returncode == 4, proc.stderr
    assert "a sync for this firm is already queued (started by app)" in proc.stderr
    jobs.cancel(queued.id)

    held = sandbox.hold_write(2, commit=True)
    first = subprocess.Popen(
        [*CLI, "sync", "--force"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.reached.wait(HANG)
        running = wait_for("the command's job", lambda: _active(slug))
        assert running.state == "running" and running.started_by == "cli"
        with pytest.raises(jobs.JobRunning):
            jobs.submit_sync(slug, started_by="app")
        second = subprocess.run(
            [*CLI, "sync"], env=dict(os.environ), capture_output=True, text=True, timeout=HANG
        )
        assert second.returncode == 4, second.stderr
        assert "a sync for this firm is already running (started by cli)" in second.stderr
        jobs.cancel(running.id)  # Cancel from the page stops the command's sync
    finally:
        held.release()
        out, err = first.communicate(timeout=HANG)
    assert first.returncode == 5, err
    assert "cancelled" in out and "run the same command again" in err
    assert jobs.get_job(running.id).state == "cancelled"


def _active(slug: str) -> Any:
    with backend_from_env().registry() as registry:
        return registry.active_job(slug)


def test_a_command_killed_mid_sync_leaves_a_job_the_next_command_takes_over(
    sandbox, tmp_path, monkeypatch
):
    point_at(monkeypatch, sandbox)
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(state))
    held = sandbox.hold_write(2, commit=False)
    proc = subprocess.Popen(
        [*CLI, "sync", "--force"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert held.reached.wait(HANG)
    proc.send_signal(signal.SIGKILL)
    proc.wait(HANG)
    held.release()
    slug = jobs.environment_slug(state)
    dead = _active(slug)
    assert dead.state == "running"
    assert main(["sync"]) == 0
    assert jobs.get_job(dead.id).outcome == "interrupted"
    assert _active(slug) is None
    with Store.open(state) as store:
        assert [r["outcome"] for r in store.runs()] == ["interrupted", "done"]


# -- the scheduler -----------------------------------------------------------------------------
def test_a_due_firm_gets_one_scheduled_sync_and_not_two(sandbox):
    slug = add_firm(sandbox, schedule_minutes=30)
    add_firm(sandbox, name="Unscheduled Firm")
    backend = backend_from_env()
    results: list[list[Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(recovery.start_due_syncs(backend)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    started = [job for batch in results for job in batch]
    assert [(j.firm, j.kind, j.started_by) for j in started] == [(slug, "sync", "the schedule")]
    jobs.cancel(started[0].id)
    assert recovery.start_due_syncs(backend) == []  # its turn was taken: due in 30 minutes
    with backend.registry() as registry:
        firm = registry.get_firm(slug)
        assert firm.last_scheduled_at is not None
        later = firm.next_scheduled_at()
    assert [j.firm for j in recovery.start_due_syncs(backend, now=later)] == [slug]


# -- the watchdog ------------------------------------------------------------------------------
def test_the_watchdog_requeues_a_job_whose_worker_died_and_leaves_a_live_one(sandbox):
    backend = backend_from_env()
    dead_slug = add_firm(sandbox, name="Dead Worker Firm")
    live_slug = add_firm(sandbox, name="Live Worker Firm")
    with backend.registry() as registry:
        dead = registry.claim(submit(dead_slug).id, "gone-worker")
        live = registry.claim(submit(live_slug).id, "live-worker")
    assert dead is not None and live is not None
    backend.open_store(live_slug).close()
    holder = subprocess.Popen(  # a live worker: another process holding the firm's lock
        [
            sys.executable,
            "-c",
            "import sys; from pmtools.store import Store\n"
            "with Store.open(sys.argv[1]) as s, s.lock():\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(backend.store_path(live_slug)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert recovery.requeue_dead(backend) == [dead.id]
    finally:
        holder.stdin.close()
        holder.wait(HANG)
    assert jobs.get_job(dead.id).state == "queued"
    assert jobs.get_job(live.id).state == "running"
    assert recovery.requeue_dead(backend) == [live.id]  # its holder has gone now


# -- the worker --------------------------------------------------------------------------------
def test_a_worker_stopped_with_sigterm_puts_its_job_back_and_the_next_worker_finishes_it(
    sandbox,
):
    slug = add_firm(sandbox)
    held = sandbox.hold_write(2, commit=True)
    worker = subprocess.Popen(
        [*CLI, "worker", "--name", "first"],
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job = jobs.submit_sync(slug, force=True, started_by="test")
        assert held.reached.wait(HANG)
        worker.send_signal(signal.SIGTERM)
        for line in worker.stderr:  # the worker says it is stopping: then the write returns
            if "worker stopping" in line:
                break
        held.release()
        worker.stderr.read()
        assert worker.wait(HANG) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    back = jobs.get_job(job.id)
    assert back.state == "queued" and back.attempt == 1 and not back.cancel_requested
    second = subprocess.Popen([*CLI, "worker", "--name", "second"], env=dict(os.environ))
    try:
        ended = wait_for("the job to end", lambda: _ended(job.id))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(HANG)
    assert ended.state == "done" and ended.attempt == 2 and ended.worker == "second"
    with backend_from_env().open_store(slug) as store:
        assert [r["outcome"] for r in store.runs()] == ["cancelled", "done"]


def _ended(job_id: str) -> Any:
    job = jobs.get_job(job_id)
    return None if job.active else job


def test_the_queue_url_is_checked_and_never_shown_with_its_password():
    from pmtools.errors import ConfigError
    from pmtools.jobs.queue import describe_queue_url, queue_from_env

    with pytest.raises(ConfigError, match="PMTOOLS_QUEUE_URL") as info:
        queue_from_env({"PMTOOLS_QUEUE_URL": "amqp://user:s3cret@broker/"})
    assert "s3cret" not in str(info.value)
    words = describe_queue_url("redis://user:s3cret@cache.example:6380/2")
    assert words == "Redis at cache.example:6380/2"
    assert (
        Path(queue_from_env({"PMTOOLS_HOME": os.environ["PMTOOLS_HOME"]}).where.split()[-1]).name
        == "queue.sqlite"
    )


# -- the app's worker --------------------------------------------------------------------------
def _children(root: int) -> dict[int, bytes]:
    """The processes descending from ``root``, with their command lines (Linux /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
        return False

    return {pid: cmd for pid, cmd in commands.items() if pid in parents and descends(pid)}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_app_runs_a_worker_and_stops_it_with_itself(tmp_path, jupyter_dirs):
    import json

    from pmtools.cli.app import free_port, wait_ready

    notebook = tmp_path / "hello.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    port = free_port()
    env = dict(os.environ) | jupyter_dirs
    app = subprocess.Popen(
        [*CLI, "app", "--port", str(port), "--dataset", "empty", "--notebook", str(notebook)],
        env=env,
        cwd=str(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/", app, timeout=HANG)
        first = _app_workers(app.pid)
        assert len(first) == 1
        assert b"--concurrency=8" in _children(app.pid)[first[0]]
        # a worker that dies (kill -9) is started again: Sync Now never waits for ever
        os.kill(first[0], signal.SIGKILL)
        wait_for(
            "the app to start its worker again", lambda: _app_workers(app.pid) not in ([], first)
        )
        workers = _app_workers(app.pid)
        assert len(workers) == 1
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(HANG)
    wait_for("the worker to stop", lambda: not _alive(workers[0]))


def _app_workers(pid: int) -> list[int]:
    return [p for p, cmd in _children(pid).items() if b"\x00worker" in cmd]


def test_a_worker_started_by_the_app_stops_when_the_app_is_killed():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys\n"
            f"p = subprocess.Popen({[*CLI, 'worker']!r} + [f'--parent={{os.getpid()}}'])\n"
            "print(p.pid, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait(HANG)
    try:
        wait_for("the orphaned worker to stop", lambda: not _alive(worker))
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)


# -- pmtools sync --background, pmtools jobs ---------------------------------------------------
def test_background_sync_is_listed_and_cancelled_by_the_firms_name(sandbox, capsys):
    add_firm(sandbox, name="Smith & Co. CPA")
    assert main(["--firm", "smith & co. cpa", "sync", "--background"]) == 0
    out = capsys.readouterr().out
    assert "a sync of Smith & Co. CPA is queued for the worker" in out
    assert main(["--firm", "Smith & Co. CPA", "sync", "--background"]) == 4
    assert "already queued" in capsys.readouterr().err
    assert main(["jobs"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("Smith & Co. CPA: sync queued — started by cli at ")
    assert main(["jobs", "cancel", "--firm", "Smith & Co. CPA"]) == 0
    assert "a sync of Smith & Co. CPA stops now" in capsys.readouterr().out
    assert main(["jobs", "--firm", "Smith & Co. CPA"]) == 0
    assert "sync cancelled — started by cli" in capsys.readouterr().out
    assert main(["jobs", "cancel", "--firm", "Smith & Co. CPA"]) == 0
    assert "has no job to cancel" in capsys.readouterr().out


def test_pmtools_jobs_says_times_for_people_and_an_outcome_once():
    from types import SimpleNamespace

    from pmtools.cli.jobs import describe

    base = dict(kind="sync", started_by="app", created_at="2026-12-03T15:21:00.617923Z")
    running = SimpleNamespace(
        **base, state="running", stage="linking", done=227, total=1668,
        eta="2026-12-03T15:23:48.827787Z", outcome=None, message=None,
    )  # fmt: skip
    line = describe(running, "Baker Tax Partners")
    assert line == (
        "Baker Tax Partners: sync running — linking 227/1668 — ETA 2026-12-03 15:23 UTC — "
        "started by app at 2026-12-03 15:21 UTC"
    )
    done = SimpleNamespace(**base, state="done", outcome="done", message=None)
    assert describe(done, "Nguyen CPA") == (
        "Nguyen CPA: sync done — started by app at 2026-12-03 15:21 UTC"
    )
    errors = SimpleNamespace(**base, state="done", outcome="done_with_errors", message=None)
    assert describe(errors, "Nguyen CPA").endswith("UTC — done with errors")
    cancelled = SimpleNamespace(**base, state="cancelled", outcome="cancelled", message="cancelled")
    assert describe(cancelled, "Smith & Co").endswith("started by app at 2026-12-03 15:21 UTC")


# -- jobs a page runs itself -------------------------------------------------------------------
def test_a_pages_own_job_is_never_run_by_a_worker_and_ends_when_its_page_is_gone(sandbox):
    backend = backend_from_env()
    slug = add_firm(sandbox)
    waiting = submit(slug, in_page=True, force=True)
    assert run_job(waiting.id, "w") == "skipped"  # only its page runs it
    assert recovery.servable_queued(backend) == []
    with backend.registry() as registry:
        registry.claim(waiting.id, "this page")
    assert recovery.requeue_dead(backend) == []  # not requeued: its page is gone, so it ends
    ended = jobs.get_job(waiting.id)
    assert ended.state == "cancelled" and ended.outcome == "interrupted"
    assert "the page that ran it closed" in ended.message


def test_a_job_whose_params_ask_for_a_dry_run_writes_nothing(sandbox):
    slug = add_firm(sandbox)
    job = submit(slug, dry_run=True, force=True)
    assert run_job(job.id, "w") == "ran"
    ended = jobs.get_job(job.id)
    assert ended.state == "done" and ended.outcome == "dry_run" and ended.run_id is None
    with backend_from_env().open_store(slug) as store:
        assert store.runs() == []
    assert sandbox.stats.snapshot().get("ipm:PUT", 0) == 0
