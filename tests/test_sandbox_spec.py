"""Every reply of the simulator validates against the published contracts.

Walks every implemented operation of both services — successes and the error replies
(400, 401, 403, 404, 405, 409, 429, 500) — over real HTTP and validates each reply against
Karbon's ``KarbonAPI.json`` or the repo's ``docs/liscio-api.yaml`` with openapi-core.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from pmtools import config
from pmtools.sandbox.server import start_sandbox

ROOT = Path(__file__).resolve().parent.parent
KARBON_SPEC = ROOT / "docs" / "karbon" / "KarbonAPI.json"  # vendored, Apache-2.0
LISCIO_SPEC = ROOT / "docs" / "liscio-api.yaml"
IPM_HEADERS = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}
LISCIO_HEADERS = {"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"}


class Validating:
    """An httpx client whose every reply is validated against ``api`` (prefix stripped)."""

    def __init__(
        self,
        base: str,
        prefix: str,
        api: OpenAPI,
        server: str,
        headers: dict[str, str],
        *,
        strip: bool = True,
    ) -> None:
        self.api, self.prefix, self.server, self.strip = api, prefix, server, strip
        self.seen: list[tuple[str, str, int]] = []
        self.client = httpx.Client(
            base_url=base + prefix,
            headers=headers,
            timeout=10,
            event_hooks={"response": [self._validate]},
        )

    def _validate(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        path = urlsplit(str(request.url)).path
        assert path.startswith(self.prefix)
        if self.strip:
            path = path[len(self.prefix) :]
        mock_request = MockRequest(self.server, request.method.lower(), path)
        headers = {k.title(): v for k, v in response.headers.items()}
        mock_response = MockResponse(
            response.content,
            status_code=response.status_code,
            headers=headers,
            content_type=response.headers.get("content-type", "application/json"),
        )
        if response.status_code != 204:
            assert response.headers["content-type"].startswith("application/json")
        self.api.validate_response(mock_request, mock_response)
        self.seen.append((request.method, path, response.status_code))


@pytest.fixture(scope="module")
def karbon_api() -> OpenAPI:
    return OpenAPI.from_dict(
        json.loads(KARBON_SPEC.read_text()), config=Config(spec_validator_cls=None)
    )


@pytest.fixture(scope="module")
def liscio_api() -> OpenAPI:
    return OpenAPI.from_file_path(str(LISCIO_SPEC), config=Config(spec_validator_cls=None))


@pytest.fixture()
def sandbox():
    with start_sandbox(dataset="demo", seed=3, rate_limit=0) as server:
        yield server


def test_every_karbon_operation_replies_per_spec(sandbox, karbon_api) -> None:
    ipm = Validating(sandbox.url, "/karbon", karbon_api, "https://api.karbonhq.com", IPM_HEADERS)
    c = ipm.client
    assert c.get("/v3/TenantSettings").status_code == 200
    for name, key in (("Organizations", "OrganizationKey"), ("Contacts", "ContactKey")):
        page = c.get(f"/v3/{name}", params={"$top": 100, "$orderby": "FullName"}).json()
        assert "@odata.nextLink" in page
        assert c.get(page["@odata.nextLink"]).status_code == 200
        assert (
            c.get(
                f"/v3/{name}",
                params={
                    "$filter": "contains(FullName, 'a') and EmailAddress eq 'nobody@example.com'"
                },
            ).status_code
            == 200
        )
        assert (
            c.get(
                f"/v3/{name}",
                params={"$orderby": "LastModifiedDateTime desc", "$skip": 5, "$top": 7},
            ).status_code
            == 200
        )
        for bad in (
            {"$top": 130},
            {"$select": "FullName"},
            {"$orderby": "Nope"},
            {"$filter": "FullName ne 'x'"},
            {"$filter": "startswith(FullName, 'a')"},
            {"$filter": "Nope eq 'x'"},
        ):
            assert c.get(f"/v3/{name}", params=bad).status_code == 400
        first = page["value"][0][key]
        assert c.get(f"/v3/{name}/{first}").status_code == 200
        full = c.get(f"/v3/{name}/{first}", params={"$expand": "BusinessCards"}).json()
        assert c.get(f"/v3/{name}/nope").status_code == 404
        card = full["BusinessCards"][0]
        assert c.get(f"/v3/BusinessCards/{card['BusinessCardKey']}").status_code == 200
        assert (
            c.put(
                f"/v3/BusinessCards/{card['BusinessCardKey']}", json={**card, "RoleOrTitle": None}
            ).status_code
            == 204
        )
        assert (
            c.put(
                f"/v3/BusinessCards/{card['BusinessCardKey']}",
                json={**card, "EntityType": "ClientGroup"},
            ).status_code
            == 400
        )
        assert c.put("/v3/BusinessCards/nope", json=card).status_code == 404
    org = c.post(
        "/v3/Organizations",
        json={
            "FullName": "Spec Walk LLC",
            "UserDefinedIdentifier": "walk-1",
            "BusinessCards": [
                {
                    "IsPrimaryCard": True,
                    "EmailAddresses": ["walk@example.com"],
                    "PhoneNumbers": [{"Number": "555-0100", "Label": "Work"}],
                    "Addresses": [
                        {
                            "AddressLines": "1 Walk St",
                            "City": "Austin",
                            "StateProvinceCounty": "TX",
                            "ZipCode": "73301",
                            "CountryCode": "US",
                            "Label": "Physical",
                        }
                    ],
                }
            ],
        },
    )
    assert org.status_code == 201
    person = c.post(
        "/v3/Contacts",
        json={
            "FirstName": "Walk",
            "LastName": "O'Spec",
            "UserDefinedIdentifier": "walk-2",
            "BusinessCards": [
                {
                    "RoleOrTitle": "CFO",
                    "EmailAddresses": ["o@example.com"],
                    "OrganizationKey": org.json()["OrganizationKey"],
                }
            ],
        },
    )
    assert person.status_code == 201
    assert (
        c.post(
            "/v3/Organizations", json={"FullName": "Again", "UserDefinedIdentifier": "walk-1"}
        ).status_code
        == 500
    )
    assert c.post("/v3/Contacts", json={"FirstName": "No Last"}).status_code == 400
    assert (
        c.post(
            "/v3/Organizations", json={"FullName": "x", "RestrictionLevel": "Hidden"}
        ).status_code
        == 403
    )
    for name, udi in (("Organizations", "walk-1"), ("Contacts", "walk-2")):
        function = (
            "GetOrganizationByUserDefinedIdentifier"
            if name == "Organizations"
            else "GetContactByUserDefinedIdentifier"
        )
        assert (
            c.get(
                f"/v3/{name}/{function}(UserDefinedIdentifier='{udi}')",
                params={"$expand": "BusinessCards"},
            ).status_code
            == 200
        )
        assert c.get(f"/v3/{name}/{function}(UserDefinedIdentifier='missing')").status_code == 404
    org_key, person_key = org.json()["OrganizationKey"], person.json()["ContactKey"]
    assert (
        c.put(f"/v3/Organizations/{org_key}", json={"FullName": "Spec Walk L.L.C."}).status_code
        == 204
    )
    assert (
        c.put(
            f"/v3/Contacts/{person_key}", json={"FirstName": "Walk", "LastName": "Spec"}
        ).status_code
        == 204
    )
    assert c.put("/v3/Contacts/nope", json={"FirstName": "a", "LastName": "b"}).status_code == 404
    assert (
        c.patch(f"/v3/Organizations/{org_key}", json={"FullName": "Walked LLC"}).status_code == 200
    )
    assert c.patch(f"/v3/Contacts/{person_key}", json={"MiddleName": "Q"}).status_code == 200
    assert (
        c.patch(f"/v3/Organizations/{org_key}", json={"ContactType": "Client"}).status_code == 400
    )
    assert c.patch("/v3/Organizations/nope", json={"FullName": "x"}).status_code == 404
    bad = httpx.get(
        f"{sandbox.url}/karbon/v3/TenantSettings",
        headers={"Authorization": "Bearer wrong", "AccessKey": "wrong"},
    )
    ipm._validate(bad)
    statuses = {s for _, _, s in ipm.seen}
    assert {200, 201, 204, 400, 401, 403, 404, 500} <= statuses


def test_karbon_fault_and_limit_replies_per_spec(karbon_api) -> None:
    with start_sandbox(dataset="empty", rate_limit=2, faults="409=1") as server:
        ipm = Validating(server.url, "/karbon", karbon_api, "https://api.karbonhq.com", IPM_HEADERS)
        assert ipm.client.get("/v3/Organizations").status_code == 200
        org = ipm.client.post("/v3/Organizations", json={"FullName": "A"})
        assert org.status_code == 201
        key = org.json()["OrganizationKey"]
        limited = ipm.client.get("/v3/Organizations")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    with start_sandbox(dataset="empty", rate_limit=0, faults="409=1") as server:
        ipm = Validating(server.url, "/karbon", karbon_api, "https://api.karbonhq.com", IPM_HEADERS)
        org = ipm.client.post("/v3/Organizations", json={"FullName": "A"})
        key = org.json()["OrganizationKey"]
        assert ipm.client.put(f"/v3/Organizations/{key}", json={"FullName": "B"}).status_code == 409
    with start_sandbox(dataset="empty", rate_limit=0, faults="500=1") as server:
        ipm = Validating(server.url, "/karbon", karbon_api, "https://api.karbonhq.com", IPM_HEADERS)
        assert ipm.client.get("/v3/Organizations").status_code == 500


def test_every_liscio_operation_replies_per_contract(sandbox, liscio_api) -> None:
    liscio = Validating(
        sandbox.url, "/liscio", liscio_api, "http://127.0.0.1:8000", LISCIO_HEADERS, strip=False
    )
    c = liscio.client
    firm = c.get("/v1/firm")
    assert firm.status_code == 200 and firm.json()["id"] and firm.json()["name"]
    for kind in ("accounts", "contacts"):
        page = c.get(f"/v1/{kind}", params={"limit": 100}).json()
        assert page["next_cursor"]
        assert c.get(f"/v1/{kind}", params={"cursor": page["next_cursor"]}).status_code == 200
        assert (
            c.get(f"/v1/{kind}", params={"updated_since": "2025-06-01T00:00:00Z"}).status_code
            == 200
        )
        assert c.get(f"/v1/{kind}", params={"limit": 101}).status_code == 400
        assert c.get(f"/v1/{kind}/{page['items'][0]['id']}").status_code == 200
        assert c.get(f"/v1/{kind}/nope").status_code == 404
    account = c.post(
        "/v1/accounts",
        json={
            "name": "Walk Co",
            "external_id": "x1",
            "address": {"line1": "1 Main", "city": "Boise"},
        },
    )
    assert account.status_code == 201
    assert c.post("/v1/accounts", json={"name": "Walk Co", "external_id": "x1"}).status_code == 409
    assert (
        c.get("/v1/accounts", params={"external_id": "x1"}).json()["items"][0]["id"]
        == account.json()["id"]
    )
    contact = c.post(
        "/v1/contacts",
        json={
            "first_name": "A",
            "last_name": "B",
            "primary_email": "walk@example.com",
            "account_ids": [account.json()["id"]],
        },
    )
    assert contact.status_code == 201
    assert (
        c.post(
            "/v1/contacts",
            json={"first_name": "C", "last_name": "D", "primary_email": "WALK@example.com"},
        ).status_code
        == 400
    )
    assert c.patch(f"/v1/accounts/{account.json()['id']}", json={"phone": "555"}).status_code == 200
    assert c.patch(f"/v1/contacts/{contact.json()['id']}", json={"title": None}).status_code == 200
    assert (
        c.patch(f"/v1/contacts/{contact.json()['id']}", json={"created_by": "firm"}).status_code
        == 400
    )
    assert c.patch("/v1/accounts/nope", json={"phone": "1"}).status_code == 404
    liscio._validate(httpx.get(f"{sandbox.url}/liscio/v1/accounts"))
    assert {200, 201, 400, 401, 404, 409} <= {s for _, _, s in liscio.seen}
