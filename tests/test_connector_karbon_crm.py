"""The IPM connector's writes keep every CRM value it does not sync: a card PUT keeps social
links, other entries, free-text labels and dialling codes; an entity PUT (a first card) keeps
AccountingDetail, EntityDescription and the rest. Against the simulator, over loopback; judged
on what the simulator holds afterwards."""

from __future__ import annotations

import copy

import httpx
import pytest
from test_sandbox_crm import CARD, EVERY_ACCOUNTING_FIELD

from pmtools import config
from pmtools.connectors.karbon import IpmConnector
from pmtools.core.records import Address, Kind
from pmtools.sandbox.server import start_sandbox

HEADERS = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}


@pytest.fixture()
def sandbox():
    with start_sandbox(dataset="empty", seed=2, rate_limit=0) as server:
        yield server


def connector(server) -> IpmConnector:
    return IpmConnector(
        server.ipm_url,
        config.SANDBOX_IPM_TOKEN,
        config.SANDBOX_IPM_ACCESS_KEY,
        rate_limit=0,
        timeout=10,
    )


def test_a_card_write_keeps_what_pmtools_does_not_sync(sandbox) -> None:
    http = httpx.Client(base_url=sandbox.ipm_url, headers=HEADERS, timeout=10)
    card = copy.deepcopy(CARD)
    card["Addresses"].append(
        {"AddressLines": "PO Box 9", "City": "Austin", "CountryCode": "US", "Label": "Test label"}
    )
    key = http.post(
        "/v3/Organizations",
        json={
            "FullName": "Keep Everything LLC",
            "AccountingDetail": EVERY_ACCOUNTING_FIELD,
            "EntityDescription": {"Text": "kept"},
            "BusinessCards": [card],
        },
    ).json()["OrganizationKey"]
    before_card = sandbox.state.cards_of(key)[0]
    before_entity = sandbox.state.get("organizations", key)
    ipm = connector(sandbox)
    ipm.update_fields(
        Kind.ACCOUNTS,
        key,
        {
            "phone": "512-555-0111",
            "website": "new.example",
            "address": Address(
                line1="2 Loop Rd", city="Austin", state="TX", postal_code="73301", country="US"
            ),
        },
    )
    after = sandbox.state.cards_of(key)[0]
    assert after["PhoneNumbers"][0] == before_card["PhoneNumbers"][0] | {"Number": "512-555-0111"}
    assert after["PhoneNumbers"][1:] == before_card["PhoneNumbers"][1:]
    assert after["WebSites"] == ["new.example"]
    assert after["Addresses"][0]["AddressLines"] == "2 Loop Rd"
    for name in ("AddressKey", "Label"):
        assert after["Addresses"][0][name] == before_card["Addresses"][0][name]
    assert after["Addresses"][1] == before_card["Addresses"][1]
    for name in (
        "FacebookLink",
        "LinkedInLink",
        "TwitterLink",
        "SkypeLink",
        "RoleOrTitle",
        "EmailAddresses",
        "IsPrimaryCard",
        "BusinessCardKey",
    ):
        assert after[name] == before_card[name], name
    kept = sandbox.state.get("organizations", key)
    assert kept["AccountingDetail"] == before_entity["AccountingDetail"]
    assert kept["EntityDescription"] == {"Text": "kept"}


@pytest.mark.parametrize("kind", [Kind.ACCOUNTS, Kind.CONTACTS])
def test_a_first_card_keeps_the_entitys_crm_fields(sandbox, kind) -> None:
    http = httpx.Client(base_url=sandbox.ipm_url, headers=HEADERS, timeout=10)
    common = {
        "ClientOwner": "owner@firm.example",
        "ContactType": "Client",
        "UserDefinedIdentifier": f"keep-{kind}",
        "AccountingDetail": EVERY_ACCOUNTING_FIELD,
        "EntityDescription": {"Text": "no card yet"},
    }
    if kind is Kind.ACCOUNTS:
        collection, key_name, body = "organizations", "OrganizationKey", {"FullName": "No Card LLC"}
        values = {"phone": "512-555-0123"}
    else:
        collection, key_name = "people", "ContactKey"
        body = {
            "FirstName": "Nora",
            "MiddleName": "C.",
            "LastName": "Card",
            "PreferredName": "Nor",
            "Salutation": "Dr",
            "Suffix": "PhD",
        }
        values = {"email": "nora@example.com"}
    path = "/v3/Organizations" if kind is Kind.ACCOUNTS else "/v3/Contacts"
    key = http.post(path, json=body | common).json()[key_name]
    before = sandbox.state.get(collection, key)
    connector(sandbox).update_fields(kind, key, values)
    after = sandbox.state.get(collection, key)
    assert sandbox.state.cards_of(key), "the entity got its first card"
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed <= {"LastModifiedDateTime"}, changed
