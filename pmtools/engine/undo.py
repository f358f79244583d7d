"""Undo a run: put back what it overwrote, delink what it linked, list what it created.

:func:`plan_undo` reads a run's confirmed audit rows and the current values through the
connectors: a field write whose value is still the one the run wrote becomes a WRITE action
back to the value before (an IPM value restored, a Liscio field it filled emptied); a value
changed since is a :class:`Conflict`, reported and left alone. Links the run made are delinked
(with a *delinked* decision, so the next Sync Now does not link them again); delinks an earlier
undo made are linked again. Records the run created are listed: IPM's API cannot delete.

:func:`undo_run` applies that plan as a run of its own (command ``undo``, ``undoes_run`` set,
rule ``undo:run-N`` on every audit row) through :func:`pmtools.engine.apply.apply_plan`, so an undo
is interrupt-safe like a sync, and can itself be undone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pmtools.analysis.reports import format_value
from pmtools.connectors.base import Connector
from pmtools.core.plan import (
    COUNT_KEYS,
    Action,
    DecisionKind,
    LinkHow,
    Op,
    Plan,
    SyncPolicy,
)
from pmtools.core.records import FieldValue, Kind, Record, Side
from pmtools.core.rulebook import undo_rule
from pmtools.core.rules import values_equal
from pmtools.errors import ConfigError, NotFound
from pmtools.store import ChangeIntent, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """A value the run wrote that has changed since: left alone."""

    kind: Kind
    side: Side
    record_id: str
    name: str | None
    field: str
    written: FieldValue
    current: FieldValue
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkChange:
    """A link to take away (``op`` "delink"), to make again ("relink"), or a "not a match"
    decision to forget ("unmark"), on undo."""

    op: str
    kind: Kind
    liscio_id: str
    ipm_key: str
    liscio_name: str | None = None
    ipm_name: str | None = None
    how: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoPlan:
    """What undoing a run would do; render it with :meth:`text`."""

    run_id: int
    rule: str
    writes: tuple[Action, ...] = ()
    links: tuple[LinkChange, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    created: tuple[dict[str, Any], ...] = ()
    names: Mapping[tuple[Side, Kind, str], str] = field(default_factory=dict, compare=False)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The kinds the undo touches."""
        found = {a.kind for a in self.writes} | {c.kind for c in self.links}
        return tuple(k for k in Kind if k in found) or tuple(Kind)

    def text(self) -> str:
        """The plan in plain lines, every field with its current and restored value."""
        lines = [f"undo of run {self.run_id}:"]
        for a in self.writes:
            rid = a.liscio_id if a.side is Side.LISCIO else a.ipm_key
            name = self.names.get((a.side, a.kind, rid or ""), "") if a.side else ""
            verb = "empty" if a.after is None else "restore"
            lines.append(
                f"  {verb} {a.side} {a.kind} {name!r} ({rid}) {a.field}: "
                f"{format_value(a.before)!r} -> {format_value(a.after)!r}"
            )
        for c in self.links:
            lines.append(
                f"  {c.op} {c.kind} Liscio {c.liscio_name!r} ({c.liscio_id}) / IPM "
                f"{c.ipm_name!r} ({c.ipm_key})"
            )
        for conflict in self.conflicts:
            lines.append(
                f"  CONFLICT, left alone: {conflict.side} {conflict.kind} "
                f"{conflict.name!r} ({conflict.record_id}) {conflict.field}: "
                f"{conflict.reason}"
            )
        for row in self.created:
            lines.append(
                f"  created by run {self.run_id}, not deleted (IPM's API has no "
                f"delete): {row['side']} {row['kind']} {row['name']!r} "
                f"({row['record_id']})"
            )
        if len(lines) == 1:
            lines.append("  nothing to undo")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoResult:
    """An applied undo: its own run id, the plan, counts and outcome."""

    undo_run_id: int
    plan: UndoPlan
    counts: dict[str, int]
    outcome: str
    errors: tuple[str, ...] = ()


