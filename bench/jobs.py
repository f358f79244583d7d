"""Jobs benchmark: many simulated firms synced as jobs, against each firm's own rate-limit bound.

One simulator serves every firm (``start_sandbox(firms=N)``: each firm its own records,
identity and IPM rate-limit window, here raised so that the run takes minutes, not hours). The
firms are registered (``simulator=True``) in a fresh ``PMTOOLS_HOME``: on the embedded default
(registry and state in SQLite files, the queue SqliteHuey), or with ``--backend team`` on the
team mode (registry and state on a throwaway PostgreSQL, the queue on a throwaway Redis — the
test suite's servers, :mod:`tests.services`). Workers run in processes of their own, so that
their CPU time and peak memory are theirs, not the simulator's:

- **the queue**: ``pmtools worker --concurrency K`` processes; the jobs are submitted with
  ``pmtools.jobs.submit_sync`` and followed in the registry; times come from the registry
  (first claim to last finish), requests from each firm's simulator counters;
- **the stand-in** (:mod:`bench._syncer`): the same sync through the registry contract in
  threads, measuring what the queue's worker cannot report: each job's own thread CPU, its
  registry writes and their time.

Figures, for a first sync of every firm and a second one right after it (no edits: what a
scheduled sync of an unchanged firm costs, plus the rows the first one wrote, re-read because
of the engine's 5-minute overlap):

- total time against the sum of each firm's own lower bound (its IPM requests ÷ its rate
  limit: what syncing the firms one after another at the limit would take) and against the
  slowest firm's bound (what no number of workers can beat);
- worker CPU seconds per job and peak memory per running job; simulator CPU per job;
- registry rows and writes per job, and the time of a progress write under that many jobs;
- the page's update delay for a running job: a writer records progress at random moments, a
  reader polls the registry the way the portfolio does (every firm's last job) every
  ``--poll-seconds`` (the portfolio's 1.5 s); the delay is from the write to the poll that
  sees it (about half the interval plus one read, at most the interval plus one read).

Writes ``bench/results/jobs.json`` and ``jobs.md`` (``jobs_team`` with ``--backend team``;
``--name`` for others, e.g. the 1,000-firm run: ``python -m bench jobs --firms 1000
--rate-limit 120 --processes 2 --threads 125 --name jobs_1000``). Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench._jobs_report import spread, summarise_pass, summarise_queue_pass, to_markdown
from bench._jobs_workers import ConnectionSampler, run_queue_workers, run_syncers
from pmtools.sandbox.server import SandboxServer, start_sandbox
from pmtools.store.backend import backend_from_env

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results"
FIRMS = 50
RAISED_LIMIT = 600  # requests a minute per firm: five times Karbon's, so a run takes minutes
POLL_SECONDS = 1.5  # the portfolio's (pmtools.workbench.jobrun.POLL_SECONDS)
DELAY_SAMPLES = 20
PROGRESS_EVERY = 0.25  # the runner's (pmtools.jobs.runner.PROGRESS_INTERVAL)


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def register_firms(
    server: SandboxServer, count: int, *, rate_limit: int, env: Mapping[str, str], prefix: str
) -> list[str]:
    """Register the simulator's ``count`` firms; their slugs, in firm order."""
    registry = backend_from_env(env).registry()
    try:
        slugs = []
        for i in range(count):
            ipm_url, liscio_url = server.firm_urls(i)
            firm = registry.add_firm(
                f"{prefix} firm {i:04d}",
                ipm_url=ipm_url,
                liscio_url=liscio_url,
                ipm_rate_limit=rate_limit,
                simulator=True,
            )
            slugs.append(firm.slug)
        return slugs
    finally:
        registry.close()


def measure_update_delay(
    env: Mapping[str, str], slugs: list[str], *, poll_seconds: float, samples: int, seed: int = 1
) -> dict[str, Any]:
    """The page's update delay: progress writes at random moments, a reader polling like the
    portfolio (every firm's last job) every ``poll_seconds``; delays and the poll's cost."""
    backend = backend_from_env(env)
    writer, reader = backend.registry(), backend.registry()
    rng = random.Random(seed)
    job = writer.submit(slugs[0], "sync", {"bench": "update delay"}, started_by="bench")
    writer.claim(job.id, "bench-delay")
    written: dict[int, float] = {}
    delays: list[float] = []
    reads: list[float] = []
    seen = threading.Condition()
    stop = threading.Event()

    def poll() -> None:
        last = 0
        while not stop.is_set():
            began = time.perf_counter()
            jobs = [reader.last_job(slug) for slug in slugs]  # what the portfolio shows
            reads.append(time.perf_counter() - began)
            done = next(j.done for j in jobs if j is not None and j.id == job.id)
            if done > last:
                with seen:
                    delays.append(time.perf_counter() - written[done])
                    last = done
                    seen.notify_all()
            stop.wait(poll_seconds)

    polling = threading.Thread(target=poll, name="bench-portfolio-poll", daemon=True)
    polling.start()
    try:
        for n in range(1, samples + 1):
            time.sleep(rng.uniform(0, poll_seconds))  # a random moment within the interval
            with seen:
                written[n] = time.perf_counter()
                writer.progress(job.id, stage="linking", done=n, total=samples, message="bench")
                seen.wait_for(lambda n=n: len(delays) >= n)
    finally:
        stop.set()
        polling.join()
        writer.finish(job.id, state="done", outcome="done")
        writer.close()
        reader.close()
    return {
        "poll_seconds": poll_seconds,
        "firms_read_per_poll": len(slugs),
        "samples": len(delays),
        "delay_seconds": spread(delays),
        "poll_read_ms": spread([1000 * r for r in reads]),
    }


