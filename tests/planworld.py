"""A tiny pure model of applying a plan, for planner tests: records and state in, out.

It does what ``pmtools.engine.apply`` does to the two systems and the store, without either: links,
creates (IPM record from the draft, link already first-synced), field writes, marks, orphans,
and the baseline the first Sync Now records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pmtools.core.plan import Link, LinkHow, LinkStatus, Op, Plan, SyncState
from pmtools.core.records import Kind, Record, Side

NOW = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class World:
    """Both systems' records (by kind, in order) and the stored state."""

    liscio: dict[Kind, tuple[Record, ...]]
    ipm: dict[Kind, tuple[Record, ...]]
    state: SyncState


def apply_to_world(world: World, plan: Plan) -> World:
    """The world after every writing action of ``plan`` succeeded."""
    liscio = {k: {r.id: r for r in v} for k, v in world.liscio.items()}
    ipm = {k: {r.id: r for r in v} for k, v in world.ipm.items()}
    links = {(l.kind, l.liscio_id): l for l in world.state.links}
    for a in plan.actions:
        if a.op is Op.LINK:
            links[(a.kind, a.liscio_id)] = Link(
                kind=a.kind, liscio_id=a.liscio_id, ipm_key=a.ipm_key, how=a.how, linked_at=NOW
            )
        elif a.op is Op.CREATE_IN_IPM:
            key = f"new-{a.external_id}"
            draft = a.record
            ipm.setdefault(a.kind, {})[key] = replace(
                draft, side=Side.IPM, id=key, external_id=a.external_id, created_by=None
            )
            links[(a.kind, a.liscio_id)] = Link(
                kind=a.kind,
                liscio_id=a.liscio_id,
                ipm_key=key,
                how=LinkHow.CREATED,
                linked_at=NOW,
                first_synced_at=NOW,
            )
        elif a.op is Op.WRITE:
            side = liscio if a.side is Side.LISCIO else ipm
            rid = a.liscio_id if a.side is Side.LISCIO else a.ipm_key
            record = side[a.kind][rid]
            assert record.get(a.field) == a.before or (
                a.before is None and record.get(a.field) is None
            )
            side[a.kind][rid] = record.with_fields({a.field: a.after})
        elif a.op is Op.MARK_SYNCED:
            link = links[(a.kind, a.liscio_id)]
            links[(a.kind, a.liscio_id)] = replace(link, first_synced_at=NOW)
        elif a.op is Op.ORPHAN:
            link = links[(a.kind, a.liscio_id)]
            links[(a.kind, a.liscio_id)] = replace(link, status=LinkStatus.ORPHANED)
    baseline = world.state.baseline
    if baseline is None:
        baseline = frozenset((k, r.id) for k, v in world.liscio.items() for r in v)
    state = replace(world.state, links=tuple(links.values()), baseline=baseline)
    return World(
        liscio={k: tuple(v.values()) for k, v in liscio.items()},
        ipm={k: tuple(v.values()) for k, v in ipm.items()},
        state=state,
    )
