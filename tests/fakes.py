"""In-memory Liscio and IPM: small stateful Connector implementations with fault injection.

Tests assert on the fakes' state after a run (what each system now holds, how many writes
each received), not on the calls made. Faults:

- ``Faults(fail_at=N)``: the write after N committed writes raises ServiceError without
  committing; with ``lose_reply=True`` it commits and then raises (the reply was lost).
  One ``Faults`` may be shared by both fakes so that N counts writes to either system.
- ``reject={record id, external id or name}``: writes to that record raise RecordError.
- ``down=True``: every call raises ``down_error`` (ServiceError, or AuthError).
- ``unreadable={record id: problem}``: pulls leave that record out and report it, as a
  connector does with a record whose fields have the wrong types.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from pmtools.connectors.base import Unreadable
from pmtools.core.records import Address, FieldValue, Identity, Kind, Record, Side
from pmtools.errors import AuthError, DuplicateCreate, NotFound, RecordError, ServiceError

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Faults:
    """When and how writes fail (see the module docstring)."""

    fail_at: int | None = None
    lose_reply: bool = False
    writes: int = 0  # committed writes so far, both systems when shared
    fired: bool = False

    def before_write(self, side: Side) -> bool:
        """Raise now (no commit) or return True when the reply must be lost after commit."""
        if self.fail_at is not None and not self.fired and self.writes >= self.fail_at:
            self.fired = True
            if not self.lose_reply:
                raise ServiceError(f"{side} is unavailable (injected)", side=str(side), status=503)
            return True
        return False


@dataclass
class FakeSystem:
    """State and behaviour shared by both fakes."""

    side: Side = Side.LISCIO
    faults: Faults = field(default_factory=Faults)
    reject: set[str] = field(default_factory=set)
    down: bool = False
    down_error: type[ServiceError] | type[AuthError] = ServiceError  # what ``down`` raises
    records: dict[Kind, dict[str, Record]] = field(default_factory=lambda: {k: {} for k in Kind})
    field_writes: list[tuple[Kind, str, str, FieldValue]] = field(default_factory=list)
    creates: list[tuple[Kind, str, str | None]] = field(default_factory=list)
    detail_loads: int = 0
    update_calls: int = 0  # update_fields calls that committed
    firm: str = "fake-firm"  # what identity() answers: the firm or tenant this system is
    pulls: list[tuple[Kind, str | None]] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    _left_out: list[Unreadable] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _ticks: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- seeding and inspecting (test helpers, not part of the protocol) ------------------
    def _stamp(self) -> str:
        return (EPOCH + timedelta(seconds=next(self._ticks))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _new_id(self, kind: Kind) -> str:
        prefix = "L" if self.side is Side.LISCIO else "K"
        return f"{prefix}-{'a' if kind is Kind.ACCOUNTS else 'c'}{next(self._ids):04d}"

    def add(self, kind: Kind, name: str, **values: object) -> Record:
        """Put a record into the system as if a person had made it there."""
        parts = {}
        if kind is Kind.CONTACTS and "first_name" not in values:
            first, _, last = name.partition(" ")
            parts = {"first_name": first, "last_name": last or None}
        if isinstance(values.get("address"), str):
            values["address"] = Address(line1=values["address"])  # type: ignore[arg-type]
        stamp = self._stamp()
        rec = Record(
            side=self.side,
            kind=kind,
            id=str(values.pop("id", self._new_id(kind))),
            name=name,
            created_at=stamp,
            modified_at=stamp,
            **parts,
            **values,
        )  # type: ignore[arg-type]
        self.records[kind][rec.id] = rec
        return rec

    def edit(self, kind: Kind, record_id: str, **values: object) -> Record:
        """Change a record as a person would (bumps its modification time)."""
        rec = replace(self.records[kind][record_id], modified_at=self._stamp(), **values)
        self.records[kind][record_id] = rec
        return rec

    def remove(self, kind: Kind, record_id: str) -> None:
        """Delete a record (in IPM's web app; the API cannot)."""
        del self.records[kind][record_id]

    def by_name(self, kind: Kind, name: str) -> list[Record]:
        """Records of ``kind`` named ``name`` exactly."""
        return [r for r in self.records[kind].values() if r.name == name]

    def snapshot(self) -> dict[Kind, dict[str, tuple]]:
        """Every record's name and synced fields (ignoring ids' and times' randomness)."""
        return {
            k: {
                r.id: (r.name, r.external_id, tuple(r.field_values().items()))
                for r in recs.values()
            }
            for k, recs in self.records.items()
        }

    # -- the Connector protocol ------------------------------------------------------------
    def _check_up(self) -> None:
        if self.down:
            raise self.down_error(
                f"{self.side} is down (injected)",
                side=str(self.side),
                status=401 if self.down_error is AuthError else 503,
            )

    def _check_reject(self, *keys: str | None) -> None:
        for key in keys:
            if key is not None and key in self.reject:
                raise RecordError(
                    f"{self.side} rejected {key} (injected)",
                    side=str(self.side),
                    status=400,
                    code="4003",
                )

    def _listed(self, rec: Record) -> Record:
        return rec

    def iter_records(self, kind: Kind, *, modified_since: str | None = None) -> Iterator[Record]:
        """Yield every record of ``kind`` (or those modified at/after ``modified_since``)."""
        self._check_up()
        self.pulls.append((kind, modified_since))
        for rec in sorted(self.records[kind].values(), key=lambda r: r.id):
            if rec.id in self.unreadable:
                self._left_out.append(
                    Unreadable(
                        side=self.side,
                        kind=kind,
                        id=rec.id,
                        name=rec.name,
                        problem=self.unreadable[rec.id],
                    )
                )
            elif modified_since is None or (rec.modified_at or "") >= modified_since:
                yield self._listed(rec)

    def take_unreadable(self) -> list[Unreadable]:
        """The records pulls left out since the last call."""
        taken, self._left_out = self._left_out, []
        return taken

    def get_record(self, kind: Kind, record_id: str) -> Record:
        """One record with every synced field; NotFound when it is gone."""
        self._check_up()
        try:
            return self.records[kind][record_id]
        except KeyError:
            raise NotFound(
                f"{self.side} {kind} {record_id} not found", side=str(self.side), status=404
            ) from None

    def load_details(self, kind: Kind, records: Sequence[Record]) -> list[Record]:
        """Records with every synced field loaded."""
        self._check_up()
        out = []
        for rec in records:
            if rec.details_complete:
                out.append(rec)
            else:
                self.detail_loads += 1
                out.append(self.get_record(kind, rec.id))
        return out

    def create_record(self, kind: Kind, draft: Record, *, external_id: str) -> Record:
        """Create a record from ``draft``; DuplicateCreate when ``external_id`` is in use."""
        self._check_up()
        if self.find_by_external_id(kind, external_id) is not None:
            raise DuplicateCreate(
                f"external id {external_id} already in use",
                side=str(self.side),
                status=500,
                code="5001",
            )
        self._check_reject(draft.id, external_id, draft.name)
        lose = self.faults.before_write(self.side)
        stamp = self._stamp()
        rec = Record(
            side=self.side,
            kind=kind,
            id=self._new_id(kind),
            name=draft.name,
            first_name=draft.first_name,
            middle_name=draft.middle_name,
            last_name=draft.last_name,
            external_id=external_id,
            created_by="firm" if kind is Kind.CONTACTS and self.side is Side.LISCIO else None,
            created_at=stamp,
            modified_at=stamp,
            **{f: draft.get(f) for f in kind.fields},
        )
        self.records[kind][rec.id] = rec
        self.creates.append((kind, rec.id, external_id))
        self.faults.writes += 1
        if lose:
            raise ServiceError(
                f"{self.side}: reply lost after create (injected)", side=str(self.side), status=502
            )
        return rec

    def find_by_external_id(self, kind: Kind, external_id: str) -> Record | None:
        """The record created with ``external_id``, or None."""
        self._check_up()
        for rec in self.records[kind].values():
            if rec.external_id == external_id:
                return rec
        return None

    def update_fields(self, kind: Kind, record_id: str, values: Mapping[str, FieldValue]) -> Record:
        """Write some synced fields of one record."""
        rec = self.get_record(kind, record_id)
        self._check_reject(record_id, rec.external_id, rec.name)
        lose = self.faults.before_write(self.side)
        rec = replace(rec.with_fields(dict(values)), modified_at=self._stamp())
        self.records[kind][record_id] = rec
        self.field_writes.extend((kind, record_id, f, v) for f, v in values.items())
        self.update_calls += 1
        self.faults.writes += 1
        if lose:
            raise ServiceError(
                f"{self.side}: reply lost after write (injected)", side=str(self.side), status=502
            )
        return rec

    def check(self) -> str:
        """A short label for the connection."""
        self._check_up()
        return f"fake {self.side}"

    def identity(self) -> Identity:
        """Which firm this fake is (its ``firm``)."""
        self._check_up()
        return Identity(side=self.side, id=self.firm)


class FakeLiscio(FakeSystem):
    """Liscio: accounts and contacts, archived flags, contacts made by firm or account owner."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(side=Side.LISCIO, **kwargs)  # type: ignore[arg-type]


class FakeIpm(FakeSystem):
    """IPM: organizations listed without their address (``details_complete=False``)."""

    def __init__(self, *, org_rows_incomplete: bool = True, **kwargs: object) -> None:
        super().__init__(side=Side.IPM, **kwargs)  # type: ignore[arg-type]
        self.org_rows_incomplete = org_rows_incomplete

    def _listed(self, rec: Record) -> Record:
        if rec.kind is Kind.ACCOUNTS and self.org_rows_incomplete:
            return replace(rec, address=None, details_complete=False)
        return rec


def small_firm(**ipm_options: object) -> tuple[FakeLiscio, FakeIpm]:
    """A firm whose data is in both systems: exact-name pairs with every field situation.

    Accounts: "Acme LLC" (Liscio phone vs IPM phone differ, IPM has the address only),
    "Birch & Co" (website on Liscio only), "Cedar Ltd" (Liscio only), "Delta Inc" (IPM only).
    Contacts: "Ann Lee" (title differs, email on IPM only; IPM says "Lee, Ann"),
    "Bob Stone" (Liscio only, made by an account owner), "Cy Young" (IPM only).
    """
    liscio, ipm = FakeLiscio(), FakeIpm(**ipm_options)  # type: ignore[arg-type]
    A, C = Kind.ACCOUNTS, Kind.CONTACTS
    liscio.add(A, "Acme LLC", phone="555-0100")
    ipm.add(A, "ACME LLC", phone="555-0199", address=Address(line1="1 Main St", city="Troy"))
    liscio.add(A, "Birch & Co", website="birch.example")
    ipm.add(A, "Birch & Co")
    liscio.add(A, "Cedar Ltd", phone="555-0300")
    ipm.add(A, "Delta Inc", phone="555-0400")
    liscio.add(C, "Ann Lee", first_name="Ann", last_name="Lee", title="CFO")
    ipm.add(
        C,
        "Lee, Ann",
        first_name="Ann",
        last_name="Lee",
        title="Controller",
        email="ann@acme.example",
    )
    liscio.add(
        C,
        "Bob Stone",
        first_name="Bob",
        last_name="Stone",
        email="bob@birch.example",
        created_by="account_owner",
    )
    ipm.add(C, "Cy Young", first_name="Cy", last_name="Young", title="Owner")
    return liscio, ipm


def one(system, kind, name):
    """The one record of ``kind`` named ``name`` in a fake system."""
    (rec,) = system.by_name(kind, name)
    return rec


def point_at(monkeypatch, server):
    """Point the PMTOOLS_* settings of this test at a running simulator (rate limit off)."""
    from pmtools import config

    monkeypatch.setenv("PMTOOLS_LISCIO_URL", server.url + "/liscio")
    monkeypatch.setenv("PMTOOLS_IPM_URL", server.url + "/karbon")
    monkeypatch.setenv("PMTOOLS_LISCIO_TOKEN", config.SANDBOX_LISCIO_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", config.SANDBOX_IPM_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", config.SANDBOX_IPM_ACCESS_KEY)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "0")
