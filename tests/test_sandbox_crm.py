"""The simulator keeps what Karbon keeps: every CRM field round-trips through create, PUT and
GET with ``$expand``; business cards take Karbon's free-text labels and dialling codes; the
spec's own request examples are accepted. Over real HTTP; replies to the spec's examples are
validated against ``KarbonAPI.json``.

The business-card cases are written from Karbon's issue text and the spec (the stored copy of
Karbon's Postman collection has no BusinessCard folder).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from test_sandbox_spec import KARBON_SPEC, Validating

from pmtools import config
from pmtools.sandbox.server import start_sandbox

HEADERS = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}
SPEC = json.loads(Path(KARBON_SPEC).read_text())

EVERY_ACCOUNTING_FIELD: dict[str, Any] = {
    "BirthDate": "1970-01-02T00:00:00Z",
    "DeathDate": "2020-03-04T00:00:00Z",
    "Salutation": "Dr",
    "Sex": "F",
    "FinancialYearEndDay": 30,
    "FinancialYearEndMonth": 5,
    "IncorporationDate": "1999-12-31T00:00:00Z",
    "IncorporationState": "Delaware",
    "LegalName": "Round Trip Holdings Inc.",
    "LineOfBusiness": "Bookkeeping",
    "EntityType": "S Corporation",
    "TaxCountryCode": "US",
    "TradingName": "Round Trip",
    "AnnualRevenue": 1234567.89,
    "BaseCurrency": "USD",
    "GstBasis": "Cash",
    "GstPeriod": "Quarterly",
    "IncomeTaxInstallmentPeriod": "Yearly",
    "IsVATRegistered": False,
    "OrganizationValuation": 5000000,
    "PaysTax": True,
    "PrepareGST": False,
    "ProvisionalTaxBasic": "Standard",
    "ProvisionalTaxRatio": "0.5",
    "RevenueModel": "Markup",
    "SalesTaxBasis": "Accruals",
    "SalesTaxPeriod": "Monthly",
    "Sells": "Products and Services",
    "DateSignedEngagement": "2023-07-01T00:00:00Z",
    "Bank": ["First Bank"],
    "Payroll": ["Gusto"],
    "BillPay": ["Bill.com"],
    "Benefits": ["Guideline"],
    "Revenue": ["Stripe"],
    "Expenses": ["Expensify"],
    "FileManagement": ["SharePoint"],
    "Accounting": ["QuickBooks Online"],
    "LegalFirm": {"Name": "Polygon Legal", "OrganizationKey": None},
    "TaxProvider": {"Name": "Orbit Tax", "OrganizationKey": None},
    "RegistrationNumbers": [{"RegistrationNumber": "12-3456789", "Type": "Tax ID"}],
    "Notes": [
        {"Body": "Year end is June.", "Type": "Basic"},
        {"Body": "Quarterly estimates.", "Type": "Tax"},
    ],
}
CARD: dict[str, Any] = {
    "IsPrimaryCard": True,
    "WebSites": ["roundtrip.example"],
    "EmailAddresses": ["books@roundtrip.example", "owner@roundtrip.example"],
    "RoleOrTitle": "Owner",
    "FacebookLink": "facebook.com/roundtrip",
    "LinkedInLink": "linkedin.com/company/roundtrip",
    "TwitterLink": "twitter.com/roundtrip",
    "SkypeLink": "skype:roundtrip",
    "Addresses": [
        {
            "AddressLines": "1 Loop Rd\nSuite 2",
            "City": "Austin",
            "StateProvinceCounty": "TX",
            "ZipCode": "73301",
            "CountryCode": "US",
            "Label": "Head office (not a spec label)",
        }
    ],
    "PhoneNumbers": [
        {"Number": "5125550100", "CountryCode": "+1", "Label": "Front desk"},
        {"Number": "412345678", "CountryCode": "AU", "Label": "Mobile"},
    ],
}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(dataset="demo", seed=21, rate_limit=0) as server:
        yield server


@pytest.fixture(scope="module")
def ipm(sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.ipm_url, headers=HEADERS, timeout=10)


def _subset(given: Any, got: Any, where: str = "") -> None:
    """Every value given is in what came back (extra keys, such as keys assigned, allowed)."""
    if isinstance(given, dict):
        assert isinstance(got, dict), where
        for k, v in given.items():
            assert k in got, f"{where}.{k} missing"
            _subset(v, got[k], f"{where}.{k}")
    elif isinstance(given, list):
        assert isinstance(got, list) and len(got) == len(given), where
        for i, (a, b) in enumerate(zip(given, got, strict=True)):
            _subset(a, b, f"{where}[{i}]")
    else:
        assert got == given, f"{where}: gave {given!r}, got {got!r}"


def test_a_create_with_every_crm_field_reads_back_every_value(ipm) -> None:
    org = {
        "FullName": "Round Trip Holdings",
        "ClientOwner": "owner@firm.example",
        "ClientManager": "manager@firm.example",
        "ContactType": "Client",
        "UserDefinedIdentifier": "crm-org-1",
        "RestrictionLevel": "Public",
        "EntityDescription": {"Text": "Every CRM field, once."},
        "AccountingDetail": EVERY_ACCOUNTING_FIELD,
        "BusinessCards": [CARD],
    }
    created = ipm.post("/v3/Organizations", json=org)
    assert created.status_code == 201, created.text
    key = created.json()["OrganizationKey"]
    back = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()
    _subset(org, back)
    assert back["AccountingDetail"]["OrganizationPermaKey"] == key
    person = {
        "FirstName": "Rhea",
        "MiddleName": "T.",
        "LastName": "Trip",
        "PreferredName": "Ree",
        "Salutation": "Ms",
        "Suffix": "III",
        "ClientOwner": "owner@firm.example",
        "ContactType": "Prospect",
        "UserDefinedIdentifier": "crm-person-1",
        "EntityDescription": {"Text": "A person with every field."},
        "AccountingDetail": EVERY_ACCOUNTING_FIELD,
        "BusinessCards": [{**CARD, "OrganizationKey": key}],
    }
    created = ipm.post("/v3/Contacts", json=person)
    assert created.status_code == 201, created.text
    _subset({k: v for k, v in person.items() if k != "BusinessCards"}, created.json())
    contact = created.json()["ContactKey"]
    back = ipm.get(f"/v3/Contacts/{contact}", params={"$expand": "BusinessCards"}).json()
    _subset(person, back)
    assert back["AccountingDetail"]["ContactPermaKey"] == contact


def test_a_put_replaces_the_crm_fields_and_a_patch_keeps_them(ipm) -> None:
    created = ipm.post(
        "/v3/Contacts",
        json={
            "FirstName": "Pat",
            "LastName": "Chen",
            "UserDefinedIdentifier": "crm-person-2",
            "AccountingDetail": {
                "LegalName": "Pat Chen",
                "Notes": [{"Body": "a", "Type": "Basic"}],
            },
            "EntityDescription": {"Text": "before"},
        },
    ).json()
    key = created["ContactKey"]
    detail = {**EVERY_ACCOUNTING_FIELD, "LegalName": "Patricia Chen", "Notes": []}
    assert (
        ipm.put(
            f"/v3/Contacts/{key}",
            json={
                "FirstName": "Pat",
                "LastName": "Chen",
                "Suffix": "Jr.",
                "UserDefinedIdentifier": "crm-person-2",
                "AccountingDetail": detail,
                "EntityDescription": {"Text": "after"},
            },
        ).status_code
        == 204
    )
    assert ipm.patch(f"/v3/Contacts/{key}", json={"PreferredName": "Patty"}).status_code == 200
    back = ipm.get(f"/v3/Contacts/{key}").json()
    _subset(detail, back["AccountingDetail"])
    assert back["EntityDescription"] == {"Text": "after"}
    assert (back["Suffix"], back["PreferredName"]) == ("Jr.", "Patty")


def test_karbon_style_values_outside_the_spec_enums_and_as_strings_are_kept(ipm) -> None:
    """What Karbon's tests send: numbers as strings, dates without a time, enum-less text."""
    created = ipm.post(
        "/v3/Contacts",
        json={
            "FirstName": "Sam",
            "LastName": "Heel",
            "AccountingDetail": {
                "Salutation": "The Dishonorable",
                "FinancialYearEndDay": "11",
                "FinancialYearEndMonth": "0",
                "BirthDate": "2001-05-16",
                "GstBasis": "Invoice",
                "Notes": [{"Body": "x", "Type": "Related People"}],
            },
        },
    )
    assert created.status_code == 201, created.text
    detail = created.json()["AccountingDetail"]
    assert (detail["FinancialYearEndDay"], detail["FinancialYearEndMonth"]) == (11, 0)
    assert detail["BirthDate"] == "2001-05-16T00:00:00Z"
    assert (detail["Salutation"], detail["GstBasis"]) == ("The Dishonorable", "Invoice")
    for bad in (
        {"FinancialYearEndDay": "eleven"},
        {"FinancialYearEndMonth": 12},
        {"Notes": [{"Body": "no type"}]},
        {"BirthDate": "yesterday"},
        "text",
    ):
        refused = ipm.post(
            "/v3/Contacts", json={"FirstName": "A", "LastName": "B", "AccountingDetail": bad}
        )
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "4003", bad


