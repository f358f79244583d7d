"""The simulator's Karbon v3 behaviour: paging, filters, replacing PUTs, PATCH rules, UDIs,
credentials and the rate limit. Assertions are on replies and on the simulator's state."""

from __future__ import annotations

import httpx
import pytest

from pmtools import config
from pmtools.sandbox.app import Credentials
from pmtools.sandbox.server import start_sandbox

HEADERS = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}


@pytest.fixture(scope="module")
def demo():
    with start_sandbox(dataset="demo", seed=5, rate_limit=0) as server:
        yield server


@pytest.fixture()
def fresh():
    with start_sandbox(dataset="demo", seed=5, rate_limit=0) as server:
        yield server


def client(server) -> httpx.Client:
    return httpx.Client(base_url=server.ipm_url, headers=HEADERS, timeout=10)


def test_paging_follows_next_links_to_every_row_once(demo) -> None:
    c = client(demo)
    url, keys, pages = "/v3/Contacts?$orderby=FullName", [], 0
    total = None
    while url:
        page = c.get(url).json()
        total = page["@odata.count"]
        assert len(page["value"]) <= 100
        keys += [row["ContactKey"] for row in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert total == len(keys) == len(set(keys)) == demo.state.count("people")
    assert pages == -(-total // 100)
    assert page["value"] and "@odata.nextLink" not in page


def test_top_skip_and_orderby(demo) -> None:
    c = client(demo)
    rows = c.get("/v3/Organizations", params={"$orderby": "FullName", "$top": 100}).json()
    names = [r["FullName"].casefold() for r in rows["value"]]
    assert names == sorted(names)
    skipped = c.get(
        "/v3/Organizations", params={"$orderby": "FullName", "$top": 10, "$skip": 5}
    ).json()["value"]
    assert [r["OrganizationKey"] for r in skipped] == [
        r["OrganizationKey"] for r in rows["value"][5:15]
    ]
    newest = c.get("/v3/Organizations", params={"$orderby": "LastModifiedDateTime desc"}).json()[
        "value"
    ]
    stamps = [r["LastModifiedDateTime"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)
    over = c.get("/v3/Organizations", params={"$top": 101})
    assert over.status_code == 400
    assert over.json()["error"] == {
        "code": "4002",
        "message": "The limit of '100' for Top query has been exceeded. "
        "The value from the incoming request is '101'.",
    }
    assert c.get("/v3/Organizations", params={"$orderby": "OrganizationKey"}).status_code == 400


def test_filters_eq_contains_and_are_case_insensitive(demo) -> None:
    c = client(demo)
    exact = c.get("/v3/Organizations", params={"$filter": "FullName eq 'o''brien & sons llc'"})
    assert [r["FullName"] for r in exact.json()["value"]] == ["O'Brien & Sons LLC"]
    smiths = c.get("/v3/Contacts", params={"$filter": "FullName eq 'JOHN SMITH'"}).json()
    assert smiths["@odata.count"] >= 2  # the demo's repeated name
    some = c.get(
        "/v3/Contacts", params={"$filter": "contains(FullName, 'smith')", "$top": 100}
    ).json()["value"]
    assert some and all("smith" in r["FullName"].lower() for r in some)
    email = some[0].get("EmailAddress") or next(
        r["EmailAddress"] for r in some if r.get("EmailAddress")
    )
    both = c.get(
        "/v3/Contacts",
        params={"$filter": f"(contains(FullName, 'SMITH')) and EmailAddress eq '{email.upper()}'"},
    )
    assert [r["EmailAddress"] for r in both.json()["value"]] == [email]
    for bad in (
        "FullName ne 'x'",
        "startswith(FullName, 'J')",
        "FullName eq 'a' or FullName eq 'b'",
        "Address eq 'x'",
    ):
        reply = c.get("/v3/Contacts", params={"$filter": bad})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "4002"
    assert c.get("/v3/Contacts", params={"$select": "FullName"}).status_code == 400


def test_list_rows_carry_only_what_karbon_lists(demo) -> None:
    c = client(demo)
    org = c.get("/v3/Organizations", params={"$top": 1}).json()["value"][0]
    assert "Address" not in org and "Addresses" not in org and "BusinessCards" not in org
    person = c.get("/v3/Contacts", params={"$top": 100}).json()["value"]
    assert not any("FirstName" in r or "LastName" in r for r in person)
    with_title = next(r for r in person if r.get("RoleOrTitle"))
    card = demo.state.primary_card(with_title["ContactKey"])
    assert with_title["RoleOrTitle"] == card["RoleOrTitle"]
    assert with_title.get("EmailAddress") == (card["EmailAddresses"] or [None])[0]
    assert any(
        ", " in r["FullName"]
        for r in c.get("/v3/Contacts", params={"$top": 100, "$skip": 100}).json()["value"]
    )


def test_expand_is_needed_for_cards(demo) -> None:
    c = client(demo)
    key = c.get("/v3/Organizations", params={"$top": 1}).json()["value"][0]["OrganizationKey"]
    assert "BusinessCards" not in c.get(f"/v3/Organizations/{key}").json()
    cards = c.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
        "BusinessCards"
    ]
    assert cards and sum(card["IsPrimaryCard"] for card in cards) == 1


def test_card_put_replaces_the_whole_card_and_bumps_the_owner(fresh) -> None:
    c = client(fresh)
    org = next(
        o
        for o in fresh.state.all("organizations")
        if len((fresh.state.primary_card(o["OrganizationKey"]) or {}).get("PhoneNumbers") or [])
        >= 1
    )
    card = fresh.state.primary_card(org["OrganizationKey"])
    key = card["BusinessCardKey"]
    reply = c.put(
        f"/v3/BusinessCards/{key}",
        json={
            "EntityType": "Organization",
            "EntityKey": org["OrganizationKey"],
            "EmailAddresses": ["only@example.com"],
        },
    )
    assert reply.status_code == 204
    stored = fresh.state.get("cards", key)
    assert stored["EmailAddresses"] == ["only@example.com"]
    assert (
        stored["PhoneNumbers"] == []
        and stored["Addresses"] == []
        and stored["WebSites"] == []
        and stored["LinkedInLink"] is None
    )
    assert stored["IsPrimaryCard"] is True  # not settable by PUT
    after = fresh.state.get("organizations", org["OrganizationKey"])
    assert after["LastModifiedDateTime"] > org["LastModifiedDateTime"]
    wrong = c.put(f"/v3/BusinessCards/{key}", json={"EntityType": "Contact"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "4003"
    long_number = c.put(
        f"/v3/BusinessCards/{key}",
        json={"EntityType": "Organization", "PhoneNumbers": [{"Number": "1" * 21}]},
    )
    assert long_number.status_code == 400
    assert fresh.state.get("cards", key)["EmailAddresses"] == ["only@example.com"]


def test_entity_put_replaces_fields_and_leaves_cards_unless_sent(fresh) -> None:
    c = client(fresh)
    made = c.post(
        "/v3/Contacts",
        json={
            "FirstName": "Ann",
            "LastName": "Lee",
            "Salutation": "Dr",
            "UserDefinedIdentifier": "ann-1",
            "BusinessCards": [
                {"EmailAddresses": ["a@x.com"]},
                {"EmailAddresses": ["b@x.com"], "IsPrimaryCard": True},
            ],
        },
    )
    assert made.status_code == 201
    assert made.headers["Location"].endswith(
        f"/karbon/v3/Contacts('{made.json()['ContactKey']}')/KarbonService.ContactDTO"
    )
    key = made.json()["ContactKey"]
    assert fresh.state.primary_card(key)["EmailAddresses"] == ["b@x.com"]
    assert (
        c.put(f"/v3/Contacts/{key}", json={"FirstName": "Anne", "LastName": "Lee"}).status_code
        == 204
    )
    person = fresh.state.get("people", key)
    assert person["FullName"] == "Anne Lee"
    assert person["Salutation"] is None and person["UserDefinedIdentifier"] is None
    assert len(fresh.state.cards_of(key)) == 2
    keep = fresh.state.primary_card(key)
    assert (
        c.put(
            f"/v3/Contacts/{key}",
            json={
                "FirstName": "Anne",
                "LastName": "Lee",
                "BusinessCards": [{**keep, "RoleOrTitle": "CEO"}],
            },
        ).status_code
        == 204
    )
    cards = fresh.state.cards_of(key)
    assert [card["BusinessCardKey"] for card in cards] == [keep["BusinessCardKey"]]
    assert cards[0]["RoleOrTitle"] == "CEO"
    assert c.put(f"/v3/Contacts/{key}", json={"FirstName": "Anne"}).status_code == 400
    assert c.delete(f"/v3/Contacts/{key}").status_code == 405  # Karbon has no DELETE


def test_patch_allows_only_names_and_restriction(fresh) -> None:
    c = client(fresh)
    org = fresh.state.all("organizations")[0]
    key = org["OrganizationKey"]
    bad = c.patch(f"/v3/Organizations/{key}", json={"FullName": "X", "ContactType": "Client"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("Invalid property to update")
    assert fresh.state.get("organizations", key)["FullName"] == org["FullName"]
    ok = c.patch(f"/v3/Organizations/{key}", json={"FullName": "Renamed LLC"})
    assert ok.status_code == 200 and ok.json()["FullName"] == "Renamed LLC"
    person = fresh.state.all("people")[0]
    assert (
        c.patch(f"/v3/Contacts/{person['ContactKey']}", json={"RoleOrTitle": "CEO"}).status_code
        == 400
    )
    renamed = c.patch(f"/v3/Contacts/{person['ContactKey']}", json={"LastName": "Zed"})
    assert renamed.status_code == 200
    assert fresh.state.get("people", person["ContactKey"])["LastName"] == "Zed"
    hidden = c.patch(f"/v3/Contacts/{person['ContactKey']}", json={"RestrictionLevel": "Hidden"})
    assert hidden.status_code == 403 and hidden.json()["error"]["code"] == "4021"


def test_udi_is_unique_and_looked_up(fresh) -> None:
    c = client(fresh)
    first = c.post(
        "/v3/Organizations", json={"FullName": "Dup Co", "UserDefinedIdentifier": "liscio:acc'1"}
    )
    assert first.status_code == 201
    again = c.post(
        "/v3/Organizations", json={"FullName": "Dup Co", "UserDefinedIdentifier": "liscio:acc'1"}
    )
    assert again.status_code == 500
    assert again.json() == {
        "error": {"code": "5001", "message": "User defined identifier already in use"}
    }
    assert fresh.state.count("organizations", FullName="dup co") == 1
    key = first.json()["OrganizationKey"]
    for prefix in ("", "KarbonService."):
        found = c.get(
            f"/v3/Organizations/{prefix}GetOrganizationByUserDefinedIdentifier("
            "UserDefinedIdentifier='liscio:acc''1')"
        )
        assert found.status_code == 200 and found.json()["OrganizationKey"] == key
    missing = c.get("/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier='x')")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "4004"
    person = c.post(
        "/v3/Contacts",
        json={"FirstName": "P", "LastName": "Q", "UserDefinedIdentifier": "liscio:acc'1"},
    )
    assert person.status_code == 201  # unique per kind
    row = c.get("/v3/Organizations", params={"$filter": "FullName eq 'dup co'"}).json()
    assert row["value"][0]["UserDefinedIdentifier"] == "liscio:acc'1"


def test_credentials_are_required(demo) -> None:
    url = f"{demo.ipm_url}/v3/TenantSettings"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": HEADERS["Authorization"]}).status_code == 401
    assert httpx.get(url, headers={**HEADERS, "AccessKey": "wrong"}).status_code == 401
    assert httpx.get(url, headers=HEADERS).status_code == 200
    liscio = f"{demo.liscio_url}/v1/accounts"
    assert httpx.get(liscio, headers=HEADERS).status_code == 401  # the IPM token is not Liscio's


def test_credentials_come_from_the_environment() -> None:
    env = {
        "PMTOOLS_IPM_TOKEN": "t-1",
        "PMTOOLS_IPM_ACCESS_KEY": "k-1",
        "PMTOOLS_LISCIO_TOKEN": "l-1",
    }
    with start_sandbox(dataset="empty", credentials=Credentials.from_env(env)) as server:
        url = f"{server.ipm_url}/v3/TenantSettings"
        assert httpx.get(url, headers=HEADERS).status_code == 401
        assert (
            httpx.get(url, headers={"Authorization": "Bearer t-1", "AccessKey": "k-1"}).status_code
            == 200
        )
        assert (
            httpx.get(
                f"{server.liscio_url}/v1/accounts", headers={"Authorization": "Bearer l-1"}
            ).status_code
            == 200
        )
    assert Credentials.from_env({}) == Credentials()


def test_rate_limit_answers_429_with_retry_after() -> None:
    with start_sandbox(dataset="empty", rate_limit=5) as server:
        c = client(server)
        replies = [c.get("/v3/TenantSettings") for _ in range(7)]
        assert [r.status_code for r in replies] == [200] * 5 + [429] * 2
        limited = replies[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json() == {
            "statusCode": "429",
            "message": (
                f"Rate limit is exceeded. Try again in {limited.headers['Retry-After']} seconds."
            ),
        }
        liscio = httpx.get(
            f"{server.liscio_url}/v1/accounts",
            headers={"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"},
        )
        assert liscio.status_code == 200  # the limit is IPM's
        assert server.stats.snapshot()["ipm:429-limit"] == 2
