"""Exact-name matching: levels, ties, stored links and decisions, archived records."""

import pytest

from pmtools.core.matching import EXACT, MIDDLE_IGNORED, AmbiguousGroup, MatchedPair, match
from pmtools.core.plan import Decision, DecisionKind, Link, LinkHow, LinkStatus, SyncState
from pmtools.core.records import Kind, Record, Side

A, C = Kind.ACCOUNTS, Kind.CONTACTS


def account(rid, name, archived=False):
    return Record(side=Side.LISCIO, kind=A, id=rid, name=name, archived=archived)


def org(key, name):
    return Record(side=Side.IPM, kind=A, id=key, name=name)


def contact(rid, first, last, middle=None, archived=False):
    name = " ".join(p for p in (first, middle, last) if p)
    return Record(
        side=Side.LISCIO,
        kind=C,
        id=rid,
        name=name,
        first_name=first,
        middle_name=middle,
        last_name=last,
        archived=archived,
    )


def person(key, full):
    return Record(side=Side.IPM, kind=C, id=key, name=full)


NONE = SyncState()


@pytest.mark.parametrize(
    ("liscio_name", "ipm_name", "linked"),
    [
        ("Acme Corp", "ACME CORP", True),
        ("Acme Corp", "  acme   corp\t", True),
        ("Acme\u00a0Corp", "Acme Corp", True),
        ("Ｂｅｔａ LLC", "Beta LLC", True),
        ("Café Olé", "CAFÉ OLÉ", True),
        ("Straße GmbH", "STRASSE GMBH", True),
        ("Acme Corp.", "Acme Corp", False),  # punctuation is not exact
        ("Acme LLC", "Acme", False),
        ("Café", "Cafe", False),
        ("", "", False),  # empty names never match
    ],
)
def test_account_names(liscio_name, ipm_name, linked):
    result = match(A, [account("a1", liscio_name)], [org("o1", ipm_name)], NONE)
    if linked:
        assert result.pairs == (MatchedPair("a1", "o1", EXACT),)
        assert result.unmatched_liscio == result.unmatched_ipm == ()
    else:
        assert result.pairs == ()
        assert result.unmatched_liscio == ("a1",) and result.unmatched_ipm == ("o1",)


@pytest.mark.parametrize(
    ("liscio", "ipm_full", "level"),
    [
        (contact("c", "Ann", "Lee"), "Ann Lee", EXACT),
        (contact("c", "Ann", "Lee"), "Lee, Ann", EXACT),  # Karbon's "Last, First"
        (contact("c", "Ann", "Lee"), "  LEE ,  ann ", EXACT),
        (contact("c", "José", "Núñez"), "Núñez, José", EXACT),
        (contact("c", "Juan", "De La Cruz"), "De La Cruz, Juan", EXACT),
        (contact("c", "Ann", "Lee", "Marie"), "Ann Marie Lee", EXACT),
        (contact("c", "Ann", "Lee", "Marie"), "Lee, Ann", MIDDLE_IGNORED),  # middle on Liscio only
        (contact("c", "Ann", "Lee"), "Ann Marie Lee", MIDDLE_IGNORED),  # middle on IPM only
        (contact("c", "Ann", "Lee"), "Lee, Ann Marie", MIDDLE_IGNORED),
        (contact("c", "Ann", "Lee", "Jo"), "Ann Marie Lee", None),  # different middles
        (contact("c", "Ann", "Lee"), "Anne Lee", None),
        (contact("c", "Ann", "Lee"), "Lee Ann", None),
    ],
)
def test_contact_names(liscio, ipm_full, level):
    result = match(C, [liscio], [person("p", ipm_full)], NONE)
    if level is None:
        assert result.pairs == ()
        assert result.unmatched_liscio == ("c",) and result.unmatched_ipm == ("p",)
    else:
        assert result.pairs == (MatchedPair("c", "p", level),)


@pytest.mark.parametrize("dup_side", ["liscio", "ipm", "both"])
def test_a_shared_name_on_either_side_links_nothing(dup_side):
    liscio = [account("a1", "Acme"), account("a9", "Other")]
    ipm = [org("o1", "ACME"), org("o9", "other")]
    if dup_side in ("liscio", "both"):
        liscio.append(account("a2", "acme "))
    if dup_side in ("ipm", "both"):
        ipm.append(org("o2", "Acme"))
    result = match(A, liscio, ipm, NONE)
    assert result.pairs == (MatchedPair("a9", "o9", EXACT),)
    (group,) = result.ambiguous
    assert group.key == "acme" and group.level == EXACT
    assert set(group.liscio_ids) == {r.id for r in liscio if r.id != "a9"}
    assert set(group.ipm_keys) == {r.id for r in ipm if r.id != "o9"}
    assert result.unmatched_liscio == result.unmatched_ipm == ()


def test_a_name_shared_on_one_side_only_is_unmatched_not_ambiguous():
    result = match(A, [account("a1", "Acme"), account("a2", "ACME")], [org("o1", "Beta")], NONE)
    assert result.ambiguous == ()
    assert result.unmatched_liscio == ("a1", "a2") and result.unmatched_ipm == ("o1",)


