"""Datasets the simulator starts with: the demo firm, an empty one, or a JSON file.

A dataset is a dict (and a ``--dataset PATH`` file is that dict as JSON)::

    {"tenant": {...TenantSettings reply...}, "firm": {"id", "name"},
     "organizations": [{"OrganizationKey"?, "FullName", "ContactType"?, "UserDefinedIdentifier"?,
                        "LastModifiedDateTime"?, "BusinessCards": [card, ...]}, ...],
     "people": [{"ContactKey"?, "FirstName", "MiddleName"?, "LastName", "_FullNameOrder"?,
                 "LastModifiedDateTime"?, "BusinessCards": [card, ...]}, ...],
     "accounts": [{"id"?, "name", "address"?, "phone"?, "website"?, "archived"?, ...}, ...],
     "contacts": [{"id"?, "first_name", "last_name", "primary_email"?, "account_ids"?,
                   "created_by"?, ...}, ...]}

Organizations and people use Karbon's property names, cards are Karbon BusinessCards (keys
optional), accounts and contacts use the Liscio contract's names. Missing keys, ids and
timestamps are generated. ``_FullNameOrder: "LastFirst"`` shows that person's FullName as
"Last, First" (Karbon's firm-level display setting, applied per person here).
``SandboxState.dump()`` writes this shape, so a simulator's state can be saved and reloaded.

Each firm has its own IPM ``TenantKey`` and Liscio firm (:func:`identity`: from the demo's
seed, or a dataset file's path when it names none), so a state file sees another firm.

The small firm (:func:`small_dataset`) is the demo firm at a tenth of its size, for
simulating many firms at once. The demo firm (:func:`demo_dataset`) is deterministic from its
seed: about 300 organizations and 900 people in IPM times ``scale``, and a Liscio side
overlapping about 80% of them with the variants a sync meets in practice (case, spacing,
"LLC"/"L.L.C."/"Inc." and accent variants, "Last, First" names, repeated names, apostrophes,
missing emails and phones, records on one side only, contacts created by account owners,
archived records).
"""

from __future__ import annotations

import functools
import json
import random
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pmtools.sandbox.karbon_model import NAME_ORDER, person_full_name
from pmtools.sandbox.state import (
    ACCOUNTS,
    CARDS,
    CONTACTS,
    ORGANIZATIONS,
    PEOPLE,
    SandboxState,
    format_time,
)

FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "José",
    "Zoë",
    "Renée",
    "André",
    "Chloé",
    "Søren",
    "François",
    "Björn",
    "Siobhán",
    "Mónica",
    "Ana",
    "Luis",
    "Wei",
    "Priya",
    "Aisha",
    "Mohammed",
    "Hiroshi",
    "Olga",
    "Raj",
    "Fatima",
    "Seán",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "O'Brien",
    "O'Connor",
    "D'Angelo",
    "Núñez",
    "Müller",
    "Ångström",
    "Søndergaard",
    "García-López",
    "McDonald",
    "MacLeod",
    "van der Berg",
    "De la Cruz",
    "Kowalski",
    "Nakamura",
    "Patel",
    "Chen",
    "Kim",
    "Okafor",
    "Dubois",
    "Rossi",
]
MIDDLE = ["A.", "J.", "Marie", "Lee", "Ann", "R.", "Louise", "James"]
WORDS = [
    "Acme",
    "Summit",
    "Pinnacle",
    "Harbor",
    "Evergreen",
    "Blue Ridge",
    "Redwood",
    "Granite",
    "Maple",
    "Lakeside",
    "Riverbend",
    "Northstar",
    "Silverline",
    "Oakmont",
    "Cedar",
    "Sterling",
    "Horizon",
    "Keystone",
    "Meridian",
    "Bright Path",
    "Ironwood",
    "Crescent",
    "Falcon",
    "Beacon",
    "Willow",
    "Prairie",
    "Coastal",
    "Highland",
    "Liberty",
    "Café",
    "Élan",
    "Fjord",
    "Saint-Pierre",
]
TRADES = [
    "Consulting",
    "Bakery",
    "Dental",
    "Construction",
    "Landscaping",
    "Plumbing",
    "Design",
    "Logistics",
    "Realty",
    "Farms",
    "Auto Repair",
    "Software",
    "Marketing",
    "Veterinary Clinic",
    "Roofing",
    "Catering",
    "Fitness",
    "Holdings",
    "Properties",
    "Capital",
    "Medical",
    "Electric",
    "Studios",
    "Trucking",
    "Tax Services",
]
SUFFIXES = ["LLC", "LLC", "Inc.", "Inc.", "", "", "Co.", "LLP", "PC", "Corp.", "Ltd"]
SUFFIX_VARIANTS = {
    "LLC": ["L.L.C.", "llc", "LLC."],
    "Inc.": ["Inc", "Incorporated", "INC"],
    "Co.": ["Company", "Co"],
    "Corp.": ["Corporation", "Corp"],
}
TITLES = [
    "Owner",
    "CEO",
    "CFO",
    "Controller",
    "Bookkeeper",
    "Office Manager",
    "President",
    "Partner",
    "Treasurer",
    "Managing Director",
    "Director of Finance",
    "Accountant",
]
CITIES = [
    ("Springfield", "IL", "62701"),
    ("Austin", "TX", "73301"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Madison", "WI", "53703"),
    ("Raleigh", "NC", "27601"),
    ("Boise", "ID", "83702"),
    ("Tampa", "FL", "33602"),
    ("Albany", "NY", "12207"),
    ("Santa Fe", "NM", "87501"),
]
STREETS = [
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Elm St",
    "Cedar Ln",
    "Park Blvd",
    "2nd St",
    "Lakeview Rd",
    "Hillcrest Way",
    "Market St",
]
MAILS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me"]
SPECIAL_ORGS = [
    "Ångström Consulting",
    "O'Brien & Sons LLC",
    "Café Zoë Inc.",
    "Núñez Tax Services L.L.C.",
    "Smith & Smith LLC",
]
XSS_NAME = "<img src=x onerror=alert(1)>"
SPECIAL_PEOPLE = [
    ("John", None, "Smith"),
    ("John", None, "Smith"),
    ("José", None, "Núñez"),
    ("Zoë", None, "O'Brien"),
    ("Siobhán", "Marie", "O'Connor"),
]
_KEY_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
BASE_TIME = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
TENANT = {
    "TenantKey": "2BzmMRkhbwBT",
    "ClientAccessActivated": False,
    "ContactTypes": [
        {"Name": "Client", "ContactTypeKey": "z9p3q3d1e3"},
        {"Name": "Prospect", "ContactTypeKey": "z9p3q3d1e4"},
        {"Name": "Supplier", "ContactTypeKey": "z9p3q3d1e5"},
    ],
    "WorkStatuses": [],
    "WorkTypes": [],
    "ServiceTypes": [],
}
FIRM = {"id": "firm_2BzmMRkhbwBT", "name": "Sandbox Accounting LLP"}
FIRM_WORDS = [
    "Alder",
    "Birchwood",
    "Copperfield",
    "Dunmore",
    "Eastgate",
    "Fairhaven",
    "Glenview",
    "Hartwell",
    "Ivybridge",
    "Juniper",
    "Kingsley",
    "Larkspur",
]


def identity(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A firm's (TenantSettings, Liscio firm) from ``token`` (own RNG: the demo is unchanged)."""
    rng = random.Random(f"pmtools-firm-{token}")
    key = "".join(rng.choices(_KEY_CHARS, k=12))
    name = f"{rng.choice(FIRM_WORDS)} {rng.choice(FIRM_WORDS)} CPAs"
    return {**TENANT, "TenantKey": key}, {"id": f"firm_{key}", "name": name}


def empty_dataset() -> dict[str, Any]:
    """No records, only tenant settings and the Liscio firm."""
    tenant, firm = identity("empty")
    return {
        "tenant": tenant,
        "firm": firm,
        "organizations": [],
        "people": [],
        "accounts": [],
        "contacts": [],
    }


def small_dataset(*, seed: int = 1, scale: int = 1) -> dict[str, Any]:
    """A tenth of the demo firm (about 30 organizations and 90 people times ``scale``), with
    its own identity: many of them fit in one simulator (``pmtools sandbox --firms N``)."""
    scale = max(1, scale)
    data = demo_dataset(seed=seed, organizations=30 * scale, people=90 * scale)
    data["tenant"], data["firm"] = identity(f"small-{seed}")
    return data


def load_dataset(spec: str, *, seed: int = 1, scale: int = 1) -> dict[str, Any]:
    """``"demo"``, ``"small"``, ``"empty"``, or the path of a JSON dataset file."""
    if spec == "demo":
        return demo_dataset(seed=seed, scale=scale)
    if spec == "small":
        return small_dataset(seed=seed, scale=scale)
    if spec == "empty":
        return empty_dataset()
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"dataset must be demo, small, empty or a JSON file; no file {spec!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"dataset file {spec!r} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"dataset file {spec!r} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"dataset file {spec!r} must hold a JSON object")
    # Another file is another firm: derive its identity from the path when it names none.
    tenant, firm = identity(f"file:{path.resolve()}")
    given = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
    if not given.get("TenantKey"):
        data["tenant"] = {**TENANT, **given, "TenantKey": tenant["TenantKey"]}
    data.setdefault("firm", firm)
    return data


def populate(state: SandboxState, dataset: dict[str, Any]) -> None:
    """Add a dataset's records to ``state`` (keys, ids and timestamps filled where missing).

    The records are copied: one dataset dict can seed several simulators.
    """
    dataset = json.loads(json.dumps(dataset))
    with state.transaction():
        state.set_tenant(dataset.get("tenant") or dict(TENANT))
        state.set_firm(dataset.get("firm") or dict(FIRM))
        for collection in (ORGANIZATIONS, PEOPLE):
            key_field = "OrganizationKey" if collection == ORGANIZATIONS else "ContactKey"
            entity_type = "Organization" if collection == ORGANIZATIONS else "Contact"
            for raw in dataset.get(collection) or []:
                record = {k: v for k, v in raw.items() if k != "BusinessCards"}
                if not record.get(key_field):
                    record[key_field] = state.new_key(collection)
                record.setdefault("RestrictionLevel", "Public")
                record.setdefault("LastModifiedDateTime", format_time(BASE_TIME))
                if collection == PEOPLE:
                    record["FullName"] = person_full_name(record)
                state.put(collection, record)
                cards = raw.get("BusinessCards") or []
                for index, card in enumerate(cards):
                    card = dict(card)
                    if not card.get("BusinessCardKey"):
                        card["BusinessCardKey"] = state.new_key(CARDS)
                    card["EntityType"], card["EntityKey"] = entity_type, record[key_field]
                    card.setdefault("IsPrimaryCard", index == 0)
                    for item in card.get("PhoneNumbers") or []:
                        item["PhoneNumberKey"] = item.get("PhoneNumberKey") or state.new_guid()
                    for item in card.get("Addresses") or []:
                        item["AddressKey"] = item.get("AddressKey") or state.new_guid()
                    state.put(CARDS, card)
        defaults = {
            ACCOUNTS: {"address": None, "phone": None, "website": None},
            CONTACTS: {
                "middle_name": None,
                "title": None,
                "primary_email": None,
                "account_ids": [],
                "created_by": "firm",
            },
        }
        for collection in (ACCOUNTS, CONTACTS):
            for raw in dataset.get(collection) or []:
                record = {**defaults[collection], "archived": False, "external_id": None, **raw}
                if not record.get("id"):
                    record["id"] = state.new_key(collection)
                record.setdefault("created_at", format_time(BASE_TIME))
                record.setdefault("updated_at", record["created_at"])
                state.put(collection, record)


class _Maker:
    """The demo firm's generator: one seeded RNG, one pass."""

    def __init__(self, seed: int, scale: int) -> None:
        self.rng = random.Random(f"pmtools-demo-{seed}")
        self.scale = max(1, scale)
        self.keys: set[str] = set()
        self.emails: set[str] = set()
        self.org_names: set[str] = set()
        self.people: set[tuple[str, str | None, str]] = {
            (f, None, last) for f, _, last in SPECIAL_PEOPLE
        }
        self.counter = 0

    def key(self) -> str:
        while True:
            key = "".join(self.rng.choices(_KEY_CHARS, k=12))
            if key not in self.keys:
                self.keys.add(key)
                return key

    def guid(self) -> str:
        raw = f"{self.rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-8{raw[17:20]}-{raw[20:]}"

    def when(self) -> str:
        return format_time(BASE_TIME + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 300)))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def phone(self) -> str:
        return (
            f"({self.rng.randrange(201, 990)}) {self.rng.randrange(200, 999)}-"
            f"{self.rng.randrange(0, 10000):04d}"
        )

    def street(self) -> tuple[str, str, str, str]:
        city, state, zipcode = self.rng.choice(CITIES)
        return f"{self.rng.randrange(1, 9999)} {self.rng.choice(STREETS)}", city, state, zipcode

    def email(self, local: str, domain: str) -> str:
        base = _ascii(local).lower().replace(" ", "").replace("'", "")
        candidate, n = f"{base}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{base}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def person_name(self, *, middle: bool = True) -> tuple[str, str | None, str]:
        """A name no other demo person has (repeats are placed on purpose, not by chance).

        The name pools have no two entries that differ only by accents, so comparing the
        parts as they are is enough.
        """
        for attempt in range(30):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            mid = self.rng.choice(MIDDLE) if middle and self.chance(0.2) else None
            if attempt >= 3:
                mid = f"{self.rng.choice('ABCDEFGHJKLMNPRSTVW')}."
            if (first, mid, last) not in self.people and (
                mid or (first, None, last) not in self.people
            ):
                self.people.update({(first, mid, last), (first, None, last)})
                return first, mid, last
        raise AssertionError("unreachable: middle initials make names unique")

    def org_name(self) -> str:
        for _ in range(50):
            pattern = self.rng.random()
            suffix = self.rng.choice(SUFFIXES)
            if pattern < 0.45:
                core = f"{self.rng.choice(WORDS)} {self.rng.choice(TRADES)}"
            elif pattern < 0.8:
                core = f"{self.rng.choice(LAST)} {self.rng.choice(TRADES)}"
            elif pattern < 0.92:
                core = f"{self.rng.choice(LAST)} & {self.rng.choice(LAST)}"
            else:
                core, suffix = f"{self.rng.choice(LAST)} Family Trust", ""
            name = f"{core} {suffix}".strip()
            if name.casefold() not in self.org_names:
                self.org_names.add(name.casefold())
                return name
        self.counter += 1
        name = f"{self.rng.choice(WORDS)} {self.rng.choice(TRADES)} No. {self.counter}"
        self.org_names.add(name.casefold())
        return name


