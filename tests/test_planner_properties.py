"""Properties of planning over random small worlds: the seed's outcomes, stability, safety."""

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from planworld import World, apply_to_world

from pmtools.core.matching import match
from pmtools.core.names import compatible, normalize_name, person_keys
from pmtools.core.plan import (
    Decision,
    DecisionKind,
    Link,
    LinkHow,
    LinkStatus,
    Op,
    SyncPolicy,
    SyncState,
)
from pmtools.core.planner import plan_sync
from pmtools.core.records import Address, Kind, Record, Side, has_value
from pmtools.core.rules import values_equal

A, C = Kind.ACCOUNTS, Kind.CONTACTS

FIELD_POOL = {
    "email": ["ann@x.com", "ANN@x.com ", "bo@y.org"],
    "phone": ["555-010-2000", "+1 (555) 010-2000", "555-999-0000"],
    "website": ["acme.com", "https://www.acme.com/", "beta.org"],
    "title": ["CEO", " CEO ", "Partner", "ceo"],
    "address": [
        Address(line1="1 Main St", city="X"),
        Address(line1="1 MAIN ST ", city="x"),
        Address(line1="9 Elm St"),
    ],
}
EMPTY = [None, "", "   "]
ACCOUNT_NAMES = ["Acme", "ACME ", "Beta  LLC", "beta llc", "Gamma", "Café", "CAFÉ", ""]
FIRST, MIDDLE, LAST = ["Ann", "ANN", "Bo"], [None, "Marie", "Jo"], ["Lee", "Ng"]


def field_value(field):
    empties = EMPTY + ([Address()] if field == "address" else [])
    return st.sampled_from(empties + FIELD_POOL[field])


@st.composite
def records(draw, side, kind, prefix):
    out = []
    for i in range(draw(st.integers(0, 6))):
        values = {f: draw(field_value(f)) for f in kind.fields}
        rid = f"{prefix}{i}"
        archived = side is Side.LISCIO and draw(st.integers(0, 5)) == 0
        details = side is Side.LISCIO or kind is C or draw(st.integers(0, 5)) > 0
        if kind is A:
            out.append(
                Record(
                    side=side,
                    kind=kind,
                    id=rid,
                    name=draw(st.sampled_from(ACCOUNT_NAMES)),
                    archived=archived,
                    details_complete=details,
                    **values,
                )
            )
            continue
        first, middle, last = (draw(st.sampled_from(p)) for p in (FIRST, MIDDLE, LAST))
        if side is Side.LISCIO:
            out.append(
                Record(
                    side=side,
                    kind=kind,
                    id=rid,
                    name=f"{first} {last}",
                    first_name=first,
                    middle_name=middle,
                    last_name=last,
                    archived=archived,
                    created_by=draw(st.sampled_from(["firm", "account_owner"])),
                    **values,
                )
            )
        else:
            words = " ".join(w for w in (first, middle) if w)
            full = draw(
                st.sampled_from([f"{words} {last}", f"{last}, {words}", f"{first} {last}".upper()])
            )
            out.append(Record(side=side, kind=kind, id=rid, name=full, **values))
    return out


