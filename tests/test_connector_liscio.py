"""The Liscio connector against a small stateful fake that checks every call against our contract.

Requests and replies are validated against ``docs/liscio-api.yaml`` inside the fake; tests
assert on what the fake holds afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from pmtools.connectors.base import Connector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.errors import AuthError, DuplicateCreate, NotFound, RecordError, ServiceError

ROOT = Path(__file__).resolve().parent.parent
SPEC = OpenAPI.from_file_path(
    str(ROOT / "docs" / "liscio-api.yaml"), config=Config(spec_validator_cls=None)
)
HOST = "http://127.0.0.1:8000"
BASE = HOST + "/liscio"
TOKEN = "liscio-secret-token-0123456789"
NOW = "2026-01-01T00:00:00Z"
ACCOUNT_KEYS = ("name", "address", "phone", "website", "archived")
CONTACT_KEYS = (
    "first_name",
    "middle_name",
    "last_name",
    "title",
    "primary_email",
    "account_ids",
    "archived",
)


class FakeLiscio:
    """Liscio's accounts and contacts in memory, behind httpx.MockTransport."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {"accounts": {}, "contacts": {}}
        self.faults: list[tuple[str, str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.loop_cursor = False
        self.next_id = 0

    def add(self, kind: str, **fields: Any) -> str:
        """Add an account or contact; absent values are null."""
        self.next_id += 1
        rid = f"{kind[0]}_{self.next_id:04d}"
        keys = ACCOUNT_KEYS if kind == "accounts" else CONTACT_KEYS
        record = {
            "id": rid,
            **{k: None for k in keys},
            "archived": False,
            "external_id": None,
            "created_at": NOW,
            "updated_at": NOW,
        }
        if kind == "contacts":
            record |= {"account_ids": [], "created_by": "firm"}
        record.update(fields)
        self.records[kind][rid] = record
        return rid

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/liscio")
        self.requests.append((request.method, path))
        spec_request = MockRequest(
            HOST,
            request.method,
            request.url.path,
            args=list(request.url.params.multi_items()),
            headers=dict(request.headers),
            data=request.content or None,
        )
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            response = _error(401, "unauthorized", "missing or wrong bearer token")
        else:
            SPEC.validate_request(spec_request)
            response = self._fault(request) or self._route(request, path)
        if not response.extensions.get("malformed"):
            SPEC.validate_response(
                spec_request,
                MockResponse(
                    response.content, response.status_code, headers=dict(response.headers)
                ),
            )
        return response

    def _fault(self, request: httpx.Request) -> httpx.Response | None:
        for i, (method, fragment, action) in enumerate(self.faults):
            if method == request.method and fragment in request.url.path:
                del self.faults[i]
                if action == "timeout":
                    raise httpx.ReadTimeout("timed out", request=request)
                if action == "drop-after-commit":
                    self._route(request, request.url.path.removeprefix("/liscio"))
                    raise httpx.RemoteProtocolError("Server disconnected", request=request)
                action.extensions["malformed"] = True
                return action
        return None

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        parts = path.strip("/").split("/")  # v1, kind[, id]
        kind, store = parts[1], self.records[parts[1]]
        body = json.loads(request.content) if request.content else None
        if len(parts) == 2 and request.method == "GET":
            return self._list(kind, request.url.params)
        if len(parts) == 2:
            return self._create(kind, body)
        record = store.get(parts[2])
        if record is None:
            return _error(404, "not_found", f"no {kind[:-1]} {parts[2]}")
        if request.method == "GET":
            return httpx.Response(200, json=record)
        if kind == "contacts" and body.get("primary_email"):
            if clash := self._email_owner(body["primary_email"], parts[2]):
                return _error(
                    400,
                    "email_in_use",
                    "primary_email is already used by contact " + clash,
                    existing_id=clash,
                )
        record.update(body)
        record["updated_at"] = "2026-01-02T00:00:00Z"
        return httpx.Response(200, json=record)

    def _list(self, kind: str, params: httpx.QueryParams) -> httpx.Response:
        items = sorted(self.records[kind].values(), key=lambda r: r["id"])
        if "external_id" in params:
            items = [r for r in items if r["external_id"] == params["external_id"]]
        limit = int(params.get("limit", "50"))
        start = int(base64.b64decode(params["cursor"])) if "cursor" in params else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        cursor = base64.b64encode(str(0 if self.loop_cursor else start + limit).encode())
        return httpx.Response(
            200, json={"items": page, "next_cursor": cursor.decode() if more else None}
        )

    def _create(self, kind: str, body: dict[str, Any]) -> httpx.Response:
        ext = body.get("external_id")
        if ext and (same := [r for r in self.records[kind].values() if r["external_id"] == ext]):
            return _error(
                409,
                "duplicate_external_id",
                "external_id already in use",
                existing_id=same[0]["id"],
            )
        if kind == "contacts" and body.get("primary_email"):
            if clash := self._email_owner(body["primary_email"], None):
                return _error(
                    400,
                    "email_in_use",
                    "primary_email is already used by contact " + clash,
                    existing_id=clash,
                )
        rid = self.add(kind, **body)
        return httpx.Response(
            201, json=self.records[kind][rid], headers={"Location": f"{BASE}/v1/{kind}/{rid}"}
        )

    def _email_owner(self, email: str, other_than: str | None) -> str | None:
        return next(
            (
                r["id"]
                for r in self.records["contacts"].values()
                if r["id"] != other_than
                and (r["primary_email"] or "").casefold() == email.casefold()
            ),
            None,
        )


def _error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})


