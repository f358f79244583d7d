"""The planner: scenario tests of Sync Now plans, plan_pair, details, preflight, external ids."""

import pytest
from planworld import World, apply_to_world

from pmtools.core.matching import EXACT, MIDDLE_IGNORED
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
from pmtools.core.planner import (
    details_needed,
    external_id_for,
    plan_pair,
    plan_sync,
    preflight_problem,
)
from pmtools.core.records import Address, Kind, Record, Side

A, C = Kind.ACCOUNTS, Kind.CONTACTS
L, I = Side.LISCIO, Side.IPM
POLICY = SyncPolicy()
SYNCED = "2025-12-01T00:00:00Z"


def account(rid, name, **fields):
    return Record(side=L, kind=A, id=rid, name=name, **fields)


def org(key, name, **fields):
    return Record(side=I, kind=A, id=key, name=name, **fields)


def contact(rid, first, last, middle=None, **fields):
    return Record(
        side=L,
        kind=C,
        id=rid,
        name=f"{first} {last}",
        first_name=first,
        middle_name=middle,
        last_name=last,
        **fields,
    )


def person(key, full, **fields):
    return Record(side=I, kind=C, id=key, name=full, **fields)


def link(kind, lid, key, *, synced=True, status=LinkStatus.LINKED):
    return Link(
        kind=kind,
        liscio_id=lid,
        ipm_key=key,
        how=LinkHow.MANUAL,
        status=status,
        first_synced_at=SYNCED if synced else None,
    )


def plan(liscio=(), ipm=(), state=SyncState(), policy=POLICY):
    by_kind = lambda records, kind: [r for r in records if r.kind is kind]  # noqa: E731
    return plan_sync(
        liscio={k: by_kind(liscio, k) for k in Kind},
        ipm={k: by_kind(ipm, k) for k in Kind},
        state=state,
        policy=policy,
    )


def ops(p, *wanted):
    return [a for a in p.actions if a.op in wanted]


def writes(p):
    return {
        (a.liscio_id or a.ipm_key, a.side, a.field): (a.before, a.after, a.rule)
        for a in ops(p, Op.WRITE)
    }


BASELINE = SyncState(baseline=frozenset())


# --- the first Sync Now -----------------------------------------------------------------------


def test_first_sync_links_exact_names_and_applies_first_sync_rules():
    liscio = [
        account("a1", "Acme", phone="555-010-2000", website=None),
        account("a2", "Beta", phone="555-010-3000"),
        account("a3", "Only In Liscio"),
        contact("c1", "Ann", "Lee", title="CEO", email=None),
    ]
    ipm = [
        org("o1", "ACME", phone="999-000-0000", website="acme.com"),
        org("o2", "beta", phone="+1 (555) 010-3000"),
        org("o3", "Only In IPM"),
        person("p1", "Lee, Ann", title="Boss", email="ann@x.com"),
    ]
    p = plan(liscio, ipm)
    assert p.first_sync
    assert [(a.liscio_id, a.ipm_key, a.how, a.rule) for a in ops(p, Op.LINK)] == [
        ("a1", "o1", LinkHow.AUTOMATIC, EXACT),
        ("a2", "o2", LinkHow.AUTOMATIC, EXACT),
        ("c1", "p1", LinkHow.AUTOMATIC, EXACT),
    ]
    assert writes(p) == {
        ("a1", I, "phone"): ("999-000-0000", "555-010-2000", "first-sync:liscio-wins"),
        ("a1", L, "website"): (None, "acme.com", "first-sync:fill-liscio"),
        ("c1", I, "title"): ("Boss", "CEO", "first-sync:liscio-wins"),
        ("c1", L, "email"): (None, "ann@x.com", "first-sync:fill-liscio"),
    }
    # Every new pair is marked, also a2 that needed no write; nothing is created at first.
    assert [a.liscio_id for a in ops(p, Op.MARK_SYNCED)] == ["a1", "a2", "c1"]
    assert ops(p, Op.CREATE_IN_IPM) == []
    assert [(a.side, a.liscio_id or a.ipm_key) for a in ops(p, Op.UNMATCHED)] == [
        (L, "a3"),
        (I, "o3"),
    ]
    assert p.counts() == {
        "linked": 3,
        "created_in_ipm": 0,
        "created_in_liscio": 0,
        "ipm_fields_written": 2,
        "liscio_fields_filled": 2,
        "unmatched_liscio": 1,
        "unmatched_ipm": 1,
        "ambiguous": 0,
        "orphaned": 0,
        "errors": 0,
    }


