"""CLI: ``pmtools worker`` — run the jobs (syncs) on the queue until stopped."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``pmtools worker``."""
    p = subparsers.add_parser(
        "worker",
        help="run queued jobs (Sync Now from the app, schedules) until stopped",
        description="Run the jobs on the queue (PMTOOLS_QUEUE_URL; unset: the embedded queue "
        "in PMTOOLS_HOME). SIGTERM or Ctrl-C stops it: running jobs stop at their next step "
        "and go back to the queue.",
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=8,
        metavar="N",
        help="firms synced at once (default 8: a job mostly waits on its firm's IPM rate "
        "limit), each within its own rate limit",
    )
    p.add_argument("--name", default=None, help=argparse.SUPPRESS)  # tests tell workers apart
    p.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # the app's pid
    p.set_defaults(func=cmd_worker)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 256, not {text!r}")
    return value


def cmd_worker(args: argparse.Namespace) -> int:
    """``pmtools worker [--concurrency N]``."""
    from pmtools.jobs.worker import serve

    return serve(concurrency=args.concurrency, name=args.name, parent=args.parent)
