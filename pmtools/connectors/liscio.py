"""The Liscio connector: accounts and contacts over pmtools' Liscio REST contract.

The contract is ``docs/liscio-api.yaml`` (Liscio publishes no API; the simulator serves the
same contract). Lists page by cursor; writes are ``PATCH`` with only the fields being changed;
creates carry ``external_id`` so that a create whose reply was lost is looked up, not repeated.

An address's country is sent by name ("Germany", not IPM's "DE"): Liscio shows its addresses
as typed, so it gets what a person would have typed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from pmtools.connectors.base import Unreadable
from pmtools.connectors.http import (
    Clock,
    HttpClient,
    RequestStats,
    RetryPolicy,
    Sleep,
    query_string,
    redact_url,
)
from pmtools.connectors.paging import MAX_PAGES, PageGuard
from pmtools.connectors.replies import DEADLINE
from pmtools.connectors.wire import (
    FieldProblem,
    flag_field,
    object_field,
    person_parts,
    text,
    text_field,
    texts_field,
    time_field,
)
from pmtools.core.countries import UnknownCountry, country_code, country_name
from pmtools.core.records import Address, FieldValue, Identity, Kind, Record, Side, has_value
from pmtools.errors import DuplicateCreate, MalformedReply, RecordError, ServiceError

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the contract's most items a page
_PATH = {Kind.ACCOUNTS: "/v1/accounts", Kind.CONTACTS: "/v1/contacts"}
_WIRE = {"email": "primary_email"}  # synced field → Liscio property, where they differ
_ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code", "country")


class LiscioConnector:
    """Liscio as a :class:`~pmtools.connectors.base.Connector`.

    ``rate_limit`` is requests a minute (0 = no pacing, the default: Liscio states no limit;
    a 429 is still honoured).
    """

    side = Side.LISCIO

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        rate_limit: float = 0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        retry: RetryPolicy | None = None,
        deadline: float = DEADLINE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._max_pages = max_pages
        self._http = HttpClient(
            base_url,
            label="Liscio",
            side=Side.LISCIO.value,
            transport=transport,
            timeout=timeout,
            rate_limit=rate_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
            deadline=deadline,
            secrets=(token,),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        self._found: dict[tuple[Kind, str], Record] = {}
        self._unreadable: list[Unreadable] = []

    def __repr__(self) -> str:
        return f"LiscioConnector({redact_url(self._http.base_url)!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def stats(self) -> RequestStats:
        """What this connector's HTTP client has done so far."""
        return self._http.stats()

    # -- reading ----------------------------------------------------------------------------

    def check(self) -> str:
        """One account list call of one item: proves the URL and the token work."""
        response = self._http.request(
            "GET", _PATH[Kind.ACCOUNTS] + query_string({"limit": 1}), kind="check"
        )
        self._page(response, "accounts")
        return "Liscio connected"

    def identity(self) -> Identity:
        """``GET /v1/firm``: the firm this token acts for."""
        response = self._http.request("GET", "/v1/firm", kind="check")
        body = self._object(response, "firm")
        firm_id, name = body.get("id"), body.get("name")
        if not isinstance(firm_id, str) or not firm_id.strip():
            raise self._service(response, "the firm reply has no id")
        return Identity(
            side=self.side, id=firm_id.strip(), name=name.strip() if isinstance(name, str) else ""
        )

    def iter_records(self, kind: Kind, *, modified_since: str | None = None) -> Iterator[Record]:
        """Yield every account or contact (archived ones included), following the cursor.

        With ``modified_since``, only records updated at or after it (``updated_since``).
        """
        params: dict[str, Any] = {"limit": PAGE_SIZE, "updated_since": modified_since}
        guard = PageGuard(
            self._http,
            str(kind),
            endpoint=self._http.url(_PATH[kind]),
            page_size=PAGE_SIZE,
            max_pages=self._max_pages,
        )
        seen: set[str] = set()
        while True:
            response = self._http.request("GET", _PATH[kind] + query_string(params), kind="list")
            items, cursor = self._page(response, str(kind))
            new = 0
            for item in items:
                try:
                    record = self._record(kind, item, response)
                except _Unusable as exc:
                    if exc.bad.id not in seen:
                        seen.add(exc.bad.id)
                        new += 1
                        log.warning("%s", self._http.scrub(exc.bad.message()))
                        self._unreadable.append(exc.bad)
                    continue
                if record.id not in seen:
                    seen.add(record.id)
                    new += 1
                    yield record
            if not cursor:
                return
            guard.page(new_rows=new)
            guard.check(cursor)
            params = params | {"cursor": cursor}

    def take_unreadable(self) -> list[Unreadable]:
        """The items :meth:`iter_records` left out since the last call (then forgotten)."""
        taken, self._unreadable = self._unreadable, []
        return taken

    def get_record(self, kind: Kind, record_id: str) -> Record:
        """Read one account or contact; NotFound when it does not exist."""
        response = self._http.request(
            "GET", f"{_PATH[kind]}/{quote(record_id, safe='')}", kind="read"
        )
        return self._record(kind, self._object(response, str(kind)), response)

    def load_details(self, kind: Kind, records: Sequence[Record]) -> list[Record]:
        """Liscio records are complete as listed: returned as they are, without a request."""
        return list(records)

    def find_by_external_id(self, kind: Kind, external_id: str) -> Record | None:
        """The record created with ``external_id`` (the list filter), or None."""
        found = self._found.pop((kind, external_id), None)
        if found is not None:
            return found
        response = self._http.request(
            "GET",
            _PATH[kind] + query_string({"limit": 1, "external_id": external_id}),
            kind="lookup",
        )
        items, _ = self._page(response, str(kind))
        records = [self._record(kind, item, response) for item in items]
        return next((r for r in records if r.external_id == external_id), None)

    # -- writing ----------------------------------------------------------------------------

    def update_fields(self, kind: Kind, record_id: str, values: Mapping[str, FieldValue]) -> Record:
        """``PATCH`` only the given synced fields; returns the record after the change."""
        body: dict[str, Any] = {}
        for name, value in values.items():
            if name not in kind.fields:
                raise KeyError(f"{name!r} is not a synced field of {kind}")
            body[_WIRE.get(name, name)] = _to_wire(value)
        if not body:
            return self.get_record(kind, record_id)
        response = self._http.request(
            "PATCH", f"{_PATH[kind]}/{quote(record_id, safe='')}", json=body, kind="write"
        )
        return self._record(kind, self._object(response, str(kind)), response)

    def create_record(self, kind: Kind, draft: Record, *, external_id: str) -> Record:
        """``POST`` a new account or contact carrying ``external_id``.

        Raises DuplicateCreate when a record already has ``external_id`` (409); a create whose
        reply was lost (timeout, 5xx) is looked up before it is sent again.
        """
        body = _create_body(kind, draft, external_id)
        tries = self._http.retry.attempts
        for attempt in range(1, tries + 1):
            try:
                response = self._http.request("POST", _PATH[kind], json=body, kind="create")
            except RecordError as exc:
                if exc.status == 409:  # duplicate_external_id
                    existing = self.find_by_external_id(kind, external_id)
                    if existing is not None:
                        raise self._duplicate(kind, external_id, existing) from None
                raise
            except ServiceError as exc:
                existing = self.find_by_external_id(kind, external_id)
                if existing is not None:
                    raise self._duplicate(kind, external_id, existing) from None
                if attempt == tries:
                    raise
                log.info(
                    "Liscio create %r failed (%s); nothing was created, sending again",
                    external_id,
                    exc.status or "no reply",
                )
                self._http.backoff(attempt)
                continue
            return self._record(kind, self._object(response, str(kind)), response)
        raise AssertionError("unreachable")

    # -- internals ----------------------------------------------------------------------------

    def _duplicate(self, kind: Kind, external_id: str, existing: Record) -> DuplicateCreate:
        self._found[(kind, external_id)] = existing
        return DuplicateCreate(
            f"Liscio {kind} with external_id {external_id!r} already exists ({existing.id})",
            side=self.side.value,
            status=409,
            code="duplicate_external_id",
        )

    def _page(self, response: httpx.Response, what: str) -> tuple[list[Any], str | None]:
        body = self._object(response, f"{what} page")
        items = body.get("items")
        cursor = body.get("next_cursor")
        if not isinstance(items, list) or not (cursor is None or isinstance(cursor, str)):
            raise self._service(response, f"the {what} page lacks 'items' or 'next_cursor'")
        return items, cursor or None

    def _object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self._http.parse_json(response)
        if not isinstance(body, dict):
            raise self._service(response, f"the {what} reply is not a JSON object")
        return body

    def _record(self, kind: Kind, item: Any, response: httpx.Response) -> Record:
        """An item as a Record: MalformedReply without an id; for a field of the wrong type,
        _Unusable (a RecordError naming the record, kept by a listing as Unreadable)."""
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not item["id"].strip()
        ):
            raise self._service(response, f"a {kind} item has no id")
        try:
            return _parse(kind, item)
        except FieldProblem as exc:
            name = (
                item.get("name")
                if kind is Kind.ACCOUNTS
                else " ".join(
                    item[n] for n in ("first_name", "last_name") if isinstance(item.get(n), str)
                )
            )
            bad = Unreadable(
                side=self.side,
                kind=kind,
                id=item["id"],
                problem=str(exc),
                name=name.strip() if isinstance(name, str) else "",
            )
            raise _Unusable(
                self._http.scrub(bad.message()), bad=bad, status=response.status_code
            ) from None

    def _service(self, response: httpx.Response, problem: str) -> MalformedReply:
        error = self._http.malformed(response.request.url, problem, method=response.request.method)
        error.status = response.status_code
        return error


