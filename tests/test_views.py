"""The View Details table: statuses, search on both sides, filters, paging, odd names."""

import pytest

from pmtools.analysis.views import Ambiguity, PairsView, Status, build_pairs_table, columns
from pmtools.core.plan import Action, Link, LinkHow, LinkStatus, Op
from pmtools.core.records import Address, Kind, Record, Side


def acc(side, rid, name, **fields):
    return Record(side=side, kind=Kind.ACCOUNTS, id=rid, name=name, **fields)


def link(liscio_id, ipm_key, how=LinkHow.AUTOMATIC, **kw):
    return Link(kind=Kind.ACCOUNTS, liscio_id=liscio_id, ipm_key=ipm_key, how=how, **kw)


LISCIO = [
    acc(
        Side.LISCIO,
        "1",
        "Acme LLC",
        address=Address(line1="1 Main St", city="Springfield"),
        phone="555-0100",
    ),
    acc(Side.LISCIO, "2", "Beta Partners"),
    acc(Side.LISCIO, "3", "Gamma Co", archived=True),  # linked, then archived: orphaned
    acc(Side.LISCIO, "4", "Dup Holdings"),  # ambiguous: two IPM "Dup Holdings"
    acc(Side.LISCIO, "5", "Old Archived", archived=True),  # unlinked and archived: not shown
    acc(Side.LISCIO, "6", "Manual Pair"),
]
IPM = [
    acc(Side.IPM, "a", "ACME LLC", website="acme.example"),
    acc(Side.IPM, "g", "Gamma Co"),
    acc(Side.IPM, "d1", "Dup Holdings"),
    acc(Side.IPM, "d2", "Dup Holdings"),
    acc(Side.IPM, "z", "Zeta Group"),
    acc(Side.IPM, "m", "Manually Paired Inc"),
]
LINKS = [
    link("1", "a", first_synced_at="2026-11-01T10:00:00Z"),
    link("3", "g"),
    link("6", "m", how=LinkHow.MANUAL),
    link("7", "gone", status=LinkStatus.ORPHANED),  # stored orphaned, both records gone
    Link(kind=Kind.CONTACTS, liscio_id="1", ipm_key="a", how=LinkHow.AUTOMATIC),  # other kind
]
AMBIGUOUS = [
    Action(
        op=Op.AMBIGUOUS,
        kind=Kind.ACCOUNTS,
        liscio_id="4",
        side=Side.LISCIO,
        candidates=("d1", "d2"),
    )
]


@pytest.fixture(scope="module")
def table():
    return build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, AMBIGUOUS)


def status_of(table, liscio_id="", ipm_key=""):
    rows = table[(table["liscio_id"] == liscio_id) & (table["ipm_key"] == ipm_key)]
    assert len(rows) == 1, (liscio_id, ipm_key)
    return rows.iloc[0]["status"]


@pytest.mark.parametrize(
    ("liscio_id", "ipm_key", "status"),
    [
        ("1", "a", Status.LINKED),
        ("6", "m", Status.LINKED),
        ("3", "g", Status.ORPHANED),
        ("7", "gone", Status.ORPHANED),
        ("2", "", Status.UNMATCHED_LISCIO),
        ("", "z", Status.UNMATCHED_IPM),
        ("4", "", Status.AMBIGUOUS),
        ("", "d1", Status.AMBIGUOUS),
        ("", "d2", Status.AMBIGUOUS),
    ],
)
def test_statuses(table, liscio_id, ipm_key, status):
    assert status_of(table, liscio_id, ipm_key) == status.value


def test_table_shape_and_fields(table):
    assert len(table) == 9  # 4 links + 2 Liscio-only + 3 IPM-only; archived unlinked left out
    assert list(table.columns) == columns(Kind.ACCOUNTS) + ["search", "side"]
    acme = table[table["liscio_id"] == "1"].iloc[0]
    assert (acme["Liscio name"], acme["IPM name"]) == ("Acme LLC", "ACME LLC")
    assert acme["Liscio address"] == "1 Main St, Springfield"
    assert (acme["Liscio phone"], acme["IPM website"], acme["IPM phone"]) == (
        "555-0100",
        "acme.example",
        "",
    )
    assert (acme["linked how"], acme["last synced"]) == ("automatic", "2026-11-01T10:00:00Z")
    assert table[table["liscio_id"] == "6"].iloc[0]["linked how"] == "manual"
    assert "5" not in set(table["liscio_id"])
    assert table.equals(build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, AMBIGUOUS))


