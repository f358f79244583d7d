"""The registry: the firms pmtools serves, their jobs and their schedules (no secrets here).

One registry per installation: ``registry.sqlite`` in ``PMTOOLS_HOME`` on the embedded
default, schema ``pmtools`` on PostgreSQL (see :mod:`pmtools.store.backend`). Each firm's own
state (links, runs, the audit trail) stays in its own :class:`~pmtools.store.Store`.

A **job** is one long piece of work for one firm (a Sync Now, a dry run, a forecast, a bulk
action, a report) run by a worker process. Its progress and outcome live here, so that any page,
command or person sees the same job; at most one job per firm is queued or running at a time
(a partial unique index says so, so two workers or two people cannot both start one).
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from pmtools.core.timestamps import now_iso, parse
from pmtools.errors import ConfigError, PmtoolsError
from pmtools.store.sql import Row, Sql

SCHEMA_VERSION = 1

JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "refused")
ACTIVE_STATES = ("queued", "running")
JOB_KINDS = ("sync", "dry_run", "forecast", "review", "report")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS firms (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    ipm_url TEXT,
    liscio_url TEXT,
    ipm_rate_limit INTEGER NOT NULL DEFAULT 120,
    simulator INTEGER NOT NULL DEFAULT 0,
    schedule_minutes INTEGER,
    last_scheduled_at TEXT,
    ipm_identity TEXT,
    liscio_identity TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    firm TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    eta TEXT,
    started_by TEXT NOT NULL DEFAULT '',
    worker TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    summary TEXT NOT NULL DEFAULT '{}',
    run_id TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active_per_firm ON jobs (firm)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_by_firm ON jobs (firm, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
"""


class FirmUnknown(ConfigError):
    """No firm of that name is registered."""


class FirmExists(ConfigError):
    """A firm of that name (case-insensitive) is registered already."""


class JobRunning(PmtoolsError):
    """The firm already has a queued or running job; ``job`` is that job."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"{job.kind_words} for this firm is already {job.state} "
            f"(started by {job.started_by or 'someone'}); wait for it or cancel it"
        )
        self.job = job


@dataclass(frozen=True, slots=True, kw_only=True)
class Firm:
    """A registered firm: where its services are (its secrets live in the keyring, not here)."""

    slug: str
    name: str
    ipm_url: str | None = None
    liscio_url: str | None = None
    ipm_rate_limit: int = 120
    simulator: bool = False
    schedule_minutes: int | None = None  # None: no schedule
    last_scheduled_at: str | None = None
    ipm_identity: str | None = None  # the IPM tenant the state is bound to, in words
    liscio_identity: str | None = None  # the Liscio firm, in words
    created_at: str = ""

    def schedule_due(self, now: str) -> bool:
        """True when the firm's schedule wants a sync at ``now`` (an ISO time)."""
        if not self.schedule_minutes:
            return False
        if not self.last_scheduled_at:
            return True
        elapsed = (parse(now) - parse(self.last_scheduled_at)).total_seconds()
        return elapsed >= self.schedule_minutes * 60

    def next_scheduled_at(self) -> str | None:
        """When the schedule next starts a sync (ISO), or None without a schedule."""
        from datetime import timedelta

        from pmtools.core.timestamps import to_iso

        if not self.schedule_minutes:
            return None
        if not self.last_scheduled_at:
            return now_iso()
        return to_iso(parse(self.last_scheduled_at) + timedelta(minutes=self.schedule_minutes))


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One job's state, as the registry holds it."""

    id: str
    firm: str  # the firm's slug
    kind: str
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    eta: str | None = None  # ISO time the job is expected to finish
    started_by: str = ""
    worker: str | None = None
    attempt: int = 0
    cancel_requested: bool = False
    outcome: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    created_at: str = ""
    started_at: str | None = None
    updated_at: str = ""
    finished_at: str | None = None

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE_STATES

    @property
    def kind_words(self) -> str:
        """ "a sync", "a dry run", … for messages."""
        return {
            "sync": "a sync",
            "dry_run": "a dry run",
            "forecast": "a forecast",
            "review": "a review action",
            "report": "a report",
        }.get(self.kind, "a job")