def test_cards_take_free_text_labels_dialling_codes_and_keep_social_links(sandbox, ipm) -> None:
    key = ipm.post("/v3/Organizations", json={"FullName": "Card Labels LLC"}).json()[
        "OrganizationKey"
    ]
    card = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
        "BusinessCards"
    ]
    assert card == []
    assert (
        ipm.put(
            f"/v3/Organizations/{key}",
            json={"FullName": "Card Labels LLC", "BusinessCards": [CARD]},
        ).status_code
        == 204
    )
    card = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
        "BusinessCards"
    ][0]
    edited = copy.deepcopy(card)
    edited["Addresses"][0]["Label"] = "Test label"
    edited["PhoneNumbers"][0] |= {"CountryCode": "+61", "Label": "Work update"}
    assert ipm.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=edited).status_code == 204
    back = ipm.get(f"/v3/BusinessCards/{card['BusinessCardKey']}").json()
    _subset({k: v for k, v in edited.items() if k != "IsPrimaryCard"}, back)
    assert back["PhoneNumbers"][1]["CountryCode"] == "AU"  # a two-letter one is kept too
    # an address's CountryCode stays ISO 3166-1 alpha-2, as Karbon has it
    wrong = copy.deepcopy(edited)
    wrong["Addresses"][0]["CountryCode"] = "Australia"
    refused = ipm.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=wrong)
    assert refused.status_code == 400 and "CountryCode" in refused.json()["error"]["message"]
    for phone_code in ("Australia", "+61 2 9999"):
        wrong = copy.deepcopy(edited)
        wrong["PhoneNumbers"][0]["CountryCode"] = phone_code
        assert (
            ipm.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=wrong).status_code == 400
        )
    assert (
        sandbox.state.get("cards", card["BusinessCardKey"])["Addresses"][0]["Label"] == "Test label"
    )


