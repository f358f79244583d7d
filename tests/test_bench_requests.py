"""The request benchmark's pieces: the lower bound on a hand-built plan, and the counting on
the demo firm over real HTTP (no timing asserted)."""

import math

from bench.requests import LowerBound, lower_bound, measure_requests, pages, to_markdown
from pmtools.core.plan import Action, Op, Plan, SyncPolicy
from pmtools.core.records import Address, Kind, Record, Side

HERE = Address(line1="1 Main St", city="Boise", state="ID", postal_code="83702", country="US")


def _stamps(orgs: int, people: int, *, bumped: tuple[str, ...] = ()) -> dict:
    org = {f"o{i}": "2025-01-01T00:00:00.000000Z" for i in range(orgs)}
    accounts = {"a1": "2025-01-01T00:00:00.000000Z", "a2": "2025-01-01T00:00:00.000000Z"}
    for key in bumped:
        (org if key.startswith("o") else accounts)[key] = "2026-01-01T00:00:00.000000Z"
    return {
        "organizations": org,
        "people": {f"p{i}": "2025-01-01T00:00:00.000000Z" for i in range(people)},
        "accounts": accounts,
        "contacts": {},
    }


def _write(kind: Kind, key: str, field: str, side: Side = Side.IPM) -> Action:
    return Action(op=Op.WRITE, kind=kind, liscio_id="x", ipm_key=key, side=side, field=field)


def test_pages_of_a_list():
    assert [pages(n) for n in (0, 1, 100, 101, 250)] == [1, 1, 1, 2, 3]


def test_lower_bound_of_a_first_sync_counts_pages_cards_puts_and_posts():
    plan = Plan(
        first_sync=True,
        policy=SyncPolicy(),
        actions=(
            Action(op=Op.MARK_SYNCED, kind=Kind.ACCOUNTS, liscio_id="a1", ipm_key="o1"),
            Action(op=Op.MARK_SYNCED, kind=Kind.ACCOUNTS, liscio_id="a2", ipm_key="o2"),
            _write(Kind.ACCOUNTS, "o1", "phone"),
            _write(Kind.ACCOUNTS, "o1", "website"),
            _write(Kind.CONTACTS, "p1", "email"),
            _write(Kind.CONTACTS, "p2", "title", Side.LISCIO),
            Action(op=Op.CREATE_IN_IPM, kind=Kind.ACCOUNTS, liscio_id="a9", external_id="e"),
            Action(op=Op.UNMATCHED, kind=Kind.CONTACTS, ipm_key="p3", side=Side.IPM),
        ),
    )
    bound = lower_bound(plan, {}, now=_stamps(150, 201), previous=None, synced_pairs={})
    # 2 + 3 pages; cards of the two compared organizations and of the person written;
    # one PUT for o1's two fields, one for p1 (a Liscio write costs IPM nothing); one POST
    assert bound == LowerBound(list_pages=5, card_reads=3, puts=2, posts=1)
    assert bound.total == 11


def test_lower_bound_of_a_later_sync_reads_only_changed_pairs_with_an_address():
    liscio = (
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="a1", name="A", address=HERE),
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="a2", name="B", address=HERE),
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="a3", name="C"),
    )
    previous = _stamps(150, 201)
    now = _stamps(150, 201, bumped=("a1", "o2", "o3"))
    plan = Plan(policy=SyncPolicy(), actions=())
    bound = lower_bound(
        plan,
        {(Side.LISCIO, Kind.ACCOUNTS): liscio},
        now=now,
        previous=previous,
        synced_pairs={Kind.ACCOUNTS: {("a1", "o1"), ("a2", "o2"), ("a3", "o3")}},
    )
    # o1 unchanged (a1's change is compared with o1's address read before); o2 changed and
    # Liscio has an address: read; a3 has no address: nothing to compare
    assert bound == LowerBound(list_pages=2, card_reads=1, puts=0, posts=0)


def test_requests_of_the_demo_firm_are_counted_against_the_bound():
    doc = measure_requests(1)
    first, second, later = doc["runs"]
    sizes = doc["records"]
    assert first["lower_bound"]["list_pages"] == (
        math.ceil(sizes["organizations"] / 100) + math.ceil(sizes["people"] / 100)
    )
    for run in doc["runs"]:
        assert run["outcome"] == "done"
        # the connector counted every request the simulator served, and no more
        assert run["ipm_requests"] == run["simulator_ipm_requests"] > 0
        assert run["ratio"] >= 1.0  # nothing does better than the lower bound
    assert first["lower_bound"]["puts"] == first["by_kind"]["write"]
    assert later["lower_bound"]["puts"] == later["by_kind"]["write"] == 10  # the 10 edits
    assert later["ipm_requests"] < first["ipm_requests"]
    text = to_markdown({"at": "now", "python": "3", "cpus": 2, "requests": [doc], "rate_limit": []})
    assert text.count("| 1 | ") == 3
