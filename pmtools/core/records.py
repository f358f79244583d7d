"""Records of both systems, in one shape the engine works with.

Connectors translate API JSON to and from these at the boundary; every other module sees only
these frozen value objects.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pmtools.core.countries import country_name


class Side(str, enum.Enum):
    """Which system a record lives in."""

    LISCIO = "liscio"
    IPM = "ipm"

    def __str__(self) -> str:
        return self.value


class Kind(str, enum.Enum):
    """What a record is: an account/organization or a contact/person."""

    ACCOUNTS = "accounts"
    CONTACTS = "contacts"

    def __str__(self) -> str:
        return self.value

    @property
    def ipm_name(self) -> str:
        """The IPM word for this kind: organizations or people."""
        return "organizations" if self is Kind.ACCOUNTS else "people"

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields synced for this kind, and only these."""
        return SYNCED_FIELDS[self]


SYNCED_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.ACCOUNTS: ("address", "phone", "website"),
    Kind.CONTACTS: ("title", "email"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A postal address; Liscio's structured form, mapped to a Karbon card address."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        """True when every part is empty after trimming."""
        return not any((v or "").strip() for v in self.parts())

    def parts(self) -> tuple[str | None, ...]:
        """The parts in reading order."""
        return (self.line1, self.line2, self.city, self.state, self.postal_code, self.country)

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict (Liscio's wire names)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Address | None:
        """Parse Liscio's wire form; None for null."""
        if data is None:
            return None
        names = ("line1", "line2", "city", "state", "postal_code", "country")
        return cls(**{n: _str_or_none(data.get(n)) for n in names})

    def __str__(self) -> str:
        # One line, the country by name: IPM's "DE" reads as "Germany" in every report.
        parts = (*self.parts()[:-1], country_name(self.country))
        return ", ".join(p.strip() for p in parts if p and p.strip())


FieldValue = str | Address | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One Liscio Account/Contact or IPM Organization/Person.

    ``name`` is the display name: a Liscio account's name, a Liscio contact's "First Middle
    Last", an IPM record's FullName (which may be "Last, First"). The person name parts are set
    where the source has them (Liscio always; IPM on single reads and creates, not list rows).
    ``details_complete`` is False for an IPM organization read from a list row, whose address
    lives on its business card and was not fetched.
    """

    side: Side
    kind: Kind
    id: str
    name: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    address: Address | None = None
    phone: str | None = None
    website: str | None = None
    title: str | None = None
    email: str | None = None
    archived: bool = False
    created_by: str | None = None  # Liscio contacts: "firm" or "account_owner"
    account_ids: tuple[str, ...] = ()
    created_at: str | None = None
    modified_at: str | None = None
    external_id: str | None = None  # IPM UserDefinedIdentifier / Liscio external_id
    details_complete: bool = True
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def get(self, name: str) -> FieldValue:
        """The value of a synced field."""
        if name not in SYNCED_FIELDS[self.kind]:
            raise KeyError(f"{name!r} is not a synced field of {self.kind}")
        value: FieldValue = getattr(self, name)
        return value

    def with_fields(self, values: dict[str, FieldValue]) -> Record:
        """A copy with the given synced fields replaced."""
        for name in values:
            self.get(name)
        return replace(self, **values)  # type: ignore[arg-type]  # names checked above

    def field_values(self) -> dict[str, FieldValue]:
        """The synced fields of this record's kind, by name."""
        return {n: getattr(self, n) for n in SYNCED_FIELDS[self.kind]}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the state store's cache and reports)."""
        data = asdict(self)
        data["side"] = self.side.value
        data["kind"] = self.kind.value
        data["account_ids"] = list(self.account_ids)
        data["extra"] = [list(p) for p in self.extra]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """The inverse of :meth:`to_dict`."""
        data = dict(data)
        data["side"] = Side(data["side"])
        data["kind"] = Kind(data["kind"])
        data["address"] = Address.from_dict(data.get("address"))
        data["account_ids"] = tuple(data.get("account_ids") or ())
        data["extra"] = tuple(tuple(p) for p in data.get("extra") or ())
        return cls(**data)


def has_value(value: FieldValue) -> bool:
    """A field "has a value" when it is non-empty after trimming."""
    if value is None:
        return False
    if isinstance(value, Address):
        return not value.is_empty()
    return bool(value.strip())


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Which firm a service is: IPM's tenant (TenantKey) or the Liscio firm (id and name)."""

    side: Side
    id: str
    name: str = ""

    def __str__(self) -> str:
        what = "IPM tenant" if self.side is Side.IPM else "Liscio firm"
        return f"{what} {self.name!r} ({self.id})" if self.name else f"{what} {self.id}"
