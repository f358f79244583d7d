"""Karbon v3 wire shapes for the simulator: list rows, entities, business cards, errors.

Shapes follow ``KarbonAPI.json``. Where the spec types a property as a plain string (not
nullable), an unset value is left out of the reply rather than sent as null; the
``UserDefinedIdentifier`` of a single organization or contact is required by the spec, so an
unset one is sent as ``""``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse

from pmtools.sandbox.state import CARDS, ORGANIZATIONS, PEOPLE, SandboxState

# The spec's labels are examples, not a closed list: Karbon's own tests send "Test label" and
# "Work update" and are answered 201/204. Labels are free text, like a label in Karbon's UI.
LABEL_MAX = 100  # simulator's own bound: nothing Karbon documents
RESTRICTION_LEVELS = ("Public", "Private", "Hidden")
LINKS = ("FacebookLink", "LinkedInLink", "TwitterLink", "SkypeLink")
ENTITY_TYPE = {ORGANIZATIONS: "Organization", PEOPLE: "Contact"}
DTO = {ORGANIZATIONS: "OrganizationDTO", PEOPLE: "ContactDTO"}
SET_NAME = {ORGANIZATIONS: "Organizations", PEOPLE: "Contacts"}
NAME_ORDER = "_FullNameOrder"  # simulator-internal: "LastFirst" shows a person "Last, First"

ORG_FIELDS = (
    "FullName",
    "ClientOwner",
    "ClientManager",
    "ContactType",
    "UserDefinedIdentifier",
    "RestrictionLevel",
    "EntityDescription",
    "AccountingDetail",
)
PERSON_FIELDS = (
    "FirstName",
    "MiddleName",
    "LastName",
    "PreferredName",
    "Salutation",
    "Suffix",
    "ClientOwner",
    "ClientManager",
    "ContactType",
    "UserDefinedIdentifier",
    "RestrictionLevel",
    "EntityDescription",
    "AccountingDetail",
)
# What a PATCH may change: the name properties (Karbon's error names exactly these) and, as the
# spec's PATCH descriptions add, RestrictionLevel.
PATCH_NAMES = {
    ORGANIZATIONS: ("FullName",),
    PEOPLE: ("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix"),
}
PATCHABLE = {kind: (*names, "RestrictionLevel") for kind, names in PATCH_NAMES.items()}


class KarbonError(Exception):
    """An error reply in Karbon's ``{"error": {"code", "message"}}`` shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        """The reply."""
        return JSONResponse(
            {"error": {"code": self.code, "message": self.message}}, status_code=self.status
        )


def patch_refused(collection: str) -> KarbonError:
    """Karbon's word-for-word reply to a PATCH of a property it does not patch."""
    return KarbonError(
        400,
        "4002",
        f"Invalid property to update. Only {','.join(PATCH_NAMES[collection])} can be patched.",
    )


def invalid(message: str) -> KarbonError:
    """400 / 4003 "Invalid Model." with the detail in the message."""
    return KarbonError(400, "4003", f"Invalid Model. {message}")


def person_full_name(person: dict[str, Any]) -> str:
    """A person's FullName: "First Middle Last", or "Last, First Middle" for LastFirst."""
    first = " ".join(p for p in (person.get("FirstName"), person.get("MiddleName")) if p)
    last = person.get("LastName") or ""
    if person.get(NAME_ORDER) == "LastFirst" and first and last:
        return f"{last}, {first}"
    return " ".join(p for p in (first, last) if p)


def format_address(address: dict[str, Any]) -> str | None:
    """One string for a list row: "Lines, City, State Zip, Country"."""
    state_zip = " ".join(
        p for p in (address.get("StateProvinceCounty"), address.get("ZipCode")) if p
    )
    parts = [
        address.get("AddressLines"),
        address.get("City"),
        state_zip,
        address.get("CountryCode"),
    ]
    text = ", ".join(p for p in parts if p)
    return text or None


