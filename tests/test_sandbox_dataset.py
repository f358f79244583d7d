"""The demo firm: deterministic, realistic, and with every variant a sync must handle."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from pmtools.sandbox.dataset import XSS_NAME, demo_dataset, load_dataset, populate
from pmtools.sandbox.karbon_model import person_full_name
from pmtools.sandbox.state import SandboxState


def fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", text).casefold().split())


def test_same_seed_same_firm_other_seed_other_firm() -> None:
    assert demo_dataset(seed=3) == demo_dataset(seed=3)
    assert demo_dataset(seed=3) != demo_dataset(seed=4)


def test_each_seed_and_each_dataset_file_is_its_own_firm(tmp_path) -> None:
    def who(data: dict) -> tuple[str, str]:
        return data["tenant"]["TenantKey"], data["firm"]["id"]

    firms = {who(demo_dataset(seed=1)), who(demo_dataset(seed=2)), who(load_dataset("empty"))}
    assert who(demo_dataset(seed=1)) == who(demo_dataset(seed=1, scale=2))
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps({"accounts": [{"name": "Tiny LLC"}]}))
        firms.add(who(load_dataset(str(tmp_path / name))))
    assert len(firms) == 5 and len({tenant for tenant, _ in firms}) == 5
    state = SandboxState()
    populate(state, load_dataset(str(tmp_path / "a.json")))
    path = tmp_path / "dumped.json"
    path.write_text(json.dumps(state.dump()))
    assert who(load_dataset(str(path))) == who(load_dataset(str(tmp_path / "a.json")))


def test_sizes_and_overlap() -> None:
    data = demo_dataset(seed=1)
    assert 290 <= len(data["organizations"]) <= 310
    assert len(data["people"]) == 900
    ipm_orgs = {o["FullName"].casefold() for o in data["organizations"]}
    exact = [a for a in data["accounts"] if a["name"].casefold() in ipm_orgs]
    assert 0.45 <= len(exact) / len(data["organizations"]) <= 0.75  # exact, case-insensitive
    loose = {" ".join(n.split()) for n in ipm_orgs}
    spaced = [
        a
        for a in data["accounts"]
        if a["name"].casefold() not in ipm_orgs and " ".join(a["name"].casefold().split()) in loose
    ]
    assert spaced  # spacing variants
    ipm_people = {fold(f"{p['FirstName']} {p['LastName']}") for p in data["people"]}
    matched = [
        c for c in data["contacts"] if fold(f"{c['first_name']} {c['last_name']}") in ipm_people
    ]
    assert 0.7 <= len(matched) / len(data["people"]) <= 0.95
    only_liscio = [
        c for c in data["contacts"] if fold(f"{c['first_name']} {c['last_name']}") not in ipm_people
    ]
    assert only_liscio


def test_variants_a_sync_meets() -> None:
    data = demo_dataset(seed=1)
    org_names = [o["FullName"] for o in data["organizations"]]
    account_names = [a["name"] for a in data["accounts"]]
    assert XSS_NAME in org_names
    assert "Ångström Consulting" in org_names and "O'Brien & Sons LLC" in org_names
    assert any("L.L.C." in n for n in account_names + org_names)
    assert any(n.endswith(" Inc.") for n in org_names)
    assert any(n.isupper() for n in account_names)  # case variants
    people = [person_full_name(p) for p in data["people"]]
    assert people.count("John Smith") >= 2
    assert any(", " in n for n in people)  # "Last, First"
    assert any("José Núñez" == n for n in people) and any("Zoë" in n for n in people)
    assert any("'" in n for n in people)
    contacts = data["contacts"]
    emails = [c["primary_email"].casefold() for c in contacts if c["primary_email"]]
    assert len(emails) == len(set(emails))  # Liscio contacts' primary emails are unique
    assert any(c["primary_email"] is None for c in contacts)
    assert any(c["created_by"] == "account_owner" for c in contacts)
    assert any(c["archived"] for c in contacts)
    cards = [c for p in data["people"] for c in p["BusinessCards"]]
    assert any(not c["EmailAddresses"] for c in cards)
    assert any(not c["PhoneNumbers"] for c in cards)
    org_cards = [c for o in data["organizations"] for c in o["BusinessCards"]]
    assert any(
        len(c["PhoneNumbers"]) > 1 and len({p["Label"] for p in c["PhoneNumbers"]}) > 1
        for c in org_cards
    )
    assert any({a["Label"] for a in c["Addresses"]} == {"Physical", "Mailing"} for c in org_cards)
    assert any(c.get("LinkedInLink") for c in org_cards)
    assert any(len(o["BusinessCards"]) > 1 for o in data["organizations"])


def test_scale_twenty_is_big() -> None:
    # how long it takes is a figure for bench/, not an assertion: a busy machine is slower
    data = demo_dataset(seed=1, scale=20)
    state = SandboxState()
    populate(state, data)
    assert state.count("organizations") > 5900 and state.count("people") == 18000
    assert state.count("accounts") + state.count("contacts") > 20000


def test_a_dumped_state_reloads_as_a_dataset_file(tmp_path) -> None:
    state = SandboxState()
    populate(state, demo_dataset(seed=2))
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(state.dump()))
    again = SandboxState()
    populate(again, load_dataset(str(path)))
    for collection in ("organizations", "people", "cards", "accounts", "contacts"):
        assert again.all(collection) == state.all(collection)
    minimal = tmp_path / "small.json"
    minimal.write_text(
        json.dumps(
            {
                "organizations": [
                    {
                        "FullName": "Tiny LLC",
                        "BusinessCards": [{"EmailAddresses": ["t@example.com"]}],
                    }
                ],
                "people": [{"FirstName": "Ann", "LastName": "Lee"}],
                "accounts": [{"name": "Tiny LLC"}],
                "contacts": [{"first_name": "Ann", "last_name": "Lee"}],
            }
        )
    )
    small = SandboxState()
    populate(small, load_dataset(str(minimal)))
    org = small.all("organizations")[0]
    assert small.primary_card(org["OrganizationKey"])["EmailAddresses"] == ["t@example.com"]
    assert small.all("people")[0]["FullName"] == "Ann Lee"
    assert small.all("contacts")[0]["primary_email"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "is not valid JSON (line 1, column 1"),
        (b"[1, 2]", "must hold a JSON object"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_a_bad_dataset_file_gets_a_clear_message(tmp_path, content, message) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset(str(path))
    with pytest.raises(ValueError, match="no file"):
        load_dataset(str(tmp_path / "missing.json"))
