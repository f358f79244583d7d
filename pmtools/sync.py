"""Sync Now: fetch both sides, match, plan, apply — one run in the state store.

Stages reported through ``progress(stage, done, total, message)``: ``organizations`` (fetch
accounts of both sides), ``people`` (fetch contacts), ``linking`` (load details, plan, apply).

IPM pulls are incremental after the first sync: records modified since the last pull's
high-water mark (minus :data:`OVERLAP`, for clock skew and same-second edits) are merged into
the cached IPM records. Loaded details (an organization's business card) are kept too, and
reused while the record's LastModifiedDateTime is unchanged. Both rest on an undocumented Karbon
behaviour (a card edit moves its owner's modification time), and an incremental pull cannot see
a record deleted in IPM's web app (the API has no delete): so every kind gets a full pull, and
its details are loaded afresh, at least every :data:`FULL_PULL_EVERY`; ``full=True`` forces it.

A dry run takes no lock and writes nothing to the state file: no run row, no baseline, no
cache; it returns the plan.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pmtools.apply import Progress, apply_plan, reconcile
from pmtools.connectors.base import Connector
from pmtools.errors import ConnectorError, PlanChanged, PreflightRefused
from pmtools.plan import COUNT_KEYS, Plan, SyncPolicy
from pmtools.records import Kind, Record, Side
from pmtools.store import Store, now_iso

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
# Incremental pulls and cached details rest on an undocumented Karbon behaviour (a business
# card edit moves its owner's LastModifiedDateTime) and cannot see a record deleted in IPM's web
# app: a full pull at least this often bounds both.
FULL_PULL_EVERY = timedelta(days=1)
DETAILS_BATCH = 25  # IPM details loaded between two cancel checks / progress reports
STAGES = ("organizations", "people", "linking")
_STAGE_OF = {Kind.ACCOUNTS: "organizations", Kind.CONTACTS: "people"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncResult:
    """The outcome of one Sync Now.

    ``run_id`` is None for a dry run. ``outcome``: ``done``, ``done_with_errors``,
    ``cancelled`` or ``dry_run`` (a service failure raises instead, after recording the run as
    ``stopped``). ``counts`` has exactly COUNT_KEYS.
    """

    run_id: int | None
    plan: Plan
    counts: dict[str, int]
    errors: tuple[str, ...] = ()
    outcome: str = "done"
    records: dict[tuple[Side, Kind], tuple[Record, ...]] = field(default_factory=dict,
                                                                 compare=False)


def run_sync(*, liscio: Connector, ipm: Connector, store: Store, policy: SyncPolicy,
             dry_run: bool = False, started_by: str = "cli", progress: Progress | None = None,
             cancel: threading.Event | None = None, full: bool = False,
             lock_timeout: float = 0.0, expected: Plan | None = None) -> SyncResult:
    """Run one Sync Now (see the module docstring); raises LockHeld, PreflightRefused,
    ServiceError/AuthError (run recorded as stopped; run again to resume).

    ``expected`` is a previewed plan (a dry run's): the run applies only if planning again
    gives the same writes, and raises PlanChanged with the new plan otherwise, writing nothing.
    """
    report: Progress = progress or (lambda *_: None)
    if dry_run:
        return _run(liscio=liscio, ipm=ipm, store=store, policy=policy, run_id=None,
                    progress=report, cancel=cancel, full=full, expected=None)[0]
    with store.lock(timeout=lock_timeout, by=started_by):
        store.mark_interrupted_runs()
        run_id = store.start_run(command="sync", started_by=started_by, kinds=policy.kinds,
                                 policy=policy)
        try:
            result, error = _run(liscio=liscio, ipm=ipm, store=store, policy=policy,
                                 run_id=run_id, progress=report, cancel=cancel, full=full,
                                 expected=expected)
        except (PreflightRefused, PlanChanged) as exc:
            store.finish_run(run_id, outcome="refused", message=str(exc),
                             counts=_zero_counts())
            log.info("sync run %s refused: %s", run_id, type(exc).__name__)
            raise
        except BaseException as exc:
            outcome = "stopped" if isinstance(exc, Exception) else "interrupted"
            store.finish_run(run_id, outcome=outcome, message=str(exc) or type(exc).__name__,
                             counts=_zero_counts())
            log.error("sync run %s %s: %s", run_id, outcome, str(exc) or type(exc).__name__)
            raise
    if error is not None:
        raise error
    return result


def _zero_counts() -> dict[str, int]:
    return {k: 0 for k in COUNT_KEYS}


def _run(*, liscio: Connector, ipm: Connector, store: Store, policy: SyncPolicy,
         run_id: int | None, progress: Progress, cancel: threading.Event | None,
         full: bool, expected: Plan | None) -> tuple[SyncResult, ConnectorError | None]:
    from pmtools.planner import details_needed, plan_sync, preflight_problem

    if run_id is not None:
        settled = reconcile(liscio=liscio, ipm=ipm, store=store, run_id=run_id)
        if any(settled.values()):
            log.info("run %s settled what an interrupted run left: %s", run_id, settled)
    state = store.state(policy.kinds)
    first = state.baseline is None
    liscio_records: dict[Kind, list[Record]] = {}
    ipm_records: dict[Kind, list[Record]] = {}
    pulled_all: dict[Kind, bool] = {}
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
        ipm_records[kind], pulled_all[kind] = _pull_ipm(ipm, store, kind, full=full or first,
                                                        save=run_id is not None)
        progress(stage, 2, 2, f"{len(liscio_records[kind])} Liscio {kind}, "
                              f"{len(ipm_records[kind])} IPM {kind.ipm_name}")
    selected = {k: liscio_records[k] for k in policy.kinds}
    progress("linking", 0, 1, "checking")
    if first:
        problem = preflight_problem(
            liscio_counts={k: sum(not r.archived for r in selected[k]) for k in policy.kinds},
            ipm_counts={k: len(ipm_records[k]) for k in policy.kinds}, policy=policy)
        if problem and not policy.force:
            raise PreflightRefused(problem)
    for kind in policy.kinds:
        keys = details_needed(kind=kind, liscio=selected[kind], ipm=ipm_records[kind],
                              state=state, policy=policy)
        todo = [r for r in ipm_records[kind] if r.id in keys and not r.details_complete]
        loaded = cached_details(store, kind, todo, fresh_after=None if pulled_all[kind]
                                 else _minus(now_iso(), FULL_PULL_EVERY))
        todo = [r for r in todo if r.id not in loaded]
        for start in range(0, len(todo), DETAILS_BATCH):  # each is a rate-limited request
            if cancel is not None and cancel.is_set():
                break
            progress("linking", start, len(todo), f"loading IPM {kind.ipm_name} details")
            batch = ipm.load_details(kind, todo[start:start + DETAILS_BATCH])
            loaded.update((r.id, r) for r in batch)
            if run_id is not None:
                store.cache_details(kind, batch)
        ipm_records[kind] = [loaded.get(r.id, r) for r in ipm_records[kind]]
    if cancel is not None and cancel.is_set():
        empty = Plan(actions=(), policy=policy, first_sync=first)
        if run_id is not None:
            store.finish_run(run_id, outcome="cancelled", counts=_zero_counts(),
                             message="cancelled before planning")
        return SyncResult(run_id=run_id, plan=empty, counts=_zero_counts(),
                          outcome="cancelled"), None
    progress("linking", 0, 1, "planning")
    plan = plan_sync(liscio=selected, ipm=ipm_records, state=state, policy=policy)
    records = {(Side.LISCIO, k): tuple(v) for k, v in selected.items()}
    records.update({(Side.IPM, k): tuple(v) for k, v in ipm_records.items()})
    if expected is not None and plan.writes() != expected.writes():
        raise PlanChanged(
            "Liscio or IPM changed since the preview: the plan is no longer the one shown. "
            "Review the new plan and apply it again.", plan=plan, records=records)
    if run_id is None:
        progress("linking", 1, 1, "dry run: nothing written")
        return SyncResult(run_id=None, plan=plan, counts=plan.counts(), outcome="dry_run",
                          records=records), None
    names = {(r.side, r.kind, r.id): r.name for recs in records.values() for r in recs}
    result = apply_plan(plan, liscio=liscio, ipm=ipm, store=store, run_id=run_id,
                        progress=progress, cancel=cancel, names=names)
    for kind in policy.kinds:  # written records are loaded afresh next time
        written = {c["ipm_key"] for c in store.changes(run_id=run_id, op="write")
                   if c["side"] == str(Side.IPM) and c["kind"] == str(kind)}
        store.forget_details(kind, written)
    if first and result.outcome in ("done", "done_with_errors"):
        store.record_baseline((k, r.id) for k, recs in liscio_records.items() for r in recs)
    message = result.error and str(result.error)
    store.finish_run(run_id, outcome=result.outcome, counts=result.counts, message=message)
    log.info("sync run %s %s: %s", run_id, result.outcome,
             " ".join(f"{k}={v}" for k, v in result.counts.items()))
    return SyncResult(run_id=run_id, plan=plan, counts=result.counts, errors=result.errors,
                      outcome=result.outcome, records=records), result.error


def _pull_ipm(ipm: Connector, store: Store, kind: Kind, *, full: bool,
              save: bool) -> tuple[list[Record], bool]:
    """IPM records of ``kind``: a full pull, or the cache merged with what changed since.

    Returns the records and whether every record was pulled.
    """
    mark = store.high_water(kind)
    last_full = store.last_full_pull(kind)
    full = full or not last_full or last_full < _minus(now_iso(), FULL_PULL_EVERY)
    cached = store.cached_records(kind) if not full and mark else []
    everything = full or not mark or not cached
    if everything:
        fresh = list(ipm.iter_records(kind))
        merged = {r.id: r for r in fresh}
    else:
        fresh = list(ipm.iter_records(kind, modified_since=_minus(mark, OVERLAP)))
        merged = {r.id: r for r in cached}
        merged.update((r.id, r) for r in fresh)
    if save:
        store.cache_records(kind, fresh, replace_all=everything)
        if everything:
            store.set_full_pull(kind, now_iso())
        newest = max((r.modified_at for r in fresh if r.modified_at), default=None)
        if newest and (not mark or newest > mark):
            store.set_high_water(kind, newest)
    return list(merged.values()), everything


def cached_details(store: Store, kind: Kind, rows: list[Record],
                   fresh_after: str | None) -> dict[str, Record]:
    """Details loaded earlier for ``rows`` that are still good: the record was not modified
    since (same LastModifiedDateTime) and they were loaded after ``fresh_after`` (None: none
    are good, as on a full pull)."""
    if fresh_after is None or not rows:
        return {}
    cached = store.cached_details(kind, (r.id for r in rows))
    good = {}
    for row in rows:
        hit = cached.get(row.id)
        if hit and row.modified_at and hit[0].modified_at == row.modified_at \
                and hit[1] >= fresh_after:
            good[row.id] = hit[0]
    return good


def _minus(stamp: str, delta: timedelta) -> str:
    """An ISO-8601 UTC timestamp moved back by ``delta`` (same Z form)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - delta).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stage_names() -> tuple[str, ...]:
    """The three progress stages, in order (the workbench's three buttons)."""
    return STAGES


__all__ = ["FULL_PULL_EVERY", "OVERLAP", "STAGES", "SyncResult", "cached_details", "run_sync",
           "stage_names"]