def demo_dataset(
    *, seed: int = 1, scale: int = 1, organizations: int | None = None, people: int | None = None
) -> dict[str, Any]:
    """The demo firm: deterministic from ``seed``; ``scale`` multiplies every count.

    ``organizations`` and ``people`` set the IPM counts instead (a small firm for fast
    tests; at least 5 of each, the deliberate special cases).
    """
    m = _Maker(seed, scale)
    data = empty_dataset()
    data["tenant"], data["firm"] = identity(f"demo-{seed}")
    n_orgs = max(len(SPECIAL_ORGS), organizations if organizations is not None else 300 * m.scale)
    n_people = max(len(SPECIAL_PEOPLE), people if people is not None else 900 * m.scale)
    org_names = list(SPECIAL_ORGS) + [m.org_name() for _ in range(n_orgs - len(SPECIAL_ORGS))]
    account_of: dict[str, str] = {}  # IPM organization key -> Liscio account id
    for name in org_names:
        org, values = _organization(m, name)
        data["organizations"].append(org)
        if m.chance(0.8) or name in SPECIAL_ORGS:
            account = _account(
                m, _org_variant(m, name), values, f"acc_{len(data['accounts']) + 1:06d}"
            )
            data["accounts"].append(account)
            account_of[org["OrganizationKey"]] = account["id"]
    xss, _ = _organization(m, XSS_NAME)
    data["organizations"].append(xss)  # IPM only: shown as text, never run
    for _ in range(int(n_orgs * 0.08)):
        name = m.org_name()
        _, values = _organization(m, name)
        data["accounts"].append(_account(m, name, values, f"acc_{len(data['accounts']) + 1:06d}"))
    org_keys = [o["OrganizationKey"] for o in data["organizations"]]
    names = list(SPECIAL_PEOPLE) + [m.person_name() for _ in range(n_people - len(SPECIAL_PEOPLE))]
    for index, (first, middle, last) in enumerate(names):
        org_key = m.rng.choice(org_keys) if m.chance(0.6) else None
        person, values = _person(m, first, middle, last, org_key)
        data["people"].append(person)
        # The second John Smith is IPM-only (two IPM candidates for one Liscio contact).
        if index != 1 and (index < len(SPECIAL_PEOPLE) or m.chance(0.8)):
            accounts = [account_of[org_key]] if org_key in account_of and m.chance(0.7) else []
            data["contacts"].append(
                _contact(
                    m, first, middle, last, values, accounts, f"con_{len(data['contacts']) + 1:06d}"
                )
            )
    account_ids = [a["id"] for a in data["accounts"]]
    for _ in range(int(n_people * 0.08)):
        first, _, last = m.person_name(middle=False)
        values = {
            "title": m.rng.choice(TITLES) if m.chance(0.5) else None,
            "email": m.email(f"{first}.{last}", m.rng.choice(MAILS)) if m.chance(0.8) else None,
        }
        contact = _contact(
            m,
            first,
            None,
            last,
            values,
            [m.rng.choice(account_ids)],
            f"con_{len(data['contacts']) + 1:06d}",
        )
        if m.chance(0.3):
            contact["created_by"] = "account_owner"
        data["contacts"].append(contact)
    return data