def test_actions_come_in_the_documented_order():
    liscio = [
        account("a1", "Acme", phone="1"),
        account("a2", "Dup"),
        account("a3", "Dup"),
        account("a4", "Gone", archived=True),
        account("a5", "Alone"),
        account("a6", "Linked", phone="2"),
    ]
    ipm = [
        org("o1", "Acme"),
        org("o2", "Dup"),
        org("o4", "Gone"),
        org("o6", "Linked"),
        org("o7", "Alone In IPM"),
    ]
    state = SyncState(
        links=(link(A, "a4", "o4"), link(A, "a6", "o6", synced=False)),
        baseline=frozenset({(A, "a1"), (A, "a2"), (A, "a3"), (A, "a4"), (A, "a6")}),
    )
    p = plan(liscio, ipm, state, SyncPolicy(kinds=(A,)))
    order = [
        Op.LINK,
        Op.CREATE_IN_IPM,
        Op.WRITE,
        Op.MARK_SYNCED,
        Op.ORPHAN,
        Op.SKIP,
        Op.AMBIGUOUS,
        Op.UNMATCHED,
    ]
    seen = [a.op for a in p.actions]
    assert seen == sorted(seen, key=order.index)
    assert {
        Op.LINK,
        Op.CREATE_IN_IPM,
        Op.WRITE,
        Op.MARK_SYNCED,
        Op.ORPHAN,
        Op.AMBIGUOUS,
        Op.UNMATCHED,
    } <= set(seen)
    # Stored links' writes first (a6), then the new links' (a1).
    assert [a.liscio_id for a in ops(p, Op.WRITE)] == ["a6", "a1"]


@pytest.mark.parametrize(
    ("liscio", "ipm_full", "level"),
    [
        (contact("c1", "Ann", "Lee"), "Lee, Ann", EXACT),
        (contact("c1", "  ANN ", "lee\t"), "Ann  Lee", EXACT),
        (contact("c1", "José", "Núñez"), "NÚÑEZ, JOSÉ", EXACT),
        (contact("c1", "Ann", "Lee", middle="Marie"), "Lee, Ann", MIDDLE_IGNORED),
        (contact("c1", "Ann", "Lee"), "Ann Marie Lee", MIDDLE_IGNORED),
    ],
)
def test_person_name_forms_link(liscio, ipm_full, level):
    p = plan([liscio], [person("p1", ipm_full)])
    assert [(a.liscio_id, a.ipm_key, a.rule) for a in ops(p, Op.LINK)] == [("c1", "p1", level)]


# --- later syncs ------------------------------------------------------------------------------


def test_later_sync_writes_liscio_to_ipm_only():
    liscio = [
        account(
            "a1", "Acme", phone="555-010-2000", website=None, address=Address(line1="1 Main St")
        ),
        contact("c1", "Ann", "Lee", title=" ", email="ann@x.com"),
    ]
    ipm = [
        org("o1", "Other Name", phone="555-999-0000", website="acme.com", address=None),
        person("p1", "Someone Else", title="Boss", email="ANN@X.COM"),
    ]
    state = SyncState(links=(link(A, "a1", "o1"), link(C, "c1", "p1")), baseline=frozenset())
    p = plan(liscio, ipm, state)
    assert writes(p) == {
        ("a1", I, "phone"): ("555-999-0000", "555-010-2000", "later-sync:liscio-to-ipm"),
        ("a1", I, "address"): (None, Address(line1="1 Main St"), "later-sync:liscio-to-ipm"),
    }
    assert ops(p, Op.MARK_SYNCED, Op.LINK) == []
    assert not p.first_sync


def test_a_stored_link_not_yet_first_synced_gets_first_sync_rules():
    state = SyncState(links=(link(C, "c1", "p1", synced=False),), baseline=frozenset())
    p = plan([contact("c1", "Ann", "Lee")], [person("p1", "X", email="a@x.com")], state)
    assert writes(p) == {("c1", L, "email"): (None, "a@x.com", "first-sync:fill-liscio")}
    assert [a.liscio_id for a in ops(p, Op.MARK_SYNCED)] == ["c1"]