class Sleeper:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector(fake: FakeLiscio, *, token: str = TOKEN) -> LiscioConnector:
    return LiscioConnector(BASE, token, transport=httpx.MockTransport(fake), sleep=Sleeper())


def test_is_a_connector_and_checks_cheaply():
    fake = FakeLiscio()
    liscio = connector(fake)
    assert isinstance(liscio, Connector) and liscio.side is Side.LISCIO
    assert liscio.check() == "Liscio connected"
    assert fake.requests == [("GET", "/v1/accounts")]


def test_lists_every_page_and_maps_accounts():
    fake = FakeLiscio()
    for i in range(230):
        fake.add(
            "accounts",
            name=f"Acct {i:03d}",
            phone=f"555-{i:04d}",
            archived=i == 5,
            address={
                "line1": "1 Main",
                "line2": None,
                "city": "Reno",
                "state": "NV",
                "postal_code": "89501",
                "country": "US",
            }
            if i == 7
            else None,
        )
    records = list(connector(fake).iter_records(Kind.ACCOUNTS))
    assert [r.name for r in records] == [f"Acct {i:03d}" for i in range(230)]
    assert records[5].archived and not records[6].archived
    assert records[7].address == Address(
        line1="1 Main", city="Reno", state="NV", postal_code="89501", country="US"
    )
    assert records[8].address is None and records[8].phone == "555-0008"
    assert fake.requests.count(("GET", "/v1/accounts")) == 3


def test_contacts_map_names_and_owners():
    fake = FakeLiscio()
    fake.add(
        "contacts",
        first_name="Mary",
        middle_name="Ann",
        last_name="Smith",
        primary_email="mary@x.example",
        title="CFO",
        account_ids=["a_1", "a_2"],
        created_by="account_owner",
        external_id="ipm:C1",
    )
    (mary,) = connector(fake).iter_records(Kind.CONTACTS)
    assert (mary.name, mary.first_name, mary.middle_name, mary.last_name) == (
        "Mary Ann Smith",
        "Mary",
        "Ann",
        "Smith",
    )
    assert (mary.email, mary.title, mary.created_by, mary.account_ids, mary.external_id) == (
        "mary@x.example",
        "CFO",
        "account_owner",
        ("a_1", "a_2"),
        "ipm:C1",
    )


