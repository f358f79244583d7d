"""Apply a plan through the two connectors, saving every step in the state store.

Every write is saved as an *intent* before it is sent and marked *confirmed* after, with its
before and after values; a create is saved with its external id first. So a run killed at any
point can simply be run again: :func:`reconcile` settles what the killed run left open (a write
that reached the system is confirmed, one that did not is abandoned; a create whose reply was
lost is found by its external id and linked), and the new plan holds only what is left.

A record-level failure (RecordError) is saved (errors table, change ``failed``) and the run goes
on; a service or credentials failure stops the run cleanly with outcome ``stopped``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pmtools.connectors.base import Connector
from pmtools.core.plan import CHANGE_OPS, Action, LinkHow, Op, Plan
from pmtools.core.records import Kind, Record, Side
from pmtools.core.rulebook import RECORD_ERROR_SKIPS, Rule
from pmtools.core.rules import values_equal
from pmtools.engine.applier import Applier
from pmtools.errors import (
    ConnectorError,
    NotFound,
)
from pmtools.store import ChangeIntent, Store

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """What applying a plan did: counts (COUNT_KEYS), record errors and the outcome.

    ``outcome`` is ``done``, ``done_with_errors``, ``stopped`` (a service failed: ``error``
    holds it; run again to resume) or ``cancelled``.
    """

    counts: dict[str, int]
    errors: tuple[str, ...] = ()
    outcome: str = "done"
    error: ConnectorError | None = field(default=None, compare=False)


def apply_plan(
    plan: Plan,
    *,
    liscio: Connector,
    ipm: Connector,
    store: Store,
    run_id: int,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    names: Mapping[tuple[Side, Kind, str], str] | None = None,
) -> ApplyResult:
    """Execute ``plan``'s writing actions in order, saving each step; see the module doc.

    The WRITEs of one record are sent in one ``update_fields`` call. MARK_SYNCED is applied
    only when every write of that pair succeeded. ``cancel`` is checked between steps.
    """
    from pmtools.core.planner import plan_pair

    applier = Applier(liscio=liscio, ipm=ipm, store=store, run_id=run_id, names=names)
    for a in plan.actions:
        if a.record is not None:
            applier._remember(a.record)
    steps = _steps(plan.actions)
    # Progress counts changes (links, creates, field writes, orphanings), as the preview and
    # the summary do: a MARK_SYNCED step moves it by nothing.
    total = sum(len(step) for step in steps if step[0].op in CHANGE_OPS)
    failed: set[tuple[Any, ...]] = set()  # pairs (kind, liscio_id[, "unlinked"]) that failed
    created_pairs: set[tuple[Kind, str | None, str | None]] = set()
    outcome, error = "done", None
    done = 0
    for step in steps:
        if cancel is not None and cancel.is_set():
            outcome = "cancelled"
            break
        head = step[0]
        if progress is not None and head.op in CHANGE_OPS:
            progress("linking", done, total, f"{head.op} {head.kind}")
        done += len(step) if head.op in CHANGE_OPS else 0
        try:
            _apply_step(applier, step, failed, created_pairs, plan_pair)
        except ConnectorError as exc:  # not a record error: the service failed, stop
            outcome, error = "stopped", exc
            log.error("run %s stopped: %s", run_id, exc)
            break
    if progress is not None and outcome == "done":
        progress("linking", total, total, "applied")
    counts = dict(applier.counts)
    for key in ("unmatched_liscio", "unmatched_ipm", "ambiguous"):
        counts[key] = plan.counts()[key]
    if outcome == "done" and applier.errors:
        outcome = "done_with_errors"
    return ApplyResult(counts=counts, errors=tuple(applier.errors), outcome=outcome, error=error)


def _steps(actions: Sequence[Action]) -> list[list[Action]]:
    """Actions in order, the WRITEs of one record grouped at the first one's place."""
    steps: list[list[Action]] = []
    groups: dict[tuple[Any, ...], list[Action]] = {}
    for a in actions:
        if a.op is Op.WRITE:
            key = (a.kind, a.side, a.liscio_id, a.ipm_key)
            if key in groups:
                groups[key].append(a)
                continue
            groups[key] = [a]
            steps.append(groups[key])
        elif a.op in (
            Op.LINK,
            Op.CREATE_IN_IPM,
            Op.CREATE_IN_LISCIO,
            Op.MARK_SYNCED,
            Op.ORPHAN,
        ) or (a.op is Op.SKIP and a.rule in RECORD_ERROR_SKIPS):
            steps.append([a])
    return steps


