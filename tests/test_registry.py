"""The registry: firms, one active job per firm, claiming, progress, cancel, schedules."""

import pytest

from pmtools.errors import ConfigError
from pmtools.store.backend import backend_from_env
from pmtools.store.registry import FirmExists, FirmUnknown, JobRunning, Registry, slug_for
from pmtools.store.sql import SqliteSql


@pytest.fixture
def registry(tmp_path):
    with Registry(SqliteSql(tmp_path / "registry.sqlite")) as r:
        yield r


def test_firms_round_trip_and_names_compare_without_case(registry):
    firm = registry.add_firm("Smith & Co. CPA", ipm_url="https://ipm", ipm_rate_limit=60)
    assert firm.slug == "smith-co-cpa"
    assert registry.get_firm("SMITH & CO.  cpa") == firm
    assert registry.get_firm("smith-co-cpa") == firm
    with pytest.raises(FirmExists):
        registry.add_firm("smith & co. CPA")
    other = registry.add_firm("Smith Co CPA")  # same slug base, a different name
    assert other.slug == "smith-co-cpa-2"
    assert [f.name for f in registry.list_firms()] == ["Smith & Co. CPA", "Smith Co CPA"]
    registry.remove_firm(other.slug)
    with pytest.raises(FirmUnknown, match="Smith & Co. CPA"):
        registry.get_firm("Smith Co CPA")


@pytest.mark.parametrize("name", ["", "   ", "a\u200bb", "x" * 81, "bell\x07"])
def test_bad_firm_names_are_refused(registry, name):
    with pytest.raises(ConfigError):
        registry.add_firm(name)


def test_slugs_are_safe_for_files_and_schemas():
    assert slug_for("Müller Steuerberatung GmbH") == "muller-steuerberatung-gmbh"
    assert slug_for("../../etc") == "etc"
    assert slug_for("株式会社") == "firm"
    # never a key of the environment firm's jobs ("environment", "environment-<hash>")
    assert slug_for("Environment Partners LLC") == "firm-environment-partners-llc"
    assert slug_for("environment") == "firm-environment"


def test_one_active_job_per_firm(registry):
    registry.add_firm("A")
    registry.add_firm("B")
    job = registry.submit("a", "sync", {"force": False}, started_by="cli")
    with pytest.raises(JobRunning) as refused:
        registry.submit("a", "sync", started_by="app")
    assert refused.value.job.id == job.id
    assert "already queued" in str(refused.value)
    registry.submit("b", "sync", started_by="app")  # another firm runs in parallel
    # the database itself refuses a second active job, whatever the code above it does
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        registry.sql.x(
            "INSERT INTO jobs (id, firm, kind, state, created_at, updated_at)"
            " VALUES ('x', 'a', 'sync', 'queued', '', '')"
        )


def test_claim_is_a_compare_and_set_and_requeue_gives_it_back(registry):
    registry.add_firm("A")
    job = registry.submit("a", "sync", started_by="cli")
    first = registry.claim(job.id, "w1")
    assert first is not None and first.state == "running" and first.attempt == 1
    assert registry.claim(job.id, "w2") is None  # a duplicate queue message: no second run
    assert not registry.requeue(job.id, worker="w2")
    assert registry.requeue(job.id, worker="w1")
    second = registry.claim(job.id, "w2")
    assert second is not None and second.attempt == 2 and second.worker == "w2"
    assert registry.running_jobs() == [second]


def test_progress_cancel_and_finish(registry):
    registry.add_firm("A")
    job = registry.submit("a", "sync", started_by="cli")
    registry.claim(job.id, "w1")
    assert registry.progress(job.id, stage="linking", done=3, total=10) is False
    registry.request_cancel(job.id)
    assert registry.progress(job.id, stage="linking", done=4, total=10) is True
    done = registry.finish(job.id, state="cancelled", summary={"created": 1}, run_id="7")
    assert (done.state, done.summary, done.run_id, done.done) == (
        "cancelled",
        {"created": 1},
        "7",
        4,
    )
    assert registry.active_job("a") is None
    assert registry.last_job("a") == done
    # a queued job is cancelled at once: no worker will start it
    queued = registry.submit("a", "sync", started_by="cli")
    assert registry.request_cancel(queued.id).state == "cancelled"
    assert registry.claim(queued.id, "w1") is None


def test_schedules(registry):
    registry.add_firm("A", schedule_minutes=30)
    registry.add_firm("B")
    assert [f.slug for f in registry.due_firms("2026-12-03T10:00:00Z")] == ["a"]
    registry.mark_scheduled("a", "2026-12-03T10:00:00Z")
    assert registry.due_firms("2026-12-03T10:29:00Z") == []
    assert [f.slug for f in registry.due_firms("2026-12-03T10:30:00Z")] == ["a"]
    assert registry.get_firm("a").next_scheduled_at().startswith("2026-12-03T10:30")
    registry.update_firm("a", schedule_minutes=None)
    assert registry.due_firms("2026-12-04T00:00:00Z") == []


def test_backend_keeps_everything_under_pmtools_home(pmtools_home):
    backend = backend_from_env()
    assert backend.home == pmtools_home and backend.kind == "sqlite"
    with backend.registry() as registry:
        firm = registry.add_firm("A")
    with backend.open_store(firm.slug) as store:
        assert store.path == pmtools_home / "firms" / "a" / "state.sqlite"
    assert "SQLite" in backend.describe()
