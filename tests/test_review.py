"""The review queue, pair writes, duplicate checks and the bulk preview: tables of cases, pure."""

import pytest

from pmtools.core.plan import Decision, DecisionKind, Link, LinkHow, SyncState
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.review import (
    KindRecords,
    QueueStatus,
    ReviewDecision,
    Verdict,
    build_queue,
    likely_duplicates,
    pair_writes,
    preview,
)

A, C = Kind.ACCOUNTS, Kind.CONTACTS
L, I = Side.LISCIO, Side.IPM


def rec(side, kind, rid, name, **values):
    if kind is C and "first_name" not in values and side is L:
        first, *rest = name.split(" ")
        values.update(
            first_name=first,
            last_name=rest[-1] if rest else None,
            middle_name=" ".join(rest[:-1]) or None,
        )
    return Record(side=side, kind=kind, id=rid, name=name, **values)


def world():
    """Both kinds: each situation the queue must show, and a linked pair it must not."""
    accounts = KindRecords(
        kind=A,
        liscio=(
            rec(L, A, "a1", "Carter Studios L.L.C.", website="carter.example"),
            rec(L, A, "a2", "Allen Catering"),
            rec(L, A, "a3", "Linked Co", phone="1"),
            rec(L, A, "a4", "Jones Smith Partners"),
            rec(L, A, "a5", "Archived Ltd", archived=True),
        ),
        ipm=(
            rec(I, A, "K1", "Carter Studios LLC", phone="555", details_complete=False),
            rec(I, A, "K2", "Lee Trucking Inc."),
            rec(I, A, "K3", "Linked Co"),
            rec(I, A, "K4", "Smith Jones Partners"),
        ),
        state=SyncState(
            links=(
                Link(kind=A, liscio_id="a3", ipm_key="K3", how=LinkHow.AUTOMATIC),
                Link(kind=A, liscio_id="a5", ipm_key="K9", how=LinkHow.AUTOMATIC),
            )
        ),
    )
    contacts = KindRecords(
        kind=C,
        liscio=(
            rec(L, C, "c1", "Zoe Allen", email="zoe.allen@gmail.com", title="Owner"),
            rec(L, C, "c2", "John Smith", email="js@a.example", account_ids=("a4",)),
            rec(L, C, "c3", "Siobhán Marie O'Connor"),
            rec(L, C, "c4", "Pat Obrien"),
        ),
        ipm=(
            rec(I, C, "P1", "Allen, Zoë", email="Zoe.Allen@gmail.com", title="CFO"),
            rec(I, C, "P2", "John Smith", email="js@b.example", title="CEO"),
            rec(I, C, "P3", "John Smith", email="js@c.example", title="Bookkeeper"),
            rec(I, C, "P4", "Pat O'Brien"),
        ),
        state=SyncState(
            decisions=(
                Decision(kind=C, liscio_id="c4", ipm_key="P4", decision=DecisionKind.NOT_A_MATCH),
            )
        ),
        accounts={"a4": "Jones Smith Partners"},
    )
    return [accounts, contacts]


@pytest.fixture(scope="module")
def queue():
    return build_queue(world())


@pytest.mark.parametrize(
    ("kind", "side", "rid", "status", "candidate", "reason"),
    [
        (A, L, "a1", QueueStatus.LIKELY, "K1", "same name but for LLC/Inc./punctuation"),
        (A, I, "K1", QueueStatus.LIKELY, "a1", "same name but for LLC/Inc./punctuation"),
        (A, L, "a4", QueueStatus.LIKELY, "K4", "same words in another order"),
        (
            A,
            L,
            "a2",
            QueueStatus.NO_CANDIDATE,
            None,  # "Lee Trucking Inc." is not offered
            "nothing like it on the other side: create it there?",
        ),
        (C, L, "c1", QueueStatus.LIKELY, "P1", "same email"),
        (C, L, "c2", QueueStatus.AMBIGUOUS, "P2", "same name"),
        (C, I, "P3", QueueStatus.AMBIGUOUS, "c2", "same name"),
        (
            C,
            L,
            "c4",
            QueueStatus.NO_CANDIDATE,
            None,  # the only candidate was "not a match"
            "nothing like it on the other side: create it there?",
        ),
        (A, L, "a5", QueueStatus.ORPHANED, "K9", "the Liscio record is archived"),
    ],
)
def test_queue_rows(queue, kind, side, rid, status, candidate, reason):
    row = queue.row((kind, side, rid))
    assert (row.status, row.candidate_id, row.reason) == (status, candidate, reason)


