"""The IPM connector: Intuit Practice Management through the Karbon API v3.

Organizations and people (the API's Contacts) are listed 100 rows a page; their synced fields
live on BusinessCards (:mod:`pmtools.connectors.cards`). Organization list rows carry no
address, so those records come back with ``details_complete=False`` until
:meth:`IpmConnector.load_details` reads their cards; the cards read there are kept for a while
and reused by the following :meth:`~IpmConnector.update_fields` (one request saved per write).

Creates carry a ``UserDefinedIdentifier`` (the engine's external id). A create whose reply was
lost (timeout, dropped connection, 5xx) is never simply repeated: the connector looks the
identifier up first and only re-sends when nothing was created. Karbon answers a duplicate
identifier with 500/5001, which becomes :class:`~pmtools.errors.DuplicateCreate`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pmtools.connectors import cards, replies
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
from pmtools.connectors.paging import MAX_PAGES, PageGuard, resolve_link, skip_of
from pmtools.connectors.wire import (
    FieldProblem,
    is_older,
    parse_time,
    person_parts,
    text_field,
    time_field,
)
from pmtools.core.records import FieldValue, Identity, Kind, Record, Side, has_value
from pmtools.errors import DuplicateCreate, MalformedReply, NotFound, RecordError, ServiceError

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Karbon's most rows a page
CONFLICT_TRIES = 4  # PUTs of one card answered 409/4020 before giving up


@dataclass(frozen=True, slots=True)
class _Api:
    collection: str
    key: str
    lookup: str


# The properties of UpdateOrganization / CreateContact that a whole-entity PUT sends back.
_WRITABLE = {
    Kind.ACCOUNTS: frozenset(
        {
            "FullName",
            "ClientOwner",
            "ClientManager",
            "ContactType",
            "UserDefinedIdentifier",
            "AccountingDetail",
            "EntityDescription",
        }
    ),
    Kind.CONTACTS: frozenset(
        {
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
            "AccountingDetail",
            "EntityDescription",
        }
    ),
}
_API = {
    Kind.ACCOUNTS: _Api(
        "Organizations", "OrganizationKey", "GetOrganizationByUserDefinedIdentifier"
    ),
    Kind.CONTACTS: _Api("Contacts", "ContactKey", "GetContactByUserDefinedIdentifier"),
}


@dataclass(frozen=True, slots=True)
class _Cached:
    record: Record
    entity: dict[str, Any]
    card: dict[str, Any] | None
    at: float


class IpmConnector:
    """IPM (Karbon API v3) as a :class:`~pmtools.connectors.base.Connector`.

    :meth:`stats` counts requests by kind: ``list`` (pages), ``details`` (cards read by
    :meth:`load_details`), ``card`` (a card read before a write), ``write``, ``create``,
    ``lookup`` (by UserDefinedIdentifier), ``read`` (:meth:`get_record`) and ``check``.

    ``rate_limit`` is requests a minute for this connector's every request (Karbon allows 120
    per firm and application; 0 = no pacing). ``workers`` threads read cards in
    :meth:`load_details`, all paced by the same limiter. Cards read by ``load_details`` are
    reused by a write within ``card_ttl`` seconds; older ones are read again. (Karbon has no
    ETags, and a PUT replaces the whole card: a change made in IPM to any of the card's values
    between our read and our write would be lost, and it is not in the audit trail. So the
    default window is two minutes, not the length of a large sync: safety over one request.)
    """

    side = Side.IPM

    def __init__(
        self,
        base_url: str,
        token: str,
        access_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        rate_limit: float = 120,
        timeout: float = 30.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        retry: RetryPolicy | None = None,
        workers: int = 4,
        card_ttl: float = 120.0,
        deadline: float = replies.DEADLINE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.rate_limit = rate_limit
        self._max_pages = max_pages
        self._http = HttpClient(
            base_url,
            label="IPM",
            side=Side.IPM.value,
            transport=transport,
            timeout=timeout,
            rate_limit=rate_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
            deadline=deadline,
            secrets=(token, access_key),
            headers={
                "Authorization": f"Bearer {token}",
                "AccessKey": access_key,
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
            },
        )
        self._clock = clock
        self._workers = max(1, workers)
        self._card_ttl = card_ttl
        self._cache: dict[tuple[Kind, str], _Cached] = {}
        self._found: dict[tuple[Kind, str], Record] = {}
        self._unreadable: list[Unreadable] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"IpmConnector({redact_url(self._http.base_url)!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def stats(self) -> RequestStats:
        """What this connector's HTTP client has done so far."""
        return self._http.stats()

    # -- reading ----------------------------------------------------------------------------

    def check(self) -> str:
        """``GET /v3/TenantSettings``: proves the URL and both keys work."""
        body = self._json_object(
            self._http.request("GET", "/v3/TenantSettings", kind="check"), "tenant settings"
        )
        tenant = body.get("TenantKey")
        return f"IPM tenant {tenant}" if tenant else "IPM connected"

    def identity(self) -> Identity:
        """``GET /v3/TenantSettings``: the tenant (its TenantKey; Karbon gives no firm name)."""
        response = self._http.request("GET", "/v3/TenantSettings", kind="check")
        key = self._json_object(response, "tenant settings").get("TenantKey")
        if not isinstance(key, str) or not key.strip():
            raise self._service(response, "the tenant settings have no TenantKey")
        return Identity(side=self.side, id=key.strip())

    def iter_records(self, kind: Kind, *, modified_since: str | None = None) -> Iterator[Record]:
        """Yield every organization or person from the list endpoint, page by page.

        With ``modified_since``, pages are read newest first and reading stops at the first row
        older than the mark (the caller chooses the mark, overlap included).
        """
        api = _API[kind]
        mark = parse_time(modified_since) if modified_since else None
        order = "LastModifiedDateTime desc" if mark else "FullName"
        params: dict[str, Any] = {"$top": PAGE_SIZE, "$orderby": order}
        first = f"/v3/{api.collection}"
        url = self._http.url(first) + query_string(params)
        guard = PageGuard(
            self._http,
            kind.ipm_name,
            endpoint=self._http.url(first),
            page_size=PAGE_SIZE,
            max_pages=self._max_pages,
        )
        guard.check(url)
        seen: set[str] = set()
        while True:
            response = self._http.request("GET", url, kind="list")
            body = self._json_object(response, f"{kind.ipm_name} list page")
            rows = body.get("value")
            if not isinstance(rows, list):
                raise self._service(response, f"the {kind.ipm_name} list page has no 'value' list")
            new = 0
            for row in rows:
                record = self._from_row(kind, row, response)
                if isinstance(record, Unreadable):
                    if record.id not in seen:
                        seen.add(record.id)
                        new += 1
                        self._leave_out(record)
                    continue
                if mark is not None and is_older(record.modified_at, mark):
                    return
                if record.id not in seen:
                    seen.add(record.id)
                    new += 1
                    yield record
            link = body.get("@odata.nextLink")
            more = (isinstance(link, str) and link.strip()) or len(rows) >= PAGE_SIZE
            if more:
                guard.page(new_rows=new, count=body.get("@odata.count"))
            if isinstance(link, str) and link.strip():
                url = resolve_link(self._http, link.strip(), str(response.request.url))
            else:
                skip = skip_of(response.request.url) + len(rows)
                count = body.get("@odata.count")
                if len(rows) < PAGE_SIZE or (isinstance(count, int) and skip >= count):
                    return
                # a full page and no link: Karbon's docs disagree on whether the link always
                # comes, so ask for the next page ourselves
                url = self._http.url(first) + query_string(params | {"$skip": skip})
            guard.check(url)

    def take_unreadable(self) -> list[Unreadable]:
        """The rows :meth:`iter_records` left out since the last call (then forgotten)."""
        with self._lock:
            taken, self._unreadable = self._unreadable, []
        return taken

    def get_record(self, kind: Kind, record_id: str) -> Record:
        """Read one organization or person with its primary card; NotFound when gone."""
        return self._fetch(kind, record_id).record

    def load_details(self, kind: Kind, records: Sequence[Record]) -> list[Record]:
        """Read the cards of organizations that lack them; everything else passes through.

        A record that is gone (or refused) by now is returned as it was, still incomplete.
        """
        todo = [r for r in records if not r.details_complete]
        if not todo:
            return list(records)

        def one(record: Record) -> Record:
            try:
                return self._fetch(kind, record.id, label="details").record
            except RecordError as exc:  # NotFound included: keep going with the others
                log.warning("%s", exc)
                return record

        with ThreadPoolExecutor(max_workers=min(self._workers, len(todo))) as pool:
            loaded = dict(zip((r.id for r in todo), pool.map(one, todo), strict=True))
        return [loaded.get(r.id, r) if not r.details_complete else r for r in records]

    def find_by_external_id(self, kind: Kind, external_id: str) -> Record | None:
        """The record whose UserDefinedIdentifier is ``external_id``, or None."""
        with self._lock:
            found = self._found.pop((kind, external_id), None)
        if found is not None:
            return found
        try:
            return self._lookup(kind, external_id)
        except NotFound:
            return None

    # -- writing ----------------------------------------------------------------------------

    def update_fields(self, kind: Kind, record_id: str, values: Mapping[str, FieldValue]) -> Record:
        """Write synced fields to the primary card with a whole-card PUT; others are kept.

        409/4020 (changed meanwhile) → read the card again, re-apply, re-send (bounded).
        """
        for name in values:
            if name not in kind.fields:
                raise KeyError(f"{name!r} is not a synced field of {kind}")
        for attempt in range(1, CONFLICT_TRIES + 1):
            cached = self._take_cached(kind, record_id) if attempt == 1 else None
            current = cached or self._fetch(kind, record_id, remember=False, label="card")
            try:
                return self._write(kind, current, values)
            except RecordError as exc:
                if exc.status != 409 or attempt == CONFLICT_TRIES:
                    raise
                log.info("IPM %s %s changed meanwhile; reading it again", kind.ipm_name, record_id)
        raise AssertionError("unreachable")

    def create_record(self, kind: Kind, draft: Record, *, external_id: str) -> Record:
        """``POST`` an organization or person with a primary card holding the synced fields.

        Raises DuplicateCreate when ``external_id`` is already in use (the record is then
        returned by the next :meth:`find_by_external_id` without a request).
        """
        api = _API[kind]
        body = self._create_body(kind, draft, external_id)
        tries = self._http.retry.attempts
        for attempt in range(1, tries + 1):
            try:
                response = self._http.request(
                    "POST", f"/v3/{api.collection}", json=body, kind="create"
                )
            except ServiceError as exc:
                # 500/5001 is both "duplicate identifier" and Karbon's generic error; any other
                # 5xx, timeout or drop may have created the record: look before sending again
                existing = self._lookup_quietly(kind, external_id)
                if existing is not None:
                    raise self._duplicate(kind, external_id, existing) from None
                if attempt == tries:
                    raise
                log.info(
                    "IPM create of %s %r failed (%s); nothing was created, sending again",
                    kind.ipm_name,
                    external_id,
                    exc.status or "no reply",
                )
                self._http.backoff(attempt)
                continue
            return self._created(kind, draft, external_id, response)
        raise AssertionError("unreachable")

    # -- internals ----------------------------------------------------------------------------

    def _fetch(
        self, kind: Kind, key: str, *, remember: bool = True, label: str = "read"
    ) -> _Cached:
        api = _API[kind]
        path = f"/v3/{api.collection}/{_path_key(key)}" + query_string({"$expand": "BusinessCards"})
        response = self._http.request("GET", path, kind=label)
        return self._entity(kind, response, remember=remember)

    def _lookup(self, kind: Kind, external_id: str) -> Record:
        api = _API[kind]
        literal = quote(external_id.replace("'", "''"), safe="-._~!$&*+,;:@'")
        path = (
            f"/v3/{api.collection}/{api.lookup}(UserDefinedIdentifier='{literal}')"
            + query_string({"$expand": "BusinessCards"})
        )
        response = self._http.request("GET", path, kind="lookup")
        return self._entity(kind, response, remember=True).record

    def _lookup_quietly(self, kind: Kind, external_id: str) -> Record | None:
        try:
            return self._lookup(kind, external_id)
        except NotFound:
            return None

    def _entity(self, kind: Kind, response: httpx.Response, *, remember: bool) -> _Cached:
        api = _API[kind]
        entity = self._json_object(response, f"{kind.ipm_name} record")
        key = entity.get(api.key)
        if not isinstance(key, str) or not key:
            raise RecordError(
                self._http.scrub(
                    f"IPM {response.request.method} {redact_url(response.request.url)}: the reply "
                    f"has no {api.key}"
                ),
                side=self.side.value,
                status=response.status_code,
            )
        try:
            card = cards.primary_card(cards.check_cards(entity.get("BusinessCards")))
            card_values = cards.card_fields(card, kind)
            if kind is Kind.ACCOUNTS:
                record = Record(
                    side=self.side,
                    kind=kind,
                    id=key,
                    name=text_field(entity, "FullName") or "",
                    **card_values,
                    **_common(entity),
                    extra=_extra(entity),
                )
            else:
                parts = [text_field(entity, n) for n in ("FirstName", "MiddleName", "LastName")]
                name = text_field(entity, "FullName") or " ".join(p for p in parts if p)
                record = Record(
                    side=self.side,
                    kind=kind,
                    id=key,
                    name=name,
                    first_name=parts[0],
                    middle_name=parts[1],
                    last_name=parts[2],
                    **card_values,
                    **_common(entity),
                    extra=_extra(entity),
                )
        except FieldProblem as exc:
            bad = _unreadable(kind, key, entity, str(exc))
            raise RecordError(
                self._http.scrub(bad.message()), side=self.side.value, status=response.status_code
            ) from None
        plain = {k: v for k, v in entity.items() if k != "BusinessCards"}
        cached = _Cached(record=record, entity=plain, card=card, at=self._clock())
        if remember:
            with self._lock:
                self._cache[(kind, key)] = cached
        return cached

    def _take_cached(self, kind: Kind, key: str) -> _Cached | None:
        with self._lock:
            cached = self._cache.pop((kind, key), None)
        if cached is not None and self._clock() - cached.at <= self._card_ttl:
            return cached
        return None

    def _write(self, kind: Kind, current: _Cached, values: Mapping[str, FieldValue]) -> Record:
        record = current.record
        try:
            if current.card is None:
                card = cards.new_card(kind, values, entity_key=record.id)
                self._put_entity_with_card(kind, current, card)
            else:
                card = cards.apply_fields(current.card, kind, values)
                if card == cards.clean_card(current.card):
                    return record.with_fields(cards.card_fields(card, kind))
                key = card.get("BusinessCardKey")
                if not isinstance(key, str) or not key:
                    raise RecordError(
                        f"IPM {kind.ipm_name} {record.id}: its card has no BusinessCardKey",
                        side=self.side.value,
                    )
                card.setdefault("EntityType", cards.ENTITY_TYPE[kind])
                card.setdefault("EntityKey", record.id)
                self._http.request(
                    "PUT", f"/v3/BusinessCards/{_path_key(key)}", json=card, kind="write"
                )
        except cards.CardError as exc:  # the record by name: the message is for people
            raise RecordError(
                f"IPM {kind.ipm_name} {record.name or record.id!r}: {exc}", side=self.side.value
            ) from None
        return record.with_fields(cards.card_fields(card, kind))

    def _put_entity_with_card(self, kind: Kind, current: _Cached, card: dict[str, Any]) -> None:
        """Give a card-less entity its first card: PUT the entity as read, plus the card."""
        api = _API[kind]
        # PUT replaces the entity: send back what was read of the writable properties.
        # RestrictionLevel is left out (omitted = unchanged; sending it needs permissions).
        body = {k: v for k, v in cards.clean_card(current.entity).items() if k in _WRITABLE[kind]}
        if kind is Kind.ACCOUNTS:
            body["FullName"] = current.record.name
        body["BusinessCards"] = [card]
        self._http.request(
            "PUT", f"/v3/{api.collection}/{_path_key(current.record.id)}", json=body, kind="write"
        )

    def _create_body(self, kind: Kind, draft: Record, external_id: str) -> dict[str, Any]:
        values = {k: v for k, v in draft.field_values().items() if has_value(v)}
        try:
            card = cards.new_card(kind, values)
        except cards.CardError as exc:
            raise RecordError(f"IPM create {draft.name!r}: {exc}", side=self.side.value) from None
        body: dict[str, Any] = {"UserDefinedIdentifier": external_id}
        if kind is Kind.ACCOUNTS:
            if not draft.name.strip():
                raise RecordError("IPM create: an organization needs a name", side="ipm")
            body["FullName"] = draft.name.strip()
        else:
            first, middle, last = person_parts(draft)
            if not first or not last:
                raise RecordError(
                    f"IPM create {draft.name!r}: a person needs a first and a last name",
                    side=self.side.value,
                )
            body |= {"FirstName": first, "LastName": last}
            if middle:
                body["MiddleName"] = middle
        body["BusinessCards"] = [card]
        return body

    def _created(
        self, kind: Kind, draft: Record, external_id: str, response: httpx.Response
    ) -> Record:
        api = _API[kind]
        try:  # the create happened: an unusable reply only costs the lookup below
            reply = replies.load_json(response.content)
        except replies.BadReply:
            reply = None
        reply = reply if isinstance(reply, dict) else {}
        key = reply.get(api.key)
        if not isinstance(key, str) or not key:
            match = re.search(r"\('([^']+)'\)", response.headers.get("Location", ""))
            key = match.group(1) if match else None
        if not key:
            # created, but we cannot tell its key: find it by its identifier
            found = self._lookup_quietly(kind, external_id)
            if found is None:
                raise ServiceError(
                    f"IPM created {kind.ipm_name} {external_id!r} but gave no key",
                    side=self.side.value,
                    status=response.status_code,
                )
            return found
        values = {k: v for k, v in draft.field_values().items() if has_value(v)}
        if kind is Kind.CONTACTS:
            first, middle, last = person_parts(draft)
            name = " ".join(p for p in (first, middle, last) if p)
            parts = {"first_name": first, "middle_name": middle, "last_name": last}
        else:
            name, parts = _quietly(text_field, reply, "FullName") or draft.name.strip(), {}
        return Record(
            side=self.side,
            kind=kind,
            id=key,
            name=name,
            **parts,
            **values,
            external_id=external_id,
            modified_at=_quietly(time_field, reply, "LastModifiedDateTime"),
        )

    def _duplicate(self, kind: Kind, external_id: str, existing: Record) -> DuplicateCreate:
        with self._lock:
            self._found[(kind, external_id)] = existing
        return DuplicateCreate(
            f"IPM {kind.ipm_name} with UserDefinedIdentifier {external_id!r} already exists "
            f"({existing.id})",
            side=self.side.value,
            status=500,
            code="5001",
        )

    def _from_row(self, kind: Kind, row: Any, response: httpx.Response) -> Record | Unreadable:
        """A list row as a Record, or as Unreadable when a field has the wrong type."""
        api = _API[kind]
        key = row.get(api.key) if isinstance(row, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise self._service(response, f"a {kind.ipm_name} list row has no {api.key}")
        try:
            name = text_field(row, "FullName") or ""
            if kind is Kind.ACCOUNTS:
                return Record(
                    side=self.side,
                    kind=kind,
                    id=key,
                    name=name,
                    phone=text_field(row, "PhoneNumber"),
                    website=text_field(row, "Website"),
                    details_complete=False,
                    **_common(row),
                    extra=_extra(row),
                )
            return Record(
                side=self.side,
                kind=kind,
                id=key,
                name=name,
                email=text_field(row, "EmailAddress"),
                title=text_field(row, "RoleOrTitle"),
                **_common(row),
                extra=_extra(row),
            )
        except FieldProblem as exc:
            return _unreadable(kind, key, row, str(exc))

    def _leave_out(self, bad: Unreadable) -> None:
        log.warning("%s", self._http.scrub(bad.message()))
        with self._lock:
            self._unreadable.append(bad)

    def _json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self._http.parse_json(response)
        if not isinstance(body, dict):
            raise self._service(response, f"the {what} is not a JSON object")
        return body

    def _service(self, response: httpx.Response, problem: str) -> MalformedReply:
        error = self._http.malformed(response.request.url, problem, method=response.request.method)
        error.status = response.status_code
        return error


def _common(row: Mapping[str, Any]) -> dict[str, Any]:
    """Fields every row and entity has; FieldProblem when one has the wrong type."""
    return {
        "modified_at": time_field(row, "LastModifiedDateTime"),
        "external_id": text_field(row, "UserDefinedIdentifier"),
    }


def _unreadable(kind: Kind, key: str, row: Mapping[str, Any], problem: str) -> Unreadable:
    name = row.get("FullName")
    return Unreadable(
        side=Side.IPM,
        kind=kind,
        id=key,
        problem=problem,
        name=name.strip() if isinstance(name, str) else "",
    )


def _extra(row: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    names = {
        "EmailAddress": "email",
        "PhoneNumber": "phone",
        "Address": "address",
        "ContactType": "contact_type",
    }
    return tuple(
        (label, str(row[k]))
        for k, label in names.items()
        if isinstance(row.get(k), str) and row[k].strip()
    )


def _quietly(read: Any, row: Mapping[str, Any], key: str) -> str | None:
    """``read(row, key)``, or None when the value has the wrong type (we know better)."""
    try:
        return read(row, key)
    except FieldProblem:
        return None


def _path_key(key: str) -> str:
    return quote(key, safe="")