def plan_undo(store: Store, run_id: int, *, liscio: Connector, ipm: Connector) -> UndoPlan:
    """What undoing ``run_id`` would do, reading current values through the connectors."""
    run = store.run(run_id)
    if run is None:
        raise ConfigError(f"there is no run {run_id}; `pmtools runs` lists them")
    if run["outcome"] == "running":
        raise ConfigError(f"run {run_id} is still running; undo it when it has finished")
    later = [r for r in store.runs() if r["id"] > run_id]
    reset = next((r for r in later if r["command"] == "disconnect"), None)
    if reset is not None:  # its records may be another firm's now: the guard cannot tell
        raise ConfigError(
            f"run {run_id} was made before `pmtools disconnect` (run {reset['id']}); this state "
            f"file may now belong to another firm, so it cannot be undone from here"
        )
    rule = undo_rule(run_id)
    changes = [c for c in store.changes(run_id=run_id) if c["status"] == "confirmed"]
    systems = {Side.LISCIO: liscio, Side.IPM: ipm}
    current: dict[tuple[Side, Kind, str], Record | None] = {}
    names: dict[tuple[Side, Kind, str], str] = {}
    writes: list[Action] = []
    conflicts: list[Conflict] = []
    links: list[LinkChange] = []
    created: list[dict[str, Any]] = []
    for change in _net_writes(changes):
        kind, side = Kind(change["kind"]), Side(change["side"])
        rid = change["liscio_id"] if side is Side.LISCIO else change["ipm_key"]
        fname = change["field"]
        name = change["liscio_name"] if side is Side.LISCIO else change["ipm_name"]
        _remember(names, change)
        key = (side, kind, rid)
        if key not in current:
            try:
                current[key] = systems[side].get_record(kind, rid)
            except NotFound:
                current[key] = None
        rec = current[key]
        if rec is None:
            conflicts.append(
                Conflict(
                    kind=kind,
                    side=side,
                    record_id=rid,
                    name=name,
                    field=fname,
                    written=change["after"],
                    current=None,
                    reason="the record is gone",
                )
            )
            continue
        now = rec.get(fname)
        if values_equal(fname, now, change["before"]):
            continue  # already back to what it was (an earlier undo of this run, say)
        if not values_equal(fname, now, change["after"]):
            conflicts.append(
                Conflict(
                    kind=kind,
                    side=side,
                    record_id=rid,
                    name=name,
                    field=fname,
                    written=change["after"],
                    current=now,
                    reason=f"changed since the run: it wrote {format_value(change['after'])!r}, "
                    f"it is now {format_value(now)!r}",
                )
            )
            continue
        writes.append(
            Action(
                op=Op.WRITE,
                kind=kind,
                liscio_id=change["liscio_id"],
                ipm_key=change["ipm_key"],
                side=side,
                field=fname,
                before=now,
                after=change["before"],
                rule=rule,
            )
        )
    for change in changes:
        kind = Kind(change["kind"])
        _remember(names, change)
        if change["op"] == "link":
            link = store.link_for(kind, liscio_id=change["liscio_id"])
            if link is not None and link.ipm_key == change["ipm_key"]:
                links.append(
                    LinkChange(
                        op="delink",
                        kind=kind,
                        liscio_id=change["liscio_id"],
                        ipm_key=change["ipm_key"],
                        how=str(link.how),
                        liscio_name=change["liscio_name"],
                        ipm_name=change["ipm_name"],
                    )
                )
        elif change["op"] == "delink":
            free = (
                store.link_for(kind, liscio_id=change["liscio_id"]) is None
                and store.link_for(kind, ipm_key=change["ipm_key"]) is None
            )
            if free:
                links.append(
                    LinkChange(
                        op="relink",
                        kind=kind,
                        liscio_id=change["liscio_id"],
                        ipm_key=change["ipm_key"],
                        how=change["before"] or str(LinkHow.MANUAL),
                        liscio_name=change["liscio_name"],
                        ipm_name=change["ipm_name"],
                    )
                )
        elif change["op"] == "not_a_match":  # a bulk review's "not a match": forget it
            held = any(
                d.liscio_id == change["liscio_id"]
                and d.ipm_key == change["ipm_key"]
                and d.decision is DecisionKind.NOT_A_MATCH
                for d in store.decisions(kind)
            )
            if held:
                links.append(
                    LinkChange(
                        op="unmark",
                        kind=kind,
                        liscio_id=change["liscio_id"],
                        ipm_key=change["ipm_key"],
                        liscio_name=change["liscio_name"],
                        ipm_name=change["ipm_name"],
                    )
                )
        elif change["op"] == "create":
            side = Side(change["side"])
            rid = change["ipm_key"] if side is Side.IPM else change["liscio_id"]
            created.append(
                {
                    "kind": str(kind),
                    "side": str(side),
                    "record_id": rid,
                    "name": change["after"],
                    "external_id": change["external_id"],
                }
            )
    return UndoPlan(
        run_id=run_id,
        rule=rule,
        writes=tuple(writes),
        links=tuple(links),
        conflicts=tuple(conflicts),
        created=tuple(created),
        names=names,
    )