def test_linked_records_are_not_in_the_queue(queue):
    assert queue.row((A, L, "a3")) is None and queue.row((A, I, "K3")) is None


def test_an_ambiguous_group_is_shown_together_with_what_tells_it_apart(queue):
    row = queue.row((C, L, "c2"))
    group = queue.group(row.group)
    assert [(r.side, r.record_id) for r in group] == [(L, "c2"), (I, "P2"), (I, "P3")]
    assert all(r.group_size == 3 for r in group) and group[0].tie  # two IPM John Smiths
    assert [r.details for r in group] == [
        "js@a.example · account Jones Smith Partners",
        "js@b.example · CEO",
        "js@c.example · Bookkeeper",
    ]
    rows = list(queue.select(status=["ambiguous"]))
    assert rows == list(group)  # consecutive in the queue


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "accounts", "status": ["likely match"]}, {"a1", "K1", "a4", "K4"}),
        ({"side": "ipm", "status": ["likely match"]}, {"K1", "K4", "P1"}),
        ({"reason": ["same email"]}, {"c1", "P1"}),
        ({"min_score": 98.5}, {"a4", "K4", "c2", "P2", "P3"}),
        ({"min_score": 97, "max_score": 98}, {"a1", "K1", "c1", "P1"}),
        ({"search": "obrien"}, {"c4", "P4"}),
        ({"search": "smith john"}, {"c2", "P2", "P3"}),
        ({"search": "O'Connor, Siobhán"}, {"c3"}),
        ({"search": "zoe"}, {"c1", "P1"}),
    ],
)
def test_queue_filters(queue, filters, expected):
    assert {r.record_id for r in queue.select(**filters)} == expected


def test_queue_pages_sort_and_counts(queue):
    page = queue.query(sort="score", page_size=2, page=0)
    scores = [r.score or -1 for r in queue.select(sort="score")]
    assert scores == sorted(scores, reverse=True)
    assert page.total == len(queue) and page.pages == (len(queue) + 1) // 2
    assert queue.query(page=99, page_size=2).page == page.pages - 1
    counts = queue.counts()
    assert counts["status"]["ambiguous"] == 3 and counts["total"]["rows"] == len(queue)
    assert sum(counts["kind"].values()) == len(queue)
    assert counts["side"] == {"liscio": 8, "ipm": 7}
    smaller = queue.without([(A, L, "a1"), (A, I, "K1")])
    assert len(smaller) == len(queue) - 2 and smaller.row((A, L, "a1")) is None
    with pytest.raises(ValueError):
        queue.query(sort="sideways")


def test_pair_writes_before_after_and_what_is_not_read():
    (accounts, contacts) = world()
    w = pair_writes(A, accounts.record(L, "a1"), accounts.record(I, "K1"))
    assert w.unread == ("address",) and not w.complete
    assert {(x.side, x.field, x.before, x.after) for x in w.writes} == {
        (I, "website", None, "carter.example"),
        (L, "phone", None, "555"),
    }
    assert "IPM address: not read yet" in w.text()
    full = pair_writes(
        A,
        accounts.record(L, "a1"),
        Record(
            side=I, kind=A, id="K1", name="Carter Studios LLC", address=Address(line1="1 Main St")
        ),
    )
    assert full.complete and ("address" in {x.field for x in full.writes})
    w = pair_writes(C, contacts.record(L, "c1"), contacts.record(I, "P1"))
    assert [x.text() for x in w.writes] == ["IPM title: CFO → Owner"]


def test_a_rows_writes_are_those_of_its_suggestion(queue):
    from pmtools.review import row_writes

    for side, rid in ((L, "a1"), (I, "K1")):  # the same pair from either side
        w = row_writes(queue.row((A, side, rid)))
        assert (w.liscio_id, w.ipm_key, w.unread) == ("a1", "K1", ("address",))
    assert row_writes(queue.row((A, L, "a2"))) is None  # no candidate


