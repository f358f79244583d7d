"""Runs, the audit trail of changes, record-level errors and pending creates.

A mixin of :class:`pmtools.store.Store` (kept apart to keep modules small). Every write that
``apply`` makes is first saved here as an *intent* and then marked *confirmed*, *failed* or
(when a killed run is found on resume to have not written it) *abandoned*; before and after
values are JSON (an Address as a dict).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pmtools.core.plan import SyncPolicy
from pmtools.core.records import FieldValue, Kind, Side
from pmtools.core.timestamps import now_iso
from pmtools.store.values import decode_value, encode_value, policy_json

log = logging.getLogger(__name__)

RUN_OUTCOMES = (
    "running",
    "done",
    "done_with_errors",
    "stopped",
    "cancelled",
    "refused",
    "interrupted",
    "failed",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeIntent:
    """One change about to be made (a field write, a create, a link …), before it is sent."""

    kind: Kind
    op: str
    side: Side | None = None
    liscio_id: str | None = None
    ipm_key: str | None = None
    liscio_name: str | None = None
    ipm_name: str | None = None
    field: str | None = None
    before: FieldValue = None
    after: FieldValue = None
    rule: str = ""
    external_id: str | None = None


def _change(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["before"] = decode_value(data["before"])
    data["after"] = decode_value(data["after"])
    return data


class AuditMixin:
    """Runs, changes, errors and pending creates (see the module docstring)."""

    _sql: Any  # the Store's StoreSql: every statement goes through it

    # -- runs ----------------------------------------------------------------------------
    def start_run(
        self,
        *,
        command: str,
        started_by: str,
        kinds: Iterable[Kind],
        policy: SyncPolicy | None = None,
        undoes_run: int | None = None,
    ) -> int:
        """Open a run row (outcome ``running``); returns its id."""
        with self._sql.tx():
            (row,) = self._sql.q(
                "INSERT INTO runs (command, started_by, started_at, kinds, policy, outcome, "
                "undoes_run) VALUES (?, ?, ?, ?, ?, 'running', ?) RETURNING id",
                (
                    command,
                    started_by,
                    now_iso(),
                    json.dumps([str(k) for k in kinds]),
                    policy_json(policy),
                    undoes_run,
                ),
            )
            return int(row["id"])

    def finish_run(
        self,
        run_id: int,
        *,
        outcome: str,
        counts: Mapping[str, int] | None = None,
        message: str | None = None,
    ) -> None:
        """Close a run with its outcome, counts and an optional message."""
        if outcome not in RUN_OUTCOMES:
            raise ValueError(f"unknown run outcome {outcome!r}")
        self._sql.x(
            "UPDATE runs SET finished_at = ?, outcome = ?, counts = ?, message = ? WHERE id = ?",
            (now_iso(), outcome, json.dumps(dict(counts or {})), message, run_id),
        )

    def fail_run(
        self, run_id: int, exc: BaseException, *, counts: Mapping[str, int] | None = None
    ) -> str:
        """Close a run that ``exc`` ended; returns its outcome.

        ``stopped``: a service failed (run it again to resume); ``interrupted``: Ctrl-C or
        the like; ``failed``: anything else (the state file could not be written, an
        unexpected error). When the state file itself cannot be written, the run stays
        ``running`` and the next command marks it ``interrupted``.
        """
        from pmtools.errors import ConnectorError, PmtoolsError, StateError

        if isinstance(exc, ConnectorError):
            outcome = "stopped"
        elif isinstance(exc, Exception):
            outcome = "failed"
        else:
            outcome = "interrupted"
        message = (
            str(exc)
            if isinstance(exc, PmtoolsError)
            else (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        )
        try:
            self.finish_run(run_id, outcome=outcome, counts=counts, message=message)
        except StateError as again:
            log.error("run %s could not be marked %s: %s", run_id, outcome, again)
        return outcome

    def mark_interrupted_runs(self) -> list[int]:
        """Runs still ``running`` (their process died): mark them ``interrupted``.

        Call only while holding the lock, so that no live run is among them.
        """
        with self._sql.tx():
            ids = [r["id"] for r in self._sql.q("SELECT id FROM runs WHERE outcome = 'running'")]
            self._sql.x(
                "UPDATE runs SET outcome = 'interrupted', finished_at = ?, message = "
                "'the process stopped before the run finished' WHERE outcome = "
                "'running'",
                (now_iso(),),
            )
        return ids

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with kinds, policy and counts decoded."""
        return [self._run(r) for r in self._sql.q("SELECT * FROM runs ORDER BY id")]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run, or None."""
        row = self._sql.one("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run(row) if row else None

    @staticmethod
    def _run(row: Any) -> dict[str, Any]:
        data = dict(row)
        data["kinds"] = json.loads(data["kinds"])
        data["policy"] = json.loads(data["policy"])
        data["counts"] = json.loads(data["counts"]) if data["counts"] else {}
        return data

    # -- changes -------------------------------------------------------------------------
    def record_intents(self, run_id: int, intents: Iterable[ChangeIntent]) -> list[int]:
        """Save changes about to be sent, in one transaction; returns their ids."""
        with self._sql.tx():
            return [self._insert_change(run_id, c, "intent") for c in intents]

    def record_change(self, run_id: int, change: ChangeIntent, *, status: str = "confirmed") -> int:
        """Save a change that needs no intent (a link, an orphaning) with its final status."""
        with self._sql.tx():
            return self._insert_change(run_id, change, status)

    def _insert_change(self, run_id: int, c: ChangeIntent, status: str) -> int:
        """Insert one audit row inside the caller's transaction."""
        at = now_iso()
        (row,) = self._sql.q(
            "INSERT INTO changes (run_id, kind, op, side, liscio_id, ipm_key, liscio_name, "
            "ipm_name, field, before, after, rule, external_id, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                run_id,
                str(c.kind),
                c.op,
                str(c.side) if c.side else None,
                c.liscio_id,
                c.ipm_key,
                c.liscio_name,
                c.ipm_name,
                c.field,
                encode_value(c.before),
                encode_value(c.after),
                c.rule,
                c.external_id,
                status,
                at,
                at,
            ),
        )
        return int(row["id"])

    def set_change_status(
        self,
        ids: Iterable[int],
        status: str,
        *,
        error: str | None = None,
        ipm_key: str | None = None,
        liscio_id: str | None = None,
    ) -> None:
        """Confirm, fail or abandon changes; fills a created record's id when given."""
        if status not in ("intent", "confirmed", "failed", "abandoned"):
            raise ValueError(f"unknown change status {status!r}")
        with self._sql.tx():
            for change_id in ids:
                self._sql.x(
                    "UPDATE changes SET status = ?, error = ?, updated_at = ?, "
                    "ipm_key = coalesce(ipm_key, ?), "
                    "liscio_id = coalesce(liscio_id, ?) WHERE id = ?",
                    (status, error, now_iso(), ipm_key, liscio_id, change_id),
                )

    def changes(
        self,
        *,
        run_id: int | None = None,
        status: str | None = None,
        op: str | None = None,
        kind: Kind | None = None,
        side: Side | None = None,
    ) -> list[dict[str, Any]]:
        """Audit rows (oldest first), values decoded; filter by run, status, op, kind, side."""
        sql, params = "SELECT * FROM changes WHERE 1=1", []
        for column, value in (
            ("run_id", run_id),
            ("status", status),
            ("op", op),
            ("kind", str(kind) if kind else None),
            ("side", str(side) if side else None),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return [_change(r) for r in self._sql.q(sql + " ORDER BY id", params)]

    # -- errors --------------------------------------------------------------------------
    def record_error(
        self,
        run_id: int,
        *,
        kind: Kind,
        op: str,
        message: str,
        side: Side | None = None,
        liscio_id: str | None = None,
        ipm_key: str | None = None,
        name: str | None = None,
        field: str | None = None,
    ) -> None:
        """Save a record-level failure (the run went on)."""
        with self._sql.tx():
            self._sql.x(
                "INSERT INTO errors (run_id, kind, op, side, liscio_id, ipm_key, name, "
                "field, message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    str(kind),
                    op,
                    str(side) if side else None,
                    liscio_id,
                    ipm_key,
                    name,
                    field,
                    message,
                    now_iso(),
                ),
            )

    def errors(self, *, run_id: int | None = None) -> list[dict[str, Any]]:
        """Record-level failures, oldest first."""
        if run_id is None:
            rows = self._sql.q("SELECT * FROM errors ORDER BY id")
        else:
            rows = self._sql.q("SELECT * FROM errors WHERE run_id = ? ORDER BY id", (run_id,))
        return [dict(r) for r in rows]

    # -- pending creates -----------------------------------------------------------------
    def begin_create(
        self,
        run_id: int,
        *,
        kind: Kind,
        target: Side,
        source_id: str,
        external_id: str,
        audit: ChangeIntent | None = None,
    ) -> int | None:
        """Save a create's intent (with its external id) before it is sent.

        ``audit`` is saved as an intent in the same transaction; returns its id.
        """
        at = now_iso()
        with self._sql.tx():
            change_id = None if audit is None else self._insert_change(run_id, audit, "intent")
            self._sql.x(
                "INSERT INTO pending_creates (external_id, run_id, kind, target, source_id, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'intent', ?, ?) "
                "ON CONFLICT (external_id) DO UPDATE SET status = 'intent', run_id = "
                "excluded.run_id, updated_at = excluded.updated_at",
                (external_id, run_id, str(kind), str(target), source_id, at, at),
            )
        return change_id

    def finish_create(
        self, external_id: str, *, status: str, created_id: str | None = None
    ) -> None:
        """Close a create's intent: confirmed (with the new record's id), failed or abandoned."""
        with self._sql.tx():
            self._sql.x(
                "UPDATE pending_creates SET status = ?, created_id = coalesce(?, "
                "created_id), updated_at = ? WHERE external_id = ?",
                (status, created_id, now_iso(), external_id),
            )

    def pending_create(self, external_id: str) -> dict[str, Any] | None:
        """The create saved under ``external_id``, or None."""
        return self._sql.one("SELECT * FROM pending_creates WHERE external_id = ?", (external_id,))

    def pending_creates(self, *, status: str | None = "intent") -> list[dict[str, Any]]:
        """Creates in ``status`` (default: intents a killed run left open)."""
        if status is None:
            rows = self._sql.q("SELECT * FROM pending_creates ORDER BY created_at")
        else:
            rows = self._sql.q(
                "SELECT * FROM pending_creates WHERE status = ? ORDER BY created_at", (status,)
            )
        return [dict(r) for r in rows]