def test_a_card_put_with_an_unknown_address_key_adds_that_address(sandbox, ipm) -> None:
    """Where the spec is silent: the simulator treats an AddressKey it does not know as a new
    address (new key) and keeps the keys it knows (docs/sandbox.md)."""
    key = ipm.post(
        "/v3/Organizations", json={"FullName": "Unknown Keys LLC", "BusinessCards": [CARD]}
    ).json()["OrganizationKey"]
    card = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
        "BusinessCards"
    ][0]
    known = card["Addresses"][0]["AddressKey"]
    card["Addresses"].append(
        {
            "AddressKey": "not-a-key-of-this-card",
            "City": "Boise",
            "CountryCode": "US",
            "Label": "Mailing",
        }
    )
    assert ipm.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=card).status_code == 204
    stored = sandbox.state.get("cards", card["BusinessCardKey"])["Addresses"]
    assert stored[0]["AddressKey"] == known
    assert stored[1]["City"] == "Boise" and stored[1]["AddressKey"] != "not-a-key-of-this-card"


def test_the_spec_examples_are_accepted_and_answered_per_spec(sandbox) -> None:
    api = OpenAPI.from_dict(copy.deepcopy(SPEC), config=Config(spec_validator_cls=None))
    ipm = Validating(sandbox.url, "/karbon", api, "https://api.karbonhq.com", HEADERS).client
    body = "requestBody"
    create = SPEC["paths"]["/v3/Organizations"]["post"][body]["content"]["application/json"]
    created = ipm.post("/v3/Organizations", json=create["example"])
    assert created.status_code == 201, created.text
    key = created.json()["OrganizationKey"]
    back = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()
    example_detail = {
        k: v
        for k, v in create["example"]["AccountingDetail"].items()
        if v is not None and not k.endswith("PermaKey")
    }
    _subset(example_detail, back["AccountingDetail"])
    # the PUT example, with the keys of records the simulator holds in place of the example's
    update = SPEC["paths"]["/v3/Organizations/{Organizationkey}"]["put"][body]["content"][
        "application/json"
    ]["example"]
    update = copy.deepcopy(update)
    update["BusinessCards"][0] |= {
        "BusinessCardKey": back["BusinessCards"][0]["BusinessCardKey"],
        "EntityKey": key,
    }
    assert ipm.put(f"/v3/Organizations/{key}", json=update).status_code == 204
    again = ipm.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()
    assert again["AccountingDetail"]["LegalName"] == "The Sample Company"
    assert again["BusinessCards"][0]["FacebookLink"] == "facebook.com/sampleName"