@pytest.mark.parametrize(
    ("record", "others", "reasons"),
    [
        (
            rec(L, C, "x", "Zoe Allen", email="zoe.allen@gmail.com"),
            [rec(I, C, "P1", "Allen, Zoë", email="Zoe.Allen@gmail.com")],
            {"P1": "same email (Zoe.Allen@gmail.com)"},
        ),
        (
            rec(L, C, "x", "John A. Smith"),
            [rec(I, C, "P2", "Smith, John")],
            {"P2": "same first and last name"},
        ),
        (
            rec(L, C, "x", "Jon Smith"),
            [rec(I, C, "P2", "John Smith")],
            {"P2": "suggested: close spelling (score 95)"},
        ),
        (
            rec(L, A, "x", "Carter Studios L.L.C."),
            [rec(I, A, "K1", "Carter Studios LLC")],
            {"K1": "same name"},
        ),
        (rec(L, A, "x", "Allen Catering"), [rec(I, A, "K2", "Lee Trucking Inc.")], {}),
        (rec(I, C, "P9", "Ann Lee"), [rec(L, C, "c9", "Ann Lee", archived=True)], {}),
    ],
)
def test_likely_duplicates(record, others, reasons):
    found = likely_duplicates(record.kind, record.side, record, others=others)
    assert {d.id: d.reason for d in found} == reasons


def decide(kind, side, rid, verdict, **kw):
    return ReviewDecision(kind=kind, side=side, record_id=rid, verdict=verdict, **kw)


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        (decide(A, L, "zz", Verdict.LINK), "there is no Liscio record zz"),
        (decide(A, I, "a1", Verdict.LINK), "a1 is a Liscio id, not an IPM one"),
        (decide(A, L, "a3", Verdict.LINK), "already decided: linked to 'Linked Co'"),
        (decide(A, L, "a1", Verdict.LINK, link_to="a2"), "Link To a2 is a Liscio id"),
        (decide(A, L, "a1", Verdict.LINK, link_to="K77"), "there is no IPM record K77"),
        (decide(A, L, "a1", Verdict.LINK, link_to="K3"), "'Linked Co' is already linked"),
        (decide(A, L, "a2", Verdict.LINK), "there is no suggestion to use"),
        (decide(C, L, "c2", Verdict.LINK), "its suggestion is tied with another record"),
        (
            decide(C, L, "c1", Verdict.CREATE),
            "not created: it likely exists in IPM already (Allen, Zoë (IPM) — same email",
        ),
        (decide(C, I, "P2", Verdict.CREATE), "its name is ambiguous with this record"),
        (decide(C, L, "c4", Verdict.NOT_A_MATCH, link_to="P4"), "already decided: not a match"),
        (decide(A, L, "a5", Verdict.LINK), "already decided: linked to"),
    ],
)
def test_preview_refuses_with_the_reason(decision, reason):
    srcs = world()
    shown = preview([decision], queue=build_queue(srcs), sources=srcs)
    assert not shown.items
    (refusal,) = shown.refused
    assert reason in refusal.reason


