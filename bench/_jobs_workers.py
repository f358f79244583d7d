"""The jobs benchmark's workers: the stand-in's processes, the queue's ``pmtools worker``
processes, and what is read of them from ``/proc`` (Linux) and from PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pmtools.core.timestamps import parse
from pmtools.sandbox.server import SandboxServer
from pmtools.store.backend import backend_from_env

ROOT = Path(__file__).resolve().parent.parent


def run_syncers(
    slugs: list[str],
    *,
    processes: int,
    threads: int,
    rate_limit: int,
    passes: tuple[str, ...],
    progress_every: float,
    env: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Sync ``slugs`` with ``processes`` stand-in workers of ``threads`` jobs each; reports."""
    shares = [slugs[i::processes] for i in range(processes)]
    procs = []
    for share in shares:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench._syncer"],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        request = {
            "firms": share,
            "threads": threads,
            "passes": list(passes),
            "limit": rate_limit,
            "progress_every": progress_every,
        }
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        procs.append(proc)
    reports = []
    for proc in procs:
        assert proc.stdout is not None
        out = proc.stdout.read()
        if proc.wait() != 0:
            raise RuntimeError("a stand-in worker failed; see its error output above")
        reports.append(json.loads(out))
    return reports


def proc_cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_queue_workers(
    sim: SandboxServer,
    slugs: list[str],
    *,
    processes: int,
    threads: int,
    rate_limit: int,
    passes: tuple[str, ...],
    env: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Sync ``slugs`` as jobs on the queue, run by ``processes`` ``pmtools worker`` processes
    of ``threads`` jobs at once each; one report per pass."""
    from pmtools.jobs import submit_sync

    backend = backend_from_env(env)
    logs = [Path(env["PMTOOLS_HOME"]) / f"worker-{n}.log" for n in range(processes)]
    workers = []
    for n, path in enumerate(logs):
        with path.open("w") as errors:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", "from pmtools.cli import entry; entry()", "worker"]
                    + ["--concurrency", str(threads), "--name", f"bench-{n}"],
                    cwd=ROOT,
                    env=dict(env),
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                )
            )
    for worker, path in zip(workers, logs, strict=True):  # measured from ready, not importing
        while "worker started" not in path.read_text():
            if worker.poll() is not None:
                raise RuntimeError(f"a worker did not start: {path.read_text()[-2000:]}")
            time.sleep(0.1)  # polls an observed event (the worker's start line)
    reports = []
    try:
        rss_before = [proc_rss_mb(w.pid) for w in workers]
        for run in passes:
            served = [sim.firm_stats(i).snapshot().get("ipm", 0) for i in range(len(slugs))]
            cpu = [proc_cpu_seconds(w.pid) for w in workers]
            submitting = time.perf_counter()
            ids = [
                submit_sync(slug, force=True, started_by="bench", environ=env).id for slug in slugs
            ]
            submitted = time.perf_counter() - submitting
            with backend.registry() as registry:
                while True:  # the jobs' ends, as the registry records them
                    found = [registry.get_job(i) for i in ids]
                    if not any(j.active for j in found):
                        break
                    if any(w.poll() is not None for w in workers):
                        raise RuntimeError("a worker stopped during the benchmark")
                    time.sleep(0.2)  # polls observed state; the figures come from the registry
            cpu = [proc_cpu_seconds(w.pid) - c for w, c in zip(workers, cpu, strict=True)]
            start = min(parse(j.started_at or j.created_at) for j in found)
            end = max(parse(j.finished_at or j.updated_at) for j in found)
            rows = []
            for i, job in enumerate(found):
                requests = sim.firm_stats(i).snapshot().get("ipm", 0) - served[i]
                began = parse(job.started_at or job.created_at)
                ended = parse(job.finished_at or job.updated_at)
                rows.append(
                    {
                        "firm": job.firm,
                        "outcome": job.outcome if job.state == "done" else f"failed: {job.message}",
                        "seconds": round((ended - began).total_seconds(), 3),
                        "ipm_requests": requests,
                        "attempts": job.attempt,
                    }
                )
            reports.append(
                {
                    "run": run,
                    "seconds": round((end - start).total_seconds(), 3),
                    "firms": rows,
                    "worker_cpu_seconds": round(sum(cpu), 3),
                    "submit_seconds": round(submitted, 3),
                }
            )
        peaks = [proc_peak_rss_mb(w.pid) for w in workers]
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(timeout=150)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    for r in reports:
        r["peak_rss_mb"], r["rss_before_mb"] = peaks, rss_before
    return reports


class ConnectionSampler:
    """Counts the PostgreSQL server's client connections every quarter second; the peak."""

    def __init__(self, url: str | None) -> None:
        self.url, self.peak = url, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-pg-connections", daemon=True)

    def __enter__(self) -> ConnectionSampler:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.url:
            self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(str(self.url), autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) - 1 if row else 0)  # not this one
                self._stop.wait(0.25)
