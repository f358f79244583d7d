"""The portfolio and Sync Now as a job, in-process: the registry is real (SQLite in the test's
PMTOOLS_HOME), the services are the simulator over HTTP, and the test plays the worker by
writing the job's rows as a worker would (claim, progress, finish).

Waits are on observed widget changes (an Event set by a trait observer), never on sleeps.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import ipywidgets as ipw
import pytest

from pmtools.config import Settings
from pmtools.core.timestamps import minus, now_iso
from pmtools.jobs import environment_slug
from pmtools.store.backend import backend_from_env
from pmtools.workbench import Workbench, build_app, open_session
from pmtools.workbench.firmview import PortfolioApp, firm_from_query
from pmtools.workbench.jobwords import (
    at_words,
    duration_words,
    eta_words,
    schedule_words,
    when_words,
)
from pmtools.workbench.portfolio import EMPTY, Portfolio, read_rows
from pmtools.workbench.syncing import PanelState

WAIT = 120
NOW = "2026-12-03T14:02:00.000000Z"


def _until(widget, trait, check, *, timeout=WAIT):
    """Wait until ``check()`` holds, re-checking whenever ``widget.trait`` changes."""
    changed = threading.Event()
    handler = lambda _c: changed.set()  # noqa: E731
    widget.observe(handler, trait)
    try:
        while not check():
            assert changed.wait(timeout), f"{trait} did not change in {timeout} s"
            changed.clear()
    finally:
        widget.unobserve(handler, trait)


@pytest.fixture
def registry():
    with backend_from_env().registry() as r:
        yield r


def _done(registry, slug, **summary):
    job = registry.submit(slug, "sync", {}, started_by="cli")
    registry.claim(job.id, "w1")
    return registry.finish(job.id, state="done", outcome="done", summary=summary, run_id="7")


# -- words ---------------------------------------------------------------------------------------
def test_times_and_durations_in_words():
    assert when_words("2026-12-03T09:10:00Z", NOW) == "today 09:10"
    assert when_words("2026-12-02T23:59:00Z", NOW) == "yesterday 23:59"
    assert when_words("2026-11-30T10:00:00Z", NOW) == "3 days ago"
    assert at_words("2026-12-03T15:00:00Z", NOW) == "15:00"
    assert at_words("2026-12-04T09:00:00Z", NOW) == "tomorrow 09:00"
    assert duration_words(6000) == "about 1 h 40 min"
    assert duration_words(20) == "less than a minute"
    assert eta_words("2026-12-03T15:42:00Z", NOW) == "about 1 h 40 min left"
    assert eta_words(None, NOW) == ""


def test_schedule_words(registry):
    firm = registry.add_firm("Scheduled LLP", schedule_minutes=60)
    registry.mark_scheduled(firm.slug, "2026-12-03T14:00:00.000000Z")
    assert schedule_words(registry.get_firm(firm.slug), NOW) == "every 60 min, next at 15:00"
    assert schedule_words(registry.add_firm("Off LLP"), NOW) == "no schedule"


# -- the portfolio's rows ------------------------------------------------------------------------
def test_rows_say_each_firms_last_sync_errors_review_job_and_schedule(registry):
    for name in ("Alpha CPA", "Beta CPA", "Gamma CPA", "Delta CPA", "Epsilon CPA"):
        registry.add_firm(name, schedule_minutes=30 if name == "Alpha CPA" else None)
    _done(  # the summary as pmtools.jobs writes it
        registry,
        "alpha-cpa",
        counts={"linked": 40, "created_in_ipm": 2, "ipm_fields_written": 9, "errors": 1},
        errors=1,
        error_messages=["Acme Ltd: IPM refused the email address"],
        awaiting_review={"ambiguous": 3, "unmatched": 5},
    )
    running = registry.submit("beta-cpa", "sync", {}, started_by="the schedule")
    registry.claim(running.id, "w1")
    eta = minus(now_iso(), -timedelta(minutes=100, seconds=20))
    registry.progress(running.id, stage="linking", done=300, total=1200, eta=eta)
    registry.submit("gamma-cpa", "sync", {}, started_by="cli")  # queued
    failed = registry.submit("delta-cpa", "sync", {}, started_by="cli")
    registry.claim(failed.id, "w1")
    registry.finish(failed.id, state="failed", message="IPM refused the access key")

    rows = {r.slug: r for r in read_rows(registry)}
    assert list(rows) == ["alpha-cpa", "beta-cpa", "delta-cpa", "epsilon-cpa", "gamma-cpa"]
    alpha = rows["alpha-cpa"]
    assert alpha.last_sync.startswith("today ")
    assert "finished — 2 created, 9 updated, 40 linked" in alpha.last_sync
    assert alpha.errors == "1 record error: Acme Ltd: IPM refused the email address"
    assert alpha.review == "8 records"  # 3 ambiguous, 5 unmatched
    assert alpha.running == "" and alpha.job_id is None
    assert alpha.next_sync.startswith("every 30 min, next ")
    beta = rows["beta-cpa"]
    assert beta.running.startswith("25% Linking and field sync: 300 of 1200")
    assert (beta.done, beta.total) == (300, 1200)  # the row's progress bar
    assert beta.running.endswith("about 1 h 40 min left")
    assert beta.job_id == running.id and beta.next_sync == "no schedule"
    assert beta.last_sync == "never synced"
    assert rows["gamma-cpa"].running == "queued: waiting for a worker"
    assert rows["delta-cpa"].errors == "IPM refused the access key"
    assert "failed" in rows["delta-cpa"].last_sync
    assert rows["epsilon-cpa"].last_sync == "never synced" and rows["epsilon-cpa"].errors == ""


def test_a_cancelled_sync_keeps_the_records_awaiting_review_of_the_last_finished_one(registry):
    # Sync now, finished with 421 to review; then a sync cancelled at its first step: the
    # records are still to review (the cancelled one planned nothing), not "0 records".
    for name in ("Smith CPA", "Jones CPA"):
        registry.add_firm(name)
    _done(registry, "smith-cpa", counts={"linked": 902},
          awaiting_review={"ambiguous": 3, "unmatched": 418})  # fmt: skip
    for slug in ("smith-cpa", "jones-cpa"):
        cancelled = registry.submit(slug, "sync", {}, started_by="cli")
        registry.claim(cancelled.id, "w1")
        registry.finish(
            cancelled.id, state="cancelled", outcome="cancelled", message="cancelled",
            summary={"counts": {"linked": 0}, "awaiting_review": {"ambiguous": 0, "unmatched": 0}},
        )  # fmt: skip
    rows = {r.slug: r for r in read_rows(registry)}
    assert "cancelled" in rows["smith-cpa"].last_sync
    assert rows["smith-cpa"].review == "421 records"
    assert rows["jones-cpa"].review == ""  # never finished: nothing known to review


def test_firms_are_listed_as_people_sort_names(registry):
    for i in (0, 1, 2, 10, 11):
        registry.add_firm(f"Simulated firm {i}")
    registry.add_firm("acme 3")
    names = [r.name for r in read_rows(registry)]
    assert names == [
        "acme 3", "Simulated firm 0", "Simulated firm 1", "Simulated firm 2",
        "Simulated firm 10", "Simulated firm 11",
    ]  # fmt: skip


def test_the_demo_says_it_is_the_demo(registry, tmp_path):
    # `pmtools app` with nothing configured: a first-time user is told what the one row is
    env = environment_slug(tmp_path / "state.sqlite")
    portfolio = Portfolio(registry, environment=env, watch=False, demo=True)
    said = portfolio.empty.value
    assert "the firm below is the demo: a simulated firm with made-up records" in said
    assert "Add your own firm with the command pmtools firm add NAME" in said


def test_an_empty_registry_says_how_to_add_a_firm(registry, tmp_path):
    env = environment_slug(tmp_path / "state.sqlite")
    portfolio = Portfolio(registry, environment=env, watch=False, demo=False)
    assert "pmtools firm add" in portfolio.empty.value and EMPTY[:20] in portfolio.empty.value
    # The environment firm stands in the table, so there is something to open.
    assert [r.name for r in portfolio.rows] == ["This firm (from the environment)"]
    registry.add_firm("Alpha CPA")
    portfolio.watcher.poll()
    assert portfolio.empty.value == ""
    assert [r.slug for r in portfolio.rows] == ["alpha-cpa"]  # no jobs: not shown any more
    _done(registry, env, counts={"linked": 1})
    portfolio.watcher.poll()
    assert [r.slug for r in portfolio.rows] == ["alpha-cpa", env]


def test_a_job_started_elsewhere_appears_and_can_be_cancelled(registry):
    registry.add_firm("Alpha CPA")
    registry.add_firm("Beta CPA")
    portfolio = Portfolio(registry)  # its watcher polls in the background
    try:
        portfolio.select("beta-cpa")
        assert not portfolio.sync_button.disabled and portfolio.cancel_button.disabled
        job = registry.submit("beta-cpa", "sync", {}, started_by="cli")  # the CLI, say
        _until(portfolio.table, "value", lambda: portfolio.row("beta-cpa").job_id == job.id)
        assert portfolio.selected_slug() == "beta-cpa"  # the redraw kept the selection
        assert portfolio.sync_button.disabled and not portfolio.cancel_button.disabled
        registry.claim(job.id, "w1")
        registry.progress(job.id, stage="people", done=5, total=10)
        _until(portfolio.table, "value", lambda: "People: 5 of 10" in portfolio.row(
            "beta-cpa").running)  # fmt: skip
        portfolio.cancel_button.click()
        assert registry.get_job(job.id).cancel_requested
        assert "cancelling" in portfolio.message.value
        registry.finish(job.id, state="cancelled", outcome="cancelled")
        _until(portfolio.table, "value", lambda: portfolio.row("beta-cpa").job_id is None)
        assert "cancelled" in portfolio.row("beta-cpa").last_sync
        assert portfolio.message.value == ""  # "cancelling…" ended with its job (QA)
    finally:
        portfolio.close()


def test_an_unchanged_registry_sends_nothing(registry):
    registry.add_firm("Alpha CPA")
    portfolio = Portfolio(registry, watch=False)
    sent = []
    portfolio.table.observe(lambda c: sent.append(c), "value")
    assert not portfolio.watcher.poll() and not sent
    registry.submit("alpha-cpa", "sync", {}, started_by="cli")
    assert portfolio.watcher.poll() and len(sent) == 1


def test_the_table_shows_names_as_text_with_a_link_and_a_bar(registry):
    registry.add_firm("<img src=x onerror=alert(1)> & Co")
    job = registry.submit(slug := registry.list_firms()[0].slug, "sync", {}, started_by="cli")
    registry.claim(job.id, "w1")
    registry.progress(job.id, stage="people", done=2, total=8)
    portfolio = Portfolio(registry, watch=False)
    html = portfolio.table.value
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt; &amp; Co" in html
    assert f'href="?firm={slug}"' in html
    assert '<progress max="8" value="2"></progress> 25% People: 2 of 8' in html
    portfolio.select(slug)
    assert 'class="pm-selected"' in portfolio.table.value  # the chosen firm is marked


def test_the_query_string_names_the_firm(monkeypatch):
    assert firm_from_query("?firm=alpha-cpa") == "alpha-cpa"
    assert firm_from_query("firm=beta&x=1") == "beta"
    assert firm_from_query("") is None and firm_from_query("firm=") is None
    monkeypatch.setenv("QUERY_STRING", "firm=gamma")  # as Voilà gives it to the kernel
    assert firm_from_query() == "gamma"
    monkeypatch.setenv("QUERY_STRING", "")
    monkeypatch.setenv("PMTOOLS_FIRM", "delta")  # pmtools app --firm delta
    assert firm_from_query() == "delta" and firm_from_query("") is None


# -- a firm's workbench from the portfolio -------------------------------------------------------
@pytest.fixture
def simulated_firm(registry):
    """A firm registered on a simulator (its non-secret sandbox credentials)."""
    from pmtools.sandbox.server import start_sandbox

    sandbox = start_sandbox(dataset="demo", rate_limit=0, port=0)
    base = sandbox.url.rstrip("/")
    firm = registry.add_firm(
        "Sandbox Partners",
        ipm_url=f"{base}/karbon",
        liscio_url=f"{base}/liscio",
        ipm_rate_limit=0,
        simulator=True,
    )
    yield firm
    sandbox.stop()


def test_open_a_firm_and_go_back(simulated_firm):
    app = build_app()  # no settings: the app opens on the firms
    assert isinstance(app, PortfolioApp)
    try:
        assert app.portfolio.layout.display != "none"
        app.portfolio.select(simulated_firm.slug)
        app.portfolio.open_button.click()
        assert app.workbench is not None, app.portfolio.message.value
        assert app.workbench.session.firm == simulated_firm.slug
        assert "Sandbox Partners" in app.firm_title.value
        assert app.portfolio.layout.display == "none" and app.firm_view.layout.display == ""
        assert app.portfolio.watcher.paused  # a hidden portfolio sends no redraws
        assert not app.workbench.session.jobs_in_page  # the served app's worker runs its jobs
        opened = app.workbench
        app.back.click()
        assert app.workbench is None and app.portfolio.layout.display == ""
        assert not app.portfolio.watcher.paused
        assert not opened.sync.watcher._thread.is_alive() or opened.sync.watcher._stop.is_set()
    finally:
        app.close_firm()
        app.portfolio.close()


def test_the_address_opens_a_firm_directly(simulated_firm):
    app = build_app(query=f"firm={simulated_firm.slug}")
    try:
        assert app.workbench is not None and app.portfolio.layout.display == "none"
        assert app.workbench.session.firm == simulated_firm.slug
    finally:
        app.close_firm()
        app.portfolio.close()


def test_an_unknown_firm_says_so_on_the_portfolio(registry):
    app = build_app(query="firm=nobody")
    try:
        assert app.workbench is None and "could not be opened" in app.portfolio.message.value
    finally:
        app.portfolio.close()


# -- Sync Now follows the firm's job -------------------------------------------------------------
@pytest.fixture
def followed(tmp_path, registry):
    """A workbench whose Sync Now goes to a worker (the test is the worker)."""
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    session.page_runs_jobs = False
    session.registry = backend_from_env().registry()
    app = Workbench(session)
    yield app
    app.close_session()


def test_sync_now_submits_a_job_and_follows_it_to_the_end(followed, registry):
    panel = followed.sync
    panel.sync_now.click()
    job = registry.active_job(followed.session.firm)
    assert job is not None and job.state == "queued" and job.kind == "sync"
    assert panel.state is PanelState.RUNNING and not panel.cancel.disabled
    assert followed.ctx.busy  # the page's write actions wait for the job
    registry.claim(job.id, "w1")
    registry.progress(job.id, stage="people", done=3, total=8, message="reading people")
    _until(panel.progress_text, "value", lambda: "People: 3 of 8" in panel.progress_text.value)
    assert panel.stages["organizations"].icon == "check"
    assert panel.progress.value == 3 and panel.progress.max == 8
    registry.finish(
        job.id,
        state="done",
        outcome="done_with_errors",
        summary={"counts": {"linked": 12, "errors": 1}, "errors": ["Acme Ltd: bad email"]},
    )
    assert panel.wait(WAIT)
    assert panel.state is PanelState.DONE and not followed.ctx.busy
    assert "finished with errors" in panel.status.value
    assert "Pairs linked" in panel.summary.value and "Acme Ltd: bad email" in panel.summary.value


def test_a_reloaded_page_shows_the_running_job_and_cancel_reaches_it(followed, registry):
    job = registry.submit(followed.session.firm, "sync", {}, started_by="cli")
    registry.claim(job.id, "w1")
    registry.progress(job.id, stage="linking", done=50, total=200)
    again = Workbench(followed.session)  # what a reload (or a second browser) builds
    try:
        assert again.sync.state is PanelState.RUNNING and not again.sync.cancel.disabled
        assert "Linking and field sync: 50 of 200" in again.sync.progress_text.value
        assert "(cli)" in again.sync.status.value
        again.sync.cancel.click()
        assert registry.get_job(job.id).cancel_requested
        registry.finish(job.id, state="cancelled", outcome="cancelled")
        assert again.sync.wait(WAIT)
        assert again.sync.state is PanelState.CANCELLED
        assert "Cancelled before anything was written" in again.sync.summary.value
    finally:
        again.sync.watcher.stop()


def test_sync_now_while_a_job_runs_says_so_in_one_sentence(followed, registry):
    followed.sync.watcher.stop()  # the page has not seen it yet: the submit itself refuses
    registry.submit(followed.session.firm, "sync", {}, started_by="Dana")
    followed.sync.sync_now.click()
    text = followed.sync.status.value
    assert "already queued" in text and "Dana" in text and "Traceback" not in text
    assert followed.sync.state is PanelState.IDLE and not followed.ctx.busy


def test_a_refused_job_offers_the_override_which_asks_first(followed, registry):
    panel = followed.sync
    panel.sync_now.click()
    job = registry.active_job(followed.session.firm)
    registry.claim(job.id, "w1")
    registry.finish(  # as pmtools.jobs records a PreflightRefused
        job.id,
        state="refused",
        message="Refusing the first sync: Liscio holds 5 accounts and IPM 90 organizations",
    )
    assert panel.wait(WAIT)
    assert panel.state is PanelState.REFUSED and panel.preflight_box.layout.display != "none"
    assert (
        "Nothing was synced" in panel.status.value and "IPM 90 organizations" in panel.status.value
    )
    panel.force_button.click()  # not ticked: nothing is submitted
    assert "Tick the box" in panel.status.value
    assert registry.active_job(followed.session.firm) is None
    panel.force.value = True
    panel.force_button.click()
    forced = registry.active_job(followed.session.firm)
    assert forced is not None and forced.params.get("force") is True


def test_a_page_run_sync_is_recorded_as_a_job(tmp_path):
    """A simulator inside the kernel: the page runs the job itself, in the registry all the
    same (so one job per firm holds and the result reads back like a worker's)."""
    session = open_session(Settings(state_path=tmp_path / "state.sqlite"))
    try:
        app = Workbench(session)
        assert session.jobs_in_page
        box = ipw.HTML("the forecast")
        app.sync.mount_forecast(box)  # the Forecast box's place, under the buttons
        assert app.sync.forecast_slot.children == (box,)
        app.sync.sync_now.click()
        assert app.sync.wait(WAIT) and app.sync.state is PanelState.DONE
        job = session.registry.last_job(session.firm)
        assert job.state == "done" and job.worker.startswith("app page ")
        assert job.summary["counts"]["linked"] > 0 and job.run_id
        assert session.store.run(int(job.run_id))["outcome"] == job.outcome
    finally:
        session.close()


def test_a_dry_run_from_the_command_line_is_followed_but_turns_nothing_blue(followed, registry):
    panel = followed.sync
    job = registry.submit(followed.session.firm, "dry_run", {}, started_by="cli")
    registry.claim(job.id, "w1")
    _until(
        panel.status, "value", lambda: "A dry run for this firm is running" in panel.status.value
    )
    registry.finish(job.id, state="done", outcome="dry_run", summary={"counts": {"linked": 3}})
    assert panel.wait(WAIT)
    assert panel.state is PanelState.IDLE and "nothing was written" in panel.status.value
    assert not any("pm-stage-done" in b._dom_classes for b in panel.stages.values())