def test_a_second_plan_after_applying_plans_no_writes():
    liscio = [
        account("a1", "Acme", phone="1", address=Address(city="X")),
        account("a2", "New"),
        contact("c1", "Ann", "Lee", email="a@x.com"),
        contact("c2", "Bo", "Ng", title="CFO", created_by="account_owner"),
    ]
    ipm = [org("o1", "acme", website="acme.com"), person("p1", "Lee, Ann", title="CEO")]
    world = World(
        liscio={A: tuple(liscio[:2]), C: tuple(liscio[2:])},
        ipm={A: tuple(ipm[:1]), C: tuple(ipm[1:])},
        state=SyncState(),
    )
    first = plan_sync(liscio=world.liscio, ipm=world.ipm, state=world.state, policy=POLICY)
    assert ops(first, Op.WRITE)
    world = apply_to_world(world, first)
    again = plan_sync(liscio=world.liscio, ipm=world.ipm, state=world.state, policy=POLICY)
    assert again.writes() == ()


# --- ties, decisions, archived, orphans -------------------------------------------------------


@pytest.mark.parametrize("duplicated", [L, I])
def test_ambiguous_names_link_nothing_and_create_nothing(duplicated):
    liscio = [account("a1", "Acme")] + ([account("a2", "ACME")] if duplicated is L else [])
    ipm = [org("o1", "acme")] + ([org("o2", "Acme ")] if duplicated is I else [])
    p = plan(liscio, ipm, BASELINE)  # a1/a2 are new since the baseline: still not created
    assert ops(p, Op.LINK, Op.CREATE_IN_IPM, Op.WRITE) == []
    amb = ops(p, Op.AMBIGUOUS)
    ids_l, ids_i = [r.id for r in liscio], [r.id for r in ipm]
    assert [(a.side, a.liscio_id or a.ipm_key, a.candidates) for a in amb] == (
        [(L, lid, tuple(ids_i)) for lid in ids_l] + [(I, key, tuple(ids_l)) for key in ids_i]
    )
    assert "share the name 'acme'" in amb[0].reason
    assert p.counts()["ambiguous"] == 3


@pytest.mark.parametrize("decision", list(DecisionKind))
def test_decided_pairs_are_never_linked_nor_created(decision):
    state = SyncState(
        decisions=(Decision(kind=A, liscio_id="a1", ipm_key="o1", decision=decision),),
        baseline=frozenset(),
    )
    p = plan([account("a1", "Acme")], [org("o1", "Acme")], state)
    assert ops(p, Op.LINK, Op.CREATE_IN_IPM, Op.WRITE) == []
    assert [(a.side, a.liscio_id or a.ipm_key) for a in ops(p, Op.UNMATCHED)] == [
        (L, "a1"),
        (I, "o1"),
    ]


def test_archived_records_are_neither_matched_nor_created():
    p = plan(
        [account("a1", "Acme", archived=True), account("a2", "New", archived=True)],
        [org("o1", "Acme")],
        BASELINE,
    )
    assert ops(p, Op.LINK, Op.CREATE_IN_IPM, Op.WRITE, Op.AMBIGUOUS) == []
    assert [(a.side, a.ipm_key) for a in ops(p, Op.UNMATCHED)] == [(I, "o1")]


@pytest.mark.parametrize(
    ("liscio", "ipm", "rule"),
    [
        (
            [account("a1", "Acme", archived=True, phone="1")],
            [org("o1", "Acme")],
            "orphan:liscio-archived",
        ),
        ([], [org("o1", "Acme")], "orphan:liscio-missing"),
        ([account("a1", "Acme", phone="1")], [], "orphan:ipm-missing"),
    ],
)
def test_a_broken_link_is_orphaned_and_nothing_written(liscio, ipm, rule):
    state = SyncState(links=(link(A, "a1", "o1"),), baseline=frozenset())
    p = plan(liscio, ipm, state)
    (orphan,) = ops(p, Op.ORPHAN)
    assert (orphan.liscio_id, orphan.ipm_key, orphan.rule) == ("a1", "o1", rule)
    assert orphan.reason
    assert ops(p, Op.WRITE, Op.LINK, Op.CREATE_IN_IPM) == []
    assert p.counts()["orphaned"] == 1


