"""The IPM connector against a small stateful Karbon fake that checks every call against the spec.

Every request the connector sends is validated against Karbon's ``KarbonAPI.json`` inside the
fake, and so is every reply the fake builds, so the client is tested against the spec and not
against the fake's idea of it. Tests assert on what the fake holds afterwards.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

from pmtools.connectors.base import Connector
from pmtools.connectors.http import RetryPolicy
from pmtools.connectors.karbon import IpmConnector
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.errors import AuthError, DuplicateCreate, NotFound, RecordError, ServiceError

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "karbon" / "KarbonAPI.json"
HOST = "https://api.karbonhq.com"
TOKEN = "11111111-2222-4333-8444-555555555555"
KEY = "eyJhbGciOiJIUzI1NiJ9.tenant-access-key.sig"


def _load_spec() -> OpenAPI:
    spec = json.loads(SPEC_PATH.read_text())
    # The spec caps $skip at 100 on the list endpoints, yet lists page past 200 rows by
    # following @odata.nextLink ($skip=200, ...): that cap cannot hold, so it is lifted here.
    spec["components"]["parameters"]["SkipRecords"]["schema"].pop("maximum", None)
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


SPEC = _load_spec()
UDI_PATH = re.compile(
    r"^/v3/(Organizations|Contacts)/Get(?:Organization|Contact)"
    r"ByUserDefinedIdentifier\(UserDefinedIdentifier='(.*)'\)$"
)
STAMP = "2026-01-01T00:00:{:02d}.1234567Z"


class FakeKarbon:
    """Karbon v3's organizations, contacts and cards in memory, behind httpx.MockTransport."""

    def __init__(self, *, prefix: str = "") -> None:
        self.prefix = prefix
        self.entities: dict[str, dict[str, Any]] = {}  # key → entity (without cards)
        self.collection: dict[str, str] = {}  # key → "Organizations" | "Contacts"
        self.cards: dict[str, dict[str, Any]] = {}
        self.link_style = "absolute"  # absolute | relative | root | none | loop
        self.faults: list[tuple[str, str, Any]] = []  # (method, path regex, action)
        self.conflicts: dict[str, Any] = {}  # card key → a change made "by another request"
        self.requests: list[tuple[str, str]] = []
        self.clock = 0
        self.next_key = 0

    # -- state helpers used by tests -------------------------------------------------------

    def add(self, collection: str, card: dict[str, Any] | None = None, **fields: Any) -> str:
        """Add an organization or contact (with a primary card unless ``card`` is None)."""
        key = self._key("O" if collection == "Organizations" else "C")
        entity = {"RestrictionLevel": "Public", "UserDefinedIdentifier": "", **fields}
        self.entities[key] = entity
        self.collection[key] = collection
        self._touch(key)
        if card is not None:
            card_key = self._key("B")
            self.cards[card_key] = {
                "BusinessCardKey": card_key,
                "IsPrimaryCard": True,
                "EntityType": _entity_type(collection),
                "EntityKey": key,
                **card,
            }
        return key

    def card_of(self, key: str) -> dict[str, Any] | None:
        """The entity's primary card as the fake holds it."""
        return next(
            (c for c in self.cards.values() if c["EntityKey"] == key and c.get("IsPrimaryCard")),
            None,
        )

    def count(self, method: str, pattern: str = "") -> int:
        """Requests seen of ``method`` whose path matches ``pattern``."""
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    # -- the transport ------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        assert path.startswith(self.prefix + "/v3/"), path
        path = path[len(self.prefix) :]
        self.requests.append((request.method, path))
        assert "gzip" in request.headers.get("Accept-Encoding", "")
        spec_request = MockRequest(
            HOST,
            request.method,
            path,
            args=list(request.url.params.multi_items()),
            headers=dict(request.headers),
            data=request.content or None,
            content_type=request.headers.get("Content-Type", "application/json"),
        )
        SPEC.validate_request(spec_request)
        if (
            request.headers.get("Authorization") != f"Bearer {TOKEN}"
            or request.headers.get("AccessKey") != KEY
        ):
            response = self._json(
                401, {"error": {"statusCode": "401", "message": "JWT not present."}}
            )
        else:
            response = self._fault(request, path) or self._route(request, path)
        if not response.extensions.get("malformed"):  # deliberately off-spec replies aside
            self._validate_reply(spec_request, response)
        return response

    def _validate_reply(self, spec_request: MockRequest, response: httpx.Response) -> None:
        reply = MockResponse(
            response.content,
            response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("Content-Type", ""),
        )
        try:
            SPEC.validate_response(spec_request, reply)
        except ResponseNotFound:
            if response.status_code < 500 and response.status_code != 429:
                raise  # only injected server faults may be undocumented for an operation

    def _fault(self, request: httpx.Request, path: str) -> httpx.Response | None:
        for i, (method, pattern, action) in enumerate(self.faults):
            if method == request.method and re.search(pattern, path):
                del self.faults[i]
                if action == "timeout":
                    raise httpx.ReadTimeout("timed out", request=request)
                if action == "drop-after-commit":
                    self._route(request, path)
                    raise httpx.RemoteProtocolError("Server disconnected", request=request)
                if action == "not-json":
                    return httpx.Response(
                        200,
                        text="<html>busy</html>",
                        headers={"Content-Type": "text/html"},
                        extensions={"malformed": True},
                    )
                if isinstance(action, httpx.Response):
                    action.extensions["malformed"] = True
                    return action
                status, body, headers = action
                return self._json(status, body, headers)
        return None

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        method = request.method
        body = json.loads(request.content) if request.content else None
        if path == "/v3/TenantSettings":
            return self._json(
                200,
                {
                    "TenantKey": "T3N4NT",
                    "ContactTypes": [{"Name": "Client", "ContactTypeKey": "ct1"}],
                },
            )
        if match := UDI_PATH.match(path):
            udi = unquote(match.group(2)).replace("''", "'")
            key = next(
                (
                    k
                    for k, e in self.entities.items()
                    if self.collection[k] == match.group(1)
                    and e["UserDefinedIdentifier"].casefold() == udi.casefold()
                ),
                None,
            )
            if key is None:
                return self._error(
                    404, "4004", "No Organization found for provided UserDefinedIdentifer"
                )
            return self._json(200, self._entity(key, request))
        parts = path.split("/")[2:]  # ["Organizations"] or ["Organizations", key]
        if parts[0] in ("Organizations", "Contacts") and len(parts) == 1:
            if method == "GET":
                return self._list(parts[0], request)
            return self._create(parts[0], body)
        if parts[0] in ("Organizations", "Contacts"):
            key = unquote(parts[1])
            if self.collection.get(key) != parts[0]:
                return self._error(404, "4004", f"No organization exists with a key of {key}.")
            if method == "GET":
                return self._json(200, self._entity(key, request))
            if method == "PUT":
                return self._replace_entity(key, body)
        if parts[0] == "BusinessCards":
            key = unquote(parts[1])
            if key not in self.cards:
                return self._json(404, {"statusCode": "404", "message": "Resource not found"})
            if method == "GET":
                return self._json(200, {"@odata.context": "x", **_reply_card(self.cards[key])})
            return self._replace_card(key, body)
        raise AssertionError(f"unrouted {method} {path}")

    def _list(self, collection: str, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        top = int(params.get("$top", "100"))
        if top > 100:
            return self._error(
                400,
                "4002",
                "The limit of '100' for Top query has been "
                f"exceeded. The value from the incoming request "
                f"is '{top}'.",
            )
        skip = int(params.get("$skip", "0"))
        keys = [k for k, c in self.collection.items() if c == collection]
        order = params.get("$orderby", "")
        if order.startswith("LastModifiedDateTime"):
            keys.sort(
                key=lambda k: self.entities[k]["LastModifiedDateTime"],
                reverse=order.endswith("desc"),
            )
        else:
            keys.sort(key=lambda k: (_full_name(self.entities[k]).casefold(), k))
        page = keys[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"{HOST}/v3/$metadata#{collection}",
            "@odata.count": len(keys),
            "value": [self._row(k) for k in page],
        }
        if skip + top < len(keys) or self.link_style == "loop":
            nxt = skip + top if self.link_style != "loop" else top
            query = f"$top={top}&$orderby={order.replace(' ', '%20')}&$skip={nxt}"
            base = f"{HOST}{self.prefix}/v3/{collection}"
            body["@odata.nextLink"] = {
                "absolute": f"{base}?{query}",
                "loop": f"{base}?{query}",
                "relative": f"{collection}?{query}",
                "root": f"/v3/{collection}?{query}",
            }.get(self.link_style)
            if body["@odata.nextLink"] is None:
                del body["@odata.nextLink"]
        return self._json(200, body)

    def _row(self, key: str) -> dict[str, Any]:
        entity, card = self.entities[key], self.card_of(key) or {}
        emails, phones = card.get("EmailAddresses") or [], card.get("PhoneNumbers") or []
        row = {
            "FullName": _full_name(entity),
            "LastModifiedDateTime": entity["LastModifiedDateTime"],
            "EmailAddress": emails[0] if emails else "",
            "PhoneNumber": phones[0]["Number"] if phones else None,
            "UserDefinedIdentifier": entity["UserDefinedIdentifier"] or None,
        }
        if self.collection[key] == "Organizations":
            sites = card.get("WebSites") or []
            return {
                "@odata.type": "#KarbonService.OrganizationSummaryDTO",
                "OrganizationKey": key,
                **row,
                "Website": sites[0] if sites else "",
            }
        row["UserDefinedIdentifier"] = row["UserDefinedIdentifier"] or ""
        return {
            "@odata.type": "#KarbonService.ContactSummaryDTO",
            "ContactKey": key,
            **row,
            "RoleOrTitle": card.get("RoleOrTitle") or "",
            "Address": None,
        }

    def _entity(self, key: str, request: httpx.Request) -> dict[str, Any]:
        collection = self.collection[key]
        out = {
            "@odata.context": f"{HOST}/v3/$metadata#{collection}/$entity",
            "@odata.type": f"#KarbonService.{_entity_type(collection)}DTO",
            "OrganizationKey" if collection == "Organizations" else "ContactKey": key,
            **copy.deepcopy(self.entities[key]),
        }
        if request.url.params.get("$expand") == "BusinessCards":
            out["BusinessCards"] = [
                _reply_card(c) for c in self.cards.values() if c["EntityKey"] == key
            ]
        return out

    def _create(self, collection: str, body: dict[str, Any]) -> httpx.Response:
        udi = body.get("UserDefinedIdentifier") or ""
        if udi and any(
            e["UserDefinedIdentifier"].casefold() == udi.casefold() for e in self.entities.values()
        ):
            return self._error(500, "5001", "User defined identifier already in use")
        fields = {k: v for k, v in body.items() if k != "BusinessCards"}
        key = self.add(collection, None, **fields)
        for card in body.get("BusinessCards") or []:
            card_key = self._key("B")
            self.cards[card_key] = {
                **card,
                "BusinessCardKey": card_key,
                "EntityKey": key,
                "EntityType": _entity_type(collection),
            }
        reply = {k: v for k, v in self._entity(key, _NO_EXPAND).items()}
        location = f"{HOST}/v3/{collection}('{key}')/KarbonService.{_entity_type(collection)}DTO"
        return self._json(201, reply, {"Location": location})

    def _replace_entity(self, key: str, body: dict[str, Any]) -> httpx.Response:
        collection = self.collection[key]
        cards = body.pop("BusinessCards", None)
        kept = {k: self.entities[key][k] for k in ("RestrictionLevel",) if k in self.entities[key]}
        self.entities[key] = {"UserDefinedIdentifier": "", **kept, **body}
        if cards is not None:
            for old in [k for k, c in self.cards.items() if c["EntityKey"] == key]:
                if not any(c.get("BusinessCardKey") == old for c in cards):
                    del self.cards[old]
            for card in cards:
                card_key = card.get("BusinessCardKey") or self._key("B")
                self.cards[card_key] = {
                    **card,
                    "BusinessCardKey": card_key,
                    "EntityKey": key,
                    "EntityType": _entity_type(collection),
                }
        self._touch(key)
        return httpx.Response(204)

    def _replace_card(self, key: str, body: dict[str, Any]) -> httpx.Response:
        if key in self.conflicts:
            change = self.conflicts.pop(key)
            change(self.cards[key])  # another request got there first
            return self._error(
                409,
                "4020",
                "The resource was modified by another request. "
                "Refetch the latest version and retry.",
            )
        old = self.cards[key]
        assert body.get("EntityType") == old["EntityType"], "a card's EntityType must match"
        # PUT replaces: whatever the body leaves out is gone; IsPrimaryCard cannot change
        self.cards[key] = {
            **body,
            "BusinessCardKey": key,
            "EntityKey": old["EntityKey"],
            "IsPrimaryCard": old["IsPrimaryCard"],
        }
        self._touch(old["EntityKey"])
        return httpx.Response(204)

    def _touch(self, key: str) -> None:
        self.clock += 1
        self.entities[key]["LastModifiedDateTime"] = STAMP.format(self.clock % 60).replace(
            "00:00:", f"00:{self.clock // 60:02d}:"
        )

    def _key(self, letter: str) -> str:
        self.next_key += 1
        return f"{letter}{self.next_key:05d}xyz"

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    def _error(self, status: int, code: str, message: str) -> httpx.Response:
        return self._json(status, {"error": {"code": code, "message": message}})


_NO_EXPAND = httpx.Request("GET", HOST)


def _entity_type(collection: str) -> str:
    return "Organization" if collection == "Organizations" else "Contact"


def _full_name(entity: dict[str, Any]) -> str:
    if "FullName" in entity:
        return entity["FullName"]
    return " ".join(entity[n] for n in ("FirstName", "MiddleName", "LastName") if entity.get(n))


def _reply_card(card: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(card)


class Sleeper:
    """An injected sleep that records the waits and advances an injected clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def connector(
    fake: FakeKarbon,
    sleeper: Sleeper | None = None,
    *,
    token: str = TOKEN,
    key: str = KEY,
    rate_limit: float = 0,
    **kw: Any,
) -> IpmConnector:
    sleeper = sleeper or Sleeper()
    return IpmConnector(
        HOST + fake.prefix,
        token,
        key,
        transport=httpx.MockTransport(fake),
        rate_limit=rate_limit,
        sleep=sleeper.sleep,
        clock=sleeper.clock,
        **kw,
    )


RICH_CARD = {
    "EmailAddresses": ["first@acme.example", "second@acme.example"],
    "PhoneNumbers": [
        {"PhoneNumberKey": "p1", "Number": "555-0100", "CountryCode": "US", "Label": "Office"},
        {"PhoneNumberKey": "p2", "Number": "555-0199", "Label": "Fax"},
    ],
    "WebSites": ["www.acme.example", "blog.acme.example"],
    "Addresses": [
        {
            "AddressKey": "a1",
            "AddressLines": "PO Box 9",
            "City": "Austin",
            "StateProvinceCounty": "TX",
            "ZipCode": "78701",
            "CountryCode": "US",
            "Label": "Mailing",
        },
        {
            "AddressKey": "a2",
            "AddressLines": "1 Main St\nSuite 5",
            "City": "Austin",
            "StateProvinceCounty": "TX",
            "ZipCode": "78702",
            "CountryCode": "US",
            "Label": "Physical",
        },
    ],
    "FacebookLink": "facebook.com/acme",
    "LinkedInLink": "linkedin.com/acme",
    "TwitterLink": "twitter.com/acme",
    "SkypeLink": "skype.com/acme",
}


# -- reading -----------------------------------------------------------------------------------


def test_is_a_connector_and_checks_the_tenant():
    ipm = connector(FakeKarbon())
    assert isinstance(ipm, Connector) and ipm.side is Side.IPM
    assert ipm.check() == "IPM tenant T3N4NT"


@pytest.mark.parametrize("style", ["absolute", "relative", "root", "none"])
def test_lists_every_page_whatever_the_next_link_looks_like(style):
    fake = FakeKarbon(prefix="/karbon")
    for i in range(250):
        fake.add(
            "Organizations", {"PhoneNumbers": [{"Number": f"555-{i:04d}"}]}, FullName=f"Org {i:03d}"
        )
    fake.link_style = style
    records = list(connector(fake).iter_records(Kind.ACCOUNTS))
    assert [r.name for r in records] == [f"Org {i:03d}" for i in range(250)]
    assert records[7].phone == "555-0007" and not records[7].details_complete
    assert fake.count("GET", "^/v3/Organizations$") == 3


def test_without_links_a_full_last_page_ends_by_the_count():
    fake = FakeKarbon()
    for i in range(200):
        fake.add(
            "Contacts", {"EmailAddresses": [f"p{i}@x.example"]}, FirstName="P", LastName=f"{i:03d}"
        )
    fake.link_style = "none"
    assert len(list(connector(fake).iter_records(Kind.CONTACTS))) == 200
    assert fake.count("GET", "^/v3/Contacts$") == 2  # @odata.count says there is no third


def test_a_repeated_next_link_is_a_loop():
    fake = FakeKarbon()
    for i in range(250):
        fake.add("Organizations", {}, FullName=f"Org {i:03d}")
    fake.link_style = "loop"
    with pytest.raises(ServiceError, match="paging loop"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))


def test_people_rows_map_to_complete_records():
    fake = FakeKarbon()
    fake.add(
        "Contacts",
        {"EmailAddresses": ["ann@x.example", "a2@x.example"], "RoleOrTitle": "CFO"},
        FirstName="Ann",
        LastName="Lee",
        UserDefinedIdentifier="liscio:c1",
    )
    (person,) = connector(fake).iter_records(Kind.CONTACTS)
    assert (person.name, person.email, person.title, person.external_id) == (
        "Ann Lee",
        "ann@x.example",
        "CFO",
        "liscio:c1",
    )
    assert person.details_complete and person.modified_at


def test_incremental_pull_stops_at_the_mark():
    fake = FakeKarbon()
    keys = [fake.add("Organizations", {}, FullName=f"Org {i:03d}") for i in range(250)]
    mark = fake.entities[keys[-1]]["LastModifiedDateTime"]
    fake._touch(keys[3])
    fake._touch(keys[100])
    records = list(connector(fake).iter_records(Kind.ACCOUNTS, modified_since=mark))
    assert {r.name for r in records} == {"Org 003", "Org 100", "Org 249"}
    assert fake.count("GET", "^/v3/Organizations$") == 1


def test_load_details_reads_organization_cards_only_where_needed():
    fake = FakeKarbon()
    acme = fake.add("Organizations", copy.deepcopy(RICH_CARD), FullName="Acme")
    fake.add("Organizations", None, FullName="No Card Inc")
    ipm = connector(fake)
    rows = list(ipm.iter_records(Kind.ACCOUNTS))
    loaded = {r.name: r for r in ipm.load_details(Kind.ACCOUNTS, rows)}
    assert loaded["Acme"].address == Address(
        line1="1 Main St",
        line2="Suite 5",
        city="Austin",
        state="TX",
        postal_code="78702",
        country="US",
    )
    assert (loaded["Acme"].phone, loaded["Acme"].website) == ("555-0100", "www.acme.example")
    assert loaded["Acme"].details_complete and loaded["No Card Inc"].details_complete
    assert loaded["No Card Inc"].address is None and loaded["Acme"].id == acme
    people = [Record(side=Side.IPM, kind=Kind.CONTACTS, id="C1", name="A B")]
    before = len(fake.requests)
    assert ipm.load_details(Kind.CONTACTS, people) == people and len(fake.requests) == before


def test_get_record_and_not_found():
    fake = FakeKarbon()
    key = fake.add(
        "Contacts",
        {"EmailAddresses": ["x@y.example"], "RoleOrTitle": "Owner"},
        FirstName="Jo",
        MiddleName="Q",
        LastName="Public",
    )
    person = connector(fake).get_record(Kind.CONTACTS, key)
    assert (person.first_name, person.middle_name, person.last_name, person.name) == (
        "Jo",
        "Q",
        "Public",
        "Jo Q Public",
    )
    assert (person.email, person.title) == ("x@y.example", "Owner")
    with pytest.raises(NotFound):
        connector(fake).get_record(Kind.CONTACTS, "nope")


# -- writing -----------------------------------------------------------------------------------


def test_update_keeps_everything_else_on_the_card():
    fake = FakeKarbon()
    key = fake.add("Organizations", copy.deepcopy(RICH_CARD), FullName="Acme")
    new = Address(
        line1="9 Elm Rd",
        line2="Floor 2",
        city="Dallas",
        state="TX",
        postal_code="75001",
        country="United States",
    )
    record = connector(fake).update_fields(
        Kind.ACCOUNTS, key, {"address": new, "phone": "555-0111", "website": "acme.example"}
    )
    card = fake.card_of(key)
    assert card["Addresses"][0] == RICH_CARD["Addresses"][0]  # the mailing address untouched
    assert card["Addresses"][1] == {
        "AddressKey": "a2",
        "Label": "Physical",
        "AddressLines": "9 Elm Rd\nFloor 2",
        "City": "Dallas",
        "StateProvinceCounty": "TX",
        "ZipCode": "75001",
        "CountryCode": "US",
    }
    assert card["PhoneNumbers"] == [
        {"PhoneNumberKey": "p1", "Number": "555-0111", "CountryCode": "US", "Label": "Office"},
        RICH_CARD["PhoneNumbers"][1],
    ]
    assert card["WebSites"] == ["acme.example", "blog.acme.example"]
    for kept in ("EmailAddresses", "FacebookLink", "LinkedInLink", "TwitterLink", "SkypeLink"):
        assert card[kept] == RICH_CARD[kept]
    assert record.phone == "555-0111" and record.address.line2 == "Floor 2"


def test_update_person_email_replaces_only_the_first():
    fake = FakeKarbon()
    key = fake.add(
        "Contacts",
        {
            "EmailAddresses": ["old@x.example", "home@x.example"],
            "RoleOrTitle": "CEO",
            "OrganizationKey": "O9",
            "LinkedInLink": "linkedin.com/ann",
        },
        FirstName="Ann",
        LastName="Lee",
    )
    record = connector(fake).update_fields(
        Kind.CONTACTS, key, {"email": "new@x.example", "title": "Partner"}
    )
    card = fake.card_of(key)
    assert card["EmailAddresses"] == ["new@x.example", "home@x.example"]
    assert (card["RoleOrTitle"], card["OrganizationKey"], card["LinkedInLink"]) == (
        "Partner",
        "O9",
        "linkedin.com/ann",
    )
    assert (record.email, record.title, record.name) == ("new@x.example", "Partner", "Ann Lee")


def test_cards_read_by_load_details_save_the_read_before_a_write():
    fake = FakeKarbon()
    key = fake.add("Organizations", copy.deepcopy(RICH_CARD), FullName="Acme")
    ipm = connector(fake)
    ipm.load_details(Kind.ACCOUNTS, list(ipm.iter_records(Kind.ACCOUNTS)))
    reads = fake.count("GET", "/Organizations/")
    ipm.update_fields(Kind.ACCOUNTS, key, {"website": "new.example"})
    assert fake.count("GET", "/Organizations/") == reads and fake.count("PUT") == 1
    ipm.update_fields(Kind.ACCOUNTS, key, {"phone": "555-0123"})  # cache used once only
    assert fake.count("GET", "/Organizations/") == reads + 1
    stats = ipm.stats()
    assert [stats.count(kind=k) for k in ("list", "details", "card", "write")] == [1, 1, 1, 2]
    assert fake.card_of(key)["WebSites"][0] == "new.example"


def test_a_stale_cached_card_is_read_again():
    fake = FakeKarbon()
    sleeper = Sleeper()
    key = fake.add("Organizations", copy.deepcopy(RICH_CARD), FullName="Acme")
    ipm = connector(fake, sleeper, card_ttl=60)
    ipm.get_record(Kind.ACCOUNTS, key)
    sleeper.now += 61
    ipm.update_fields(Kind.ACCOUNTS, key, {"website": "new.example"})
    assert fake.count("GET", "/Organizations/") == 2


def test_conflict_4020_refetches_reapplies_and_resends():
    fake = FakeKarbon()
    key = fake.add("Contacts", {"EmailAddresses": ["a@x.example"]}, FirstName="A", LastName="B")
    card_key = fake.card_of(key)["BusinessCardKey"]
    fake.conflicts[card_key] = lambda card: card["EmailAddresses"].append("added@x.example")
    connector(fake).update_fields(Kind.CONTACTS, key, {"email": "z@x.example"})
    assert fake.card_of(key)["EmailAddresses"] == ["z@x.example", "added@x.example"]
    assert fake.count("PUT") == 2


def test_conflicts_without_end_become_a_record_error():
    fake = FakeKarbon()
    key = fake.add("Contacts", {"EmailAddresses": ["a@x.example"]}, FirstName="A", LastName="B")
    card_key = fake.card_of(key)["BusinessCardKey"]
    fake.faults = [
        ("PUT", "BusinessCards", (409, {"error": {"code": "4020", "message": "m"}}, None))
    ] * 10
    with pytest.raises(RecordError) as caught:
        connector(fake).update_fields(Kind.CONTACTS, key, {"email": "z@x.example"})
    assert caught.value.status == 409 and fake.card_of(key)["BusinessCardKey"] == card_key


def test_an_entity_without_a_card_gets_one_and_keeps_its_other_values():
    fake = FakeKarbon()
    key = fake.add(
        "Organizations",
        None,
        FullName="Bare LLC",
        ContactType="Client",
        EntityDescription={"Text": "keep me"},
        UserDefinedIdentifier="U1",
    )
    connector(fake).update_fields(Kind.ACCOUNTS, key, {"phone": "555-0000"})
    card = fake.card_of(key)
    assert card["PhoneNumbers"] == [{"Number": "555-0000", "Label": "Work"}]
    entity = fake.entities[key]
    assert (
        entity["FullName"],
        entity["ContactType"],
        entity["EntityDescription"],
        entity["UserDefinedIdentifier"],
    ) == ("Bare LLC", "Client", {"Text": "keep me"}, "U1")


def test_an_unchanged_card_is_not_sent():
    fake = FakeKarbon()
    key = fake.add("Organizations", copy.deepcopy(RICH_CARD), FullName="Acme")
    connector(fake).update_fields(Kind.ACCOUNTS, key, {"website": "www.acme.example"})
    assert fake.count("PUT") == 0


def test_a_phone_karbon_would_refuse_is_a_record_error():
    fake = FakeKarbon()
    key = fake.add("Organizations", {}, FullName="Acme")
    with pytest.raises(RecordError, match="20 characters"):
        connector(fake).update_fields(Kind.ACCOUNTS, key, {"phone": "1" * 25})


def test_a_country_that_names_no_country_is_a_record_error_naming_the_record():
    fake = FakeKarbon()
    key = fake.add("Organizations", {}, FullName="Acme")
    with pytest.raises(RecordError, match="'Acme'.*'Atlantis'"):
        connector(fake).update_fields(
            Kind.ACCOUNTS, key, {"address": Address(city="Poseidonia", country="Atlantis")}
        )
    assert fake.count("PUT") == 0
    connector(fake).update_fields(
        Kind.ACCOUNTS, key, {"address": Address(city="Berlin", country="Deutschland")}
    )
    assert fake.card_of(key)["Addresses"][0]["CountryCode"] == "DE"
    with pytest.raises(RecordError, match="'New Co'.*'Atlantis'"):
        connector(fake).create_record(
            Kind.ACCOUNTS,
            Record(
                side=Side.LISCIO,
                kind=Kind.ACCOUNTS,
                id="L1",
                name="New Co",
                address=Address(city="Poseidonia", country="Atlantis"),
            ),
            external_id="liscio:a1",
        )
    assert fake.count("POST") == 0


def _draft(kind: Kind, name: str, **fields: Any) -> Record:
    return Record(side=Side.LISCIO, kind=kind, id="L1", name=name, **fields)


def test_create_organization_and_person_with_primary_cards():
    fake = FakeKarbon()
    ipm = connector(fake)
    org = ipm.create_record(
        Kind.ACCOUNTS,
        _draft(
            Kind.ACCOUNTS,
            "New Co",
            phone="555-0001",
            website="new.example",
            address=Address(
                line1="1 A St", city="Reno", state="NV", postal_code="89501", country="US"
            ),
        ),
        external_id="liscio:a1",
    )
    person = ipm.create_record(
        Kind.CONTACTS,
        _draft(
            Kind.CONTACTS,
            "Mary Ann Smith",
            first_name="Mary",
            middle_name="Ann",
            last_name="Smith",
            email="mary@x.example",
            title="CPA",
        ),
        external_id="liscio:c1",
    )
    assert fake.entities[org.id]["FullName"] == "New Co"
    assert fake.entities[org.id]["UserDefinedIdentifier"] == "liscio:a1"
    card = fake.card_of(org.id)
    assert card["IsPrimaryCard"] and card["PhoneNumbers"][0]["Number"] == "555-0001"
    assert card["Addresses"][0]["AddressLines"] == "1 A St"
    assert {k: fake.entities[person.id][k] for k in ("FirstName", "MiddleName", "LastName")} == {
        "FirstName": "Mary",
        "MiddleName": "Ann",
        "LastName": "Smith",
    }
    assert fake.card_of(person.id)["EmailAddresses"] == ["mary@x.example"]
    assert person.name == "Mary Ann Smith" and person.external_id == "liscio:c1"
    assert org.website == "new.example"


def test_duplicate_identifier_raises_and_the_lookup_links_it():
    fake = FakeKarbon()
    existing = fake.add("Organizations", {}, FullName="Old", UserDefinedIdentifier="O'Brien:1")
    ipm = connector(fake)
    with pytest.raises(DuplicateCreate):
        ipm.create_record(Kind.ACCOUNTS, _draft(Kind.ACCOUNTS, "Old"), external_id="O'Brien:1")
    before = len(fake.requests)
    assert ipm.find_by_external_id(Kind.ACCOUNTS, "O'Brien:1").id == existing
    assert len(fake.requests) == before  # remembered from the create's own look-up
    assert ipm.find_by_external_id(Kind.ACCOUNTS, "O'Brien:1").id == existing
    assert ipm.find_by_external_id(Kind.CONTACTS, "nobody") is None
    assert len([e for e in fake.entities.values() if e["FullName"] == "Old"]) == 1


def test_a_create_whose_reply_was_lost_is_not_made_twice():
    fake = FakeKarbon()
    fake.faults = [("POST", "Contacts", "drop-after-commit")]
    ipm = connector(fake)
    draft = _draft(Kind.CONTACTS, "Lee, Ann")
    with pytest.raises(DuplicateCreate):
        ipm.create_record(Kind.CONTACTS, draft, external_id="liscio:c7")
    found = ipm.find_by_external_id(Kind.CONTACTS, "liscio:c7")
    assert (found.first_name, found.last_name) == ("Ann", "Lee")
    assert list(fake.collection.values()).count("Contacts") == 1


@pytest.mark.parametrize(
    "fault",
    [
        "timeout",
        (500, {"error": {"code": "5001", "message": "Unexpected Internal Error."}}, None),
        (503, {"statusCode": "503", "message": "busy"}, None),
    ],
)
def test_a_create_that_failed_uncommitted_is_sent_again_after_a_look(fault):
    fake = FakeKarbon()
    fake.faults = [("POST", "Organizations", fault)]
    sleeper = Sleeper()
    org = connector(fake, sleeper).create_record(
        Kind.ACCOUNTS, _draft(Kind.ACCOUNTS, "Co"), external_id="liscio:a9"
    )
    assert fake.entities[org.id]["UserDefinedIdentifier"] == "liscio:a9"
    assert fake.count("POST") == 2 and fake.count("GET", "ByUserDefinedIdentifier") == 1
    assert len(fake.entities) == 1


def test_a_person_without_two_names_is_refused_before_sending():
    fake = FakeKarbon()
    with pytest.raises(RecordError, match="first and a last name"):
        connector(fake).create_record(Kind.CONTACTS, _draft(Kind.CONTACTS, "Cher"), external_id="x")
    assert fake.requests == []


# -- failures, retries, pacing, secrets ------------------------------------------------------


def test_429_waits_retry_after_and_goes_on():
    fake = FakeKarbon()
    fake.add("Organizations", {}, FullName="Acme")
    limited = (
        429,
        {"statusCode": "429", "message": "Rate limit is exceeded. Try again in 7 seconds."},
        {"Retry-After": "7"},
    )
    fake.faults = [("GET", "Organizations", limited), ("GET", "Organizations", limited)]
    sleeper = Sleeper()
    ipm = connector(fake, sleeper)
    assert [r.name for r in ipm.iter_records(Kind.ACCOUNTS)] == ["Acme"]
    assert sleeper.waits == [7, 7]
    stats = ipm.stats()
    assert (stats.rate_limited, stats.retries, stats.requests) == (2, 2, 3)


def test_server_errors_and_timeouts_are_retried_on_reads():
    fake = FakeKarbon()
    key = fake.add("Organizations", {}, FullName="Acme")
    fake.faults = [
        ("GET", "Organizations/", "timeout"),
        ("GET", "Organizations/", (500, {"error": {"code": "5001", "message": "x"}}, None)),
    ]
    sleeper = Sleeper()
    assert connector(fake, sleeper).get_record(Kind.ACCOUNTS, key).name == "Acme"
    assert len(sleeper.waits) == 2 and sleeper.waits[1] > sleeper.waits[0]


def test_reads_give_up_with_a_service_error():
    fake = FakeKarbon()
    fake.faults = [("GET", "TenantSettings", "timeout")] * 3
    ipm = connector(fake, retry=RetryPolicy(attempts=3))
    with pytest.raises(ServiceError, match="ReadTimeout.*after 3 tries"):
        ipm.check()


def test_pacing_keeps_to_the_rate_limit():
    fake = FakeKarbon()
    for i in range(30):
        fake.add("Organizations", {}, FullName=f"Org {i}")
    sleeper = Sleeper()
    ipm = connector(fake, sleeper, rate_limit=120)
    rows = list(ipm.iter_records(Kind.ACCOUNTS))
    ipm.load_details(Kind.ACCOUNTS, rows)
    stats = ipm.stats()
    assert stats.requests == 31
    assert 0.9 <= stats.utilisation(120) <= 1.0


def test_wrong_credentials_are_an_auth_error_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeKarbon()
    bad = connector(fake, token="99999999-aaaa-4bbb-8ccc-dddddddddddd", key="wrong-key-value")
    with pytest.raises(AuthError) as caught:
        bad.check()
    text = str(caught.value) + repr(caught.value) + repr(bad) + caplog.text
    for secret in ("99999999-aaaa-4bbb-8ccc-dddddddddddd", "wrong-key-value"):
        assert secret not in text
    assert caught.value.status == 401 and "TenantSettings" in str(caught.value)


def test_secrets_echoed_by_the_service_are_scrubbed(caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeKarbon()
    fake.faults = [
        (
            "GET",
            "Organizations",
            (400, {"error": {"code": "4002", "message": f"bad key {KEY} for {TOKEN}"}}, None),
        )
    ]
    ipm = connector(fake)
    with pytest.raises(RecordError) as caught:
        list(ipm.iter_records(Kind.ACCOUNTS))
    assert KEY not in str(caught.value) and TOKEN not in str(caught.value)
    assert KEY not in caplog.text and TOKEN not in caplog.text and "***" in str(caught.value)


def test_malformed_replies_are_clear_errors():
    fake = FakeKarbon()
    key = fake.add("Organizations", {}, FullName="Acme")
    fake.faults = [("GET", "^/v3/Organizations$", "not-json")]
    with pytest.raises(ServiceError, match="not JSON"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))
    fake.faults = [("GET", "^/v3/Organizations$", httpx.Response(200, json={"rows": []}))]
    with pytest.raises(ServiceError, match="no 'value' list"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))
    fake.faults = [
        (
            "GET",
            "^/v3/Organizations$",
            httpx.Response(
                200, json={"@odata.context": "c", "@odata.count": 1, "value": [{"FullName": "x"}]}
            ),
        )
    ]
    with pytest.raises(ServiceError, match="no OrganizationKey"):
        list(connector(fake).iter_records(Kind.ACCOUNTS))
    fake.faults = [("GET", "Organizations/", httpx.Response(200, json={"FullName": "x"}))]
    with pytest.raises(RecordError, match="no OrganizationKey"):
        connector(fake).get_record(Kind.ACCOUNTS, key)


def test_a_next_link_to_another_server_is_refused():
    fake = FakeKarbon()
    for i in range(120):
        fake.add("Organizations", {}, FullName=f"Org {i:03d}")
    ipm = IpmConnector(
        "https://ipm.internal.example",
        TOKEN,
        KEY,
        rate_limit=0,
        transport=httpx.MockTransport(_RehostedKarbon(fake)),
    )
    with pytest.raises(ServiceError, match="another server"):
        list(ipm.iter_records(Kind.ACCOUNTS))


class _RehostedKarbon:
    """The fake served at another host, still answering with api.karbonhq.com links."""

    def __init__(self, fake: FakeKarbon) -> None:
        self.fake = fake

    def __call__(self, request: httpx.Request) -> httpx.Response:
        moved = httpx.Request(
            request.method,
            request.url.copy_with(scheme="https", host="api.karbonhq.com"),
            headers=request.headers,
            content=request.content,
        )
        return self.fake(moved)


def test_a_person_without_a_card_gets_one_and_keeps_their_names():
    fake = FakeKarbon()
    key = fake.add(
        "Contacts", None, FirstName="Jo", MiddleName="Q", LastName="Public", Salutation="Dr"
    )
    record = connector(fake).update_fields(Kind.CONTACTS, key, {"email": "jo@x.example"})
    assert fake.card_of(key)["EmailAddresses"] == ["jo@x.example"]
    assert {
        k: fake.entities[key][k] for k in ("FirstName", "MiddleName", "LastName", "Salutation")
    } == {"FirstName": "Jo", "MiddleName": "Q", "LastName": "Public", "Salutation": "Dr"}
    assert record.email == "jo@x.example"


def test_load_details_keeps_going_past_a_record_that_is_gone():
    fake = FakeKarbon()
    fake.add("Organizations", {"WebSites": ["a.example"]}, FullName="A")
    gone = fake.add("Organizations", {"WebSites": ["b.example"]}, FullName="B")
    ipm = connector(fake)
    rows = list(ipm.iter_records(Kind.ACCOUNTS))
    del fake.collection[gone]
    loaded = ipm.load_details(Kind.ACCOUNTS, rows)
    assert [(r.name, r.details_complete) for r in loaded] == [("A", True), ("B", False)]