def list_row(
    collection: str, record: dict[str, Any], card: dict[str, Any] | None
) -> dict[str, Any]:
    """A list row: the summary DTO with contact details from the primary card."""
    card = card or {}
    emails, phones = card.get("EmailAddresses") or [], card.get("PhoneNumbers") or []
    if collection == ORGANIZATIONS:
        row: dict[str, Any] = {
            "@odata.type": "#KarbonService.OrganizationSummaryDTO",
            "OrganizationKey": record["OrganizationKey"],
            "FullName": record["FullName"],
            "PhoneNumber": phones[0]["Number"] if phones else None,
            "EmailAddress": emails[0] if emails else None,
            "Website": (card.get("WebSites") or [None])[0],
            "ContactType": record.get("ContactType"),
            "LastModifiedDateTime": record["LastModifiedDateTime"],
            "UserDefinedIdentifier": record.get("UserDefinedIdentifier"),
        }
        keep_null = ("PhoneNumber", "UserDefinedIdentifier")
    else:
        addresses = card.get("Addresses") or []
        row = {
            "@odata.type": "#KarbonService.ContactSummaryDTO",
            "ContactKey": record["ContactKey"],
            "FullName": record["FullName"],
            "PreferredName": record.get("PreferredName"),
            "Salutation": record.get("Salutation"),
            "ClientOwner": record.get("ClientOwner"),
            "ClientManager": record.get("ClientManager"),
            "Address": format_address(addresses[0]) if addresses else None,
            "EmailAddress": emails[0] if emails else None,
            "PhoneNumber": phones[0]["Number"] if phones else None,
            "RoleOrTitle": card.get("RoleOrTitle"),
            "ContactType": record.get("ContactType"),
            "UserDefinedIdentifier": record.get("UserDefinedIdentifier"),
            "LastModifiedDateTime": record["LastModifiedDateTime"],
        }
        keep_null = ("Address", "PhoneNumber")
    return {k: v for k, v in row.items() if v is not None or k in keep_null}