def test_an_orphaned_link_stays_orphaned_when_its_records_come_back():
    state = SyncState(
        links=(link(A, "a1", "o1", status=LinkStatus.ORPHANED),), baseline=frozenset()
    )
    p = plan([account("a1", "Acme", phone="1")], [org("o1", "Acme")], state)
    assert p.writes() == ()  # not orphaned again, not re-linked, nothing written, no create
    (skip,) = ops(p, Op.SKIP)
    assert skip.rule == "skip:orphaned-records-back" and "link them again" in skip.reason
    gone = plan([], [org("o1", "Acme")], state)
    assert gone.writes() == () and ops(gone, Op.SKIP) == []


# --- baseline and new Liscio records ----------------------------------------------------------


def test_new_liscio_records_link_to_a_unique_match_or_are_created():
    state = SyncState(baseline=frozenset({(A, "a-old"), (C, "c-old")}))
    liscio = [
        account("a-old", "Old Unmatched"),
        account("a-new", "Acme", phone="555"),
        account("a-make", "Brand New", website="new.com"),
        contact("c-old", "Old", "Person"),
        contact("c-owner", "Bo", "Ng", email="bo@x.com", created_by="account_owner"),
    ]
    ipm = [org("o1", "ACME")]
    p = plan(liscio, ipm, state)
    assert [(a.liscio_id, a.ipm_key) for a in ops(p, Op.LINK)] == [("a-new", "o1")]
    creates = ops(p, Op.CREATE_IN_IPM)
    assert [(a.kind, a.liscio_id, a.external_id, a.how, a.side) for a in creates] == [
        (A, "a-make", "liscio-account-a-make", LinkHow.CREATED, I),
        (C, "c-owner", "liscio-contact-c-owner", LinkHow.CREATED, I),
    ]
    assert creates[0].record == liscio[2] and creates[1].record == liscio[4]
    # Created pairs' fields travel with the draft: no separate writes for them.
    assert {a.liscio_id for a in ops(p, Op.WRITE)} == {"a-new"}
    # Baseline records that stayed unmatched are never mass-created.
    assert [a.liscio_id for a in ops(p, Op.UNMATCHED) if a.side is L] == ["a-old", "c-old"]


def test_no_creates_when_policy_says_so_or_on_the_first_sync_now():
    liscio = [account("a1", "Brand New")]
    for p in (
        plan(liscio, [], BASELINE, SyncPolicy(create_new_in_ipm=False)),
        plan(liscio, [], SyncState()),
    ):
        assert ops(p, Op.CREATE_IN_IPM) == []
        assert [a.liscio_id for a in ops(p, Op.UNMATCHED)] == ["a1"]


def test_a_new_record_without_a_usable_name_is_skipped_not_created():
    liscio = [contact("c1", "Cher", None), account("a1", "  ")]
    p = plan(liscio, [], BASELINE)
    assert ops(p, Op.CREATE_IN_IPM) == []
    assert {a.liscio_id: a.rule for a in ops(p, Op.SKIP)} == {
        "a1": "skip:no-name-for-create",
        "c1": "skip:no-name-for-create",
    }
    assert {a.liscio_id for a in ops(p, Op.UNMATCHED)} == {"a1", "c1"}


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",
        "\u200b\u200c\u200d\u2060",
        "\ufeff\u202e",
        "\x00\x1b",
        "\u3164",
        "\u2800\u115f",
        " \u200b ",
    ],
)
def test_a_name_of_only_invisible_characters_is_an_empty_name(invisible):
    liscio = [
        contact("c1", invisible, "Lee"),
        contact("c2", invisible, invisible),
        account("a1", invisible),
        account("a2", invisible + invisible),
    ]
    ipm = [org("o1", invisible), person("p1", f"{invisible} {invisible}")]
    p = plan(liscio, ipm, BASELINE)
    assert ops(p, Op.CREATE_IN_IPM) == [] and ops(p, Op.LINK) == []  # nothing created or linked
    assert ops(p, Op.AMBIGUOUS) == []  # empty names are not "shared names" either
    assert {a.liscio_id: a.rule for a in ops(p, Op.SKIP)} == {
        "a1": "skip:no-name-for-create",
        "a2": "skip:no-name-for-create",
        "c1": "skip:no-name-for-create",
        "c2": "skip:no-name-for-create",
    }


def test_kinds_not_in_the_policy_are_left_alone():
    p = plan(
        [account("a1", "Acme"), contact("c1", "Ann", "Lee")],
        [org("o1", "Acme"), person("p1", "Ann Lee")],
        policy=SyncPolicy(kinds=(C,)),
    )
    assert {a.kind for a in p.actions} == {C}