def test_preview_of_a_mixed_list():
    srcs = world()
    shown = preview(
        [
            decide(A, L, "a1", Verdict.LINK, row=2),
            decide(A, I, "K1", Verdict.LINK, row=3),  # the same pair from its other side
            decide(A, L, "a4", Verdict.NOT_A_MATCH, row=4),
            decide(A, L, "a2", Verdict.CREATE, row=5),
            decide(C, L, "c1", Verdict.CREATE, anyway=True, row=6),
            decide(C, L, "c3", Verdict.SKIP, row=7),
            decide(C, L, "c2", Verdict.LINK, link_to="P3", row=8),
            decide(C, I, "P3", Verdict.NOT_A_MATCH, link_to="c2", row=9),  # two for one record
        ],
        queue=build_queue(srcs),
        sources=srcs,
    )
    assert [(i.record_id, i.verdict) for i in shown.items] == [
        ("a1", Verdict.LINK),
        ("a4", Verdict.NOT_A_MATCH),
        ("a2", Verdict.CREATE),
        ("c1", Verdict.CREATE),
    ]
    assert [(r.row, r.reason) for r in shown.refused] == [
        (8, "two decisions for one record: 'John Smith' is also decided by row 9"),
        (9, "two decisions for one record: 'John Smith' is also decided by row 8"),
    ]
    counts = shown.counts()
    assert counts["links"] == 1 and counts["created_in_ipm"] == 2
    assert counts["not_a_match"] == 1 and counts["skipped"] == 1
    assert counts["ipm_fields_written"] == 1 and counts["liscio_fields_filled"] == 1
    assert counts["fields_not_read"] == 1
    text = shown.text()
    assert "link accounts: 'Carter Studios L.L.C.' with 'Carter Studios LLC'" in text
    assert "IPM website: (empty) → carter.example" in text
    assert "create contacts in IPM: 'Zoe Allen'" in text and "a1" not in text


def test_two_decisions_for_one_record_refuses_both():
    srcs = world()
    shown = preview(
        [decide(A, L, "a1", Verdict.LINK, row=2), decide(A, L, "a1", Verdict.SKIP, row=5)],
        queue=build_queue(srcs),
        sources=srcs,
    )
    assert not shown.items
    assert [(r.row, "rows 2, 5" in r.reason) for r in shown.refused] == [(2, True), (5, True)]


def test_a_bulk_preview_of_many_links_is_one_pass():
    """Thousands of decisions: no per-decision rebuild (a quadratic preview would time out)."""
    kind = A
    n = 3000
    liscio = tuple(rec(L, kind, f"l{i}", f"Firm Number{i} LLC") for i in range(n))
    ipm = tuple(rec(I, kind, f"k{i}", f"Firm Number{i} Inc.") for i in range(n))
    srcs = [KindRecords(kind=kind, liscio=liscio, ipm=ipm, state=SyncState())]
    queue = build_queue(srcs)
    rows = queue.select(side="liscio", status=["likely match"])
    assert len(rows) == n
    shown = preview(
        [decide(kind, L, r.record_id, Verdict.LINK) for r in rows], queue=queue, sources=srcs
    )
    assert shown.counts()["links"] == n and not shown.refused


def test_without_answers_as_a_queue_built_without_those_rows(queue):
    from pmtools.review import ReviewQueue

    gone = [(A, L, "a1"), (C, I, "P2"), (A, L, "not-there")]
    fast = queue.without(gone)
    slow = ReviewQueue(r for r in queue.rows if r.key not in set(gone))
    assert fast.rows == slow.rows
    for filters in (
        {},
        {"status": ["ambiguous"]},
        {"search": "smith"},
        {"sort": "score"},
        {"reason": ["same email"], "side": "ipm"},
        {"min_score": 90},
    ):
        assert fast.select(**filters) == slow.select(**filters), filters
        assert fast.counts(**{k: v for k, v in filters.items() if k != "sort"}) == slow.counts(
            **{k: v for k, v in filters.items() if k != "sort"}
        )
    assert queue.without([]) is queue


def test_a_persons_close_spelling_is_a_possible_match_never_linked_in_bulk():
    """QA at scale 20: "Mark Robinson" ~ "Mary Robinson" was a likely match, bulk-linked."""
    contacts = KindRecords(
        kind=C,
        liscio=(rec(L, C, "c1", "Mark Robinson"),),
        ipm=(rec(I, C, "P1", "Mary Robinson"),),
        state=SyncState(),
    )
    queue = build_queue([contacts])
    (row,) = [r for r in queue.select() if r.side is L]
    assert row.status is QueueStatus.POSSIBLE and row.candidate_id == "P1"
    assert row.reason == "close spelling"
    shown = preview([decide(C, L, "c1", Verdict.LINK)], queue=queue, sources=[contacts])
    assert not shown.items and "only looks alike" in shown.refused[0].reason
    chosen = preview(
        [decide(C, L, "c1", Verdict.LINK, link_to="P1")], queue=queue, sources=[contacts]
    )
    assert len(chosen.items) == 1 and not chosen.refused  # a person's explicit choice