@st.composite
def worlds(draw):
    liscio = {k: tuple(draw(records(Side.LISCIO, k, f"L{k.value[0]}"))) for k in Kind}
    ipm = {k: tuple(draw(records(Side.IPM, k, f"I{k.value[0]}"))) for k in Kind}
    links, decisions, baseline = [], [], None
    for kind in Kind:
        l_ids = [r.id for r in liscio[kind]] + [f"gone-{kind}"]
        i_ids = [r.id for r in ipm[kind]] + [f"gone-{kind}"]
        pairs = draw(
            st.lists(
                st.tuples(st.sampled_from(l_ids), st.sampled_from(i_ids)),
                max_size=3,
                unique_by=(lambda p: p[0], lambda p: p[1]),
            )
        )
        for lid, key in pairs:
            links.append(
                Link(
                    kind=kind,
                    liscio_id=lid,
                    ipm_key=key,
                    how=LinkHow.MANUAL,
                    status=draw(st.sampled_from(list(LinkStatus))),
                    first_synced_at=draw(st.sampled_from([None, "t"])),
                )
            )
        for lid, key in draw(
            st.lists(st.tuples(st.sampled_from(l_ids), st.sampled_from(i_ids)), max_size=2)
        ):
            decisions.append(
                Decision(
                    kind=kind,
                    liscio_id=lid,
                    ipm_key=key,
                    decision=draw(st.sampled_from(list(DecisionKind))),
                )
            )
    if draw(st.booleans()):
        every = [(k, r.id) for k in Kind for r in liscio[k]]
        baseline = frozenset(draw(st.lists(st.sampled_from(every), unique=True)) if every else [])
    state = SyncState(links=tuple(links), decisions=tuple(decisions), baseline=baseline)
    return World(liscio=liscio, ipm=ipm, state=state)


def plan_of(world, policy=SyncPolicy()):
    return plan_sync(liscio=world.liscio, ipm=world.ipm, state=world.state, policy=policy)