# --- details (business cards) -----------------------------------------------------------------


def test_details_needed_only_where_the_address_decision_depends_on_ipm():
    liscio = [
        account("a1", "New Pair"),  # first sync
        account("a2", "Later Empty"),  # later, empty
        account("a3", "Later Set", address=Address(line1="1 Main")),  # later, set
        account("a4", "Loaded"),  # complete
        account("a5", "Archived", archived=True),  # orphan
        account("a6", "Tie"),
        account("a7", "Tie"),
    ]  # ambiguous
    ipm = [
        org(f"o{i}", r.name, details_complete=(i == 4))
        for i, r in enumerate(liscio, start=1)
        if i != 7
    ]
    state = SyncState(
        links=(
            link(A, "a2", "o2"),
            link(A, "a3", "o3"),
            link(A, "a5", "o5"),
            link(A, "a4", "o4", synced=False),
        ),
        baseline=frozenset(),
    )
    needed = details_needed(kind=A, liscio=liscio, ipm=ipm, state=state, policy=POLICY)
    assert needed == frozenset({"o1", "o3"})
    assert details_needed(kind=C, liscio=[], ipm=[], state=state, policy=POLICY) == frozenset()
    assert (
        details_needed(kind=A, liscio=liscio, ipm=ipm, state=state, policy=SyncPolicy(kinds=(C,)))
        == frozenset()
    )


def test_without_details_the_address_is_skipped_and_the_first_sync_stays_due():
    p = plan([account("a1", "Acme", phone="1")], [org("o1", "Acme", details_complete=False)])
    (skip,) = ops(p, Op.SKIP)
    assert (skip.field, skip.rule) == ("address", "skip:ipm-details-not-loaded")
    assert [a.field for a in ops(p, Op.WRITE)] == ["phone"]
    assert ops(p, Op.MARK_SYNCED) == []


def test_an_address_whose_country_names_no_country_is_skipped_as_an_error():
    bad = Address(line1="1 Sea Rd", city="Poseidonia", country="Atlantis")
    p = plan(
        [account("a1", "Acme", phone="1", address=bad)],
        [org("o1", "Acme", address=Address(city="Berlin", country="DE"))],
    )
    (skip,) = ops(p, Op.SKIP)
    assert (skip.field, skip.side, skip.rule) == ("address", I, "skip:unknown-country")
    assert "'Acme'" in skip.reason and "'Atlantis'" in skip.reason and "Liscio" in skip.reason
    assert [a.field for a in ops(p, Op.WRITE)] == ["phone"]  # the other fields are written
    assert ops(p, Op.MARK_SYNCED) == []  # the first sync stays due until it is corrected
    same = Address(line1="1 Sea Rd", city="Poseidonia", country="Deutschland")
    p = plan(
        [account("a1", "Acme", address=same)],
        [org("o1", "Acme", address=Address(line1="1 Sea Rd", city="Poseidonia", country="DE"))],
    )
    assert ops(p, Op.WRITE, Op.SKIP) == [] and len(ops(p, Op.MARK_SYNCED)) == 1


# --- plan_pair, external ids, preflight -------------------------------------------------------


def test_plan_pair():
    liscio = contact("c1", "Ann", "Lee", title="CEO")
    ipm = person("p1", "Ann Lee", email="a@x.com", title="ceo")
    first = plan_pair(C, liscio, ipm, first_sync=True)
    assert [(a.op, a.side, a.field, a.rule) for a in first] == [
        (Op.WRITE, I, "title", "first-sync:liscio-wins"),
        (Op.WRITE, L, "email", "first-sync:fill-liscio"),
        (Op.MARK_SYNCED, None, None, "first-sync:done"),
    ]
    assert all((a.liscio_id, a.ipm_key) == ("c1", "p1") for a in first)
    later = plan_pair(C, liscio, ipm, first_sync=False)
    assert [(a.op, a.side, a.field) for a in later] == [(Op.WRITE, I, "title")]


@pytest.mark.parametrize(
    ("kind", "target", "source", "expected"),
    [
        (A, I, "42", "liscio-account-42"),
        (C, I, "7", "liscio-contact-7"),
        (A, L, "abc-DEF", "ipm-organization-abc-DEF"),
        (C, L, "K1", "ipm-person-K1"),
    ],
)
def test_external_id_for(kind, target, source, expected):
    assert external_id_for(kind, target, source) == expected


