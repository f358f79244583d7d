"""The jobs benchmark's figures: each pass summarised, and the Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any


def summarise_queue_pass(report: dict[str, Any], rate_limit: int) -> dict[str, Any]:
    """One pass on the queue's workers: time against the bounds, CPU, requests."""
    rows = report["firms"]
    bounds = [f["ipm_requests"] * 60 / rate_limit for f in rows]
    seconds = report["seconds"]
    failed = [f"{f['firm']}: {f['outcome']}" for f in rows if f["outcome"].startswith("failed")]
    return {
        "run": report["run"],
        "jobs": len(rows),
        "done": len(rows) - len(failed),
        "failed": failed,
        "seconds": seconds,
        "sum_of_bounds_seconds": round(sum(bounds), 2),
        "slowest_bound_seconds": round(max(bounds), 2),
        "of_sum_of_bounds": round(seconds / sum(bounds), 4) if sum(bounds) else None,
        "of_slowest_bound": round(seconds / max(bounds), 3) if max(bounds) else None,
        "ipm_requests_per_job": spread([f["ipm_requests"] for f in rows]),
        "job_seconds": spread([f["seconds"] for f in rows]),
        "attempts_per_job": spread([f["attempts"] for f in rows]),
        "worker_cpu_seconds": report["worker_cpu_seconds"],
        "worker_cpu_seconds_per_job": round(report["worker_cpu_seconds"] / len(rows), 4),
        "submitted_per_second": round(len(rows) / report["submit_seconds"], 1)
        if report["submit_seconds"]
        else None,
        "done_per_second": round(len(rows) / seconds, 2) if seconds else None,
    }


def summarise_pass(run: str, reports: list[dict[str, Any]], rate_limit: int) -> dict[str, Any]:
    """One pass's figures over every worker: time against the bounds, CPU, requests, writes."""
    rows = [f for r in reports for p in r["passes"] if p["run"] == run for f in p["firms"]]
    seconds = max(p["seconds"] for r in reports for p in r["passes"] if p["run"] == run)
    per_request = 60 / rate_limit
    bounds = [f["ipm_requests"] * per_request for f in rows]
    cpu = [f["cpu_seconds"] for f in rows]
    requests = [f["ipm_requests"] for f in rows]
    writes = [f["registry_writes"] for f in rows]
    write_seconds = sum(f["progress_write_seconds"] for f in rows)
    progress_writes = sum(f["progress_writes"] for f in rows)
    return {
        "run": run,
        "jobs": len(rows),
        "done": sum(not f["outcome"].startswith("failed") for f in rows),
        "failed": [
            f"{f['firm']}: {f['outcome']}" for f in rows if f["outcome"].startswith("failed")
        ],
        "seconds": seconds,
        "sum_of_bounds_seconds": round(sum(bounds), 2),
        "slowest_bound_seconds": round(max(bounds), 2),
        "of_sum_of_bounds": round(seconds / sum(bounds), 4) if sum(bounds) else None,
        "of_slowest_bound": round(seconds / max(bounds), 3) if max(bounds) else None,
        "ipm_requests_per_job": spread(requests),
        "ipm_429_seen": sum(f["ipm_429"] for f in rows),
        "liscio_requests_per_job": spread([f["liscio_requests"] for f in rows]),
        "job_cpu_seconds": spread(cpu),
        "job_seconds": spread([f["seconds"] for f in rows]),
        "registry_writes_per_job": spread(writes),
        "progress_reports_per_job": spread([f["progress_reports"] for f in rows]),
        "registry_reads_per_job": spread([f.get("registry_reads", 0) for f in rows]),
        "progress_write_ms_mean": round(1000 * write_seconds / progress_writes, 3)
        if progress_writes
        else None,
        "slowest_progress_write_ms": round(
            1000 * max(f["slowest_progress_write"] for f in rows), 2
        ),
    }


def spread(values: list[float]) -> dict[str, float]:
    """Mean, median, 95th percentile and most of ``values``."""
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 4),
        "median": round(statistics.median(ordered), 4),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "max": round(ordered[-1], 4),
    }


