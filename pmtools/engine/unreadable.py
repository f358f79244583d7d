"""Records a pull could not read, kept out of the plan together with what they are linked to.

A record whose fields have the wrong types (``FullName: {"x": 1}``, ``archived: "yes"``) is
left out of a pull and reported as a record error (:meth:`Connector.take_unreadable`). Planning
as if it did not exist would be wrong twice over: its link would be orphaned (and an orphaned
link is never resumed silently), and its counterpart could be created anew in IPM, which has no
delete. So for the run (:mod:`pmtools.engine.sync` calls these, in this order):

- :func:`record`: each is a record error of the run, and the next IPM pull of its kind is a
  full one (an incremental pull would not read an unchanged record again);
- :func:`hold_out`: its stored link and the linked record on the other side are taken out of
  the planner's inputs: the pair is neither written, orphaned nor matched again;
- :func:`hold_creates`: while an IPM record of a kind cannot be read, no record of that kind is
  created in IPM (the unreadable one may be its twin): those creates become SKIPs saying why;
- :func:`baseline`: an unreadable Liscio record at the first sync existed at the first sync;
- :func:`counted`, :func:`messages`, :func:`with_errors`: the run's counts, errors and outcome.

The next run that reads the record plans the pair as usual: nothing is lost. All but
:func:`record` are pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pmtools.connectors.base import Unreadable
from pmtools.core.plan import Action, Op, Plan, SyncState
from pmtools.core.records import Kind, Record, Side
from pmtools.core.rulebook import Rule
from pmtools.engine.apply import ApplyResult

LONG_AGO = "1970-01-01T00:00:00Z"  # a last full pull this old makes the next pull a full one


def record(bad: Sequence[Unreadable], *, store: Any, run_id: int) -> None:
    """Save each as a record error of ``run_id``; ask for a full IPM pull of its kind next."""
    for item in bad:
        store.record_error(
            run_id,
            kind=item.kind,
            op="read",
            message=item.message(),
            side=item.side,
            name=item.name or None,
            liscio_id=item.id if item.side is Side.LISCIO else None,
            ipm_key=item.id if item.side is Side.IPM else None,
        )
    for kind in {item.kind for item in bad if item.side is Side.IPM}:
        store.set_full_pull(kind, LONG_AGO)


def hold_out(
    bad: Sequence[Unreadable],
    *,
    liscio: Mapping[Kind, Sequence[Record]],
    ipm: Mapping[Kind, Sequence[Record]],
    state: SyncState,
) -> tuple[dict[Kind, list[Record]], dict[Kind, list[Record]], SyncState]:
    """The planner's inputs without the unreadable records, their stored links and the
    records those links point to."""
    liscio_out = {(b.kind, b.id) for b in bad if b.side is Side.LISCIO}
    ipm_out = {(b.kind, b.id) for b in bad if b.side is Side.IPM}
    held = [
        link
        for link in state.links
        if (link.kind, link.liscio_id) in liscio_out or (link.kind, link.ipm_key) in ipm_out
    ]
    liscio_out.update((link.kind, link.liscio_id) for link in held)
    ipm_out.update((link.kind, link.ipm_key) for link in held)
    if held:
        state = dataclasses.replace(
            state, links=tuple(link for link in state.links if link not in held)
        )
    return (
        {k: [r for r in recs if (k, r.id) not in liscio_out] for k, recs in liscio.items()},
        {k: [r for r in recs if (k, r.id) not in ipm_out] for k, recs in ipm.items()},
        state,
    )


def hold_creates(plan: Plan, bad: Sequence[Unreadable]) -> Plan:
    """``plan`` with its creates in IPM turned into SKIPs for the kinds of unreadable IPM
    records."""
    kinds = {b.kind for b in bad if b.side is Side.IPM}
    if not any(a.op is Op.CREATE_IN_IPM and a.kind in kinds for a in plan.actions):
        return plan
    actions = tuple(
        Action(
            op=Op.SKIP,
            kind=a.kind,
            liscio_id=a.liscio_id,
            side=Side.IPM,
            rule=Rule.SKIP_UNREADABLE_IPM,
            reason=f"not created in IPM: an IPM {a.kind.ipm_name} record could not be "
            "read, and it may be this one",
        )
        if a.op is Op.CREATE_IN_IPM and a.kind in kinds
        else a
        for a in plan.actions
    )
    return dataclasses.replace(plan, actions=actions)


def baseline(bad: Sequence[Unreadable]) -> list[tuple[Kind, str]]:
    """The unreadable Liscio records, for the first sync's baseline."""
    return [(b.kind, b.id) for b in bad if b.side is Side.LISCIO]


def messages(bad: Sequence[Unreadable]) -> tuple[str, ...]:
    """One sentence for a person per unreadable record."""
    return tuple(b.message() for b in bad)


def counted(counts: Mapping[str, int], bad: Sequence[Unreadable]) -> dict[str, int]:
    """``counts`` with the unreadable records added to ``errors``."""
    return {**counts, "errors": counts.get("errors", 0) + len(bad)}


def with_errors(result: ApplyResult, bad: Sequence[Unreadable]) -> ApplyResult:
    """``result`` with the unreadable records added to its counts and errors: a run that was
    ``done`` is ``done_with_errors``."""
    if not bad:
        return result
    return dataclasses.replace(
        result,
        counts=counted(result.counts, bad),
        errors=messages(bad) + result.errors,
        outcome="done_with_errors" if result.outcome == "done" else result.outcome,
    )


__all__ = [
    "LONG_AGO",
    "baseline",
    "counted",
    "hold_creates",
    "hold_out",
    "messages",
    "record",
    "with_errors",
]