# -- Karbon's own words, where its tests check them (issue 11) ------------------------------


@pytest.mark.parametrize("collection", ["Organizations", "Contacts"])
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("day(LastModifiedDateTime) eq 8", "Function 'day' is not allowed"),
        ("FullName ne 'Nobody'", "Logical operator 'NotEqual' is not allowed"),
    ],
)
def test_a_refused_filter_says_what_karbon_says(ipm, collection, query, words) -> None:
    got = ipm.get(f"/v3/{collection}", params={"$filter": query})
    assert got.status_code == 400 and words in got.text, got.text


@pytest.mark.parametrize(
    ("collection", "key_field"), [("Organizations", "OrganizationKey"), ("Contacts", "ContactKey")]
)
def test_select_on_one_record_is_refused_like_on_a_list(ipm, collection, key_field) -> None:
    key = ipm.get(f"/v3/{collection}", params={"$top": 1}).json()["value"][0][key_field]
    for path in (f"/v3/{collection}", f"/v3/{collection}/{key}"):
        got = ipm.get(path, params={"$select": "FullName"})
        assert got.status_code == 400, path
        assert "Query option 'Select' is not allowed" in got.text, got.text


def test_a_patch_of_another_property_names_the_ones_allowed(ipm) -> None:
    org = ipm.get("/v3/Organizations", params={"$top": 1}).json()["value"][0]["OrganizationKey"]
    got = ipm.patch(f"/v3/Organizations/{org}", json={"UserDefinedIdentifier": "x"})
    assert got.status_code == 400
    assert "Invalid property to update. Only FullName can be patched." in got.text
    person = ipm.get("/v3/Contacts", params={"$top": 1}).json()["value"][0]["ContactKey"]
    got = ipm.patch(f"/v3/Contacts/{person}", json={"UserDefinedIdentifier": "x"})
    assert got.status_code == 400
    assert (
        "Invalid property to update. Only FirstName,MiddleName,LastName,PreferredName,"
        "Salutation,Suffix can be patched."
    ) in got.text
    renamed = ipm.patch(f"/v3/Contacts/{person}", json={"PreferredName": "Renamed"})
    assert renamed.status_code in (200, 204), renamed.text
    assert ipm.get(f"/v3/Contacts/{person}").json()["PreferredName"] == "Renamed"
