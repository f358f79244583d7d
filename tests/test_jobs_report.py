"""A long pairs report as a job: the worker writes the files owner-only under
``$PMTOOLS_HOME/reports/<firm>/``, and the page offers them when the job is done.

Real parts: the simulator over loopback HTTP, SQLite registry and state files, the Huey queue in
the test's PMTOOLS_HOME. Waits are on observed job states.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pmtools import jobs
from pmtools.jobs.runner import run_job
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import start_sandbox
from pmtools.store.backend import backend_from_env, home_from_env

HANG = 600


@pytest.fixture
def slug():
    server = start_sandbox(dataset=demo_dataset(organizations=20, people=20), rate_limit=0)
    try:
        with backend_from_env().registry() as registry:
            name = registry.add_firm(
                "Report Job Firm",
                ipm_url=server.ipm_url,
                liscio_url=server.liscio_url,
                ipm_rate_limit=0,
                simulator=True,
            ).slug
            first = registry.submit(name, "sync", {"force": True}, started_by="test")
        assert run_job(first.id, "test") == "ran"
        yield name
    finally:
        server.stop()


def test_a_report_job_writes_its_files_owner_only(slug):
    job = jobs.submit_report(slug, "accounts", "linked", started_by="test")
    assert run_job(job.id, "test-worker") == "ran"
    done = jobs.get_job(job.id)
    assert done.state == "done" and done.summary["rows"] > 0, done.message
    folder = home_from_env() / "reports" / slug
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = {fmt: Path(p) for fmt, p in done.summary["files"].items()}
    assert set(files) == {"csv", "xlsx"}
    for path in files.values():
        assert path.parent == folder and stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = files["csv"].read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == done.summary["rows"] + 1  # the header, then one line per row


def test_the_page_submits_a_long_report_and_offers_its_files(slug):
    from pmtools.workbench import Workbench
    from pmtools.workbench.session import open_firm_session

    session = open_firm_session(slug)
    try:
        assert not session.jobs_in_page
        app = Workbench(session)
        panel = app.report
        panel.kind.value, panel.status.value, panel.fresh.value = "accounts", "all", True
        assert panel.build()
        job = panel.job
        assert job.kind == "report" and job.params["status"] == "all"
        assert run_job(job.id, "test-worker") == "ran"
        assert panel.wait(HANG)
        ended = jobs.get_job(job.id)
        assert "Download CSV" in panel.links.value and "Download Excel" in panel.links.value
        assert panel.frame is not None and len(panel.frame) == ended.summary["rows"]
        assert f"{ended.summary['rows']} rows" in panel.preview.value
        # the Sync Now panel follows every job of the firm: the report's end is no sync, so the
        # report it just offered stays offered (CI: its links went, "built before the last
        # Sync Now")
        app.sync._ended(ended)  # what the Sync Now panel does when it sees the job end
        assert "Download CSV" in panel.links.value
        assert "before the last Sync Now" not in panel.preview.value
        # one job per firm: a report asked while a sync is queued says so in one sentence
        sync = jobs.submit_sync(slug, started_by="cli")
        assert not panel.build()
        assert "a sync for this firm is already queued" in panel.preview.value
        jobs.cancel(sync.id)
    finally:
        session.close()


def test_only_the_newest_reports_of_a_firm_are_kept(tmp_path):
    import os

    from pmtools.jobs.report import prune

    for n in range(12):
        for fmt in ("csv", "xlsx"):
            path = tmp_path / f"pmtools-accounts-all-{n:08d}.{fmt}"
            path.write_text("x")
            os.utime(path, (1_000_000 + n, 1_000_000 + n))
    (tmp_path / "notes.txt").write_text("not a report")
    prune(tmp_path, keep=10)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 21 and "notes.txt" in kept
    assert "pmtools-accounts-all-00000000.csv" not in kept  # the two oldest went
    assert "pmtools-accounts-all-00000002.xlsx" in kept