def _apply_step(
    applier: Applier,
    step: list[Action],
    failed: set[tuple[Any, ...]],
    created_pairs: set[tuple[Kind, str | None, str | None]],
    plan_pair: Callable[..., tuple[Action, ...]],
) -> None:
    a = step[0]
    kind = a.kind
    if (kind, a.liscio_id, a.ipm_key) in created_pairs or (
        a.op in (Op.WRITE, Op.MARK_SYNCED) and (a.liscio_id is None or a.ipm_key is None)
    ):
        return  # a created pair's first sync was applied with its create
    if a.op is Op.LINK:
        assert a.liscio_id and a.ipm_key
        if not applier.link(
            kind, a.liscio_id, a.ipm_key, how=a.how or LinkHow.AUTOMATIC, rule=a.rule
        ):
            failed.add((kind, a.liscio_id))
            failed.add((kind, a.liscio_id, "unlinked"))
    elif a.op in (Op.CREATE_IN_IPM, Op.CREATE_IN_LISCIO):
        _create(applier, a, created_pairs, plan_pair)
    elif a.op is Op.WRITE:  # the other record of a pair whose write failed is still written
        if (kind, a.liscio_id, "unlinked") in failed:
            return  # its link could not be stored: write nothing for the pair
        assert a.side is not None and a.liscio_id and a.ipm_key
        if not applier.write_record(kind, a.side, (a.liscio_id, a.ipm_key), step):
            failed.add((kind, a.liscio_id))
    elif a.op is Op.MARK_SYNCED:
        assert a.liscio_id
        if (kind, a.liscio_id) not in failed:
            applier.store.mark_synced(kind, a.liscio_id)
    elif a.op is Op.ORPHAN:
        applier.orphan(a)
    elif a.op is Op.SKIP:  # only RECORD_ERROR_SKIPS are steps
        applier.refuse(a)


def _create(
    applier: Applier,
    a: Action,
    created_pairs: set[tuple[Kind, str | None, str | None]],
    plan_pair: Callable[..., tuple[Action, ...]],
) -> None:
    target = Side.IPM if a.op is Op.CREATE_IN_IPM else Side.LISCIO
    source = a.record
    if source is None:
        source_id = a.liscio_id if target is Side.IPM else a.ipm_key
        assert source_id is not None
        source = applier.connector(Side.LISCIO if target is Side.IPM else Side.IPM).get_record(
            a.kind, source_id
        )
    created_pairs.add((a.kind, a.liscio_id, a.ipm_key))
    pair = applier.create_and_link(
        a.kind, target, source, external_id=a.external_id, plan_pair=plan_pair
    )
    if pair is not None:
        created_pairs.add((a.kind, pair[0].id, pair[1].id))


def reconcile(*, liscio: Connector, ipm: Connector, store: Store, run_id: int) -> dict[str, int]:
    """Settle what a killed run left open; returns how many intents were settled how.

    A write intent whose value is now in the record is confirmed, otherwise abandoned. A
    create intent is looked up by its external id: found, it is confirmed and linked (its first
    sync follows in the plan); not found, it is abandoned (the plan creates it again).
    """
    settled = {"confirmed": 0, "abandoned": 0}
    systems = {Side.LISCIO: liscio, Side.IPM: ipm}
    current: dict[tuple[Side, Kind, str], Record | None] = {}
    for change in store.changes(status="intent", op="write"):
        side, kind = Side(change["side"]), Kind(change["kind"])
        record_id = change["liscio_id"] if side is Side.LISCIO else change["ipm_key"]
        key = (side, kind, record_id)
        if key not in current:
            try:
                current[key] = systems[side].get_record(kind, record_id)
            except NotFound:
                current[key] = None
        rec = current[key]
        ok = rec is not None and values_equal(
            change["field"], rec.get(change["field"]), change["after"]
        )
        status = "confirmed" if ok else "abandoned"
        store.set_change_status(
            [change["id"]],
            status,
            error=None if ok else "not sent: the run was interrupted before the write",
        )
        settled[status] += 1
    open_creates = store.changes(status="intent", op="create")
    for pending in store.pending_creates(status="intent"):
        kind, target = Kind(pending["kind"]), Side(pending["target"])
        found = systems[target].find_by_external_id(kind, pending["external_id"])
        open_changes = [c["id"] for c in open_creates if c["external_id"] == pending["external_id"]]
        if found is None:
            store.finish_create(pending["external_id"], status="abandoned")
            store.set_change_status(
                open_changes, "abandoned", error="not created: the run was interrupted before it"
            )
            settled["abandoned"] += 1
            continue
        store.finish_create(pending["external_id"], status="confirmed", created_id=found.id)
        new_key = {"ipm_key": found.id} if target is Side.IPM else {"liscio_id": found.id}
        store.set_change_status(open_changes, "confirmed", **new_key)
        settled["confirmed"] += 1
        liscio_id, ipm_key = (
            (pending["source_id"], found.id)
            if target is Side.IPM
            else (found.id, pending["source_id"])
        )
        if (
            store.link_for(kind, liscio_id=liscio_id) is None
            and store.link_for(kind, ipm_key=ipm_key) is None
        ):
            store.add_link(
                kind,
                liscio_id,
                ipm_key,
                how=LinkHow.CREATED,
                run_id=run_id,
                audit=ChangeIntent(
                    kind=kind,
                    op="link",
                    liscio_id=liscio_id,
                    ipm_key=ipm_key,
                    after=str(LinkHow.CREATED),
                    rule=Rule.RESUMED,
                ),
            )
    return settled
