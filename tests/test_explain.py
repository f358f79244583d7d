"""explain_record: every case of "why is this record (not) linked?", in plain words."""

import pytest

from pmtools.analysis.explain import explain_record
from pmtools.core.plan import Decision, DecisionKind, Link, LinkHow, LinkStatus, SyncState
from pmtools.core.records import Kind, Record, Side

A = Kind.ACCOUNTS


def lis(rid, name, **kw):
    return Record(side=Side.LISCIO, kind=kw.pop("kind", A), id=rid, name=name, **kw)


def ipm(rid, name, **kw):
    return Record(side=Side.IPM, kind=kw.pop("kind", A), id=rid, name=name, **kw)


LISCIO = [
    lis("L1", "Acme LLC"),
    lis("L2", "Twin Co"),
    lis("L3", "twin co"),
    lis("L4", "Gone Inc"),
    lis("L5", "Old Shop", archived=True),
    lis("L6", "New Bakery"),
    lis("L7", "Lonely Ltd"),
    lis("L8", "Apart Corp"),
    lis("L9", "Linked Ltd"),
    lis("L10", "Cut Ltd"),
    lis("L11", "Nope Inc"),
]
IPM = [
    ipm("K1", "ACME  llc"),
    ipm("K2", "Twin Co"),
    ipm("K8", "Apart Corp"),
    ipm("K9", "Linked Ltd"),
    ipm("K10", "Cut Ltd"),
    ipm("K11", "Nope Inc"),
    ipm("K12", "Only In IPM"),
    ipm("K13", "Old Shop"),
]
BASELINE = frozenset((A, i) for i in ("L1", "L2", "L3", "L4", "L5", "L7", "L8", "L9", "L10", "L11"))
STATE = SyncState(
    links=(
        Link(
            kind=A,
            liscio_id="L9",
            ipm_key="K9",
            how=LinkHow.MANUAL,
            linked_at="2026-01-02T00:00:00Z",
            first_synced_at="2026-01-02T00:00:00Z",
        ),
        Link(
            kind=A,
            liscio_id="L4",
            ipm_key="K404",
            how=LinkHow.AUTOMATIC,
            linked_at="2026-01-01T00:00:00Z",
        ),
    ),
    decisions=(
        Decision(
            kind=A,
            liscio_id="L10",
            ipm_key="K10",
            decision=DecisionKind.DELINKED,
            at="2026-01-03T00:00:00Z",
        ),
        Decision(
            kind=A,
            liscio_id="L11",
            ipm_key="K11",
            decision=DecisionKind.NOT_A_MATCH,
            at="2026-01-04T00:00:00Z",
        ),
    ),
    baseline=BASELINE,
)


def explain(query, state=STATE, liscio=LISCIO, ipm_=IPM, kind=A):
    return explain_record(kind, query, liscio_records=liscio, ipm_records=ipm_, state=state)


@pytest.mark.parametrize(
    "query, status, words",
    [
        ("L1", "will_link", ["name key 'acme llc'", "'ACME  llc'", "next Sync Now links it"]),
        ("L9", "linked", ["linked with IPM 'Linked Ltd'", "by hand", "first synced"]),
        ("K9", "linked", ["linked with Liscio 'Linked Ltd'"]),
        ("L4", "orphaned", ["orphaned", "the IPM record is gone", "nothing is deleted"]),
        ("L5", "archived", ["archived", "neither matched nor created", "'Old Shop'"]),
        ("L6", "due_for_create_in_ipm", ["after the baseline", "creates it in IPM"]),
        ("L7", "unmatched", ["in the baseline", "Create in IPM", "no IPM record has this exact"]),
        ("K12", "awaiting_create_in_liscio", ["Create in Liscio"]),
        ("L10", "decided_apart", ["delinked from IPM 'Cut Ltd'", "'Cut Ltd'"]),
        ("K11", "decided_apart", ["marked not a match with Liscio 'Nope Inc'"]),
    ],
)
def test_each_case_has_its_status_and_words(query, status, words):
    (finding,) = explain(query).findings
    assert finding.status == status
    for w in words:
        assert w in finding.text, (w, finding.text)


def test_ambiguous_names_every_record_of_the_group():
    found = explain("TWIN   co").findings
    assert [(f.side, f.record_id) for f in found] == [
        (Side.LISCIO, "L2"),
        (Side.LISCIO, "L3"),
        (Side.IPM, "K2"),
    ]
    for f in found:
        assert f.status == "ambiguous"
        for rid in ("L2", "L3", "K2"):  # named, never by id (issue 10)
            assert rid not in f.text
        assert "Liscio 'Twin Co', Liscio 'twin co', IPM 'Twin Co'" in f.text


