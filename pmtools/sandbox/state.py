"""The simulator's data: both services' records, in memory, optionally mirrored to SQLite.

Records are kept as the plain JSON-ready dicts the wire formats use (Karbon's PascalCase for
IPM organizations, people and business cards; Liscio's snake_case for accounts and contacts).
With a ``db`` path every change is written through to a SQLite file before the reply is sent,
so a restarted simulator (``--db PATH``) answers exactly as before, and a reply dropped after a
commit (the ``drop-after-commit`` fault) leaves the change in place, as a real service would.

All access goes through one re-entrant lock: the simulator's event loop thread writes, tests
read from their own thread (``server.state``).
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ORGANIZATIONS, PEOPLE, CARDS = "organizations", "people", "cards"
ACCOUNTS, CONTACTS = "accounts", "contacts"
COLLECTIONS = (ORGANIZATIONS, PEOPLE, CARDS, ACCOUNTS, CONTACTS)
KEY_FIELD = {
    ORGANIZATIONS: "OrganizationKey",
    PEOPLE: "ContactKey",
    CARDS: "BusinessCardKey",
    ACCOUNTS: "id",
    CONTACTS: "id",
}
LISCIO_PREFIX = {ACCOUNTS: "acc_", CONTACTS: "con_"}
_KEY_ALPHABET = string.ascii_letters + string.digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``, as both wire formats carry timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive means UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SandboxState:
    """Every record the simulator holds, with the indexes its routes need.

    ``db``: a SQLite file to persist to (created if missing); None keeps everything in memory.
    Keys of new records come from a generator seeded with ``seed``.
    """

    def __init__(self, *, db: str | Path | None = None, seed: int = 1) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in COLLECTIONS}
        self.tenant: dict[str, Any] = {}
        self.firm: dict[str, Any] = {}  # the Liscio firm: {"id", "name"}
        self._udi: dict[str, dict[str, str]] = {ORGANIZATIONS: {}, PEOPLE: {}}
        self._external: dict[str, dict[str, str]] = {ACCOUNTS: {}, CONTACTS: {}}
        self._emails: dict[str, str] = {}  # Liscio contact primary email (casefolded) -> id
        self._cards_of: dict[str, list[str]] = {}  # entity key -> its card keys, in order
        self._rng = random.Random(f"pmtools-sandbox-keys-{seed}")
        self._last_time = datetime(2000, 1, 1, tzinfo=UTC)
        self._pending: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._depth = 0
        self.version = 0  # bumped by every change; lets routes cache derived views
        self.cache: dict[Any, tuple[int, Any]] = {}  # route caches, keyed by the routes
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._db = sqlite3.connect(str(db), check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
            self._load_db()

    # -- reading ---------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """True when no record of any kind is held."""
        with self.lock:
            return not any(self.records.values())

    def get(self, collection: str, key: str) -> dict[str, Any] | None:
        """A copy of one record, or None."""
        with self.lock:
            found = self.records[collection].get(key)
            return _copy(found) if found is not None else None

    def all(self, collection: str) -> list[dict[str, Any]]:
        """Copies of every record of a collection, in insertion order."""
        with self.lock:
            return [_copy(r) for r in self.records[collection].values()]

    def count(self, collection: str, **equal: Any) -> int:
        """How many records of ``collection`` have every given field equal to the value.

        ``FullName`` and ``name`` compare case-insensitively, e.g.
        ``state.count("organizations", FullName="Acme LLC")``.
        """
        with self.lock:
            return sum(1 for r in self.records[collection].values() if _matches(r, equal))

    def cards_of(self, entity_key: str) -> list[dict[str, Any]]:
        """Copies of an IPM record's business cards, the primary card first."""
        with self.lock:
            cards = [self.records[CARDS][k] for k in self._cards_of.get(entity_key, ())]
            cards.sort(key=lambda c: not c.get("IsPrimaryCard"))
            return [_copy(c) for c in cards]

    def primary_card(self, entity_key: str) -> dict[str, Any] | None:
        """The IPM record's primary card (the first card when none is flagged), or None.

        Not a copy: callers hold the lock and must not change it.
        """
        with self.lock:
            cards = [self.records[CARDS][k] for k in self._cards_of.get(entity_key, ())]
            for card in cards:
                if card.get("IsPrimaryCard"):
                    return card
            return cards[0] if cards else None

    def key_for_udi(self, collection: str, udi: str) -> str | None:
        """The key of the organization/person with this UserDefinedIdentifier."""
        with self.lock:
            return self._udi[collection].get(udi)

    def id_for_external(self, collection: str, external_id: str) -> str | None:
        """The id of the Liscio account/contact with this external_id."""
        with self.lock:
            return self._external[collection].get(external_id)

    def contact_with_email(self, email: str) -> str | None:
        """The id of the Liscio contact whose primary email this is (case-insensitive)."""
        with self.lock:
            return self._emails.get(email.strip().casefold())

    def dump(self) -> dict[str, Any]:
        """Everything held, as a dataset dict (the ``--dataset PATH`` file shape)."""
        with self.lock:
            orgs = []
            for org in self.records[ORGANIZATIONS].values():
                orgs.append({**_copy(org), "BusinessCards": self.cards_of(org["OrganizationKey"])})
            people = []
            for person in self.records[PEOPLE].values():
                people.append(
                    {**_copy(person), "BusinessCards": self.cards_of(person["ContactKey"])}
                )
            return {
                "tenant": _copy(self.tenant),
                "firm": _copy(self.firm),
                "organizations": orgs,
                "people": people,
                "accounts": self.all(ACCOUNTS),
                "contacts": self.all(CONTACTS),
            }

    def canonical(self) -> dict[str, dict[str, Any]]:
        """Everything held, without generated keys and timestamps, for comparing end states.

        IPM records are named by UserDefinedIdentifier when they have one (records a sync
        created), else by key (the dataset's keys are deterministic); their cards are listed
        primary first, without card, phone or address keys. Liscio records are named by id.
        Two simulators that went through the same changes compare equal, whatever the order
        or the retries were.
        """
        with self.lock:
            out: dict[str, dict[str, Any]] = {}
            for collection in (ORGANIZATIONS, PEOPLE):
                view = {}
                for key, record in self.records[collection].items():
                    name = record.get("UserDefinedIdentifier") or key
                    if name in view:  # two records answer to one name: keep both visibly
                        name = f"{name} (again: {key})"
                    fields = {
                        k: v
                        for k, v in record.items()
                        if k not in (KEY_FIELD[collection], "LastModifiedDateTime")
                    }
                    fields["cards"] = [_canonical_card(c) for c in self.cards_of(key)]
                    view[name] = fields
                out[collection] = view
            for collection in (ACCOUNTS, CONTACTS):
                out[collection] = {
                    key: {k: v for k, v in record.items() if k not in ("created_at", "updated_at")}
                    for key, record in self.records[collection].items()
                }
            return out

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SandboxState]:
        """Hold the lock; every ``put``/``delete`` inside is persisted together at the end."""
        with self.lock:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._flush()

    def put(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace one record (keyed by its key field); returns it."""
        key = record[KEY_FIELD[collection]]
        with self.transaction():
            old = self.records[collection].get(key)
            if old is not None and not (
                collection == CARDS and old["EntityKey"] == record["EntityKey"]
            ):
                self._unindex(collection, old)  # a replaced card keeps its place
            self.records[collection][key] = record
            self._index(collection, record)
            self._pending[(collection, key)] = record
            self.version += 1
        return record

    def delete(self, collection: str, key: str) -> None:
        """Remove one record (only business cards are ever removed)."""
        with self.transaction():
            old = self.records[collection].pop(key, None)
            if old is not None:
                self._unindex(collection, old)
                self._pending[(collection, key)] = None
                self.version += 1

    def set_tenant(self, tenant: dict[str, Any]) -> None:
        """Replace the tenant settings."""
        with self.transaction():
            self.tenant = tenant
            self._pending[("meta", "tenant")] = tenant

    def set_firm(self, firm: dict[str, Any]) -> None:
        """Replace the Liscio firm's identity."""
        with self.transaction():
            self.firm = firm
            self._pending[("meta", "firm")] = firm

    def new_key(self, collection: str) -> str:
        """A fresh key: Karbon-style 12 characters for IPM, ``acc_NNNNNN`` ids for Liscio."""
        with self.lock:
            if collection in LISCIO_PREFIX:
                prefix = LISCIO_PREFIX[collection]
                number = len(self.records[collection]) + 1
                while f"{prefix}{number:06d}" in self.records[collection]:
                    number += 1
                return f"{prefix}{number:06d}"
            while True:
                key = "".join(self._rng.choice(_KEY_ALPHABET) for _ in range(12))
                if not any(key in self.records[c] for c in (ORGANIZATIONS, PEOPLE, CARDS)):
                    return key

    def new_guid(self) -> str:
        """A GUID-shaped key for phone numbers and addresses on cards."""
        with self.lock:
            raw = f"{self._rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-8{raw[17:20]}-{raw[20:]}"

    def stamp(self) -> str:
        """Now, as a timestamp strictly later than every earlier stamp of this state."""
        with self.lock:
            now = datetime.now(UTC)
            if now <= self._last_time:
                now = self._last_time + timedelta(microseconds=1)
            self._last_time = now
            return format_time(now)

    def close(self) -> None:
        """Close the database file, if any."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- internals -------------------------------------------------------------------------

    def _index(self, collection: str, record: dict[str, Any]) -> None:
        if collection in self._udi:
            udi = record.get("UserDefinedIdentifier")
            if udi:
                self._udi[collection][udi] = record[KEY_FIELD[collection]]
        elif collection in self._external:
            ext = record.get("external_id")
            if ext:
                self._external[collection][ext] = record["id"]
            if collection == CONTACTS and record.get("primary_email"):
                self._emails[record["primary_email"].strip().casefold()] = record["id"]
        elif collection == CARDS:
            keys = self._cards_of.setdefault(record["EntityKey"], [])
            if record["BusinessCardKey"] not in keys:
                keys.append(record["BusinessCardKey"])
        stamp = record.get("LastModifiedDateTime") or record.get("updated_at")
        if stamp:
            moment = parse_time(stamp)
            if moment > self._last_time:
                self._last_time = moment

    def _unindex(self, collection: str, record: dict[str, Any]) -> None:
        if collection in self._udi:
            udi = record.get("UserDefinedIdentifier")
            if udi and self._udi[collection].get(udi) == record[KEY_FIELD[collection]]:
                del self._udi[collection][udi]
        elif collection in self._external:
            ext = record.get("external_id")
            if ext and self._external[collection].get(ext) == record["id"]:
                del self._external[collection][ext]
            email = (record.get("primary_email") or "").strip().casefold()
            if collection == CONTACTS and email and self._emails.get(email) == record["id"]:
                del self._emails[email]
        elif collection == CARDS:
            keys = self._cards_of.get(record["EntityKey"], [])
            if record["BusinessCardKey"] in keys:
                keys.remove(record["BusinessCardKey"])

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        if self._db is None:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for (collection, key), record in pending.items():
                if collection == "meta":
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(record))
                    )
                elif record is None:
                    db.execute(
                        "DELETE FROM records WHERE collection = ? AND key = ?", (collection, key)
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                        (collection, key, json.dumps(record, ensure_ascii=False)),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _load_db(self) -> None:
        assert self._db is not None
        rows = self._db.execute("SELECT collection, data FROM records ORDER BY rowid")
        for collection, data in rows:
            record = json.loads(data)
            self.records[collection][record[KEY_FIELD[collection]]] = record
            self._index(collection, record)
        for name, value in self._db.execute("SELECT name, value FROM meta"):
            if name in ("tenant", "firm"):
                setattr(self, name, json.loads(value))


def _canonical_card(card: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in card.items() if k not in ("BusinessCardKey", "EntityKey")}
    out["PhoneNumbers"] = [
        {k: v for k, v in p.items() if k != "PhoneNumberKey"}
        for p in card.get("PhoneNumbers") or []
    ]
    out["Addresses"] = [
        {k: v for k, v in a.items() if k != "AddressKey"} for a in card.get("Addresses") or []
    ]
    return out


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _matches(record: dict[str, Any], equal: dict[str, Any]) -> bool:
    for name, want in equal.items():
        have = record.get(name)
        if name in ("FullName", "name") and isinstance(have, str) and isinstance(want, str):
            if have.casefold() != want.casefold():
                return False
        elif have != want:
            return False
    return True