def run(
    *,
    firms: int = FIRMS,
    dataset: str = "small",
    scale: int = 1,
    rate_limit: int = RAISED_LIMIT,
    processes: int = 1,
    threads: int | None = None,
    passes: tuple[str, ...] = ("first", "second"),
    poll_seconds: float = POLL_SECONDS,
    delay_samples: int = DELAY_SAMPLES,
    progress_every: float = PROGRESS_EVERY,
    backend: str = "embedded",
    worker: str = "both",
) -> dict[str, Any]:
    """Every measurement on one backend; returns the results document.

    ``worker``: ``queue`` (``pmtools worker`` processes on the queue), ``stand-in``
    (:mod:`bench._syncer`, per-job figures), or ``both``, one after the other on fresh firms.
    """
    threads = threads or min(256, max(1, -(-firms // processes)))
    doc: dict[str, Any] = {
        "benchmark": "jobs",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "backend": backend,
        "firms": firms,
        "dataset": dataset,
        "scale": scale,
        "rate_limit_per_minute": rate_limit,
        "progress_every_seconds": progress_every,
        "processes": processes,
        "threads_per_process": threads,
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="pmtools-bench-jobs-"))
        env = {**os.environ, "PMTOOLS_HOME": home}
        env.pop("PMTOOLS_DATABASE_URL", None)
        env.pop("PMTOOLS_QUEUE_URL", None)
        if backend == "team":
            # the test suite's throwaway servers: a PostgreSQL cluster and a Redis, on loopback
            from tests.services import postgres_cluster, redis_server

            env["PMTOOLS_DATABASE_URL"] = stack.enter_context(postgres_cluster())
            env["PMTOOLS_QUEUE_URL"] = stack.enter_context(redis_server())
        slugs: list[str] = []
        if worker in ("queue", "both"):
            with start_sandbox(
                dataset=dataset, scale=scale, firms=firms, rate_limit=rate_limit
            ) as sim:
                slugs = register_firms(sim, firms, rate_limit=rate_limit, env=env, prefix="Queue")
                log.info("%s firms: syncing on the queue, %s worker(s)", firms, processes)
                cpu_before = cpu_seconds()
                with ConnectionSampler(env.get("PMTOOLS_DATABASE_URL")) as connections:
                    queued = run_queue_workers(
                        sim,
                        slugs,
                        processes=processes,
                        threads=threads,
                        rate_limit=rate_limit,
                        passes=passes,
                        env=env,
                    )
                sim_cpu = cpu_seconds() - cpu_before
            running = min(firms, processes * threads)
            peaks, before = queued[0]["peak_rss_mb"], queued[0]["rss_before_mb"]
            doc["queue"] = {
                "worker": f"pmtools worker --concurrency {threads} (Huey, threads)",
                "passes": [summarise_queue_pass(r, rate_limit) for r in queued],
                "worker_peak_rss_mb": [round(m, 1) for m in peaks],
                "worker_rss_before_mb": [round(m, 1) for m in before],
                "jobs_at_once": running,
                "rss_mb_per_running_job": round((sum(peaks) - sum(before)) / running, 2),
                "simulator_cpu_seconds_per_job": round(sim_cpu / (firms * len(passes)), 4),
                "peak_database_connections": connections.peak if backend == "team" else None,
            }
        if worker in ("stand-in", "both"):
            with ConnectionSampler(env.get("PMTOOLS_DATABASE_URL")) as connections:
                doc["stand_in"] = run_stand_in(
                    env,
                    firms=firms,
                    dataset=dataset,
                    scale=scale,
                    rate_limit=rate_limit,
                    processes=processes,
                    threads=threads,
                    passes=passes,
                    progress_every=progress_every,
                    seed=1 + firms,  # other firms than the queue's run
                )
            doc["stand_in"]["peak_database_connections"] = (
                connections.peak if backend == "team" else None
            )
            slugs = doc["stand_in"].pop("slugs")
        log.info("update delay: %s samples at %s s polls", delay_samples, poll_seconds)
        doc["update_delay"] = measure_update_delay(
            env, slugs, poll_seconds=poll_seconds, samples=delay_samples
        )
    doc["wall_seconds"] = round(time.perf_counter() - started, 1)
    return doc


def run_stand_in(
    env: Mapping[str, str],
    *,
    firms: int,
    dataset: str,
    scale: int,
    rate_limit: int,
    processes: int,
    threads: int,
    passes: tuple[str, ...],
    progress_every: float,
    seed: int,
) -> dict[str, Any]:
    """The stand-in worker's run (per-job CPU, requests, registry writes)."""
    cpu_before = cpu_seconds()
    with start_sandbox(
        dataset=dataset, scale=scale, seed=seed, firms=firms, rate_limit=rate_limit
    ) as sim:
        slugs = register_firms(sim, firms, rate_limit=rate_limit, env=env, prefix="Stand-in")
        log.info("%s firms: syncing with the stand-in worker, %s process(es)", firms, processes)
        reports = run_syncers(
            slugs,
            processes=processes,
            threads=threads,
            rate_limit=rate_limit,
            passes=passes,
            progress_every=progress_every,
            env=env,
        )
        served = [sim.firm_stats(i).snapshot() for i in range(firms)]
        sim_cpu = cpu_seconds() - cpu_before
        sizes = {
            c: sim.firm_state(0).count(c)
            for c in ("organizations", "people", "accounts", "contacts")
        }
    jobs = firms * len(passes)
    peak_running = sum(r["peak_running"] for r in reports)
    grown = sum(r["peak_rss_mb"] - r["rss_before_mb"] for r in reports)
    return {
        "slugs": slugs,
        "worker": "stand-in (bench._syncer: the registry contract, threads)",
        "records_of_firm_0": sizes,
        "passes": [summarise_pass(run, reports, rate_limit) for run in passes],
        "worker_cpu_seconds": round(sum(r["cpu_seconds"] for r in reports), 2),
        "worker_cpu_seconds_per_job": round(sum(r["cpu_seconds"] for r in reports) / jobs, 4),
        "worker_peak_rss_mb": [r["peak_rss_mb"] for r in reports],
        "worker_rss_before_mb": [r["rss_before_mb"] for r in reports],
        "peak_running_jobs": peak_running,
        "rss_mb_per_running_job": round(grown / peak_running, 2) if peak_running else None,
        "simulator_cpu_seconds_per_job": round(sim_cpu / jobs, 4),
        "simulator_ipm_requests": sum(s.get("ipm", 0) for s in served),
        "simulator_ipm_429": sum(s.get("ipm:429-limit", 0) for s in served),
        "registry_rows_per_job": 1,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench jobs``; exit 1 when a job failed."""
    parser = argparse.ArgumentParser(prog="bench jobs", description=__doc__.split("\n")[0])
    parser.add_argument("--firms", type=int, default=FIRMS, help="simulated firms")
    parser.add_argument("--dataset", default="small", help="each firm's dataset (small, demo)")
    parser.add_argument("--scale", type=int, default=1, help="each firm's dataset scale")
    parser.add_argument(
        "--rate-limit", type=int, default=RAISED_LIMIT, help="IPM requests a minute per firm"
    )
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--threads", type=int, default=0, help="jobs at once per process (0: all its firms)"
    )
    parser.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    parser.add_argument("--delay-samples", type=int, default=DELAY_SAMPLES)
    parser.add_argument(
        "--progress-every",
        type=float,
        default=PROGRESS_EVERY,
        help="seconds between a job's progress writes within a stage (0: every report)",
    )
    parser.add_argument(
        "--backend",
        choices=("embedded", "team"),
        default="embedded",
        help="embedded: SQLite files; team: PostgreSQL (a throwaway cluster, as the tests start)",
    )
    parser.add_argument(
        "--worker",
        choices=("queue", "stand-in", "both"),
        default="both",
        help="queue: pmtools worker processes; stand-in: bench._syncer (per-job figures)",
    )
    parser.add_argument(
        "--name", default=None, help="results file name without suffix (default jobs, jobs_team)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pmtools").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    name = args.name or ("jobs" if args.backend == "embedded" else "jobs_team")
    try:
        doc = run(
            firms=args.firms,
            dataset=args.dataset,
            scale=args.scale,
            rate_limit=args.rate_limit,
            processes=args.processes,
            threads=args.threads or None,
            poll_seconds=args.poll_seconds,
            delay_samples=args.delay_samples,
            progress_every=args.progress_every,
            backend=args.backend,
            worker=args.worker,
        )
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        # the throwaway PostgreSQL could not start (not installed, say): the reason, no trace
        sys.stderr.write(f"bench jobs cannot run on the {args.backend} backend: {exc.msg}\n")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(to_markdown(doc))
    sys.stdout.write(to_markdown(doc))
    passes = [p for part in ("queue", "stand_in") for p in doc.get(part, {}).get("passes", [])]
    return 0 if all(not p["failed"] for p in passes) else 1


if __name__ == "__main__":
    sys.exit(main())
