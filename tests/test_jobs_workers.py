"""Two ``pmtools worker`` processes on several firms; one is killed (SIGKILL) in the middle of a
write; the other takes its jobs up and finishes them.

Checked on the end states, never on call sequences: every job ends ``done``; each firm's runs
never overlap (its store's runs table); every firm's simulator ends exactly where a reference
sync of the same data, run in-process, ends (nothing lost, nothing created twice).

The simulator holds a chosen write of the firm unanswered until the worker is killed, so the
kill lands mid-write whatever the machine's load; every wait is on an observed event (a held
write, a job's state in the registry) with a timeout that only stops a hang.

The same test runs on the team backends (PostgreSQL for the state, Redis for the queue) when
the ``postgres_url`` and ``redis_url`` fixtures exist (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pmtools import config
from pmtools.config import Settings
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import SandboxServer, start_sandbox
from pmtools.store.backend import backend_from_env

WORKER = [sys.executable, "-c", "from pmtools.cli import entry; entry()", "worker"]
HANG = 600  # seconds: only stops a hang
SEEDS = (11, 12, 13)


def add_liscio_accounts(server: SandboxServer, count: int) -> None:
    """New Liscio accounts, which the sync creates in IPM (creates are what must not double)."""
    with httpx.Client(
        base_url=server.liscio_url,
        timeout=60,
        headers={"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"},
    ) as liscio:
        for i in range(count):
            reply = liscio.post(
                "/v1/accounts",
                json={"name": f"Workerkill Newco {i:02d} LLC", "phone": f"(555) 030-{i:04d}"},
            )
            assert reply.status_code == 201, reply.text


def firm_data(seed: int) -> dict[str, Any]:
    return demo_dataset(seed=seed, organizations=14, people=28)


def reference_end(seed: int, tmp: Path) -> tuple[dict[str, Any], int]:
    """A sync of the firm's data run in-process: its simulator's end and the writes it took."""
    from pmtools.connectors.factory import connect
    from pmtools.core.plan import SyncPolicy
    from pmtools.engine.sync import run_sync
    from pmtools.store import Store

    with start_sandbox(dataset=firm_data(seed), rate_limit=0) as server:
        add_liscio_accounts(server, 4)
        settings = Settings(state_path=tmp / f"reference-{seed}.sqlite", ipm_rate_limit=0)
        settings = settings.with_sandbox(server.url)
        liscio, ipm = connect(settings)
        with Store.open(settings.state_path) as store:
            result = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(force=True))
        assert result.outcome == "done", result.errors
        return server.state.canonical(), _writes(server.stats.snapshot())


def _writes(stats: dict[str, int]) -> int:
    return sum(
        stats.get(f"{side}:{method}", 0)
        for side in ("ipm", "liscio")
        for method in ("POST", "PUT", "PATCH")
    )


@pytest.fixture(params=["embedded", "team"])
def backends(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment selecting the backends: the embedded default, or PostgreSQL + Redis."""
    if request.param == "embedded":
        return {}
    try:
        pg = request.getfixturevalue("postgres_url")
        redis = request.getfixturevalue("redis_url")
    except pytest.FixtureLookupError:
        pytest.skip("the team backends' fixtures (postgres_url, redis_url) are not here")
    return {"PMTOOLS_DATABASE_URL": pg, "PMTOOLS_QUEUE_URL": redis}


def wait_for(what: str, check: Any, procs: list[subprocess.Popen]) -> Any:
    """Poll ``check()`` until it returns something true; fail at once if a worker ended."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"a worker ended while waiting for {what}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_workers_jobs_are_finished_by_the_other_exactly_once(
    tmp_path: Path, backends: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmtools import jobs

    for name, value in backends.items():
        monkeypatch.setenv(name, value)
    references = {seed: reference_end(seed, tmp_path) for seed in SEEDS}
    servers = {seed: start_sandbox(dataset=firm_data(seed), rate_limit=0) for seed in SEEDS}
    workers: dict[str, subprocess.Popen] = {}
    try:
        backend = backend_from_env()
        slugs = {}
        with backend.registry() as registry:
            for seed, server in servers.items():
                add_liscio_accounts(server, 4)
                firm = registry.add_firm(
                    f"Worker Kill Firm {seed}",
                    ipm_url=server.ipm_url,
                    liscio_url=server.liscio_url,
                    ipm_rate_limit=0,
                    simulator=True,
                )
                slugs[seed] = firm.slug
        victim_seed = SEEDS[0]
        at = references[victim_seed][1] // 2
        held = servers[victim_seed].hold_write(at, commit=True)

        env = {k: v for k, v in os.environ.items()} | backends
        for name in ("worker-one", "worker-two"):
            workers[name] = subprocess.Popen(
                [*WORKER, "--concurrency", "2", "--name", name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        submitted = {
            seed: jobs.submit_sync(slugs[seed], force=True, started_by="test") for seed in SEEDS
        }
        procs = list(workers.values())
        wait_for("the held write", lambda: held.reached.is_set(), procs)
        victim_job = jobs.get_job(submitted[victim_seed].id)
        assert victim_job.state == "running" and victim_job.worker in workers
        killed = victim_job.worker
        workers[killed].send_signal(signal.SIGKILL)
        workers[killed].wait(timeout=60)
        held.release()
        survivor = [p for n, p in workers.items() if n != killed]

        def all_ended() -> bool:
            return all(not jobs.get_job(j.id).active for j in submitted.values())

        wait_for("every job to end", all_ended, survivor)
        ended = {seed: jobs.get_job(job.id) for seed, job in submitted.items()}
        assert {seed: job.state for seed, job in ended.items()} == dict.fromkeys(SEEDS, "done")
        assert ended[victim_seed].attempt == 2 and ended[victim_seed].worker != killed

        for seed in SEEDS:
            with backend.open_store(slugs[seed]) as store:
                runs = store.runs()
            for earlier, later in zip(runs, runs[1:]):
                assert earlier["finished_at"] and earlier["finished_at"] <= later["started_at"]
            assert runs[-1]["outcome"] == "done", runs
            end = servers[seed].state.canonical()
            assert not any("(again:" in key for view in end.values() for key in view)
            assert end == references[seed][0], f"firm {seed} did not end as its reference"
        with backend.open_store(slugs[victim_seed]) as store:
            outcomes = [r["outcome"] for r in store.runs()]
        assert outcomes == ["interrupted", "done"]
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=HANG)
        for server in servers.values():
            server.stop()