def _organization(m: _Maker, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    key = m.key()
    domain = _ascii(name).lower()
    domain = "".join(c for c in domain if c.isalnum())[:18] or "firm"
    line1, city, state, zipcode = m.street()
    values = {
        "address": (line1, city, state, zipcode) if m.chance(0.85) else None,
        "phone": m.phone() if m.chance(0.85) else None,
        "website": f"www.{domain}.com" if m.chance(0.7) else None,
        "email": f"info@{domain}.com" if m.chance(0.7) else None,
    }
    card: dict[str, Any] = {
        "BusinessCardKey": m.key(),
        "IsPrimaryCard": True,
        "WebSites": [values["website"]] if values["website"] else [],
        "EmailAddresses": [values["email"]] if values["email"] else [],
        "Addresses": [],
        "PhoneNumbers": [],
    }
    if values["email"] and m.chance(0.3):
        card["EmailAddresses"].append(f"billing@{domain}.com")
    if values["address"]:
        card["Addresses"].append(_karbon_address(m, values["address"], "Physical"))
        if m.chance(0.4):
            card["Addresses"].append(
                _karbon_address(
                    m, (f"PO Box {m.rng.randrange(100, 9999)}", city, state, zipcode), "Mailing"
                )
            )
    if values["phone"]:
        card["PhoneNumbers"].append(
            {
                "PhoneNumberKey": m.guid(),
                "Number": values["phone"],
                "CountryCode": "US",
                "Label": "Work",
            }
        )
        if m.chance(0.3):
            card["PhoneNumbers"].append(
                {
                    "PhoneNumberKey": m.guid(),
                    "Number": m.phone(),
                    "CountryCode": "US",
                    "Label": "Fax",
                }
            )
    if m.chance(0.5):
        card["LinkedInLink"] = f"linkedin.com/company/{domain}"
    if m.chance(0.2):
        card["FacebookLink"] = f"facebook.com/{domain}"
    cards = [card]
    if m.chance(0.1):
        branch = _karbon_address(m, m.street(), "Physical")
        cards.append(
            {
                "BusinessCardKey": m.key(),
                "IsPrimaryCard": False,
                "WebSites": [],
                "EmailAddresses": [f"branch@{domain}.com"],
                "Addresses": [branch],
                "PhoneNumbers": [
                    {
                        "PhoneNumberKey": m.guid(),
                        "Number": m.phone(),
                        "CountryCode": "US",
                        "Label": "Office",
                    }
                ],
            }
        )
    org = {
        "OrganizationKey": key,
        "FullName": name,
        "ContactType": "Client" if m.chance(0.85) else "Prospect",
        "RestrictionLevel": "Public",
        "LastModifiedDateTime": m.when(),
        "BusinessCards": cards,
    }
    return org, values


def _karbon_address(m: _Maker, parts: tuple[str, str, str, str], label: str) -> dict[str, Any]:
    line1, city, state, zipcode = parts
    return {
        "AddressKey": m.guid(),
        "AddressLines": line1,
        "City": city,
        "StateProvinceCounty": state,
        "ZipCode": zipcode,
        "CountryCode": "US",
        "Label": label,
    }


def _account(m: _Maker, name: str, values: dict[str, Any], account_id: str) -> dict[str, Any]:
    def pick(value: Any, other: Any) -> Any:
        roll = m.rng.random()
        if value is None:
            return other if roll < 0.3 else None  # Liscio has what IPM lacks
        if roll < 0.55:
            return value
        if roll < 0.75:
            return other  # both have a value, and they differ
        return None  # IPM has what Liscio lacks

    line1, city, state, zipcode = m.street()
    address = pick(values["address"], (line1, city, state, zipcode))
    created = m.when()
    return {
        "id": account_id,
        "name": name,
        "address": None
        if address is None
        else {
            "line1": address[0],
            "line2": "Suite 200" if m.chance(0.1) else None,
            "city": address[1],
            "state": address[2],
            "postal_code": address[3],
            "country": "US",
        },
        "phone": pick(values["phone"], m.phone()),
        "website": pick(values["website"], f"www.{m.key().lower()[:8]}.com"),
        "archived": m.chance(0.03),
        "external_id": None,
        "created_at": created,
        "updated_at": created,
    }


def _person(
    m: _Maker, first: str, middle: str | None, last: str, org_key: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {
        "email": m.email(f"{first}.{last}", m.rng.choice(MAILS)) if m.chance(0.85) else None,
        "title": m.rng.choice(TITLES) if m.chance(0.6) else None,
    }
    card: dict[str, Any] = {
        "BusinessCardKey": m.key(),
        "IsPrimaryCard": True,
        "OrganizationKey": org_key,
        "RoleOrTitle": values["title"],
        "EmailAddresses": [values["email"]] if values["email"] else [],
        "WebSites": [],
        "Addresses": [],
        "PhoneNumbers": [],
    }
    if values["email"] and m.chance(0.3):
        card["EmailAddresses"].append(m.email(f"{first[0]}{last}", "work.example.com"))
    if m.chance(0.7):
        card["PhoneNumbers"].append(
            {
                "PhoneNumberKey": m.guid(),
                "Number": m.phone(),
                "CountryCode": "US",
                "Label": "Mobile",
            }
        )
    if m.chance(0.3):
        card["PhoneNumbers"].append(
            {"PhoneNumberKey": m.guid(), "Number": m.phone(), "CountryCode": "US", "Label": "Work"}
        )
    if m.chance(0.5):
        card["Addresses"].append(_karbon_address(m, m.street(), "Home"))
    if m.chance(0.3):
        card["LinkedInLink"] = f"linkedin.com/in/{_ascii(first + last).lower()}"
    person = {
        "ContactKey": m.key(),
        "FirstName": first,
        "MiddleName": middle,
        "LastName": last,
        "ContactType": "Client" if m.chance(0.9) else "Prospect",
        "RestrictionLevel": "Public",
        "LastModifiedDateTime": m.when(),
        "BusinessCards": [card],
    }
    if m.chance(0.1):
        person[NAME_ORDER] = "LastFirst"
    if m.chance(0.15):
        person["Salutation"] = m.rng.choice(["Mr", "Ms", "Dr", "Mrs"])
    return person, values


def _contact(
    m: _Maker,
    first: str,
    middle: str | None,
    last: str,
    values: dict[str, Any],
    account_ids: list[str],
    contact_id: str,
) -> dict[str, Any]:
    roll = m.rng.random()
    if roll < 0.08:
        first, last = first.upper(), last.upper()
    elif roll < 0.12:
        first, last = _ascii(first), _ascii(last)
    elif roll < 0.15:
        first, last = first.lower(), last.lower()
    title = values["title"]
    roll = m.rng.random()
    if roll < 0.2:
        title = m.rng.choice(TITLES)
    elif roll < 0.35:
        title = None
    email = values["email"]
    roll = m.rng.random()
    if roll < 0.15 or email is None and roll < 0.35:
        email = m.email(f"{first}{last}", m.rng.choice(MAILS))
    elif roll < 0.4:
        email = None
    created = m.when()
    return {
        "id": contact_id,
        "first_name": first,
        "middle_name": middle,
        "last_name": last,
        "title": title,
        "primary_email": email,
        "account_ids": account_ids,
        "created_by": "account_owner" if m.chance(0.05) else "firm",
        "archived": m.chance(0.03),
        "external_id": None,
        "created_at": created,
        "updated_at": created,
    }


def _org_variant(m: _Maker, name: str) -> str:
    """The name a Liscio account of this organization carries."""
    roll = m.rng.random()
    if roll < 0.6:
        return name
    if roll < 0.72:
        return m.rng.choice([name.upper(), name.lower(), name.title()])
    if roll < 0.8:
        return "  ".join(name.split(" ")) if " " in name else f" {name} "
    if roll < 0.92:
        for suffix, variants in SUFFIX_VARIANTS.items():
            if name.endswith(" " + suffix):
                return name[: -len(suffix)] + m.rng.choice(variants)
        return name
    folded = _ascii(name)
    return folded if folded != name else name.upper()


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return (
        "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        .replace("ø", "o")
        .replace("Ø", "O")
    )