def _bounds_table(passes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| run | jobs done | seconds | sum of bounds (s) | ÷ sum | slowest bound (s) "
        "| ÷ slowest | IPM requests / job (mean, max) |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in passes:
        lines.append(
            f"| {p['run']} | {p['done']} / {p['jobs']} | {p['seconds']:.1f} "
            f"| {p['sum_of_bounds_seconds']:.1f} | {p['of_sum_of_bounds']} "
            f"| {p['slowest_bound_seconds']:.1f} | {p['of_slowest_bound']} "
            f"| {p['ipm_requests_per_job']['mean']:.1f}, {p['ipm_requests_per_job']['max']:.0f} |"
        )
    return lines


def to_markdown(doc: Mapping[str, Any]) -> str:
    """The results as Markdown tables."""
    lines = [
        f"Jobs benchmark ({doc['at']}, Python {doc['python']}, {doc['cpus']} CPUs): "
        f"{doc['firms']:,} simulated firms (`{doc['dataset']}` dataset, scale {doc['scale']}), "
        f"IPM limit {doc['rate_limit_per_minute']:,} a minute per firm, backend: "
        f"{doc['backend']} ("
        + (
            "registry and state on PostgreSQL, queue on Redis"
            if doc["backend"] == "team"
            else "registry and state in SQLite files, queue SqliteHuey"
        )
        + f"), {doc['processes']} worker process(es) × {doc['threads_per_process']} jobs at once.",
        "",
        "A firm's bound is its IPM requests ÷ its rate limit. The sum of the bounds is what "
        "syncing the firms one after another at the limit would take; the slowest firm's bound "
        "is what no number of workers can beat. Runs: a first sync of every firm, then a "
        "second right after it (no edits; it re-reads what the first wrote, the engine's "
        "5-minute overlap).",
    ]
    q = doc.get("queue")
    if q:
        lines += [
            "",
            f"## On the queue: {q['worker']}",
            "",
            *_bounds_table(q["passes"]),
            "",
            "| run | worker CPU s / job | job seconds (mean, max) | attempts / job (max) "
            "| jobs submitted / s | jobs done / s |",
            "|:---|---:|---:|---:|---:|---:|",
        ]
        for p in q["passes"]:
            lines.append(
                f"| {p['run']} | {p['worker_cpu_seconds_per_job']:.3f} "
                f"| {p['job_seconds']['mean']:.1f}, {p['job_seconds']['max']:.1f} "
                f"| {p['attempts_per_job']['max']:.0f} | {p['submitted_per_second']} "
                f"| {p['done_per_second']} |"
            )
        lines += [
            "",
            f"- worker peak RSS {', '.join(f'{m:.0f}' for m in q['worker_peak_rss_mb'])} MB "
            f"from {', '.join(f'{m:.0f}' for m in q['worker_rss_before_mb'])} MB idle, "
            f"{q['jobs_at_once']} jobs at once: {q['rss_mb_per_running_job']} MB per running "
            f"job; the simulator {q['simulator_cpu_seconds_per_job']:.3f} CPU s per job"
            + (
                f"; at most {q['peak_database_connections']} PostgreSQL connections at once."
                if q.get("peak_database_connections") is not None
                else "."
            ),
        ]
    si = doc.get("stand_in")
    if si:
        lines += [
            "",
            f"## What a job costs: {si['worker']}",
            "",
            "The same sync through the registry contract, each job's own thread CPU measured. "
            "A job writes its progress on each new stage and at most every "
            f"{doc['progress_every_seconds']} s within one (0: on every engine report).",
            "",
            *_bounds_table(si["passes"]),
            "",
            "| run | job CPU s (mean, p95) | job seconds (mean, max) | Liscio requests / job "
            "| engine progress reports / job | registry writes / job (mean) "
            "| registry reads / job (mean) | progress write ms (mean, slowest) |",
            "|:---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in si["passes"]:
            lines.append(
                f"| {p['run']} | {p['job_cpu_seconds']['mean']:.3f}, "
                f"{p['job_cpu_seconds']['p95']:.3f} "
                f"| {p['job_seconds']['mean']:.1f}, {p['job_seconds']['max']:.1f} "
                f"| {p['liscio_requests_per_job']['mean']:.1f} "
                f"| {p['progress_reports_per_job']['mean']:.1f} "
                f"| {p['registry_writes_per_job']['mean']:.1f} "
                f"| {p['registry_reads_per_job']['mean']:.1f} "
                f"| {p['progress_write_ms_mean']}, {p['slowest_progress_write_ms']} |"
            )
        lines += [
            "",
            f"- worker processes: {si['worker_cpu_seconds']:.1f} CPU s in all, "
            f"{si['worker_cpu_seconds_per_job']:.3f} per job (job threads, HTTP clients and "
            "registry together); peak RSS "
            f"{', '.join(f'{m:.0f}' for m in si['worker_peak_rss_mb'])} MB from "
            f"{', '.join(f'{m:.0f}' for m in si['worker_rss_before_mb'])} MB before the jobs, "
            f"{si['peak_running_jobs']} jobs running at once: {si['rss_mb_per_running_job']} MB "
            "per running job;",
            f"- the simulator: {si['simulator_cpu_seconds_per_job']:.3f} CPU s per job; "
            f"{si['simulator_ipm_requests']:,} IPM requests served, "
            f"{si['simulator_ipm_429']} refused by a firm's rate limit;",
            f"- the registry: {si['registry_rows_per_job']} row per job (`jobs`), updated in "
            "place by every progress write (no history rows)"
            + (
                f"; at most {si['peak_database_connections']} PostgreSQL connections at once "
                "(each job: its registry and its store)."
                if si.get("peak_database_connections") is not None
                else "."
            ),
        ]
    d = doc["update_delay"]
    lines += [
        "",
        "## The page's update delay",
        "",
        f"A reader polls every {d['poll_seconds']} s (the portfolio's interval) the way the "
        f"portfolio does (the last job of each of {d['firms_read_per_poll']} firms); a writer "
        f"records progress at {d['samples']} random moments.",
        "",
        "| delay s (mean, median, p95, max) | one poll's read ms (mean, p95, max) |",
        "|---:|---:|",
        f"| {d['delay_seconds']['mean']:.2f}, {d['delay_seconds']['median']:.2f}, "
        f"{d['delay_seconds']['p95']:.2f}, {d['delay_seconds']['max']:.2f} "
        f"| {d['poll_read_ms']['mean']:.1f}, {d['poll_read_ms']['p95']:.1f}, "
        f"{d['poll_read_ms']['max']:.1f} |",
    ]
    return "\n".join(lines) + "\n"