def seed_outcome(field, liscio, ipm, first_sync):
    """The seed's text: (side written, value written) or None."""
    lh, ih, same = has_value(liscio), has_value(ipm), values_equal(field, liscio, ipm)
    if lh and (not ih or not same):
        return (Side.IPM, liscio)
    if first_sync and ih and not lh:
        return (Side.LISCIO, ipm)
    return None


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_a_second_plan_after_applying_plans_no_writes(world):
    plan = plan_of(world)
    after = apply_to_world(world, plan)
    assert plan_of(after).writes() == ()


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_every_live_pair_gets_exactly_the_seeds_outcome(world):
    plan = plan_of(world)
    state = world.state
    by_id = {(k, r.side, r.id): r for k in Kind for v in (world.liscio[k], world.ipm[k]) for r in v}
    new = {(a.kind, a.liscio_id): a.ipm_key for a in plan.actions if a.op is Op.LINK}
    pairs = {}
    for link in state.links:
        lr = by_id.get((link.kind, Side.LISCIO, link.liscio_id))
        ir = by_id.get((link.kind, Side.IPM, link.ipm_key))
        if link.status is LinkStatus.LINKED and lr and ir and not lr.archived:
            pairs[(link.kind, link.liscio_id)] = (lr, ir, link.first_synced_at is None)
    for (kind, lid), key in new.items():
        pairs[(kind, lid)] = (by_id[(kind, Side.LISCIO, lid)], by_id[(kind, Side.IPM, key)], True)
    written = {(a.kind, a.liscio_id, a.field): a for a in plan.actions if a.op is Op.WRITE}
    skipped = {(a.kind, a.liscio_id, a.field) for a in plan.actions if a.op is Op.SKIP}
    for (kind, lid), (lr, ir, first) in pairs.items():
        for field in kind.fields:
            if (kind, lid, field) in skipped:
                assert field == "address" and not ir.details_complete
                continue
            expected = seed_outcome(field, lr.get(field), ir.get(field), first)
            action = written.get((kind, lid, field))
            got = None if action is None else (action.side, action.after)
            assert got == expected, (field, lr.get(field), ir.get(field), first)
            if action is not None:
                assert action.ipm_key == ir.id
                assert action.before == (ir if action.side is Side.IPM else lr).get(field)
    # Nothing else is written: only live pairs' fields.
    assert {(k, lid) for k, lid, _ in written} <= set(pairs)
    marks = {(a.kind, a.liscio_id) for a in plan.actions if a.op is Op.MARK_SYNCED}
    assert marks == {
        p for p, (_, ir, first) in pairs.items() if first and (p[0], p[1], "address") not in skipped
    }


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_links_and_creates_respect_ties_decisions_links_archives_and_baseline(world):
    plan = plan_of(world)
    state = world.state
    linked = {(l.kind, Side.LISCIO, l.liscio_id) for l in state.links}
    linked |= {(l.kind, Side.IPM, l.ipm_key) for l in state.links}
    decided = {(d.kind, d.liscio_id, d.ipm_key) for d in state.decisions}
    by_id = {(k, r.side, r.id): r for k in Kind for v in (world.liscio[k], world.ipm[k]) for r in v}
    for a in plan.actions:
        if a.op is Op.LINK:
            lr, ir = by_id[(a.kind, Side.LISCIO, a.liscio_id)], by_id[(a.kind, Side.IPM, a.ipm_key)]
            assert not lr.archived and (a.kind, a.liscio_id, a.ipm_key) not in decided
            assert (a.kind, Side.LISCIO, a.liscio_id) not in linked
            assert (a.kind, Side.IPM, a.ipm_key) not in linked
            if a.kind is A:
                assert normalize_name(lr.name) == normalize_name(ir.name) != ""
            else:
                lk, ik = person_keys(lr), person_keys(ir)
                assert lk.loose == ik.loose and compatible(lk.full, ik.full)
        if a.op is Op.CREATE_IN_IPM:
            record = by_id[(a.kind, Side.LISCIO, a.liscio_id)]
            assert state.baseline is not None and (a.kind, a.liscio_id) not in state.baseline
            assert not record.archived and (a.kind, Side.LISCIO, a.liscio_id) not in linked
            assert all(d[:2] != (a.kind, a.liscio_id) for d in decided)
    # A record is linked or created at most once; ambiguous ones neither.
    touched = Counter(
        (a.kind, a.liscio_id) for a in plan.actions if a.op in (Op.LINK, Op.CREATE_IN_IPM)
    )
    assert all(n == 1 for n in touched.values())
    ambiguous = {(a.kind, a.liscio_id or a.ipm_key) for a in plan.actions if a.op is Op.AMBIGUOUS}
    assert not ambiguous & set(touched)
    assert not ambiguous & {(a.kind, a.ipm_key) for a in plan.actions if a.op is Op.LINK}


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_account_matching_equals_a_brute_force_reading_of_the_rules(world):
    state = world.state
    linked_l = {l.liscio_id for l in state.links if l.kind is A}
    linked_i = {l.ipm_key for l in state.links if l.kind is A}
    blocked = {(d.liscio_id, d.ipm_key) for d in state.decisions if d.kind is A}
    open_l = [r for r in world.liscio[A] if not r.archived and r.id not in linked_l]
    open_i = [r for r in world.ipm[A] if r.id not in linked_i]
    count_l = Counter(normalize_name(r.name) for r in open_l)
    count_i = Counter(normalize_name(r.name) for r in open_i)
    expected = {
        (l.id, i.id)
        for l in open_l
        for i in open_i
        if (key := normalize_name(l.name))
        and key == normalize_name(i.name)
        and count_l[key] == 1
        and count_i[key] == 1
        and (l.id, i.id) not in blocked
    }
    result = match(A, world.liscio[A], world.ipm[A], state)
    assert {(p.liscio_id, p.ipm_key) for p in result.pairs} == expected
    tied = {k for k in count_l if k and count_i[k] and (count_l[k] > 1 or count_i[k] > 1)}
    assert {g.key for g in result.ambiguous} == tied
    seen = [p.liscio_id for p in result.pairs] + list(result.unmatched_liscio)
    seen += [rid for g in result.ambiguous for rid in g.liscio_ids]
    assert sorted(seen) == sorted(r.id for r in open_l)  # each open record exactly once


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_planning_is_deterministic_and_ignores_the_order_of_stored_state(world, rnd):
    links, decisions = list(world.state.links), list(world.state.decisions)
    rnd.shuffle(links)
    rnd.shuffle(decisions)
    shuffled = replace(
        world, state=replace(world.state, links=tuple(links), decisions=tuple(decisions))
    )
    assert plan_of(world) == plan_of(world) == plan_of(shuffled)
