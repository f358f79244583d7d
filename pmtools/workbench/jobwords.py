"""A job, a firm's schedule and times in words, for the portfolio and the Sync Now panel.

Times are UTC, as everywhere in the page ("today 14:02", "3 days ago"); an ETA is a duration
("about 1 h 40 min left"). Pure functions of the registry's values and ``now``, so the words
are tested without a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pmtools.core.timestamps import now_iso, parse

STAGE_WORDS = {
    "organizations": "Organizations",
    "people": "People",
    "linking": "Linking and field sync",
    "queued": "Waiting for a worker",
}
# The counts a portfolio row shows for the last sync, in its words.
ROW_COUNTS = (("created", "created"), ("updated", "updated"), ("linked", "linked"))
REVIEW_KEYS = ("ambiguous", "unmatched_liscio", "unmatched_ipm")


def _now(now: str | None) -> datetime:
    return parse(now or now_iso())


def when_words(stamp: str | None, now: str | None = None) -> str:
    """A past time as "today 14:02", "yesterday 09:10" or "3 days ago" (UTC); "" if unknown."""
    if not stamp:
        return ""
    at, today = parse(stamp), _now(now)
    days = (today.date() - at.date()).days
    if days <= 0:
        return f"today {at:%H:%M}"
    if days == 1:
        return f"yesterday {at:%H:%M}"
    if days < 60:
        return f"{days} days ago"
    return f"on {at:%Y-%m-%d}"


def at_words(stamp: str | None, now: str | None = None) -> str:
    """A future time as "15:00", "tomorrow 09:00" or "on 2026-12-09 09:00" (UTC)."""
    if not stamp:
        return ""
    at, today = parse(stamp), _now(now)
    days = (at.date() - today.date()).days
    if days <= 0:
        return "now" if (at - today).total_seconds() < 60 else f"{at:%H:%M}"
    if days == 1:
        return f"tomorrow {at:%H:%M}"
    return f"on {at:%Y-%m-%d %H:%M}"


def duration_words(seconds: float) -> str:
    """ "about 1 h 40 min", "about 3 min", "less than a minute"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"about {minutes} min"
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")


def eta_words(eta: str | None, now: str | None = None) -> str:
    """ "about 1 h 40 min left", or "" when the job has no estimate yet."""
    if not eta:
        return ""
    left = (parse(eta) - _now(now)).total_seconds()
    if left <= 0:
        return "almost done"
    return duration_words(left) + " left"


def schedule_words(firm: Any, now: str | None = None) -> str:
    """ "every 60 min, next at 15:00", or "no schedule"."""
    minutes = getattr(firm, "schedule_minutes", None)
    if not minutes:
        return "no schedule"
    every = f"every {minutes} min" if minutes < 120 or minutes % 60 else f"every {minutes // 60} h"
    nxt = firm.next_scheduled_at()
    when = at_words(nxt, now)
    return f"{every}, next {'now' if when == 'now' else 'at ' + when}"


def job_counts(job: Any) -> dict[str, int]:
    """A finished job's counts: ``summary["counts"]``, or the summary itself if it is flat."""
    summary = getattr(job, "summary", None) or {}
    counts = summary.get("counts", summary)
    return {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}


def job_errors(job: Any) -> list[str]:
    """The record errors of a job's run, as its summary lists them (the first few)."""
    summary = getattr(job, "summary", None) or {}
    errors = summary.get("error_messages", summary.get("errors")) or []
    return [str(e) for e in errors] if isinstance(errors, list) else []


def job_error_count(job: Any) -> int:
    """How many record errors the job's run had (its summary may list only the first few)."""
    summary = getattr(job, "summary", None) or {}
    n = summary.get("errors")
    if isinstance(n, int) and not isinstance(n, bool):
        return n
    return max(job_counts(job).get("errors", 0), len(job_errors(job)))


def row_counts(counts: dict[str, int]) -> str:
    """ "3 created, 12 updated, 40 linked" (created on either side, fields on either side)."""
    created = counts.get("created_in_ipm", 0) + counts.get("created_in_liscio", 0)
    updated = counts.get("ipm_fields_written", 0) + counts.get("liscio_fields_filled", 0)
    linked = counts.get("linked", 0)
    return f"{created} created, {updated} updated, {linked} linked"


def awaiting_review(counts: dict[str, int], summary: dict[str, Any] | None = None) -> int | None:
    """Records a person must decide (ambiguous and unmatched): the job's summary's
    ``awaiting_review``, else the counts; None when the run did not say."""
    awaiting = (summary or {}).get("awaiting_review")
    if isinstance(awaiting, dict):
        return sum(v for v in awaiting.values() if isinstance(v, int))
    if not any(k in counts for k in REVIEW_KEYS):
        return None
    return sum(counts.get(k, 0) for k in REVIEW_KEYS)


OUTCOMES = {
    "done": "finished",
    "done_with_errors": "finished with record errors",
    "cancelled": "cancelled",
    "failed": "failed",
    "stopped": "stopped (a service failed)",
    "refused": "refused (nothing written)",
    "preflight": "refused: the client data may not be in Liscio yet",
    "dry_run": "planned (nothing written)",
}


def outcome_words(job: Any) -> str:
    """How a finished job ended, in words."""
    outcome = job.outcome or job.state
    return OUTCOMES.get(outcome, OUTCOMES.get(job.state, outcome.replace("_", " ")))


def progress_words(job: Any, now: str | None = None) -> str:
    """ "People: 120 of 400 — about 3 min left", or "Waiting for a worker" when queued."""
    if job.state == "queued":
        return "Waiting for a worker to start it"
    stage = STAGE_WORDS.get(job.stage, job.stage.replace("_", " ").capitalize() or "Starting")
    text = f"{stage}: {job.done} of {job.total}" if job.total else stage
    if job.message:
        text += f" — {job.message}"
    left = eta_words(job.eta, now)
    return text + (f" — {left}" if left else "")


def started_words(job: Any) -> str:
    """Who started a job: "started by the app", "by the schedule", … ("" if unknown)."""
    by = (job.started_by or "").strip()
    return f"started by {by}" if by else ""
