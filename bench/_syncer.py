"""The jobs benchmark's stand-in worker: syncs registered firms as jobs, in threads, and reports.

Run as ``python -m bench._syncer`` by :mod:`bench.jobs` (never by hand): it reads a JSON request
on stdin — ``{"firms": [slug, ...], "threads": K, "passes": ["first", "second"], "limit": R,
"progress_every": S}`` — and writes one JSON report on stdout. Each firm's sync goes the way a
worker's job goes through the registry contract (``submit`` → ``claim`` → ``progress`` →
``finish``; progress written on each new stage and at most every S seconds within one, 0: on
every engine report), with the real engine, the real connectors over HTTP and the firm's own
state store from :func:`pmtools.store.backend.backend_from_env` (SQLite under
``PMTOOLS_HOME``, or PostgreSQL with ``PMTOOLS_DATABASE_URL`` where that backend exists). It
stands in for the queue's worker where that is not available, and measures what a job costs a
worker whatever queue carries it: CPU seconds of the job's thread, requests, registry writes
and their time.

A separate process, so that its CPU time and peak memory are the worker's own, not the
simulator's.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pmtools import config
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.plan import SyncPolicy
from pmtools.engine.sync import run_sync
from pmtools.store.backend import backend_from_env


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Running:
    """How many jobs run at once, and the most that did."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def sync_one(slug: str, run: str, *, limit: int, every: float, running: _Running) -> dict[str, Any]:
    """One firm's sync as a job; its figures (a job the registry refused is a failed row)."""
    try:
        return _sync_one(slug, run, limit=limit, every=every, running=running)
    except Exception as exc:  # e.g. a registry too busy to take the job: a figure, not a crash
        return {
            "firm": slug,
            "run": run,
            "outcome": f"failed: {exc}",
            "seconds": 0.0,
            "cpu_seconds": 0.0,
            "ipm_requests": 0,
            "ipm_429": 0,
            "liscio_requests": 0,
            "registry_writes": 0,
            "progress_reports": 0,
            "registry_reads": 0,
            "progress_writes": 0,
            "progress_write_seconds": 0.0,
            "slowest_progress_write": 0.0,
            "writes": {},
        }


def _sync_one(
    slug: str, run: str, *, limit: int, every: float, running: _Running
) -> dict[str, Any]:
    backend = backend_from_env()
    registry = backend.registry()
    writes = [0, 0.0, 0.0]  # progress writes, their seconds, the slowest
    reports = [0]  # the engine's progress reports
    reads = [0]  # registry reads between progress writes

    try:
        firm = registry.get_firm(slug)
        job = registry.submit(slug, "sync", {"bench": run}, started_by="bench")
        claimed = registry.claim(job.id, "bench-syncer")
        assert claimed is not None

        last = {"stage": "", "at": -1e9}

        def progress(stage: str, done: int, total: int, message: str) -> None:
            reports[0] += 1
            now = time.perf_counter()
            # as the runner does: a write on a new stage, at a stage's end, else at most
            # one every ``every`` seconds (0: every report), a read for a cancel otherwise
            if stage == last["stage"] and done < total and now - last["at"] < every:
                registry.get_job(job.id)  # the runner's cancel poll: a read between writes
                reads[0] += 1
                return
            last["stage"], last["at"] = stage, now
            registry.progress(job.id, stage=stage, done=done, total=total, message=message)
            spent = time.perf_counter() - now
            writes[0] += 1
            writes[1] += spent
            writes[2] = max(writes[2], spent)

        assert firm.ipm_url and firm.liscio_url
        liscio = LiscioConnector(firm.liscio_url, config.SANDBOX_LISCIO_TOKEN)
        ipm = IpmConnector(
            firm.ipm_url,
            config.SANDBOX_IPM_TOKEN,
            config.SANDBOX_IPM_ACCESS_KEY,
            rate_limit=limit,
        )
        with running:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                with backend.open_store(slug) as store:
                    result = run_sync(
                        liscio=liscio,
                        ipm=ipm,
                        store=store,
                        policy=SyncPolicy(force=True),
                        started_by="bench",
                        progress=progress,
                    )
                outcome, counts = result.outcome, result.counts
            except Exception as exc:  # a failed job is a figure too, not the bench's end
                outcome, counts = f"failed: {exc}", {}
            finally:
                liscio.close()
                ipm.close()
            seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
        got = ipm.stats()
        failed = outcome.startswith("failed")
        registry.finish(
            job.id, state="failed" if failed else "done", outcome=outcome, summary=counts
        )
        return {
            "firm": slug,
            "run": run,
            "outcome": outcome,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 4),
            "ipm_requests": got.requests,
            "ipm_429": got.rate_limited,
            "liscio_requests": liscio.stats().requests,
            "registry_writes": writes[0] + 3,  # progress, and submit, claim, finish
            "progress_reports": reports[0],
            "registry_reads": reads[0],
            "progress_writes": writes[0],
            "progress_write_seconds": round(writes[1], 4),
            "slowest_progress_write": round(writes[2], 4),
            "writes": {k: v for k, v in counts.items() if v},
        }
    finally:
        registry.close()


def main() -> int:
    """Read the request on stdin, sync, write the report on stdout."""
    request = json.loads(sys.stdin.read())
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = rusage.ru_utime + rusage.ru_stime
    rss_before = rss_mb()
    running = _Running()
    passes = []
    for run in request["passes"]:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=request["threads"]) as pool:
            rows = list(
                pool.map(
                    lambda slug, run=run: sync_one(
                        slug,
                        run,
                        limit=request["limit"],
                        every=request.get("progress_every", 1.0),
                        running=running,
                    ),
                    request["firms"],
                )
            )
        passes.append(
            {"run": run, "seconds": round(time.perf_counter() - started, 3), "firms": rows}
        )
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "cpu_seconds": round(rusage.ru_utime + rusage.ru_stime - cpu_before, 3),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(rusage.ru_maxrss / 1024, 1),
        "peak_running": running.peak,
        "passes": passes,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
