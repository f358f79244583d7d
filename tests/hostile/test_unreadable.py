"""Fields of the wrong type: a record error naming the record, the pull going on, nothing lost.

At the connector boundary (each connector behind a small ``httpx.MockTransport`` app), a row
whose fields have the wrong types is left out of a pull and reported; a page without the
expected shape is a malformed reply. In a sync (on the in-memory fakes), the unreadable
record's pair sits the run out: not orphaned, not written, its twin not created in IPM; the
next run that reads it syncs it as usual.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fakes import small_firm

from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.plan import LinkStatus, Op, SyncPolicy
from pmtools.core.records import Kind, Side
from pmtools.core.rulebook import Rule
from pmtools.engine.sync import run_sync
from pmtools.errors import MalformedReply, RecordError
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS
HOST = "https://svc.example"


class Page:
    """Serves one list page (or one entity) as given, and counts requests."""

    def __init__(self, body: Any) -> None:
        self.body, self.requests = body, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, json=self.body)


def ipm(app: Page) -> IpmConnector:
    return IpmConnector(HOST, "tok", "key", transport=httpx.MockTransport(app), rate_limit=0)


def liscio(app: Page) -> LiscioConnector:
    return LiscioConnector(HOST, "tok", transport=httpx.MockTransport(app))


@pytest.mark.parametrize(
    "row, problem",
    [
        ({"FullName": {"x": 1}}, "FullName is an object, not text"),
        ({"FullName": "Acme", "PhoneNumber": 5550100}, "PhoneNumber is a number, not text"),
        ({"FullName": "Acme", "Website": ["a", "b"]}, "Website is a list, not text"),
        ({"FullName": "Acme", "LastModifiedDateTime": "yesterday"}, "not a date and time"),
        ({"FullName": "Acme", "UserDefinedIdentifier": True}, "UserDefinedIdentifier is true"),
    ],
)
def test_a_karbon_row_of_wrong_types_is_left_out_and_named(row, problem):
    good = {"OrganizationKey": "K1", "FullName": "Birch & Co"}
    app = Page({"value": [good, {"OrganizationKey": "K2", **row}]})
    connector = ipm(app)
    records = list(connector.iter_records(A))
    assert [r.name for r in records] == ["Birch & Co"]  # the pull went on
    (bad,) = connector.take_unreadable()
    assert (bad.side, bad.kind, bad.id) == (Side.IPM, A, "K2") and problem in bad.problem
    message = bad.message()
    assert problem in message and ("'Acme'" in message or "with id K2" in message)
    assert "{'x': 1}" not in message  # the wrong value is described, not printed
    assert connector.take_unreadable() == []  # taken once


@pytest.mark.parametrize(
    "item, problem",
    [
        ({"name": "Acme", "archived": "yes"}, "archived is 'yes', not true or false"),
        ({"name": {"x": 1}}, "name is an object, not text"),
        ({"name": "Acme", "address": "1 Main St"}, "address is '1 Main St', not an object"),
        ({"name": "Acme", "address": {"city": 7}}, "address.city is a number, not text"),
        ({"name": "Acme", "phone": 5550100}, "phone is a number, not text"),
    ],
)
def test_a_liscio_account_of_wrong_types_is_left_out_and_named(item, problem):
    app = Page(
        {"items": [{"id": "a1", "name": "Birch & Co"}, {"id": "a2", **item}], "next_cursor": None}
    )
    connector = liscio(app)
    assert [r.name for r in connector.iter_records(A)] == ["Birch & Co"]
    (bad,) = connector.take_unreadable()
    assert bad.id == "a2" and problem in bad.problem


def test_a_liscio_contact_with_account_ids_of_wrong_types_is_left_out():
    app = Page(
        {
            "items": [{"id": "c1", "first_name": "Ann", "last_name": "Lee", "account_ids": [1, 2]}],
            "next_cursor": None,
        }
    )
    connector = liscio(app)
    assert list(connector.iter_records(C)) == []
    (bad,) = connector.take_unreadable()
    assert bad.name == "Ann Lee" and "account_ids" in bad.problem


def test_reading_one_record_of_wrong_types_is_a_record_error_naming_it():
    app = Page(
        {
            "OrganizationKey": "K1",
            "FullName": "Acme LLC",
            "BusinessCards": [{"IsPrimaryCard": True, "PhoneNumbers": [{"Number": {}}]}],
        }
    )
    with pytest.raises(RecordError, match="'Acme LLC' cannot be read") as caught:
        ipm(app).get_record(A, "K1")
    assert "PhoneNumbers.Number is an object" in str(caught.value)
    app = Page({"id": "a1", "name": "Acme LLC", "archived": "no"})
    with pytest.raises(RecordError, match="'Acme LLC' cannot be read"):
        liscio(app).get_record(A, "a1")


@pytest.mark.parametrize(
    "body",
    [
        {"value": "rows"},
        {"value": [{"FullName": "No key"}]},
        {"value": [["not", "an", "object"]]},
        ["a", "list"],
    ],
)
def test_a_karbon_page_of_the_wrong_shape_is_a_malformed_reply(body):
    with pytest.raises(MalformedReply, match="/v3/Organizations"):
        list(ipm(Page(body)).iter_records(A))


@pytest.mark.parametrize(
    "body",
    [
        {"items": {}, "next_cursor": None},
        {"items": [], "next_cursor": 7},
        {"items": [{"name": "no id"}], "next_cursor": None},
    ],
)
def test_a_liscio_page_of_the_wrong_shape_is_a_malformed_reply(body):
    with pytest.raises(MalformedReply, match="/v1/accounts"):
        list(liscio(Page(body)).iter_records(A))


# -- in a sync ----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "state.sqlite") as s:
        yield s


def sync(lis, ipm_, store, **kw):
    return run_sync(liscio=lis, ipm=ipm_, store=store, policy=SyncPolicy(), **kw)


def test_an_unreadable_linked_record_is_a_record_error_and_its_pair_sits_out(store):
    lis, ipm_ = small_firm()
    assert sync(lis, ipm_, store).outcome == "done"
    (acme_l,) = lis.by_name(A, "Acme LLC")
    (acme_i,) = ipm_.by_name(A, "ACME LLC")
    lis.edit(A, acme_l.id, phone="555-7777")  # a change that is due to reach IPM
    lis.edit(A, lis.by_name(A, "Birch & Co")[0].id, website="new.example")
    ipm_.unreadable[acme_i.id] = "FullName is an object, not text"

    result = sync(lis, ipm_, store)
    assert result.outcome == "done_with_errors" and result.counts["errors"] == 1
    (error,) = result.errors
    assert "IPM organization 'ACME LLC' cannot be read (FullName is an object" in error
    (saved,) = store.errors(run_id=result.run_id)
    assert (saved["op"], saved["name"], saved["ipm_key"]) == ("read", "ACME LLC", acme_i.id)
    # the pair sat out: not orphaned, not written; the others went on
    assert {link.status for link in store.links(A)} == {LinkStatus.LINKED}
    assert ipm_.records[A][acme_i.id].phone == "555-0100"
    assert ipm_.by_name(A, "Birch & Co")[0].website == "new.example"

    del ipm_.unreadable[acme_i.id]  # fixed in IPM: the next run catches up, nothing lost
    assert sync(lis, ipm_, store).outcome == "done"
    assert ipm_.records[A][acme_i.id].phone == "555-7777"


def test_no_create_in_ipm_while_an_ipm_record_of_that_kind_is_unreadable(store):
    lis, ipm_ = small_firm()
    assert sync(lis, ipm_, store).outcome == "done"
    twin = ipm_.add(A, "Echo GmbH")  # made in IPM; its row now has a field of a wrong type
    ipm_.unreadable[twin.id] = "FullName is an object, not text"
    lis.add(A, "Echo GmbH")  # new in Liscio after the first sync: would be created in IPM

    result = sync(lis, ipm_, store, dry_run=True)
    assert result.counts["created_in_ipm"] == 0 and result.counts["errors"] == 1
    assert any(a.op is Op.SKIP and a.rule == Rule.SKIP_UNREADABLE_IPM for a in result.plan.actions)
    assert len(store.runs()) == 1  # the first sync only: a dry run writes nothing
    assert sync(lis, ipm_, store).outcome == "done_with_errors"
    assert ipm_.creates == [] and len(ipm_.by_name(A, "Echo GmbH")) == 1

    del ipm_.unreadable[twin.id]
    assert sync(lis, ipm_, store).outcome == "done"
    assert ipm_.creates == [] and len(ipm_.by_name(A, "Echo GmbH")) == 1  # linked, not created
    assert any(link.ipm_key == twin.id for link in store.links(A))


def test_an_unreadable_liscio_record_at_the_first_sync_is_in_the_baseline(store):
    lis, ipm_ = small_firm()
    (cedar,) = lis.by_name(A, "Cedar Ltd")
    lis.unreadable[cedar.id] = "archived is 'yes', not true or false"
    result = sync(lis, ipm_, store)
    assert result.outcome == "done_with_errors"
    assert (A, cedar.id) in store.baseline()  # not "new after the first sync" once readable
    del lis.unreadable[cedar.id]
    assert sync(lis, ipm_, store).outcome == "done"
    assert not ipm_.by_name(A, "Cedar Ltd")  # a baseline record is not mass-created


def test_after_an_unreadable_ipm_record_the_next_pull_is_a_full_one(store):
    lis, ipm_ = small_firm()
    assert sync(lis, ipm_, store).outcome == "done"
    assert sync(lis, ipm_, store).outcome == "done"
    assert ipm_.pulls[-2][1] is not None  # later syncs pull only what changed
    (birch,) = ipm_.by_name(A, "Birch & Co")
    ipm_.unreadable[birch.id] = "Website is a list, not text"
    assert sync(lis, ipm_, store).outcome == "done_with_errors"
    del ipm_.unreadable[birch.id]  # fixed, without moving its modification time
    pulls = len(ipm_.pulls)
    assert sync(lis, ipm_, store).outcome == "done"
    assert (A, None) in ipm_.pulls[pulls:]  # read whole again: the record is back
    assert {link.status for link in store.links(A)} == {LinkStatus.LINKED}