def test_a_cursor_that_comes_back_is_a_loop():
    fake = FakeLiscio()
    for i in range(250):
        fake.add("accounts", name=f"A{i}")
    fake.loop_cursor = True
    with pytest.raises(ServiceError, match="paging loop"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))


def test_update_patches_only_the_fields_given():
    fake = FakeLiscio()
    rid = fake.add("accounts", name="Acme", phone="555-0100", website="acme.example")
    record = connector(fake).update_fields(
        Kind.ACCOUNTS,
        rid,
        {"address": Address(line1="9 Elm", city="Austin", state="TX", postal_code="78701")},
    )
    held = fake.records["accounts"][rid]
    assert held["address"] == {
        "line1": "9 Elm",
        "line2": None,
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "country": None,
    }
    assert (held["phone"], held["website"], held["name"]) == ("555-0100", "acme.example", "Acme")
    assert record.address.city == "Austin" and record.phone == "555-0100"


def test_a_country_is_sent_by_name_and_one_that_names_no_country_is_not_sent():
    fake = FakeLiscio()
    rid = fake.add("accounts", name="Acme")
    connector(fake).update_fields(
        Kind.ACCOUNTS, rid, {"address": Address(line1="1 Rue", city="Paris", country="FR")}
    )  # as IPM holds it
    assert fake.records["accounts"][rid]["address"]["country"] == "France"
    with pytest.raises(RecordError, match="'XQ'.*correct it in IPM"):
        connector(fake).update_fields(
            Kind.ACCOUNTS, rid, {"address": Address(line1="2 Rue", city="Lyon", country="XQ")}
        )
    assert fake.records["accounts"][rid]["address"]["city"] == "Paris"
    with pytest.raises(RecordError, match="'Zed Co'.*'XQ'"):
        connector(fake).create_record(
            Kind.ACCOUNTS,
            Record(
                side=Side.IPM,
                kind=Kind.ACCOUNTS,
                id="K9",
                name="Zed Co",
                address=Address(city="Lyon", country="XQ"),
            ),
            external_id="ipm-organization-K9",
        )
    assert len(fake.records["accounts"]) == 1


def test_update_contact_email_and_title():
    fake = FakeLiscio()
    rid = fake.add(
        "contacts", first_name="A", last_name="B", primary_email="a@x.example", account_ids=["a_9"]
    )
    connector(fake).update_fields(Kind.CONTACTS, rid, {"email": "new@x.example", "title": "Owner"})
    held = fake.records["contacts"][rid]
    assert (held["primary_email"], held["title"], held["account_ids"]) == (
        "new@x.example",
        "Owner",
        ["a_9"],
    )


def test_an_email_in_use_is_a_clear_record_error():
    fake = FakeLiscio()
    fake.add("contacts", first_name="A", last_name="B", primary_email="taken@x.example")
    rid = fake.add("contacts", first_name="C", last_name="D", primary_email="c@x.example")
    with pytest.raises(RecordError, match="email_in_use.*already used") as caught:
        connector(fake).update_fields(Kind.CONTACTS, rid, {"email": "taken@x.example"})
    assert caught.value.status == 400
    assert fake.records["contacts"][rid]["primary_email"] == "c@x.example"


def test_create_account_and_contact_with_external_ids():
    fake = FakeLiscio()
    liscio = connector(fake)
    account = liscio.create_record(
        Kind.ACCOUNTS,
        Record(
            side=Side.IPM,
            kind=Kind.ACCOUNTS,
            id="O1",
            name="New Co",
            phone="555-0001",
            address=Address(line1="1 A St", city="Reno"),
        ),
        external_id="ipm:O1",
    )
    contact = liscio.create_record(
        Kind.CONTACTS,
        Record(
            side=Side.IPM,
            kind=Kind.CONTACTS,
            id="C1",
            name="Smith, Mary Ann",
            email="mary@x.example",
            title="CFO",
        ),
        external_id="ipm:C1",
    )
    held = fake.records["accounts"][account.id]
    assert (held["name"], held["phone"], held["external_id"]) == ("New Co", "555-0001", "ipm:O1")
    assert held["address"]["line1"] == "1 A St"
    person = fake.records["contacts"][contact.id]
    assert (
        person["first_name"],
        person["middle_name"],
        person["last_name"],
        person["primary_email"],
        person["title"],
        person["created_by"],
    ) == ("Mary", "Ann", "Smith", "mary@x.example", "CFO", "firm")
    assert contact.name == "Mary Ann Smith" and contact.external_id == "ipm:C1"