def test_contacts_columns_and_last_synced_override():
    people = [
        Record(
            side=Side.LISCIO,
            kind=Kind.CONTACTS,
            id="c1",
            name="",
            first_name="Ann",
            last_name="Lee",
            title="CFO",
            email="ann@x.com",
        )
    ]
    ipm = [Record(side=Side.IPM, kind=Kind.CONTACTS, id="p1", name="Lee, Ann", email="ANN@x.com")]
    links = [Link(kind=Kind.CONTACTS, liscio_id="c1", ipm_key="p1", how=LinkHow.AUTOMATIC)]
    t = build_pairs_table(
        Kind.CONTACTS, people, ipm, links, None, last_synced={"c1": "2026-11-26T12:00:00Z"}
    )
    assert columns(Kind.CONTACTS)[-4:] == ["Liscio title", "Liscio email", "IPM title", "IPM email"]
    row = t.iloc[0]
    assert (row["Liscio name"], row["IPM name"], row["Liscio title"], row["IPM email"]) == (
        "Ann Lee",
        "Lee, Ann",
        "CFO",
        "ANN@x.com",
    )
    assert row["last synced"] == "2026-11-26T12:00:00Z"
    view = PairsView(t)
    assert view.query(search="ann lee").total == 1  # "Lee, Ann" is found by "ann lee" too
    assert view.query(search="lee, ann").total == 1


def test_ambiguity_seam_accepts_either_form():
    by_ids = Ambiguity(liscio=frozenset({"4"}), ipm=frozenset({"d1", "d2"}))
    t1 = build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, by_ids)
    t2 = build_pairs_table(
        Kind.ACCOUNTS, LISCIO, IPM, LINKS, Ambiguity.from_actions(AMBIGUOUS, Kind.ACCOUNTS)
    )
    assert t1.equals(t2)
    other_kind = [Action(op=Op.AMBIGUOUS, kind=Kind.CONTACTS, liscio_id="2")]
    t3 = build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, other_kind)
    assert Status.AMBIGUOUS.value not in set(t3["status"])


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("acme", {("1", "a")}),
        ("ACME llc", {("1", "a")}),
        ("paired", {("6", "m")}),  # the IPM name of a pair whose Liscio name differs
        ("manual", {("6", "m")}),  # its Liscio name
        ("zeta", {("", "z")}),  # IPM only
        ("beta", {("2", "")}),  # Liscio only
        ("dup", {("4", ""), ("", "d1"), ("", "d2")}),
        ("  Ｄｕｐ   holdings ", {("4", ""), ("", "d1"), ("", "d2")}),  # NFKC, spacing
        ("nobody", set()),
        ("", None),  # everything
    ],
)
def test_search_matches_names_on_both_sides(table, search, expected):
    page = PairsView(table).query(search=search, page_size=100)
    got = set(zip(page.rows["liscio_id"], page.rows["ipm_key"]))
    assert got == (
        expected if expected is not None else set(zip(table["liscio_id"], table["ipm_key"]))
    )
    assert page.total == len(got)
    assert "search" not in page.rows.columns and "side" not in page.rows.columns


def person(side, rid, name="", **parts):
    return Record(side=side, kind=Kind.CONTACTS, id=rid, name=name, **parts)