def test_ambiguous_records_do_not_drop_to_the_middle_name_level():
    liscio = [contact("c1", "Ann", "Lee"), contact("c2", "Ann", "Lee")]
    ipm = [person("p1", "Lee, Ann"), person("p2", "Ann Marie Lee")]
    result = match(C, liscio, ipm, NONE)
    assert result.pairs == ()
    assert result.ambiguous == (AmbiguousGroup("ann lee", EXACT, ("c1", "c2"), ("p1",)),)
    assert result.unmatched_ipm == ("p2",)


def test_two_middle_name_candidates_are_a_tie():
    liscio = [contact("c1", "Ann", "Lee")]
    ipm = [person("p1", "Ann Marie Lee"), person("p2", "Lee, Ann Jo")]
    result = match(C, liscio, ipm, NONE)
    assert result.pairs == ()
    assert result.ambiguous == (AmbiguousGroup("ann lee", MIDDLE_IGNORED, ("c1",), ("p1", "p2")),)


def test_exact_level_wins_before_the_middle_name_level():
    liscio = [contact("c1", "Ann", "Lee"), contact("c2", "Ann", "Lee", "Marie")]
    ipm = [person("p1", "Ann Lee"), person("p2", "Ann Marie Lee")]
    result = match(C, liscio, ipm, NONE)
    assert set(result.pairs) == {MatchedPair("c1", "p1", EXACT), MatchedPair("c2", "p2", EXACT)}


def test_linked_records_are_never_matched_again_whatever_their_status():
    links = (
        Link(kind=A, liscio_id="a1", ipm_key="o9", how=LinkHow.MANUAL),
        Link(
            kind=A, liscio_id="a8", ipm_key="o2", how=LinkHow.AUTOMATIC, status=LinkStatus.ORPHANED
        ),
    )
    liscio = [account("a1", "Acme"), account("a2", "Beta"), account("a8", "Gone")]
    ipm = [org("o1", "Acme"), org("o2", "Beta")]
    result = match(A, liscio, ipm, SyncState(links=links))
    assert result.pairs == ()
    assert result.unmatched_liscio == ("a2",) and result.unmatched_ipm == ("o1",)


@pytest.mark.parametrize("decision", list(DecisionKind))
def test_a_decided_pair_is_never_linked(decision):
    state = SyncState(
        decisions=(Decision(kind=A, liscio_id="a1", ipm_key="o1", decision=decision),)
    )
    result = match(
        A,
        [account("a1", "Acme"), account("a2", "Beta")],
        [org("o1", "acme"), org("o2", "beta")],
        state,
    )
    assert result.pairs == (MatchedPair("a2", "o2", EXACT),)
    assert result.unmatched_liscio == ("a1",) and result.unmatched_ipm == ("o1",)


def test_a_decision_blocks_only_its_own_kind():
    state = SyncState(
        decisions=(
            Decision(kind=C, liscio_id="a1", ipm_key="o1", decision=DecisionKind.NOT_A_MATCH),
        )
    )
    assert match(A, [account("a1", "Acme")], [org("o1", "Acme")], state).pairs


def test_a_decided_exact_pair_may_still_match_someone_else_at_the_next_level():
    state = SyncState(
        decisions=(
            Decision(kind=C, liscio_id="c1", ipm_key="p1", decision=DecisionKind.NOT_A_MATCH),
        )
    )
    result = match(C, [contact("c1", "Ann", "Lee")], [person("p1", "Ann Lee")], state)
    assert result.pairs == ()
    result = match(
        C,
        [contact("c1", "Ann", "Lee")],
        [person("p1", "Ann Lee"), person("p2", "Ann Q Lee")],
        state,
    )
    assert result.ambiguous[0].level == MIDDLE_IGNORED  # p1 and p2 share the loose key


def test_archived_liscio_records_take_no_part():
    result = match(A, [account("a1", "Acme", archived=True)], [org("o1", "Acme")], NONE)
    assert result.pairs == () and result.unmatched_liscio == ()
    assert result.unmatched_ipm == ("o1",)


def test_an_archived_duplicate_does_not_make_a_tie():
    liscio = [account("a1", "Acme"), account("a2", "Acme", archived=True)]
    result = match(A, liscio, [org("o1", "Acme")], NONE)
    assert result.pairs == (MatchedPair("a1", "o1", EXACT),)


def test_records_of_another_kind_are_ignored():
    result = match(
        A, [account("a1", "Ann Lee"), contact("c1", "Ann", "Lee")], [org("o1", "Ann Lee")], NONE
    )
    assert result.pairs == (MatchedPair("a1", "o1", EXACT),)


def test_output_is_deterministic_and_in_input_order():
    liscio = [account(f"a{i}", f"Name {i}") for i in range(50)]
    ipm = [org(f"o{i}", f"name {i}") for i in reversed(range(50))]
    first = match(A, liscio, ipm, NONE)
    assert first == match(A, list(liscio), list(ipm), NONE)
    assert [p.liscio_id for p in first.pairs] == [r.id for r in liscio]


def test_a_record_listed_twice_is_not_a_tie_with_itself():
    acme = org("o1", "Acme")
    result = match(A, [account("a1", "Acme")], [acme, acme], NONE)
    assert result.pairs == (MatchedPair("a1", "o1", EXACT),)