@pytest.mark.parametrize(
    ("liscio", "ipm", "policy", "refused"),
    [
        ({A: 0, C: 0}, {A: 10, C: 20}, POLICY, True),  # empty Liscio
        ({A: 0, C: 30}, {A: 5, C: 20}, POLICY, True),  # no accounts at all
        ({A: 0, C: 30}, {A: 0, C: 20}, POLICY, False),  # none in IPM: no risk
        ({A: 0, C: 0}, {A: 0, C: 0}, POLICY, False),  # a new firm on both sides
        ({A: 3, C: 0}, {A: 4, C: 0}, POLICY, False),  # no people in IPM
        ({A: 4, C: 20}, {A: 10, C: 20}, POLICY, True),  # 40% < 50%
        ({A: 5, C: 10}, {A: 10, C: 20}, POLICY, False),  # exactly the ratio
        ({A: 900, C: 10}, {A: 10, C: 20}, POLICY, False),
        ({A: 4, C: 20}, {A: 10, C: 20}, SyncPolicy(preflight_min_ratio=0.3), False),
        ({A: 0, C: 0}, {A: 10, C: 20}, SyncPolicy(force=True), False),
        ({A: 0, C: 9}, {A: 10, C: 20}, SyncPolicy(kinds=(C,)), True),
        ({A: 0, C: 10}, {A: 10, C: 20}, SyncPolicy(kinds=(C,)), False),
    ],
)
def test_preflight(liscio, ipm, policy, refused):
    problem = preflight_problem(liscio_counts=liscio, ipm_counts=ipm, policy=policy)
    assert (problem is not None) is refused
    if refused:
        assert "duplicates" in problem and "--force" in problem
        assert any(f"Liscio holds {liscio[k]:,} {k}" in problem for k in policy.kinds)


def test_preflight_speaks_only_of_the_kinds_at_risk():
    problem = preflight_problem(liscio_counts={A: 0, C: 0}, ipm_counts={A: 10, C: 0}, policy=POLICY)
    assert "Liscio holds 0 accounts and IPM 10 organizations" in problem
    assert "contacts" not in problem and "people" not in problem


def test_preflight_message_names_the_counts():
    problem = preflight_problem(
        liscio_counts={A: 3, C: 0}, ipm_counts={A: 1200, C: 40}, policy=POLICY
    )
    assert "Liscio holds 3 accounts and IPM 1,200 organizations" in problem
    assert "Liscio holds 0 contacts and IPM 40 people" in problem


def test_planning_is_deterministic_whatever_the_order_of_stored_links():
    liscio = [account(f"a{i}", f"N{i}", phone=str(i)) for i in range(20)]
    ipm = [org(f"o{i}", f"n{i}") for i in range(20)]
    links = tuple(link(A, f"a{i}", f"o{i}") for i in range(10))
    one = plan(liscio, ipm, SyncState(links=links, baseline=frozenset()))
    two = plan(liscio, ipm, SyncState(links=links[::-1], baseline=frozenset()))
    assert (
        one == two
        and one.actions == plan(liscio, ipm, SyncState(links=links, baseline=frozenset())).actions
    )


@pytest.mark.parametrize(
    "module", ["pmtools.core.rules", "pmtools.core.matching", "pmtools.core.planner"]
)
def test_public_api_is_listed_and_documented(module):
    import importlib
    import inspect

    mod = importlib.import_module(module)
    assert mod.__doc__
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"{module}.{name} has no docstring"
    defined = {
        n
        for n, o in vars(mod).items()
        if not n.startswith("_")
        and (inspect.isfunction(o) or inspect.isclass(o))
        and getattr(o, "__module__", None) == module
    }
    assert defined <= set(mod.__all__)


def test_a_new_liscio_record_whose_country_names_none_is_planned_as_an_error_not_a_create():
    """QA: the dry run promised a create that the real run refused."""
    bad = Address(line1="1 Sea Rd", city="Poseidonia", country="Atlantis")
    p = plan([account("a9", "Poseidon Trading Ltd", address=bad)], [], state=BASELINE)
    assert ops(p, Op.CREATE_IN_IPM) == []
    (skip,) = ops(p, Op.SKIP)
    assert (skip.rule, skip.field) == ("skip:unknown-country", "address")
    assert "'Poseidon Trading Ltd'" in skip.reason and "'Atlantis'" in skip.reason
