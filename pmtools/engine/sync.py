"""Sync Now: fetch both sides, match, plan, apply — one run in the state store.

Stages reported through ``progress(stage, done, total, message)``: ``organizations`` (fetch
accounts of both sides), ``people`` (fetch contacts), ``linking`` (load details, plan, apply).

Fetching (pulls, incremental after the first sync, and IPM details reused from the store)
is :mod:`pmtools.engine.fetch`'s; planning is the core's; writing is
:mod:`pmtools.engine.apply`'s. ``full=True`` forces a full pull.

A dry run takes no lock and writes nothing to the state file: no run row, no baseline, no
cache; it returns the plan.

A record a pull could not read (fields of the wrong types) is a record error of the run, and
its pair sits the run out (:mod:`pmtools.engine.unreadable`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from pmtools.connectors.base import Connector, Unreadable
from pmtools.core.plan import COUNT_KEYS, Plan, SyncPolicy, SyncState
from pmtools.core.planner import details_needed, plan_sync, preflight_problem
from pmtools.core.records import Kind, Record, Side
from pmtools.engine import unreadable as unread
from pmtools.engine.apply import ApplyResult, Progress, apply_plan, reconcile
from pmtools.engine.fetch import BatchDone, keep_written, load_details, pull_ipm
from pmtools.errors import ConnectorError, PlanChanged, PreflightRefused
from pmtools.store import Store

log = logging.getLogger(__name__)

STAGES = ("organizations", "people", "linking")
_STAGE_OF = {Kind.ACCOUNTS: "organizations", Kind.CONTACTS: "people"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncResult:
    """The outcome of one Sync Now.

    ``run_id`` is None for a dry run. ``outcome``: ``done``, ``done_with_errors``,
    ``cancelled`` or ``dry_run`` (a failure raises instead, after recording the run as
    ``stopped`` when a service failed, ``failed`` otherwise). ``counts`` has exactly
    COUNT_KEYS.
    """

    run_id: int | None
    plan: Plan
    counts: dict[str, int]
    errors: tuple[str, ...] = ()
    outcome: str = "done"
    records: dict[tuple[Side, Kind], tuple[Record, ...]] = field(
        default_factory=dict, compare=False
    )


def run_sync(
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store,
    policy: SyncPolicy,
    dry_run: bool = False,
    started_by: str = "cli",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    full: bool = False,
    lock_timeout: float = 0.0,
    expected: Plan | None = None,
) -> SyncResult:
    """Run one Sync Now (see the module docstring); raises LockHeld, PreflightRefused,
    ServiceError/AuthError (run recorded as stopped; run again to resume).

    ``expected`` is a previewed plan (a dry run's): the run applies only if planning again
    gives the same writes, and raises PlanChanged with the new plan otherwise, writing nothing.
    """
    report: Progress = progress or (lambda *_: None)
    if dry_run:
        return _run(
            liscio=liscio,
            ipm=ipm,
            store=store,
            policy=policy,
            run_id=None,
            progress=report,
            cancel=cancel,
            full=full,
            expected=None,
        )[0]
    with store.lock(timeout=lock_timeout, by=started_by):
        store.mark_interrupted_runs()
        run_id = store.start_run(
            command="sync", started_by=started_by, kinds=policy.kinds, policy=policy
        )
        try:
            result, error = _run(
                liscio=liscio,
                ipm=ipm,
                store=store,
                policy=policy,
                run_id=run_id,
                progress=report,
                cancel=cancel,
                full=full,
                expected=expected,
            )
        except (PreflightRefused, PlanChanged) as exc:
            store.finish_run(run_id, outcome="refused", message=str(exc), counts=_zero_counts())
            log.info("sync run %s refused: %s", run_id, type(exc).__name__)
            raise
        except BaseException as exc:
            outcome = store.fail_run(run_id, exc, counts=_zero_counts())
            log.error("sync run %s %s: %s", run_id, outcome, str(exc) or type(exc).__name__)
            raise
    if error is not None:
        raise error
    return result


def _details_progress(progress: Progress, kind: Kind) -> BatchDone:
    """Report loading ``kind``'s IPM details on the linking stage."""
    return lambda done, total: progress(
        "linking", done, total, f"loading IPM {kind.ipm_name} details"
    )


def _zero_counts() -> dict[str, int]:
    return {k: 0 for k in COUNT_KEYS}


@dataclass(kw_only=True)
class _Inputs:
    """What planning takes, fetched: the selected kinds' records of both sides (details loaded
    where the plan needs them), the stored state, and what could not be read."""

    liscio: dict[Kind, list[Record]]
    ipm: dict[Kind, list[Record]]
    state: SyncState
    unreadable: list[Unreadable]
    baseline: list[tuple[Kind, str]]  # every Liscio record now (kept by a first sync)
    # rows each listing returned, the unreadable included (list pages, for the forecast)
    listed: dict[tuple[Side, Kind], int] = field(default_factory=dict)

    def records(self) -> dict[tuple[Side, Kind], tuple[Record, ...]]:
        """The records by side and kind, as a SyncResult carries them."""
        out = {(Side.LISCIO, k): tuple(v) for k, v in self.liscio.items()}
        out.update({(Side.IPM, k): tuple(v) for k, v in self.ipm.items()})
        return out


def _run(
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store,
    policy: SyncPolicy,
    run_id: int | None,
    progress: Progress,
    cancel: threading.Event | None,
    full: bool,
    expected: Plan | None,
) -> tuple[SyncResult, ConnectorError | None]:
    if run_id is not None:
        settled = reconcile(liscio=liscio, ipm=ipm, store=store, run_id=run_id)
        if any(settled.values()):
            log.info("run %s settled what an interrupted run left: %s", run_id, settled)
    inputs = _fetch(
        liscio=liscio,
        ipm=ipm,
        store=store,
        policy=policy,
        run_id=run_id,
        progress=progress,
        cancel=cancel,
        full=full,
    )
    first = inputs.state.baseline is None
    if cancel is not None and cancel.is_set():
        if run_id is not None:
            store.finish_run(
                run_id,
                outcome="cancelled",
                counts=_zero_counts(),
                message="cancelled before planning",
            )
        return SyncResult(
            run_id=run_id,
            plan=Plan(actions=(), policy=policy, first_sync=first),
            counts=_zero_counts(),
            outcome="cancelled",
        ), None
    plan = _plan(inputs, policy=policy, progress=progress, expected=expected)
    if run_id is None:
        progress("linking", 1, 1, "dry run: nothing written")
        return SyncResult(
            run_id=None,
            plan=plan,
            counts=unread.counted(plan.counts(), inputs.unreadable),
            errors=unread.messages(inputs.unreadable),
            outcome="dry_run",
            records=inputs.records(),
        ), None
    names = {(r.side, r.kind, r.id): r.name for recs in inputs.records().values() for r in recs}
    result = apply_plan(
        plan,
        liscio=liscio,
        ipm=ipm,
        store=store,
        run_id=run_id,
        progress=progress,
        cancel=cancel,
        names=names,
    )
    result = _keep_books(store, run_id, inputs, result, policy=policy, first=first)
    return SyncResult(
        run_id=run_id,
        plan=plan,
        counts=result.counts,
        errors=result.errors,
        outcome=result.outcome,
        records=inputs.records(),
    ), result.error


def _fetch(
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store,
    policy: SyncPolicy,
    run_id: int | None,
    progress: Progress,
    cancel: threading.Event | None,
    full: bool,
    details: bool = True,
) -> _Inputs:
    """Pull both sides, set the unreadable aside, run the first sync's duplicate guard, and
    load the IPM details the plan needs (:mod:`pmtools.engine.fetch`).

    ``details=False`` (the forecast) loads none: each is a rate-limited request, and the
    forecast counts them instead of reading them.
    """
    state = store.state(policy.kinds)
    first = state.baseline is None
    liscio_records: dict[Kind, list[Record]] = {}
    ipm_records: dict[Kind, list[Record]] = {}
    pulled_all: dict[Kind, bool] = {}
    liscio.take_unreadable(), ipm.take_unreadable()  # what earlier reads left is not this run's
    for kind in Kind:
        stage = _STAGE_OF[kind]
        if kind not in policy.kinds:
            if first:  # the baseline covers both kinds, whatever this run syncs
                liscio_records[kind] = list(liscio.iter_records(kind))
            progress(stage, 1, 1, f"{kind}: not selected")
            continue
        progress(stage, 0, 2, f"fetching Liscio {kind}")
        liscio_records[kind] = list(liscio.iter_records(kind))
        progress(stage, 1, 2, f"fetching IPM {kind.ipm_name}")
        ipm_records[kind], pulled_all[kind] = pull_ipm(
            ipm, store, kind, full=full or first, save=run_id is not None
        )
        progress(
            stage,
            2,
            2,
            f"{len(liscio_records[kind])} Liscio {kind}, "
            f"{len(ipm_records[kind])} IPM {kind.ipm_name}",
        )
    bad = [*liscio.take_unreadable(), *ipm.take_unreadable()]
    listed = {(Side.LISCIO, k): len(v) for k, v in liscio_records.items()}
    listed.update({(Side.IPM, k): len(v) for k, v in ipm_records.items()})
    for b in bad:
        listed[(b.side, b.kind)] = listed.get((b.side, b.kind), 0) + 1
    if run_id is not None:
        unread.record(bad, store=store, run_id=run_id)
    selected, ipm_records, state = unread.hold_out(
        bad, liscio={k: liscio_records[k] for k in policy.kinds}, ipm=ipm_records, state=state
    )
    progress("linking", 0, 1, "checking")
    if first:
        problem = preflight_problem(
            liscio_counts={k: sum(not r.archived for r in selected[k]) for k in policy.kinds},
            ipm_counts={k: len(ipm_records[k]) for k in policy.kinds},
            policy=policy,
        )
        if problem and not policy.force:
            raise PreflightRefused(problem)
    for kind in policy.kinds if details else ():
        keys = details_needed(
            kind=kind, liscio=selected[kind], ipm=ipm_records[kind], state=state, policy=policy
        )
        ipm_records[kind] = load_details(
            ipm,
            kind,
            ipm_records[kind],
            store=store,
            wanted=keys,
            reuse=not pulled_all[kind],
            save=run_id is not None,
            cancel=cancel,
            on_batch=_details_progress(progress, kind),
        )
    everyone = [(k, r.id) for k, recs in liscio_records.items() for r in recs]
    return _Inputs(
        liscio=selected,
        ipm=ipm_records,
        state=state,
        unreadable=bad,
        baseline=everyone + unread.baseline(bad),
        listed=listed,
    )


def _plan(
    inputs: _Inputs, *, policy: SyncPolicy, progress: Progress, expected: Plan | None
) -> Plan:
    """The plan (the core's), with creates held back where IPM records could not be read;
    PlanChanged when a previewed plan is no longer the one planned."""
    progress("linking", 0, 1, "planning")
    plan = unread.hold_creates(
        plan_sync(liscio=inputs.liscio, ipm=inputs.ipm, state=inputs.state, policy=policy),
        inputs.unreadable,
    )
    if expected is not None and plan.writes() != expected.writes():
        raise PlanChanged(
            "Liscio or IPM changed since the preview: the plan is no longer the one shown. "
            "Review the new plan and apply it again.",
            plan=plan,
            records=inputs.records(),
        )
    return plan


def _keep_books(
    store: Store,
    run_id: int,
    inputs: _Inputs,
    result: ApplyResult,
    *,
    policy: SyncPolicy,
    first: bool,
) -> ApplyResult:
    """After apply: the cache learns what was written, a first sync keeps its baseline, the
    unreadable records count as errors, and the run is finished."""
    keep_written(store, run_id, policy.kinds)
    if first and result.outcome in ("done", "done_with_errors"):
        store.record_baseline(inputs.baseline)
    result = unread.with_errors(result, inputs.unreadable)
    message = str(result.error) if result.error else None
    store.finish_run(run_id, outcome=result.outcome, counts=result.counts, message=message)
    log.info(
        "sync run %s %s: %s",
        run_id,
        result.outcome,
        " ".join(f"{k}={v}" for k, v in result.counts.items()),
    )
    return result


def stage_names() -> tuple[str, ...]:
    """The three progress stages, in order (the workbench's three buttons)."""
    return STAGES


__all__ = ["STAGES", "SyncResult", "run_sync", "stage_names"]
