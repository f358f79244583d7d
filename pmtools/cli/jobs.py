"""CLI: ``pmtools jobs [--firm NAME]`` lists recent jobs; ``pmtools jobs cancel --firm NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from pmtools.core.text import for_terminal


def register(subparsers: Any) -> None:
    """Add ``pmtools jobs``."""
    p = subparsers.add_parser("jobs", help="recent jobs (syncs) of every firm, or cancel one")
    p.add_argument("action", nargs="?", choices=("list", "cancel"), default="list")
    p.add_argument(
        "--firm",
        dest="jobs_firm",
        metavar="NAME",
        help="one firm's jobs (default: every firm; with cancel: the environment's firm)",
    )
    p.add_argument("--limit", type=int, default=20, help="how many jobs (default 20)")
    p.set_defaults(func=cmd_jobs)


def cmd_jobs(args: argparse.Namespace) -> int:
    """``pmtools jobs [list|cancel] [--firm NAME]``."""
    from pmtools.cli.sync import settings_from
    from pmtools.jobs import environment_firm, firm_words
    from pmtools.store.backend import backend_from_env
    from pmtools.store.firms import ENVIRONMENT, firm_name_from

    firm_name = firm_name_from(args.jobs_firm or getattr(args, "firm", None))
    if firm_name == ENVIRONMENT:
        firm_name = None
    with backend_from_env().registry() as registry:
        if firm_name:
            slug = registry.get_firm(firm_name).slug
        elif args.action == "cancel":
            slug = environment_firm(settings_from(args)).slug
        else:
            slug = None
        if args.action == "cancel":
            assert slug is not None
            active = registry.active_job(slug)
            if active is None:
                print(for_terminal(f"pmtools: {firm_words(slug, registry)} has no job to cancel"))
                return 0
            job = registry.request_cancel(active.id)
            when = "now" if job.state == "cancelled" else "at its next step"
            print(
                for_terminal(
                    f"pmtools: {job.kind_words} of {firm_words(slug, registry)} stops {when}"
                )
            )
            return 0
        jobs = registry.jobs(slug, limit=max(args.limit, 1))
        if not jobs:
            print("no jobs yet")
            return 0
        for job in jobs:
            print(for_terminal(describe(job, firm_words(job.firm, registry))))
    return 0


def _at(stamp: str | None) -> str:
    """A stored time for people: "2026-12-03 15:21 UTC" (the registry keeps ISO, µs and all)."""
    from pmtools.core.timestamps import parse

    if not stamp:
        return "?"
    try:
        return f"{parse(stamp):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return stamp


def describe(job: Any, firm: str) -> str:
    """One line for a job: firm, kind, state, stage and progress, ETA, who, outcome."""
    kind = job.kind.replace("_", " ")
    parts = [f"{firm}: {kind} {job.state}"]
    if job.state == "running":
        stage = job.stage or "starting"
        progress = f" {job.done}/{job.total}" if job.total else ""
        parts.append(f"{stage}{progress}")
        if job.eta:
            parts.append(f"ETA {_at(job.eta)}")
    parts.append(f"started by {job.started_by or 'someone'} at {_at(job.created_at)}")
    if job.state not in ("queued", "running"):
        outcome = (job.outcome or job.state).replace("_", " ")
        if job.message and job.message != outcome:
            parts.append(f"{outcome}: {job.message}")
        elif outcome != job.state:  # "sync done — … — done" says nothing twice
            parts.append(outcome)
    return " — ".join(parts)