def slug_for(name: str) -> str:
    """A file- and schema-safe key for a firm's name: ``Smith & Co. CPA`` → ``smith-co-cpa``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    if slug == "environment" or slug.startswith("environment-"):
        slug = f"firm-{slug}"  # the environment firm's keys in the jobs table (pmtools.jobs)
    return slug or "firm"


def name_key(name: str) -> str:
    """Firm names compare case-insensitively, white space collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def check_firm_name(name: str) -> str:
    """The name, trimmed; ConfigError for an empty, overlong or control-character name."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ConfigError("a firm needs a name")
    if len(cleaned) > 80:
        raise ConfigError("a firm's name may have at most 80 characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in cleaned):
        raise ConfigError("a firm's name may not contain control or invisible characters")
    return cleaned


_FIRM_FIELDS = tuple(f.name for f in fields(Firm))
_JOB_FIELDS = tuple(f.name for f in fields(Job))


def _firm(row: Row) -> Firm:
    values = {k: row[k] for k in _FIRM_FIELDS}
    values["simulator"] = bool(values["simulator"])
    return Firm(**values)


def _job(row: Row) -> Job:
    values = {k: row[k] for k in _JOB_FIELDS}
    values["params"] = json.loads(values["params"] or "{}")
    values["summary"] = json.loads(values["summary"] or "{}")
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values)


class Registry:
    """Firms, jobs and schedules on one :class:`~pmtools.store.sql.Sql` connection."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        sql.script(_SCHEMA)
        sql.x(
            "INSERT INTO registry_meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )

    def close(self) -> None:
        """Close the connection."""
        self.sql.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- firms ---------------------------------------------------------------------------
    def add_firm(
        self,
        name: str,
        *,
        ipm_url: str | None = None,
        liscio_url: str | None = None,
        ipm_rate_limit: int = 120,
        simulator: bool = False,
        schedule_minutes: int | None = None,
    ) -> Firm:
        """Register a firm; FirmExists when the name (case-insensitive) is taken."""
        name = check_firm_name(name)
        key = name_key(name)
        with self.sql.tx():
            if self.sql.one("SELECT slug FROM firms WHERE name_key = ?", (key,)):
                raise FirmExists(f"a firm named {name!r} is registered already")
            base = slug = slug_for(name)
            n = 2
            while self.sql.one("SELECT slug FROM firms WHERE slug = ?", (slug,)):
                slug = f"{base}-{n}"
                n += 1
            self.sql.x(
                "INSERT INTO firms (slug, name, name_key, ipm_url, liscio_url, ipm_rate_limit,"
                " simulator, schedule_minutes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    slug,
                    name,
                    key,
                    ipm_url,
                    liscio_url,
                    int(ipm_rate_limit),
                    int(simulator),
                    schedule_minutes,
                    now_iso(),
                ),
            )
        return self.get_firm(slug)

    def get_firm(self, name_or_slug: str) -> Firm:
        """The firm by its name (any case) or slug; FirmUnknown otherwise."""
        row = self.sql.one(
            "SELECT * FROM firms WHERE slug = ? OR name_key = ?",
            (name_or_slug, name_key(name_or_slug)),
        )
        if row is None:
            known = ", ".join(f.name for f in self.list_firms()) or "none yet"
            raise FirmUnknown(
                f"no firm named {name_or_slug!r} is registered (registered: {known}); "
                "add it with `pmtools firm add`"
            )
        return _firm(row)

    def list_firms(self) -> list[Firm]:
        """Every registered firm, by name."""
        return [_firm(r) for r in self.sql.q("SELECT * FROM firms ORDER BY name_key")]

    def update_firm(self, slug: str, **values: Any) -> Firm:
        """Change a firm's settings (any :class:`Firm` field but its slug and name)."""
        allowed = set(_FIRM_FIELDS) - {"slug", "name", "created_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not a firm setting: {', '.join(sorted(unknown))}")
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            params = [int(v) if isinstance(v, bool) else v for v in values.values()]
            self.sql.x(f"UPDATE firms SET {sets} WHERE slug = ?", (*params, slug))
        return self.get_firm(slug)

    def remove_firm(self, slug: str) -> None:
        """Forget a firm and its job history (its state store is the caller's to keep)."""
        with self.sql.tx():
            active = self.active_job(slug)
            if active is not None:
                raise JobRunning(active)
            self.sql.x("DELETE FROM jobs WHERE firm = ?", (slug,))
            self.sql.x("DELETE FROM firms WHERE slug = ?", (slug,))

    def due_firms(self, now: str | None = None) -> list[Firm]:
        """Firms whose schedule wants a sync now."""
        at = now or now_iso()
        return [f for f in self.list_firms() if f.schedule_due(at)]

    def mark_scheduled(self, slug: str, at: str | None = None) -> None:
        """Record that the schedule started (or tried to start) the firm's sync at ``at``."""
        self.sql.x("UPDATE firms SET last_scheduled_at = ? WHERE slug = ?", (at or now_iso(), slug))

    # -- jobs ----------------------------------------------------------------------------
    def submit(
        self, firm: str, kind: str, params: dict[str, Any] | None = None, *, started_by: str
    ) -> Job:
        """Queue a job for ``firm``; JobRunning when the firm has one queued or running."""
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        job_id = uuid.uuid4().hex
        at = now_iso()
        with self.sql.tx():
            active = self.active_job(firm)
            if active is not None:
                raise JobRunning(active)
            self.sql.x(
                "INSERT INTO jobs (id, firm, kind, params, state, started_by, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, firm, kind, json.dumps(params or {}), started_by, at, at),
            )
        return self.get_job(job_id)

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Take a queued job for ``worker`` (compare-and-set); None when it is not queued."""
        at = now_iso()
        changed = self.sql.x(
            "UPDATE jobs SET state = 'running', worker = ?, attempt = attempt + 1,"
            " started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND"
            " state = 'queued'",
            (worker, at, at, job_id),
        )
        return self.get_job(job_id) if changed else None

    def requeue(self, job_id: str, *, worker: str | None = None) -> bool:
        """Put a running job whose worker died back in the queue; False if it was not running.

        With ``worker``, only when that worker still has it (another may have finished it).
        """
        sql = "UPDATE jobs SET state = 'queued', worker = NULL, updated_at = ? WHERE id = ? AND"
        sql += " state = 'running'"
        params: tuple[Any, ...] = (now_iso(), job_id)
        if worker is not None:
            sql += " AND worker = ?"
            params += (worker,)
        return self.sql.x(sql, params) > 0

    def progress(
        self,
        job_id: str,
        *,
        stage: str,
        done: int,
        total: int,
        message: str = "",
        eta: str | None = None,
    ) -> bool:
        """Record a running job's progress; returns whether a cancel was asked for."""
        self.sql.x(
            "UPDATE jobs SET stage = ?, done = ?, total = ?, message = ?, eta = ?, updated_at = ?"
            " WHERE id = ?",
            (stage, int(done), int(total), message, eta, now_iso(), job_id),
        )
        row = self.sql.one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return bool(row and row["cancel_requested"])

    def finish(
        self,
        job_id: str,
        *,
        state: str,
        outcome: str | None = None,
        message: str = "",
        summary: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Job:
        """Record a job's end (``state`` one of done, failed, cancelled, refused)."""
        if state not in JOB_STATES or state in ACTIVE_STATES:
            raise ValueError(f"not an end state: {state!r}")
        at = now_iso()
        self.sql.x(
            "UPDATE jobs SET state = ?, outcome = ?, message = ?, summary = ?, run_id = ?,"
            " eta = NULL, updated_at = ?, finished_at = ? WHERE id = ?",
            (
                state,
                outcome or state,
                message,
                json.dumps(summary or {}),
                None if run_id is None else str(run_id),
                at,
                at,
                job_id,
            ),
        )
        return self.get_job(job_id)

    def request_cancel(self, job_id: str) -> Job:
        """Ask a job to stop; a queued job is cancelled at once, a running one at its next step."""
        at = now_iso()
        with self.sql.tx():
            self.sql.x(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND"
                " state IN ('queued', 'running')",
                (at, job_id),
            )
            self.sql.x(
                "UPDATE jobs SET state = 'cancelled', outcome = 'cancelled', finished_at = ?,"
                " message = 'cancelled before it started' WHERE id = ? AND state = 'queued'",
                (at, job_id),
            )
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> Job:
        """The job with ``job_id``; KeyError when there is none."""
        row = self.sql.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise KeyError(job_id)
        return _job(row)

    def active_job(self, firm: str) -> Job | None:
        """The firm's queued or running job, if any."""
        row = self.sql.one(
            "SELECT * FROM jobs WHERE firm = ? AND state IN ('queued', 'running')", (firm,)
        )
        return _job(row) if row else None

    def last_job(self, firm: str, kind: str | None = None) -> Job | None:
        """The firm's most recent job (of ``kind``), whatever its state."""
        sql = "SELECT * FROM jobs WHERE firm = ?"
        params: tuple[Any, ...] = (firm,)
        if kind is not None:
            sql += " AND kind = ?"
            params += (kind,)
        row = self.sql.one(sql + " ORDER BY created_at DESC, id DESC LIMIT 1", params)
        return _job(row) if row else None

    def jobs(self, firm: str | None = None, *, limit: int = 50) -> list[Job]:
        """Recent jobs, newest first (of one firm, or all)."""
        if firm is None:
            rows = self.sql.q("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
        else:
            rows = self.sql.q(
                "SELECT * FROM jobs WHERE firm = ? ORDER BY created_at DESC LIMIT ?",
                (firm, limit),
            )
        return [_job(r) for r in rows]

    def running_jobs(self) -> list[Job]:
        """Every running job."""
        return self._in_state(("running",))

    def queued_jobs(self) -> list[Job]:
        """Every queued job, oldest first."""
        return self._in_state(("queued",))

    def _in_state(self, states: Iterable[str]) -> list[Job]:
        states = tuple(states)
        marks = ", ".join("?" for _ in states)
        rows = self.sql.q(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at", states
        )
        return [_job(r) for r in rows]