def test_the_why_text_has_no_ids_and_no_microseconds_and_tells_namesakes_apart():
    C = Kind.CONTACTS
    liscio = [
        lis("c1", "John Smith", kind=C, first_name="John", last_name="Smith", email="js@a.example")
    ]
    ipm_ = [
        ipm("p1", "John Smith", kind=C, email="js@b.example"),
        ipm("p2", "John Smith", kind=C, email="js@c.example", title="CEO"),
        ipm("p3", "Ann Lee", kind=C),
    ]
    state = SyncState(
        links=(
            Link(
                kind=C,
                liscio_id="c9",
                ipm_key="p3",
                how=LinkHow.MANUAL,
                linked_at="2026-11-26T12:00:01.123456Z",
            ),
        ),
        decisions=(
            Decision(
                kind=C,
                liscio_id="c1",
                ipm_key="p1",
                decision=DecisionKind.NOT_A_MATCH,
                at="2026-11-27T09:30:00.654321Z",
            ),
        ),
    )
    liscio.append(lis("c9", "Ann Lee", kind=C, first_name="Ann", last_name="Lee"))
    text = explain_record(
        C, "John Smith", liscio_records=liscio, ipm_records=ipm_, state=state
    ).text
    assert "js@b.example" in text and "js@c.example, CEO" in text
    assert "on 2026-11-27 09:30 UTC" in text and ".654321" not in text
    linked = explain_record(C, "c9", liscio_records=liscio, ipm_records=ipm_, state=state).text
    assert "on 2026-11-26 12:00 UTC" in linked and "123456" not in linked
    for rid in ("c1", "p1", "p2", "p3", "c9"):
        assert f"({rid}" not in text + linked


def test_orphaned_when_liscio_record_archived_after_linking():
    state = SyncState(
        links=(
            Link(
                kind=A,
                liscio_id="L5",
                ipm_key="K13",
                how=LinkHow.AUTOMATIC,
                status=LinkStatus.LINKED,
            ),
        ),
        baseline=BASELINE,
    )
    (finding,) = explain("K13", state=state).findings
    assert finding.status == "orphaned" and "the Liscio record is archived" in finding.text


def test_before_the_first_sync_there_is_no_baseline():
    (finding,) = explain("L7", state=SyncState()).findings
    assert finding.status == "unmatched" and "no Sync Now has run yet" in finding.text


def test_unknown_query_and_an_orphaned_link_lost_side():
    (f,) = explain("nobody").findings
    assert f.status == "not_found" and "'nobody'" in f.text
    (f,) = explain("K404").findings
    assert f.status == "not_found" and "orphaned" in f.text


def test_contacts_last_first_and_middle_name():
    C = Kind.CONTACTS
    liscio = [
        lis(
            "c1",
            "Ana Maria Lopez",
            kind=C,
            first_name="Ana",
            middle_name="Maria",
            last_name="Lopez",
        )
    ]
    ipm_ = [ipm("p1", "Lopez, Ana", kind=C)]
    (f, g) = explain("lopez, ana", liscio=liscio, ipm_=ipm_, kind=C, state=SyncState()).findings
    assert (f.record_id, g.record_id) == ("c1", "p1")
    assert f.status == g.status == "will_link"
    assert "middle-name-ignored" in f.text
    assert "name key 'ana maria lopez' (first and last: 'ana lopez')" in f.text
    assert (
        explain("Ana Maria Lopez", liscio=liscio, ipm_=ipm_, kind=C, state=SyncState())
        .findings[0]
        .record_id
        == "c1"
    )


def test_explanation_text_joins_findings():
    e = explain("TWIN co")
    assert e.text.count("ambiguous") == 3 and "\n\n" in e.text


def test_contact_candidates_include_middle_name_variants_only():
    C = Kind.CONTACTS
    liscio = [lis("c1", "Ana Lopez", kind=C, first_name="Ana", last_name="Lopez")]
    ipm_ = [
        ipm("p1", "Ana Maria Lopez", kind=C),
        ipm("p2", "Lopez, Ana", kind=C),
        ipm("p3", "Ana Cruz", kind=C),
    ]
    (f,) = [x for x in explain("c1", liscio=liscio, ipm_=ipm_, kind=C, state=SyncState()).findings]
    assert {cid for cid, _ in f.candidates} == {"p1", "p2"}