class _Unusable(RecordError):
    """One item's fields have the wrong types; ``bad`` says which record and why."""

    def __init__(self, message: str, *, bad: Unreadable, status: int) -> None:
        super().__init__(message, side=Side.LISCIO.value, status=status)
        self.bad = bad


def _parse(kind: Kind, item: dict[str, Any]) -> Record:
    """A Liscio item (with an id) as a Record; FieldProblem for a field of the wrong type."""
    common: dict[str, Any] = {
        "side": Side.LISCIO,
        "kind": kind,
        "id": item["id"],
        "archived": flag_field(item, "archived"),
        "created_at": time_field(item, "created_at"),
        "modified_at": time_field(item, "updated_at"),
        "external_id": text_field(item, "external_id"),
    }
    if kind is Kind.ACCOUNTS:
        raw = object_field(item, "address", _ADDRESS_PARTS)
        address = Address.from_dict(raw) if raw is not None else None
        return Record(
            name=text_field(item, "name") or "",
            address=None if address is None or address.is_empty() else address,
            phone=text_field(item, "phone"),
            website=text_field(item, "website"),
            **common,
        )
    first, middle, last = (text_field(item, n) for n in ("first_name", "middle_name", "last_name"))
    return Record(
        name=" ".join(p for p in (first, middle, last) if p),
        first_name=first,
        middle_name=middle,
        last_name=last,
        title=text_field(item, "title"),
        email=text_field(item, "primary_email"),
        created_by=text_field(item, "created_by"),
        account_ids=texts_field(item, "account_ids"),
        **common,
    )