def undo_run(
    store: Store,
    run_id: int,
    *,
    liscio: Connector,
    ipm: Connector,
    started_by: str,
    lock_timeout: float = 0.0,
) -> UndoResult:
    """Undo ``run_id`` as a new run (see the module doc); holds the state file's lock."""
    from pmtools.engine.apply import apply_plan, reconcile

    with store.lock(timeout=lock_timeout, by=started_by):
        store.mark_interrupted_runs()
        plan = plan_undo(store, run_id, liscio=liscio, ipm=ipm)
        undo_id = store.start_run(
            command="undo",
            started_by=started_by,
            kinds=plan.kinds,
            policy=SyncPolicy(kinds=plan.kinds),
            undoes_run=run_id,
        )
        try:
            reconcile(liscio=liscio, ipm=ipm, store=store, run_id=undo_id)
            result = apply_plan(
                Plan(actions=plan.writes, policy=SyncPolicy(kinds=plan.kinds)),
                liscio=liscio,
                ipm=ipm,
                store=store,
                run_id=undo_id,
                names=plan.names,
            )
            counts = {k: result.counts.get(k, 0) for k in COUNT_KEYS}
            counts["delinked"] = counts["relinked"] = 0
            if result.outcome in ("done", "done_with_errors"):
                for change in plan.links:
                    _apply_link_change(store, undo_id, plan.rule, change)
                    key = LINK_CHANGE_COUNTS[change.op]
                    counts[key] = counts.get(key, 0) + 1
            counts["conflicts"] = len(plan.conflicts)
            message = f"{len(plan.conflicts)} conflict(s) left alone" if plan.conflicts else None
            if result.error is not None:
                message = str(result.error)
            store.finish_run(undo_id, outcome=result.outcome, counts=counts, message=message)
        except BaseException as exc:
            store.fail_run(undo_id, exc)
            raise
    if result.error is not None:  # a service failed: the run is saved as stopped; run again
        raise result.error
    log.info("run %s undone by run %s: %s", run_id, undo_id, result.outcome)
    return UndoResult(
        undo_run_id=undo_id, plan=plan, counts=counts, outcome=result.outcome, errors=result.errors
    )


# The count each kind of link change adds to in the undo run's counts.
LINK_CHANGE_COUNTS = {"delink": "delinked", "relink": "relinked", "unmark": "not_a_match_forgotten"}


def _apply_link_change(store: Store, undo_id: int, rule: str, change: LinkChange) -> None:
    """Delink or link again, the store change and its audit row in one transaction."""
    kind = change.kind
    if change.op == "unmark":  # forget a "not a match": Sync Now may match the pair again
        store.remove_decision(kind, change.liscio_id, change.ipm_key, DecisionKind.NOT_A_MATCH)
        store.record_change(
            undo_id,
            ChangeIntent(
                kind=kind,
                op="forget_not_a_match",
                liscio_id=change.liscio_id,
                ipm_key=change.ipm_key,
                liscio_name=change.liscio_name,
                ipm_name=change.ipm_name,
                rule=rule,
            ),
            status="confirmed",
        )
        return
    audit = ChangeIntent(
        kind=kind,
        op="delink" if change.op == "delink" else "link",
        liscio_id=change.liscio_id,
        ipm_key=change.ipm_key,
        liscio_name=change.liscio_name,
        ipm_name=change.ipm_name,
        before=change.how if change.op == "delink" else None,
        after=None if change.op == "delink" else change.how,
        rule=rule,
    )
    if change.op == "delink":
        store.remove_link(
            kind, change.liscio_id, run_id=undo_id, decision=DecisionKind.DELINKED, audit=audit
        )
    else:
        # The decision goes first: cut off between the two, a second undo still relinks.
        store.remove_decision(kind, change.liscio_id, change.ipm_key, DecisionKind.DELINKED)
        store.add_link(
            kind,
            change.liscio_id,
            change.ipm_key,
            how=LinkHow(change.how or LinkHow.MANUAL),
            run_id=undo_id,
            audit=audit,
        )


def _net_writes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (side, record, field): the first ``before`` and the last ``after``."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in changes:
        if c["op"] != "write":
            continue
        key = (c["side"], c["kind"], c["liscio_id"], c["ipm_key"], c["field"])
        if key in out:
            out[key] = {**out[key], "after": c["after"]}
        else:
            out[key] = dict(c)
    return list(out.values())


def _remember(names: dict[tuple[Side, Kind, str], str], change: dict[str, Any]) -> None:
    kind = Kind(change["kind"])
    if change.get("liscio_id") and change.get("liscio_name"):
        names[(Side.LISCIO, kind, change["liscio_id"])] = change["liscio_name"]
    if change.get("ipm_key") and change.get("ipm_name"):
        names[(Side.IPM, kind, change["ipm_key"])] = change["ipm_name"]