@pytest.fixture(scope="module")
def accented():
    """Accented people on both sides: unlinked, so each side has its own row."""
    liscio = [
        person(Side.LISCIO, "l1", first_name="Björn", last_name="Ångström"),
        person(Side.LISCIO, "l2", first_name="José", last_name="Núñez"),
        person(Side.LISCIO, "l3", first_name="Ann", last_name="Lee"),
    ]
    ipm = [
        person(Side.IPM, "p1", "Ångström, Björn"),
        person(Side.IPM, "p2", "Zoë Søndergaard"),
        person(Side.IPM, "p3", "Bjorn Angstrom"),
    ]
    return PairsView(build_pairs_table(Kind.CONTACTS, liscio, ipm, [], None))


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("bjorn angstrom", {"l1", "p1", "p3"}),  # unaccented finds accented on both sides
        ("Björn Ångström", {"l1", "p1", "p3"}),  # accented still finds accented (and plain)
        ("BJÖRN", {"l1", "p1", "p3"}),
        ("angstrom, bjorn", {"l1", "p1", "p3"}),  # word order is ignored in search (issue 10)
        ("nunez", {"l2"}),
        ("jose nuñez", {"l2"}),
        ("zoe", {"p2"}),
        ("zoë sondergaard", {"p2"}),
        ("ann lee", {"l3"}),
        ("cafe", set()),
    ],
)
def test_search_folds_accents_on_both_sides(accented, search, expected):
    rows = accented.query(search=search, page_size=100).rows
    assert {i for pair in zip(rows["liscio_id"], rows["ipm_key"]) for i in pair if i} == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("obrien", {"l1", "p1"}),  # punctuation ignored
        ("o'brien", {"l1", "p1"}),
        ("smith john", {"l2", "p2"}),  # word order ignored
        ("O'Connor, Siobhán", {"l3", "p3"}),  # "Last, First" and a middle name left out
        ("siobhan marie", {"l3"}),
        ("john smyth", set()),  # never a fuzzy match in this search
    ],
)
def test_search_ignores_punctuation_word_order_and_middle_names(search, expected):
    liscio = [
        person(Side.LISCIO, "l1", first_name="Zoë", last_name="O'Brien"),
        person(Side.LISCIO, "l2", first_name="John", last_name="Smith"),
        person(Side.LISCIO, "l3", first_name="Siobhán", middle_name="Marie", last_name="O'Connor"),
    ]
    ipm = [
        person(Side.IPM, "p1", "OBrien, Zoe"),
        person(Side.IPM, "p2", "Smith, John"),
        person(Side.IPM, "p3", "Siobhan O'Connor"),
    ]
    view = PairsView(build_pairs_table(Kind.CONTACTS, liscio, ipm, [], None))
    rows = view.query(search=search, page_size=100).rows
    assert {i for pair in zip(rows["liscio_id"], rows["ipm_key"]) for i in pair if i} == expected


def test_incremental_keystrokes_give_the_same_answers(table):
    view, fresh = PairsView(table), PairsView(table)
    for text in ("d", "du", "dup", "dupx", "dup", "a", "ac", "acme", "", "zeta"):
        assert view.query(search=text).total == fresh.query(search=text).total, text
        fresh = PairsView(table)


@pytest.mark.parametrize(
    ("status", "side", "count"),
    [
        (None, None, 9),
        ([Status.LINKED], None, 2),
        (["linked", "orphaned"], None, 4),
        (["ambiguous"], None, 3),
        (["ambiguous"], "ipm", 2),
        (["ambiguous"], "liscio", 1),
        (["unmatched in Liscio"], None, 1),
        (["unmatched in IPM"], "liscio", 0),
        (None, "liscio", 6),  # rows with a Liscio record: 4 links + 2 Liscio-only
        (None, "ipm", 7),
        ([], None, 0),
    ],
)
def test_filters(table, status, side, count):
    assert PairsView(table).query(status=status, side=side).total == count


def test_bad_filters_raise(table):
    view = PairsView(table)
    with pytest.raises(ValueError):
        view.query(status=["maybe"])
    with pytest.raises(ValueError):
        view.query(side="both")
    with pytest.raises(ValueError):
        view.query(page_size=0)


def test_paging_bounds():
    liscio = [acc(Side.LISCIO, f"{i:03}", f"Firm {i:03}") for i in range(125)]
    view = PairsView(build_pairs_table(Kind.ACCOUNTS, liscio, [], []))
    first = view.query(page_size=50)
    assert (first.total, first.pages, first.page, len(first.rows)) == (125, 3, 0, 50)
    assert list(first.rows["liscio_id"][:2]) == ["000", "001"]
    last = view.query(page=2, page_size=50)
    assert (last.page, len(last.rows), last.rows["liscio_id"].iloc[-1]) == (2, 25, "124")
    assert view.query(page=99, page_size=50).page == 2  # past the end: the last page
    assert view.query(page=-3, page_size=50).page == 0
    pages = [view.query(page=p, page_size=50).rows["liscio_id"].tolist() for p in range(3)]
    assert sum(pages, []) == [f"{i:03}" for i in range(125)]  # no row lost or repeated
    empty = view.query(search="nothing here")
    assert (empty.total, empty.pages, empty.page, len(empty.rows)) == (0, 1, 0, 0)
    assert list(empty.rows.columns) == columns(Kind.ACCOUNTS)


def test_empty_table():
    view = PairsView(build_pairs_table(Kind.CONTACTS, [], [], []))
    page = view.query(search="x")
    assert (len(view), page.total, page.pages) == (0, 0, 1)