def entity(
    collection: str, record: dict[str, Any], base: str, cards: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A single organization/contact reply; ``cards`` only with ``$expand=BusinessCards``."""
    name = SET_NAME[collection]
    out: dict[str, Any] = {
        "@odata.context": f"{base}/v3/$metadata#{name}/KarbonService.{DTO[collection]}/$entity",
        "@odata.type": f"#KarbonService.{DTO[collection]}",
    }
    key_field = "OrganizationKey" if collection == ORGANIZATIONS else "ContactKey"
    out[key_field] = record[key_field]
    fields = ORG_FIELDS if collection == ORGANIZATIONS else PERSON_FIELDS
    for field in fields:
        if record.get(field) is not None:
            out[field] = record[field]
    if record.get("AccountingDetail") is not None:
        out["AccountingDetail"] = {
            "OrganizationPermaKey" if collection == ORGANIZATIONS else "ContactPermaKey": record[
                key_field
            ],
            **record["AccountingDetail"],
        }
    if collection == PEOPLE:
        out["FirstName"] = record.get("FirstName") or ""
        out["LastName"] = record.get("LastName") or ""
    out["UserDefinedIdentifier"] = record.get("UserDefinedIdentifier") or ""
    out["RestrictionLevel"] = record.get("RestrictionLevel") or "Public"
    out["LastModifiedDateTime"] = record["LastModifiedDateTime"]
    if cards is not None:
        out["BusinessCards"] = [card_reply(c) for c in cards]
    return out


def card_reply(card: dict[str, Any]) -> dict[str, Any]:
    """A business card as replied: unset values left out, keys on phones and addresses."""
    out: dict[str, Any] = {}
    for name, value in card.items():
        if name.startswith("_") or value is None:
            continue
        if name in ("Addresses", "PhoneNumbers"):
            value = [{k: v for k, v in item.items() if v is not None} for item in value]
        out[name] = value
    return out


def parse_card(
    state: SandboxState,
    raw: Any,
    *,
    entity_type: str,
    entity_key: str,
    old: dict[str, Any] | None,
    new_entity: bool = False,
) -> dict[str, Any]:
    """A card to store from a request body, replacing ``old`` (if any) entirely.

    Every property the request leaves out is cleared: that is what a Karbon PUT does.
    ``IsPrimaryCard`` keeps the old value (setting it by PUT has no effect). On a create
    (``new_entity``) the keys Karbon assigns (``EntityKey``, ``BusinessCardKey``) are ignored,
    as the spec's own create example sends made-up ones.
    """
    if not isinstance(raw, dict):
        raise invalid("A business card must be an object.")
    sent_type = raw.get("EntityType")
    if sent_type is not None and sent_type != entity_type:
        raise invalid(f"EntityType must be '{entity_type}' for this business card.")
    sent_key = None if new_entity else raw.get("EntityKey")
    if sent_key not in (None, "", entity_key):
        raise invalid(f"EntityKey must be '{entity_key}' for this business card.")
    # An organization's own card belongs to no other organization: the spec's examples send
    # one there anyway (made up), and its replies show null, so it is not kept.
    org_key = (raw.get("OrganizationKey") or None) if entity_type == "Contact" else None
    if org_key is not None:
        if state.get(ORGANIZATIONS, str(org_key)) is None:
            raise invalid(f"OrganizationKey '{org_key}' is not a valid Organization Key.")
    card: dict[str, Any] = {
        "BusinessCardKey": old["BusinessCardKey"] if old else state.new_key(CARDS),
        "EntityType": entity_type,
        "EntityKey": entity_key,
        "IsPrimaryCard": bool(old["IsPrimaryCard"]) if old else bool(raw.get("IsPrimaryCard")),
        "OrganizationKey": org_key,
        "WebSites": _strings(raw, "WebSites"),
        "EmailAddresses": _strings(raw, "EmailAddresses"),
        "RoleOrTitle": _string(raw, "RoleOrTitle"),
    }
    for link in LINKS:
        card[link] = _string(raw, link)
    old_addresses = {a.get("AddressKey"): a for a in (old or {}).get("Addresses") or []}
    card["Addresses"] = [_address(state, a, old_addresses) for a in _list(raw, "Addresses")]
    old_phones = {p.get("PhoneNumberKey"): p for p in (old or {}).get("PhoneNumbers") or []}
    card["PhoneNumbers"] = [_phone(state, p, old_phones) for p in _list(raw, "PhoneNumbers")]
    return card


def _address(state: SandboxState, raw: Any, old: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("An address must be an object.")
    limits = {"AddressLines": 200, "City": 100, "StateProvinceCounty": 100, "ZipCode": 20}
    out: dict[str, Any] = {
        "AddressKey": raw.get("AddressKey") if raw.get("AddressKey") in old else state.new_guid()
    }
    for name, limit in limits.items():
        value = _string(raw, name)
        if value is not None and len(value) > limit:
            raise invalid(f"{name} must be at most {limit} characters.")
        out[name] = value
    out["CountryCode"] = _country(raw)
    out["Label"] = _label(raw)
    return out


def _phone(state: SandboxState, raw: Any, old: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("A phone number must be an object.")
    number = _string(raw, "Number")
    if number is None or not number.strip():
        raise invalid("The Number field is required.")
    if len(number) > 20:
        raise invalid("Number must be at most 20 characters.")
    key = raw.get("PhoneNumberKey")
    return {
        "PhoneNumberKey": key if key in old else state.new_guid(),
        "Number": number,
        "CountryCode": _dialling_code(raw),
        "Label": _label(raw),
    }


def _label(raw: dict[str, Any]) -> str | None:
    label = _string(raw, "Label")
    if label is not None and len(label) > LABEL_MAX:
        raise invalid(f"Label must be at most {LABEL_MAX} characters.")
    return label


def _dialling_code(raw: dict[str, Any]) -> str | None:
    """A phone's CountryCode: a dialling code ("+61", as Karbon's tests send) or, as the spec's
    example and Karbon's own replies show, a two-letter country ("AU"); kept as sent."""
    code = _string(raw, "CountryCode")
    if code is None:
        return None
    code = code.strip()
    if re.fullmatch(r"\+?[0-9]{1,4}(-[0-9]{1,4})?", code) or re.fullmatch(r"[A-Za-z]{2}", code):
        return code
    raise invalid("A phone CountryCode must be a dialling code such as +61.")


def _country(raw: dict[str, Any]) -> str | None:
    code = _string(raw, "CountryCode")
    if code is not None and (len(code) != 2 or not code.isalpha()):
        raise invalid("CountryCode must be a two letter ISO 3166-1 code.")
    return code.upper() if code else None


def _list(raw: dict[str, Any], name: str) -> list[Any]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{name} must be an array.")
    return value


def _strings(raw: dict[str, Any], name: str) -> list[str]:
    values = _list(raw, name)
    if not all(isinstance(v, str) for v in values):
        raise invalid(f"{name} must be an array of strings.")
    return [v for v in values if v.strip()]


def _string(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.")
    return value or None
