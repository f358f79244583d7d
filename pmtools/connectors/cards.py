"""Karbon BusinessCards ↔ pmtools' synced fields (pure: JSON in, JSON out).

A card holds lists (EmailAddresses, PhoneNumbers, WebSites, Addresses) and social links; pmtools
syncs only one entry of some of them. Writing changes exactly that entry and keeps the rest,
because ``PUT /v3/BusinessCards/{key}`` replaces the whole card:

- email: the first EmailAddresses entry (Karbon has no primary flag; the first is primary);
- phone: the first PhoneNumbers entry's Number (its label, country and key are kept);
- website: the first WebSites entry;
- title: RoleOrTitle;
- address: the Physical address if there is one, else the first (label and key kept);
  AddressLines holds line1 and line2 separated by a newline; CountryCode holds the ISO 3166-1
  alpha-2 code of the country (a name, "UK" or "Deutschland" is written as its code; a value
  that names no country is a CardError, and nothing of that address is written).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pmtools.connectors.wire import FieldProblem, object_field, text_field
from pmtools.core.countries import UnknownCountry, country_code
from pmtools.core.records import Address, FieldValue, Kind, has_value

ENTITY_TYPE = {Kind.ACCOUNTS: "Organization", Kind.CONTACTS: "Contact"}
PHONE_MAX = 20  # Karbon's maxLength for a phone Number


class CardError(ValueError):
    """A value cannot be written to a card as it is (e.g. a phone number too long)."""


_ADDRESS_PARTS = ("AddressLines", "City", "StateProvinceCounty", "ZipCode", "CountryCode", "Label")


def check_cards(cards: Any) -> Any:
    """``cards`` unchanged when every synced value on them has the type Karbon documents;
    FieldProblem naming the first that does not (an object where text belongs, …)."""
    if cards is None:
        return None
    if not isinstance(cards, list):
        raise FieldProblem("BusinessCards is not a list")
    for card in cards:
        if not isinstance(card, dict):
            raise FieldProblem("a business card is not an object")
        text_field(card, "RoleOrTitle")
        for key in ("EmailAddresses", "WebSites"):
            values = card.get(key)
            if values is not None and not (
                isinstance(values, list) and all(v is None or isinstance(v, str) for v in values)
            ):
                raise FieldProblem(f"{key} on a business card is not a list of text")
        for key, parts in (("PhoneNumbers", ("Number", "Label")), ("Addresses", _ADDRESS_PARTS)):
            entries = card.get(key)
            if entries is not None and not isinstance(entries, list):
                raise FieldProblem(f"{key} on a business card is not a list")
            for entry in entries or ():
                object_field({key: entry}, key, parts)
    return cards


def primary_card(cards: Any) -> dict[str, Any] | None:
    """The card flagged IsPrimaryCard, else the first card, else None."""
    if not isinstance(cards, list):
        return None
    dicts = [c for c in cards if isinstance(c, dict)]
    for card in dicts:
        if card.get("IsPrimaryCard") is True:
            return card
    return dicts[0] if dicts else None


def card_fields(card: Mapping[str, Any] | None, kind: Kind) -> dict[str, FieldValue]:
    """The synced fields of ``kind`` as the card holds them (None where absent)."""
    card = card or {}
    if kind is Kind.CONTACTS:
        emails = _strings(card.get("EmailAddresses"))
        return {"title": _text(card.get("RoleOrTitle")), "email": emails[0] if emails else None}
    phones = [p for p in _list(card.get("PhoneNumbers")) if isinstance(p, dict)]
    sites = _strings(card.get("WebSites"))
    addresses = [a for a in _list(card.get("Addresses")) if isinstance(a, dict)]
    chosen = choose_address(addresses)
    return {
        "address": None if chosen is None else parse_address(addresses[chosen]),
        "phone": _text(phones[0].get("Number")) if phones else None,
        "website": sites[0] if sites else None,
    }


def choose_address(addresses: list[dict[str, Any]]) -> int | None:
    """Index of the address pmtools syncs: the Physical one, else the first."""
    for i, entry in enumerate(addresses):
        if str(entry.get("Label") or "").casefold() == "physical":
            return i
    return 0 if addresses else None


def parse_address(entry: Mapping[str, Any]) -> Address | None:
    """A card address as an :class:`Address` (None when every part is empty)."""
    lines = [ln.strip() for ln in str(entry.get("AddressLines") or "").splitlines()]
    lines = [ln for ln in lines if ln]
    address = Address(
        line1=lines[0] if lines else None,
        line2=", ".join(lines[1:]) or None,
        city=_text(entry.get("City")),
        state=_text(entry.get("StateProvinceCounty")),
        postal_code=_text(entry.get("ZipCode")),
        country=_text(entry.get("CountryCode")),
    )
    return None if address.is_empty() else address


def apply_fields(
    card: Mapping[str, Any], kind: Kind, values: Mapping[str, FieldValue]
) -> dict[str, Any]:
    """A copy of ``card`` with the given synced fields written and everything else kept.

    Raises KeyError for a field that is not synced for ``kind``, CardError for a value Karbon
    would refuse.
    """
    new = clean_card(card)
    for name, value in values.items():
        if name not in kind.fields:
            raise KeyError(f"{name!r} is not a synced field of {kind}")
        if name == "email":
            new["EmailAddresses"] = _set_first(
                _strings(new.get("EmailAddresses")), value, casefold=True
            )
        elif name == "website":
            new["WebSites"] = _set_first(_strings(new.get("WebSites")), value)
        elif name == "title":
            text = _text(value)
            if text is None:
                new.pop("RoleOrTitle", None)
            else:
                new["RoleOrTitle"] = text
        elif name == "phone":
            new["PhoneNumbers"] = _set_phone(_list(new.get("PhoneNumbers")), value)
        elif name == "address":
            new["Addresses"] = _set_address(_list(new.get("Addresses")), value)
    return new


def new_card(
    kind: Kind, values: Mapping[str, FieldValue], *, entity_key: str | None = None
) -> dict[str, Any]:
    """A primary card for a new or card-less entity, holding the given synced fields."""
    card: dict[str, Any] = {"IsPrimaryCard": True, "EntityType": ENTITY_TYPE[kind]}
    if entity_key:
        card["EntityKey"] = entity_key
    return apply_fields(card, kind, {k: v for k, v in values.items() if has_value(v)})


def clean_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``card`` fit to PUT: no ``@odata`` annotations and no null values.

    A PUT replaces the card, so leaving a null out clears the same as sending it, and the
    spec's request schema types most card properties as non-null strings.
    """
    out: dict[str, Any] = {}
    for key, value in card.items():
        if key.startswith("@odata") or value is None:
            continue
        if isinstance(value, list):
            value = [
                {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
                for item in value
                if item is not None
            ]
        out[key] = copy.deepcopy(value)
    return out


def _set_first(items: list[str], value: FieldValue, *, casefold: bool = False) -> list[str]:
    text = _text(value)
    rest = items[1:]
    if text is None:
        return rest
    same = (lambda s: s.casefold() == text.casefold()) if casefold else (lambda s: s == text)
    return [text] + [s for s in rest if not same(s)]


def _set_phone(phones: list[Any], value: FieldValue) -> list[Any]:
    text = _text(value)
    entries = [p for p in phones if isinstance(p, dict)]
    if text is None:
        return entries[1:]
    if len(text) > PHONE_MAX:
        raise CardError(f"phone number {text!r} is longer than Karbon's {PHONE_MAX} characters")
    if entries:
        first = dict(entries[0])
        first["Number"] = text
        return [first] + entries[1:]
    return [{"Number": text, "Label": "Work"}]


def _set_address(addresses: list[Any], value: FieldValue) -> list[Any]:
    entries = [dict(a) for a in addresses if isinstance(a, dict)]
    index = choose_address(entries)
    if not isinstance(value, Address) or value.is_empty():
        if index is not None:
            del entries[index]
        return entries
    lines = "\n".join(p.strip() for p in (value.line1, value.line2) if p and p.strip())
    try:
        code = country_code(value.country)
    except UnknownCountry:
        raise CardError(
            f"the address's country {str(value.country).strip()!r} is not a country "
            "pmtools knows; correct it in Liscio and sync again"
        ) from None
    parts = {
        "AddressLines": lines or None,
        "City": _text(value.city),
        "StateProvinceCounty": _text(value.state),
        "ZipCode": _text(value.postal_code),
        "CountryCode": code,
    }
    # keep the entry's key, label and anything else that is not one of the parts written
    keep = (
        {k: v for k, v in entries[index].items() if k not in parts}
        if index is not None
        else {"Label": "Physical"}
    )
    entry = keep | {k: v for k, v in parts.items() if v is not None}
    if index is None:
        return [entry]
    entries[index] = entry
    return entries


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [s for s in _list(value) if isinstance(s, str) and s.strip()]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Address):
        return None
    text = str(value).strip()
    return text or None