def _to_wire(value: FieldValue) -> Any:
    if isinstance(value, Address):
        if value.is_empty():
            return None
        try:
            country_code(value.country)
        except UnknownCountry:
            raise RecordError(
                f"the address's country {str(value.country).strip()!r} is not a "
                "country pmtools knows; correct it in IPM and sync again",
                side="liscio",
            ) from None
        return dataclasses.replace(value, country=country_name(value.country)).to_dict()
    return text(value)


def _create_body(kind: Kind, draft: Record, external_id: str) -> dict[str, Any]:
    try:
        values = {
            _WIRE.get(k, k): _to_wire(v) for k, v in draft.field_values().items() if has_value(v)
        }
    except RecordError as exc:
        raise RecordError(f"Liscio create {draft.name!r}: {exc}", side="liscio") from None
    if kind is Kind.ACCOUNTS:
        if not draft.name.strip():
            raise RecordError("Liscio create: an account needs a name", side="liscio")
        return {"name": draft.name.strip(), **values, "external_id": external_id}
    first, middle, last = person_parts(draft)
    if not first or not last:
        raise RecordError(
            f"Liscio create {draft.name!r}: a contact needs a first and a last name", side="liscio"
        )
    body = {"first_name": first, "last_name": last, **values, "external_id": external_id}
    if middle:
        body["middle_name"] = middle
    if draft.account_ids:
        body["account_ids"] = list(draft.account_ids)
    return body
