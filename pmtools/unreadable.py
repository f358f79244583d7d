"""Records a pull could not read, kept out of the plan together with what they are linked to.

A record whose fields have the wrong types (``FullName: {"x": 1}``, ``archived: "yes"``) is
left out of a pull and reported as a record error (:meth:`Connector.take_unreadable`). Planning
as if it did not exist would be wrong twice over: its link would be orphaned (and an orphaned
link is never resumed silently), and its counterpart could be created anew in IPM, which has no
delete. So for this run (pure functions, used by :mod:`pmtools.sync`):

- its stored link and the linked record on the other side are taken out of the planner's
  inputs: the pair is neither written, orphaned nor matched again;
- while any IPM record of a kind cannot be read, no record of that kind is created in IPM (the
  unreadable one may be its twin): those creates become SKIPs saying why.

The next run that reads the record plans the pair as usual: nothing is lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from pmtools.connectors.base import Unreadable
from pmtools.plan import Action, Op, Plan, SyncState
from pmtools.records import Kind, Record, Side

RULE_UNREADABLE_IPM = "skip:an-ipm-record-is-unreadable"


def hold_out(kind: Kind, bad: Sequence[Unreadable], *, liscio: Sequence[Record],
             ipm: Sequence[Record], state: SyncState
             ) -> tuple[list[Record], list[Record], SyncState]:
    """The planner's inputs for ``kind`` without the unreadable records' pairs.

    Returns the Liscio and IPM records and the state, each without the unreadable records,
    their stored links and the records those links point to.
    """
    liscio_out = {b.id for b in bad if b.kind is kind and b.side is Side.LISCIO}
    ipm_out = {b.id for b in bad if b.kind is kind and b.side is Side.IPM}
    if not liscio_out and not ipm_out:
        return list(liscio), list(ipm), state
    held = [link for link in state.links if link.kind is kind
            and (link.liscio_id in liscio_out or link.ipm_key in ipm_out)]
    liscio_out.update(link.liscio_id for link in held)
    ipm_out.update(link.ipm_key for link in held)
    links = tuple(link for link in state.links if link not in held)
    return ([r for r in liscio if r.id not in liscio_out],
            [r for r in ipm if r.id not in ipm_out],
            dataclasses.replace(state, links=links))


def hold_creates(plan: Plan, kinds: Collection[Kind]) -> Plan:
    """``plan`` with its creates in IPM of ``kinds`` turned into SKIPs saying why."""
    if not kinds or not any(a.op is Op.CREATE_IN_IPM and a.kind in kinds
                            for a in plan.actions):
        return plan
    actions = tuple(
        Action(op=Op.SKIP, kind=a.kind, liscio_id=a.liscio_id, side=Side.IPM,
               rule=RULE_UNREADABLE_IPM,
               reason=f"not created in IPM: an IPM {a.kind.ipm_name} record could not be "
                      "read, and it may be this one")
        if a.op is Op.CREATE_IN_IPM and a.kind in kinds else a
        for a in plan.actions)
    return dataclasses.replace(plan, actions=actions)


__all__ = ["RULE_UNREADABLE_IPM", "hold_creates", "hold_out"]