def test_a_duplicate_external_id_raises_and_is_found():
    fake = FakeLiscio()
    rid = fake.add("accounts", name="Old", external_id="ipm:O1")
    liscio = connector(fake)
    with pytest.raises(DuplicateCreate):
        liscio.create_record(
            Kind.ACCOUNTS,
            Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="O1", name="Old"),
            external_id="ipm:O1",
        )
    assert liscio.find_by_external_id(Kind.ACCOUNTS, "ipm:O1").id == rid
    assert liscio.find_by_external_id(Kind.ACCOUNTS, "ipm:O1").id == rid
    assert liscio.find_by_external_id(Kind.ACCOUNTS, "ipm:none") is None
    assert len(fake.records["accounts"]) == 1


def test_a_create_whose_reply_was_lost_is_not_made_twice():
    fake = FakeLiscio()
    fake.faults = [("POST", "/v1/contacts", "drop-after-commit")]
    liscio = connector(fake)
    with pytest.raises(DuplicateCreate):
        liscio.create_record(
            Kind.CONTACTS,
            Record(side=Side.IPM, kind=Kind.CONTACTS, id="C", name="Ann Lee"),
            external_id="ipm:C",
        )
    assert len(fake.records["contacts"]) == 1
    assert liscio.find_by_external_id(Kind.CONTACTS, "ipm:C").last_name == "Lee"


def test_a_create_that_timed_out_uncommitted_is_sent_again():
    fake = FakeLiscio()
    fake.faults = [("POST", "/v1/accounts", "timeout")]
    account = connector(fake).create_record(
        Kind.ACCOUNTS,
        Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="O", name="Co"),
        external_id="ipm:O",
    )
    assert list(fake.records["accounts"]) == [account.id]
    assert fake.requests.count(("POST", "/v1/accounts")) == 2


def test_get_record_and_not_found():
    fake = FakeLiscio()
    rid = fake.add("accounts", name="Acme")
    assert connector(fake).get_record(Kind.ACCOUNTS, rid).name == "Acme"
    with pytest.raises(NotFound):
        connector(fake).get_record(Kind.ACCOUNTS, "a_missing")


def test_load_details_costs_nothing():
    fake = FakeLiscio()
    rows = [Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="a", name="A")]
    assert connector(fake).load_details(Kind.ACCOUNTS, rows) == rows and fake.requests == []


def test_a_wrong_token_is_an_auth_error_without_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    liscio = connector(FakeLiscio(), token="not-the-right-token-42")
    with pytest.raises(AuthError) as caught:
        liscio.check()
    assert "not-the-right-token-42" not in str(caught.value) + repr(liscio) + caplog.text
    assert caught.value.status == 401


def test_malformed_replies_are_clear_errors():
    fake = FakeLiscio()
    rid = fake.add("accounts", name="Acme")
    fake.faults = [("GET", "/v1/accounts", httpx.Response(200, text="oops"))]
    with pytest.raises(ServiceError, match="not JSON"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))
    fake.faults = [("GET", "/v1/accounts", httpx.Response(200, json={"data": []}))]
    with pytest.raises(ServiceError, match="lacks 'items'"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))
    fake.faults = [("GET", rid, httpx.Response(200, json={"name": "x"}))]
    with pytest.raises(ServiceError, match="has no id"):
        connector(fake).get_record(Kind.ACCOUNTS, rid)
