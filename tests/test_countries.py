"""Countries: names, codes and aliases both ways, in the comparison, on a Karbon card, to
Liscio, in reports; and a firm with addresses abroad synced end to end through the simulator."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pmtools.cli import main
from pmtools.config import SANDBOX_IPM_ACCESS_KEY, SANDBOX_IPM_TOKEN, SANDBOX_LISCIO_TOKEN
from pmtools.connectors import cards
from pmtools.core.countries import UnknownCountry, country_code, country_key, country_name
from pmtools.core.records import Address, Kind
from pmtools.core.rules import values_equal
from pmtools.sandbox.server import start_sandbox


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("Germany", "DE", "Germany"),
        ("germany ", "DE", "Germany"),
        ("DE", "DE", "Germany"),
        ("de", "DE", "Germany"),
        ("DEU", "DE", "Germany"),
        ("Deutschland", "DE", "Germany"),  # the country's own name
        ("Federal Republic of Germany", "DE", "Germany"),  # the official name
        ("UK", "GB", "United Kingdom"),  # not an ISO code: an alias
        ("U.K.", "GB", "United Kingdom"),
        ("United Kingdom", "GB", "United Kingdom"),
        ("Great Britain", "GB", "United Kingdom"),
        ("England", "GB", "United Kingdom"),
        ("GB", "GB", "United Kingdom"),
        ("Canada", "CA", "Canada"),
        ("CAN", "CA", "Canada"),
        ("Kanada", "CA", "Canada"),
        ("USA", "US", "United States"),
        ("U.S.A.", "US", "United States"),
        ("U.S.", "US", "United States"),
        ("United  States of America", "US", "United States"),
        ("Holland", "NL", "Netherlands"),
        ("South Korea", "KR", "South Korea"),
        ("Russia", "RU", "Russia"),
        ("México", "MX", "Mexico"),
        ("Royaume-Uni", "GB", "United Kingdom"),
    ],
)
def test_a_country_is_read_from_any_usual_spelling_and_named_for_people(text, code, name):
    assert country_code(text) == code
    assert country_key(text) == code
    assert country_name(text) == name


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_country_is_no_country(blank):
    assert country_code(blank) is None and country_key(blank) is None
    assert country_name(blank) is None


@pytest.mark.parametrize("text", ["Atlantis", "XX", "Germany, Berlin", "Narnia Republic"])
def test_a_value_that_names_no_country_is_refused_with_the_value(text):
    with pytest.raises(UnknownCountry, match=repr(text)):
        country_code(text)
    assert country_key(text) == text  # compared as the text it is
    assert country_name(text) == text  # shown as it is


def _at(country: str | None) -> Address:
    return Address(line1="1 Unter den Linden", city="Berlin", postal_code="10117", country=country)


@pytest.mark.parametrize(
    ("liscio", "ipm", "equal"),
    [
        ("Germany", "DE", True),
        ("Deutschland", "DE", True),
        ("UK", "GB", True),
        ("United Kingdom", "GB", True),
        ("Canada", "CA", True),
        ("Canada", "US", False),
        ("Atlantis", "DE", False),
        ("atlantis", "Atlantis", True),  # unknown text compares as text
        (None, "DE", False),
    ],
)
def test_a_liscio_country_equals_the_ipm_code_of_the_same_country(liscio, ipm, equal):
    assert values_equal("address", _at(liscio), _at(ipm)) is equal


def test_a_karbon_card_gets_the_iso_code_and_an_unknown_country_is_refused():
    card = cards.apply_fields({"Addresses": []}, Kind.ACCOUNTS, {"address": _at("Deutschland")})
    assert card["Addresses"][0]["CountryCode"] == "DE"
    card = cards.new_card(Kind.ACCOUNTS, {"address": _at("U.K.")})
    assert card["Addresses"][0]["CountryCode"] == "GB"
    with pytest.raises(cards.CardError, match="'Atlantis'"):
        cards.apply_fields({"Addresses": []}, Kind.ACCOUNTS, {"address": _at("Atlantis")})


def test_an_address_reads_with_the_country_by_name():
    assert str(_at("DE")) == "1 Unter den Linden, Berlin, 10117, Germany"
    assert str(_at("Atlantis")) == "1 Unter den Linden, Berlin, 10117, Atlantis"


# -- end to end: CLI, simulator, real HTTP and a real state file ------------------------------


def _org(name: str, country: str | None = None) -> dict:
    addresses = (
        [
            {
                "AddressLines": "1 Old Rd",
                "City": "Old Town",
                "CountryCode": country,
                "Label": "Physical",
            }
        ]
        if country
        else []
    )
    return {
        "FullName": name,
        "BusinessCards": [
            {
                "IsPrimaryCard": True,
                "Addresses": addresses,
                "EmailAddresses": [],
                "WebSites": [],
                "PhoneNumbers": [],
            }
        ],
    }


def _account(name: str, country: str | None, city: str = "Berlin") -> dict:
    return {
        "name": name,
        "address": None
        if country is None
        else {"line1": "5 Main St", "city": city, "postal_code": "12345", "country": country},
    }


ABROAD = {
    "organizations": [
        _org("Alpha GmbH"),
        _org("Beta GmbH", "DE"),
        _org("Gamma Ltd"),
        _org("Delta Ltd", "US"),
        _org("Epsilon Inc"),
        _org("Zeta Inc", "CA"),
        _org("Theta Corp", "DE"),
    ],
    "people": [],
    "accounts": [
        _account("Alpha GmbH", "Germany"),
        _account("Beta GmbH", "Deutschland"),
        _account("Gamma Ltd", "UK", "London"),
        _account("Delta Ltd", "United Kingdom", "Leeds"),
        _account("Epsilon Inc", "Canada", "Toronto"),
        _account("Zeta Inc", None),
        {**_account("Theta Corp", "Atlantis"), "phone": "555-0199"},
    ],
    "contacts": [],
}


@pytest.fixture
def abroad(tmp_path, monkeypatch):
    """The simulator holding :data:`ABROAD`, and the environment ``pmtools sync`` reads."""
    server = start_sandbox(dataset=ABROAD, rate_limit=0)
    env = {
        "PMTOOLS_STATE": str(tmp_path / "state.sqlite"),
        "PMTOOLS_LISCIO_URL": server.liscio_url,
        "PMTOOLS_IPM_URL": server.ipm_url,
        "PMTOOLS_LISCIO_TOKEN": SANDBOX_LISCIO_TOKEN,
        "PMTOOLS_IPM_TOKEN": SANDBOX_IPM_TOKEN,
        "PMTOOLS_IPM_ACCESS_KEY": SANDBOX_IPM_ACCESS_KEY,
        "PMTOOLS_IPM_RATE_LIMIT": "0",
    }
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    yield server
    server.stop()


def _ipm_countries(server) -> dict[str, str | None]:
    orgs = server.state.canonical()["organizations"]
    out = {}
    for org in orgs.values():
        (card,) = org["cards"]
        out[org["FullName"]] = card["Addresses"][0]["CountryCode"] if card["Addresses"] else None
    return out


def _writes(server) -> int:
    stats = server.stats.snapshot()
    return sum(
        stats.get(f"{side}:{method}", 0)
        for side in ("ipm", "liscio")
        for method in ("POST", "PUT", "PATCH")
    )


def test_a_firm_abroad_syncs_iso_codes_and_reports_names(abroad, tmp_path, capsys):
    assert main(["sync", "--dry-run"]) == 0
    shown = capsys.readouterr().out
    skip = next(line for line in shown.splitlines() if line.startswith("skip"))
    assert "'Theta Corp'" in skip and "'Atlantis'" in skip  # the dry run says so first
    assert main(["sync", "--json"]) == 1  # done, with Theta Corp's record error
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["errors"] == 1
    assert _ipm_countries(abroad) == {
        "Alpha GmbH": "DE",
        "Beta GmbH": "DE",
        "Gamma Ltd": "GB",
        "Delta Ltd": "GB",
        "Epsilon Inc": "CA",
        "Zeta Inc": "CA",
        "Theta Corp": "DE",
    }  # "Atlantis" was not sent: IPM's address is as it was
    theta = abroad.state.canonical()["organizations"]
    assert [
        o["cards"][0]["PhoneNumbers"][0]["Number"]
        for o in theta.values()
        if o["FullName"] == "Theta Corp"
    ] == ["555-0199"]  # its phone was written
    liscio = {a["name"]: a["address"] for a in abroad.state.all("accounts")}
    assert liscio["Zeta Inc"]["country"] == "Canada"  # filled from IPM's "CA", by name
    assert liscio["Beta GmbH"]["country"] == "Deutschland"  # Liscio's own text is kept

    assert main(["report", "--errors", "-o", str(tmp_path / "errors.csv")]) == 0
    errors = (tmp_path / "errors.csv").read_text(encoding="utf-8")
    assert "Theta Corp" in errors and "'Atlantis'" in errors and "correct it in Liscio" in errors

    writes = _writes(abroad)
    assert main(["sync", "--json"]) == 1  # Theta Corp's country still names no country
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["ipm_fields_written"] == again["liscio_fields_filled"] == 0
    assert _writes(abroad) == writes  # nothing was written: "Germany" is "DE", "UK" is "GB"

    assert main(["report", "--kind", "accounts", "-o", str(tmp_path / "pairs.csv")]) == 0
    rows = list(
        csv.DictReader(
            io.StringIO((tmp_path / "pairs.csv").read_text(encoding="utf-8"), newline="")
        )
    )
    ipm_address = {r["IPM Organization Name"]: r["IPM Address"] for r in rows}
    assert ipm_address["Alpha GmbH"].endswith(", Germany")
    assert ipm_address["Gamma Ltd"].endswith(", United Kingdom")
    assert ipm_address["Epsilon Inc"].endswith(", Canada")
    assert not any(a.endswith((", DE", ", GB", ", CA")) for a in ipm_address.values())
