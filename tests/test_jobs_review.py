"""The review's bulk apply as a job: the runner previews the confirmed decisions again and
applies them only if nothing changed (one undoable ``review`` run), a worker process runs one,
and the page submits it and follows it in the registry.

Real parts: the simulator over loopback HTTP, SQLite registry and state files, the Huey queue
in the test's PMTOOLS_HOME, ``pmtools worker`` as a subprocess. Waits are on observed job states.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from pmtools import jobs
from pmtools.engine.tenant import connect_checked
from pmtools.engine.undo import undo_run
from pmtools.jobs.context import resolve_job_firm
from pmtools.jobs.review import review_params
from pmtools.jobs.runner import run_job
from pmtools.review import (
    ReviewDecision,
    Verdict,
    apply_preview,
    build_queue,
    load_sources,
    preview,
)
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import SandboxServer, start_sandbox
from pmtools.store.backend import backend_from_env
from pmtools.store.registry import JobRunning

HANG = 600
CLI = [sys.executable, "-c", "from pmtools.cli import entry; entry()"]


@pytest.fixture
def sandbox():
    server = start_sandbox(dataset=demo_dataset(organizations=40, people=40), rate_limit=0)
    yield server
    server.stop()


def add_firm(server: SandboxServer) -> str:
    """A registered firm on the simulator, after its first sync (run as a job)."""
    with backend_from_env().registry() as registry:
        slug = registry.add_firm(
            "Review Job Firm",
            ipm_url=server.ipm_url,
            liscio_url=server.liscio_url,
            ipm_rate_limit=0,
            simulator=True,
        ).slug
        first = registry.submit(slug, "sync", {"force": True}, started_by="test")
    assert run_job(first.id, "test") == "ran"
    assert jobs.get_job(first.id).state == "done"
    return slug


def firm_of(slug: str) -> Any:
    return resolve_job_firm(slug, backend=backend_from_env())


def confirmed(slug: str, count: int = 3) -> tuple[list[ReviewDecision], Any]:
    """Link decisions for a few likely matches, and their preview (what a person confirms)."""
    firm = firm_of(slug)
    with firm.open_store() as store:
        liscio, ipm = connect_checked(firm.settings, store)
        sources = load_sources(store=store, liscio=liscio, ipm=ipm)
        queue = build_queue(sources)
        rows = [
            r
            for r in queue.select(status=["likely match"], side="liscio")
            if not r.tie and "alike" not in r.reason
        ]
        decisions = [
            ReviewDecision(kind=r.kind, side=r.side, record_id=r.record_id, verdict=Verdict.LINK)
            for r in rows
        ]
        shown = preview(decisions, queue=queue, sources=sources)
    accepted = {i.record_id for i in shown.items}
    decisions = [d for d in decisions if d.record_id in accepted][:count]
    assert len(decisions) == count
    return decisions, _preview(slug, decisions)


def _preview(slug: str, decisions: list[ReviewDecision]) -> Any:
    firm = firm_of(slug)
    with firm.open_store() as store:
        liscio, ipm = connect_checked(firm.settings, store)
        sources = load_sources(store=store, liscio=liscio, ipm=ipm)
        return preview(decisions, queue=build_queue(sources), sources=sources)


def submit_review(slug: str, params: dict[str, Any]) -> Any:
    with backend_from_env().registry() as registry:
        return registry.submit(slug, "review", params, started_by="test")


def links_of(slug: str) -> int:
    with backend_from_env().open_store(slug) as store:
        return len(store.links())


def test_a_review_job_applies_the_confirmed_decisions_as_one_undoable_run(sandbox):
    slug = add_firm(sandbox)
    decisions, shown = confirmed(slug)
    before = links_of(slug)
    job = submit_review(slug, review_params(decisions, shown))
    assert run_job(job.id, "test-worker") == "ran"
    done = jobs.get_job(job.id)
    assert done.state == "done" and done.outcome == "done", done.message
    assert done.summary["counts"]["linked"] == 3 and done.summary["errors"] == 0
    assert "3 linked" in done.message and done.stage == "linking" and done.done == done.total
    assert links_of(slug) == before + 3
    firm = firm_of(slug)
    with firm.open_store() as store:
        run = store.runs()[-1]
        assert run["command"] == "review" and str(run["id"]) == done.run_id
        assert run["started_by"] == "test"
        liscio, ipm = connect_checked(firm.settings, store)
        undone = undo_run(store, run["id"], liscio=liscio, ipm=ipm, started_by="test")
    assert undone.outcome == "done"
    assert links_of(slug) == before
    assert run_job(job.id, "another-worker") == "skipped"  # a duplicate message runs nothing


def test_a_review_job_whose_preview_changed_is_refused_and_writes_nothing(sandbox):
    slug = add_firm(sandbox)
    decisions, shown = confirmed(slug)
    params = review_params(decisions, shown)
    # meanwhile, someone links the first record (another page, the CLI)
    firm = firm_of(slug)
    with firm.open_store() as store:
        liscio, ipm = connect_checked(firm.settings, store)
        apply_preview(
            _preview(slug, decisions[:1]), store=store, liscio=liscio, ipm=ipm, started_by="other"
        )
        runs = len(store.runs())
    links, puts = links_of(slug), sandbox.stats.snapshot().get("ipm:PUT", 0)
    job = submit_review(slug, params)
    assert run_job(job.id, "test-worker") == "ran"
    ended = jobs.get_job(job.id)
    assert ended.state == "refused" and ended.run_id is None
    assert f"{shown.items[0].name!r}: already decided: linked to" in ended.message
    assert "nothing was written" in ended.message and "preview the decisions again" in ended.message
    assert links_of(slug) == links and sandbox.stats.snapshot().get("ipm:PUT", 0) == puts
    with firm.open_store() as store:
        assert len(store.runs()) == runs  # no run was even started


def test_one_job_per_firm_holds_for_review_jobs(sandbox):
    slug = add_firm(sandbox)
    decisions, shown = confirmed(slug, count=1)
    sync = jobs.submit_sync(slug, started_by="test")
    with pytest.raises(JobRunning, match="a sync for this firm is already queued"):
        jobs.submit_review(slug, review_params(decisions, shown), started_by="app")
    jobs.cancel(sync.id)


def test_a_worker_process_runs_a_review_job(sandbox):
    slug = add_firm(sandbox)
    decisions, shown = confirmed(slug)
    before = links_of(slug)
    worker = subprocess.Popen([*CLI, "worker", "--name", "reviewer"], env=dict(os.environ))
    try:
        job = jobs.submit_review(slug, review_params(decisions, shown), started_by="app")
        deadline = time.monotonic() + HANG
        while jobs.get_job(job.id).active and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(HANG)
    ended = jobs.get_job(job.id)
    assert ended.state == "done" and ended.worker == "reviewer", ended.message
    assert ended.started_by == "app" and ended.summary["counts"]["linked"] == 3
    assert links_of(slug) == before + 3
    with backend_from_env().open_store(slug) as store:
        assert store.runs()[-1]["command"] == "review"


# -- the page ----------------------------------------------------------------------------------
def test_the_page_submits_the_confirmed_preview_and_follows_the_job(sandbox):
    from pmtools.workbench import Workbench
    from pmtools.workbench.session import open_firm_session

    slug = add_firm(sandbox)
    decisions, _shown = confirmed(slug)
    decisions, later = decisions[:2], decisions[2:]
    before = links_of(slug)
    session = open_firm_session(slug)
    try:
        assert not session.jobs_in_page  # the served app: a worker runs the firm's jobs
        wb = Workbench(session)
        bulk = wb.review.bulk
        wb.review.load_button.click()
        assert wb.review.wait(HANG) and wb.review.queue is not None
        # a sync runs: confirming says so in one sentence, and the preview stays confirmable
        sync = jobs.submit_sync(slug, started_by="cli")
        bulk.show(decisions, "Test decisions")
        assert not bulk.apply()
        assert "a sync for this firm is already queued" in bulk.summary.value
        assert links_of(slug) == before and bulk.shown is not None
        jobs.cancel(sync.id)
        assert bulk.apply()
        job = bulk.job
        assert job.kind == "review" and job.state == "queued" and not job.params.get("in_page")
        assert run_job(job.id, "test-worker") == "ran"  # the worker's part
        assert bulk.wait(HANG)
        assert "Done (run" in bulk.summary.value and "2 linked" in bulk.summary.value
        assert links_of(slug) == before + 2
        # a reload of the page while a review job runs shows it
        params = review_params(later, _preview(slug, later))
        again = jobs.submit_review(slug, params, started_by="app")
        other = Workbench(session).review.bulk
        assert other.job is not None and other.job.id == again.id
        assert run_job(again.id, "test-worker") == "ran"
        assert other.wait(HANG) and "Done (run" in other.summary.value
    finally:
        session.close()


def test_a_page_that_runs_its_own_jobs_records_the_apply_as_a_job(sandbox):
    from pmtools.workbench import Workbench
    from pmtools.workbench.session import open_firm_session

    slug = add_firm(sandbox)
    decisions, _shown = confirmed(slug, count=2)
    before = links_of(slug)
    session = open_firm_session(slug)
    session.page_runs_jobs = True  # as a simulator in the kernel, a test or a notebook
    try:
        wb = Workbench(session)
        bulk = wb.review.bulk
        wb.review.load_button.click()
        assert wb.review.wait(HANG) and wb.review.queue is not None
        bulk.show(decisions, "Test decisions")
        assert bulk.apply()
        assert bulk.wait(HANG)
        assert bulk.result is not None and bulk.result.counts["linked"] == 2
        job = jobs.get_job(bulk.job.id)
        assert job.kind == "review" and job.params["in_page"] and job.state == "done"
        assert job.run_id == str(bulk.result.run_id) and job.summary["counts"]["linked"] == 2
        assert links_of(slug) == before + 2
    finally:
        session.close()


def test_the_portfolio_names_a_running_review_job_and_its_end_is_not_a_sync():
    from pmtools.workbench.portfolio import read_rows

    with backend_from_env().registry() as registry:
        registry.add_firm("Alpha CPA")
        job = registry.submit("alpha-cpa", "review", {"decisions": []}, started_by="app")
        registry.claim(job.id, "w1")
        registry.progress(job.id, stage="linking", done=2, total=8)
        (row,) = read_rows(registry)
        assert row.running.startswith("A review action: 25% ") and "2 of 8" in row.running
        registry.finish(job.id, state="done", outcome="done", run_id="3")
        (row,) = read_rows(registry)
        assert row.running == "" and row.last_sync == "never synced"


def test_review_import_yes_runs_a_review_job_in_its_own_process(sandbox, tmp_path, capsys):
    import csv

    from pmtools.cli import main

    slug = add_firm(sandbox)
    path = tmp_path / "review.csv"
    assert main(["--firm", slug, "review", "export", "-o", str(path)]) == 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    decisions, _shown = confirmed(slug, count=2)
    ids = {d.record_id for d in decisions}
    take = [dict(r, Decision="link") for r in rows if r["Record ID"] in ids]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(take)
    sync = jobs.submit_sync(slug, started_by="the schedule")
    capsys.readouterr()
    # one job per firm: a queued sync refuses the import (exit 4, its words), nothing written
    assert main(["--firm", slug, "review", "import", str(path), "--yes"]) == 4
    assert "a sync for this firm is already queued" in capsys.readouterr().err
    jobs.cancel(sync.id)
    before = links_of(slug)
    assert main(["--firm", slug, "review", "import", str(path), "--yes"]) == 0
    assert "2 linked" in capsys.readouterr().out
    assert links_of(slug) == before + 2
    with backend_from_env().registry() as registry:
        job = registry.last_job(slug, "review")
    assert job.state == "done" and job.started_by == "cli" and job.summary["counts"]["linked"] == 2


def test_cards_read_in_the_page_reach_the_workers_preview_and_cancel_reaches_the_job(sandbox):
    from pmtools.workbench import Workbench
    from pmtools.workbench.session import open_firm_session

    slug = add_firm(sandbox)
    decisions, shown = confirmed(slug)
    assert shown.counts()["fields_not_read"] > 0  # some IPM cards are not read yet
    before = links_of(slug)
    session = open_firm_session(slug)
    try:
        wb = Workbench(session)
        bulk = wb.review.bulk
        wb.review.load_button.click()
        assert wb.review.wait(HANG) and wb.review.queue is not None
        bulk.show(decisions, "Test decisions")
        # Cancel before a worker takes it: the job ends at once, nothing is written
        assert bulk.apply()
        bulk.request_cancel()
        assert bulk.wait(HANG) and "Cancelled" in bulk.summary.value
        assert jobs.get_job(bulk.job.id).state == "cancelled" and links_of(slug) == before
        # the page reads the missing cards and previews again; the worker sees the same
        bulk.show(decisions, "Test decisions")
        assert bulk.read_cards() and bulk.wait(HANG)
        assert bulk.shown is not None and bulk.shown.counts()["fields_not_read"] == 0
        assert bulk.apply()
        assert run_job(bulk.job.id, "test-worker") == "ran"
        assert bulk.wait(HANG)
        ended = jobs.get_job(bulk.job.id)
        assert ended.state == "done", ended.message
        assert links_of(slug) == before + 3
    finally:
        session.close()