@pytest.mark.parametrize(
    "name",
    [
        "<img src=x onerror=alert(1)>",
        "😀 Smile Co",
        "שלום עליכם",
        "مرحبا",
        "",
        "   ",
        "\u202eevil",
        "a\nb",
        "=cmd|' /C calc'!A0",
    ],
)
def test_odd_names_do_not_crash(name):
    liscio = [acc(Side.LISCIO, "1", name), acc(Side.LISCIO, "2", "Plain")]
    ipm = [acc(Side.IPM, "k", name)]
    view = PairsView(build_pairs_table(Kind.ACCOUNTS, liscio, ipm, [link("1", "k")]))
    assert view.query().total == 2  # the pair and "Plain"
    found = view.query(search=name)
    if name.strip():
        assert ("1", "k") in set(zip(found.rows["liscio_id"], found.rows["ipm_key"]))
        assert view.table.loc[view.table["liscio_id"] == "1", "Liscio name"].iloc[0] == name
    for text in ("<img", "😀", "של", "\u202e", "a b"):
        assert isinstance(view.query(search=text).total, int)


def test_ambiguity_from_the_matcher():
    from pmtools.core.plan import SyncState

    unlinked = [r for r in LISCIO if r.id in ("2", "4")]
    found = Ambiguity.from_match(Kind.ACCOUNTS, unlinked, IPM, SyncState())
    assert (found.liscio, found.ipm) == ({"4"}, {"d1", "d2"})
    t = build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, found)
    assert t.equals(build_pairs_table(Kind.ACCOUNTS, LISCIO, IPM, LINKS, AMBIGUOUS))


NAME_PARTS = [
    "Ann",
    "ann",
    "Lee",
    "LEE",
    "Acme",
    "L.L.C.",
    "Inc.",
    "Zoë",
    "zoe",
    "😀",
    "<b>",
    "שלום",
    ",",
    "x" * 140,
    "Ａｃｍｅ",
    "\u00a0",
]


def test_query_equals_a_plain_python_filter():
    """Any sequence of searches and filters gives what a row-by-row filter gives."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pmtools.analysis.suggest import search_text, search_words

    names = st.lists(st.sampled_from(NAME_PARTS), min_size=0, max_size=3).map(" ".join)

    @settings(max_examples=40, deadline=None)
    @given(
        lnames=st.lists(names, max_size=12),
        inames=st.lists(names, max_size=12),
        nlinks=st.integers(0, 12),
        steps=st.lists(
            st.tuples(
                names,
                st.sampled_from([None, ["linked"], ["ambiguous", "unmatched in IPM"]]),
                st.sampled_from([None, "liscio", "ipm"]),
                st.integers(-1, 4),
                st.integers(1, 5),
            ),
            min_size=1,
            max_size=6,
        ),
    )
    def check(lnames, inames, nlinks, steps):
        liscio = [acc(Side.LISCIO, f"l{i}", n) for i, n in enumerate(lnames)]
        ipm = [acc(Side.IPM, f"i{i}", n) for i, n in enumerate(inames)]
        n = min(nlinks, len(liscio), len(ipm))
        links = [link(f"l{i}", f"i{i}") for i in range(n)]
        amb = Ambiguity(ipm=frozenset(f"i{i}" for i in range(n, len(ipm), 2)))
        table = build_pairs_table(Kind.ACCOUNTS, liscio, ipm, links, amb)
        view = PairsView(table)
        for search, status, side, page, size in steps:
            for end in range(1, min(len(search), 10)):  # typed one key at a time
                view.query(search=search[:end])
            got = view.query(search=search, status=status, side=side, page=page, page_size=size)
            words = search_words(search)
            keep = []
            for row in table.to_dict("records"):
                texts = [search_text(row["Liscio name"]), search_text(row["IPM name"])]
                if words and not all(any(w in t for t in texts if t) for w in words):
                    continue
                if status is not None and row["status"] not in status:
                    continue
                if side == "liscio" and not row["liscio_id"]:
                    continue
                if side == "ipm" and not row["ipm_key"]:
                    continue
                keep.append((row["liscio_id"], row["ipm_key"]))
            pages = max(1, -(-len(keep) // size))
            p = min(max(page, 0), pages - 1)
            assert (got.total, got.pages, got.page) == (len(keep), pages, p)
            assert (
                list(zip(got.rows["liscio_id"], got.rows["ipm_key"]))
                == keep[p * size : (p + 1) * size]
            )

    check()
