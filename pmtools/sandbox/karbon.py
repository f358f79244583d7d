"""Karbon API v3 routes of the simulator (mounted under ``/karbon``).

Organizations, Contacts (people), BusinessCards, TenantSettings and the two
GetByUserDefinedIdentifier look-ups, as ``KarbonAPI.json`` describes them. Authentication,
the rate limit, latency and faults are applied around these routes (:mod:`.faults`).

Where the spec and Karbon's own tests disagree, the simulator follows Karbon (free-text labels,
dialling codes, CRM fields kept, Karbon's error words). Where both are silent it makes a choice
that :mod:`.variants` can turn the other way: by default a business card change bumps its
owner's ``LastModifiedDateTime``, the last page of a list has no ``@odata.nextLink``, a 404
has a JSON body, and an unknown address or phone key on a card PUT is a new entry.
docs/sandbox.md lists each choice and the client's defence.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pmtools.sandbox import odata
from pmtools.sandbox.karbon_crm import parse_accounting, parse_description
from pmtools.sandbox.karbon_model import (
    DTO,
    ENTITY_TYPE,
    NAME_ORDER,
    ORG_FIELDS,
    PATCHABLE,
    PERSON_FIELDS,
    RESTRICTION_LEVELS,
    SET_NAME,
    KarbonError,
    card_reply,
    entity,
    invalid,
    list_row,
    parse_card,
    patch_refused,
    person_full_name,
)
from pmtools.sandbox.state import CARDS, ORGANIZATIONS, PEOPLE, SandboxState
from pmtools.sandbox.variants import KarbonVariants

FILTERABLE = {
    ORGANIZATIONS: ("FullName", "EmailAddress", "ContactType"),
    PEOPLE: ("FullName", "EmailAddress", "PhoneNumber"),
}
KEY_FIELD = {ORGANIZATIONS: "OrganizationKey", PEOPLE: "ContactKey"}
_UDI_LOOKUP = {
    ORGANIZATIONS: re.compile(
        r"^(?:KarbonService\.)?GetOrganizationByUserDefinedIdentifier"
        r"\(UserDefinedIdentifier='(.*)'\)$",
        re.DOTALL,
    ),
    PEOPLE: re.compile(
        r"^(?:KarbonService\.)?GetContactByUserDefinedIdentifier"
        r"\(UserDefinedIdentifier='(.*)'\)$",
        re.DOTALL,
    ),
}
DUPLICATE_UDI = KarbonError(500, "5001", "User defined identifier already in use")


def build_karbon_app(state: SandboxState, variants: KarbonVariants | None = None) -> Starlette:
    """The Karbon v3 ASGI app over ``state``; ``variants`` play undocumented behaviours the
    other way (:mod:`.variants`)."""
    routes = [Route("/v3/TenantSettings", _wrap(state, tenant_settings), methods=["GET"])]
    for collection in (ORGANIZATIONS, PEOPLE):
        name = SET_NAME[collection]
        routes += [
            Route(f"/v3/{name}", _wrap(state, list_records, collection), methods=["GET"]),
            Route(f"/v3/{name}", _wrap(state, create_record, collection), methods=["POST"]),
            Route(
                f"/v3/{name}/{{key:path}}", _wrap(state, read_record, collection), methods=["GET"]
            ),
            Route(
                f"/v3/{name}/{{key:path}}",
                _wrap(state, replace_record, collection),
                methods=["PUT"],
            ),
            Route(
                f"/v3/{name}/{{key:path}}",
                _wrap(state, patch_record, collection),
                methods=["PATCH"],
            ),
        ]
    routes += [
        Route("/v3/BusinessCards/{key}", _wrap(state, read_card), methods=["GET"]),
        Route("/v3/BusinessCards/{key}", _wrap(state, replace_card), methods=["PUT"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.variants = variants or KarbonVariants()
    return app


def _variants(request: Request) -> KarbonVariants:
    return request.app.state.variants


def _wrap(state: SandboxState, handler: Any, *args: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else None
            with state.transaction():
                return handler(state, request, *args, body=body)
        except KarbonError as exc:
            if exc.status == 404 and _variants(request).bare_404:
                return Response(b"", status_code=404, media_type="text/plain")
            return exc.response()

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 405:
        return JSONResponse(
            {
                "error": {
                    "code": "4002",
                    "message": (
                        f"No HTTP resource was found that matches the request URI '{request.url}'"
                    ),
                }
            },
            status_code=405,
        )
    return JSONResponse(
        {"statusCode": str(status), "message": "Resource not found"}, status_code=status
    )


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise KarbonError(400, "4002", "The request body is not valid JSON.") from None


def _base(request: Request) -> str:
    """This service's base URL, mount path included (``http://host:port/karbon``)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def tenant_settings(state: SandboxState, request: Request, body: Any = None) -> Response:
    """GET /v3/TenantSettings."""
    return JSONResponse(state.tenant)


def list_records(
    state: SandboxState, request: Request, collection: str, body: Any = None
) -> Response:
    """GET /v3/Organizations and /v3/Contacts: one page of summary rows."""
    params = request.query_params
    name = SET_NAME[collection]
    try:
        for option in params:
            if option.startswith("$") and option not in odata.ALLOWED_OPTIONS:
                raise odata.QueryError(odata.option_refused(option))
        dto = f"KarbonService.{DTO[collection].replace('DTO', 'SummaryDTO')}"
        conditions = (
            odata.parse_filter(params["$filter"], FILTERABLE[collection], dto)
            if params.get("$filter", "").strip()
            else []
        )
        order, desc = odata.parse_orderby(params.get("$orderby"))
        top, skip = odata.parse_paging(params.get("$top"), params.get("$skip"))
    except odata.QueryError as exc:
        raise KarbonError(400, "4002", str(exc)) from None
    rows = _sorted_rows(state, collection, order, desc)
    if conditions:
        rows = [r for r in rows if all(c.test(r) for c in conditions)]
    page = rows[skip : skip + top]
    body: dict[str, Any] = {
        "@odata.context": f"{_base(request)}/v3/$metadata#{name}/"
        f"KarbonService.{DTO[collection].replace('DTO', 'SummaryDTO')}",
        "@odata.count": len(rows),
        "value": page,
    }
    if top > 0 and (skip + top < len(rows) or (_variants(request).next_link_on_last_page and page)):
        body["@odata.nextLink"] = str(
            request.url.include_query_params(**{"$top": top, "$skip": skip + top})
        )
    return JSONResponse(body)


def _sorted_rows(
    state: SandboxState, collection: str, order: str | None, desc: bool
) -> list[dict[str, Any]]:
    """Every list row in order, cached until the state next changes."""
    cache_key = ("karbon-rows", collection, order, desc)
    cached = state.cache.get(cache_key)
    if cached is not None and cached[0] == state.version:
        return cached[1]
    rows = [
        list_row(collection, r, state.primary_card(r[KEY_FIELD[collection]]))
        for r in state.records[collection].values()
    ]
    rows = odata.sort_rows(rows, order, desc, KEY_FIELD[collection])
    state.cache[cache_key] = (state.version, rows)
    return rows


def read_record(
    state: SandboxState, request: Request, collection: str, body: Any = None
) -> Response:
    """GET one organization/contact by key, or by UserDefinedIdentifier look-up."""
    for option in request.query_params:
        if option.startswith("$") and option != "$expand":
            # Karbon refuses $select on a single record as on a list (its own tests check it)
            raise KarbonError(400, "4002", odata.option_refused(option))
    expand = request.query_params.get("$expand", "")
    wanted = {p.strip() for p in expand.split(",") if p.strip()}
    unknown = wanted - {"BusinessCards", "BusinessCard", "ClientTeam", "Contacts", "ClientAccess"}
    if unknown:
        raise KarbonError(
            400,
            "4002",
            f"Could not find a property named '{sorted(unknown)[0]}'"
            f" on type 'KarbonService.{DTO[collection]}'.",
        )
    record = _find(state, collection, request.path_params["key"])
    cards = None
    if wanted & {"BusinessCards", "BusinessCard"}:
        cards = state.cards_of(record[KEY_FIELD[collection]])
    return JSONResponse(entity(collection, record, _base(request), cards))


def create_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """POST /v3/Organizations and /v3/Contacts: 201 with the record and a Location."""
    if not isinstance(body, dict):
        raise KarbonError(
            400, "4005", f"Required payload data is missing: {ENTITY_TYPE[collection].lower()}"
        )
    key = state.new_key(collection)
    record = _fields_from(state, collection, body, key, old=None)
    udi = record.get("UserDefinedIdentifier")
    if udi and state.key_for_udi(collection, udi) is not None:
        raise DUPLICATE_UDI
    cards = _cards_from(state, collection, key, body.get("BusinessCards"), replace=False)
    state.put(collection, record)
    for card in cards:
        state.put(CARDS, card)
    base = _base(request)
    location = f"{base}/v3/{SET_NAME[collection]}('{key}')/KarbonService.{DTO[collection]}"
    return JSONResponse(
        entity(collection, record, base, state.cards_of(key)),
        status_code=201,
        headers={"Location": location},
    )


def replace_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """PUT one organization/contact: replaces its properties; cards only when sent."""
    old = _find(state, collection, request.path_params["key"], by_udi=False)
    if not isinstance(body, dict):
        raise KarbonError(400, "4005", "Required payload data is missing: update")
    key = old[KEY_FIELD[collection]]
    record = _fields_from(state, collection, body, key, old=old)
    udi = record.get("UserDefinedIdentifier")
    if udi and state.key_for_udi(collection, udi) not in (None, key):
        raise DUPLICATE_UDI
    if "BusinessCards" in body and body["BusinessCards"] is not None:
        cards = _cards_from(state, collection, key, body["BusinessCards"], replace=True)
        keep = {c["BusinessCardKey"] for c in cards}
        for card in state.cards_of(key):
            if card["BusinessCardKey"] not in keep:
                state.delete(CARDS, card["BusinessCardKey"])
        for card in cards:
            state.put(CARDS, card)
    state.put(collection, record)
    return Response(status_code=204)


def patch_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """PATCH one organization/contact: only the name properties and RestrictionLevel."""
    old = _find(state, collection, request.path_params["key"], by_udi=False)
    if not isinstance(body, dict) or not body:
        raise KarbonError(400, "4005", "Required payload data is missing: update")
    allowed = PATCHABLE[collection]
    bad = [name for name in body if name not in allowed]
    if bad:
        raise patch_refused(collection)
    record = dict(old)
    for name, value in body.items():
        if value is not None and not isinstance(value, str):
            raise invalid(f"{name} must be a string.")
        record[name] = value or None
    _check_restriction(record)
    if collection == PEOPLE:
        if not record.get("FirstName") or not record.get("LastName"):
            raise invalid("The FirstName and LastName fields are required.")
        record["FullName"] = person_full_name(record)
    elif not (record.get("FullName") or "").strip():
        raise invalid("The FullName field is required.")
    record["LastModifiedDateTime"] = state.stamp()
    state.put(collection, record)
    reply = entity(collection, record, _base(request), None)
    return JSONResponse(reply)


def read_card(state: SandboxState, request: Request, body: Any = None) -> Response:
    """GET /v3/BusinessCards/{key}."""
    card = state.get(CARDS, request.path_params["key"])
    if card is None:
        raise KarbonError(404, "4004", f"Invalid businessCardPermaKey {request.path_params['key']}")
    reply = card_reply(card)
    reply["@odata.context"] = f"{_base(request)}/v3/$metadata#BusinessCards/$entity"
    return JSONResponse(reply)


def replace_card(state: SandboxState, request: Request, body: Any) -> Response:
    """PUT /v3/BusinessCards/{key}: replaces the whole card; bumps its owner's timestamp."""
    old = state.get(CARDS, request.path_params["key"])
    if old is None:
        raise KarbonError(404, "4004", f"Invalid businessCardPermaKey {request.path_params['key']}")
    if not isinstance(body, dict):
        raise KarbonError(400, "4005", "Required payload data is missing: businessCard")
    if not body.get("EntityType"):
        raise invalid("The EntityType field is required.")
    if _variants(request).unknown_key_refused:
        _refuse_unknown_keys(old, body)
    card = parse_card(
        state, body, entity_type=old["EntityType"], entity_key=old["EntityKey"], old=old
    )
    owner_collection = ORGANIZATIONS if old["EntityType"] == "Organization" else PEOPLE
    owner = state.get(owner_collection, old["EntityKey"])
    state.put(CARDS, card)
    if owner is not None and not _variants(request).card_edit_keeps_time:
        owner["LastModifiedDateTime"] = state.stamp()
        state.put(owner_collection, owner)
    return Response(status_code=204)


def _refuse_unknown_keys(old: dict[str, Any], body: dict[str, Any]) -> None:
    """400/4003 for an address or phone key the card does not have (a variant's choice)."""
    for entries, key_name in (("Addresses", "AddressKey"), ("PhoneNumbers", "PhoneNumberKey")):
        known = {e.get(key_name) for e in old.get(entries) or []}
        sent = body.get(entries) if isinstance(body.get(entries), list) else []
        for entry in sent:
            key = entry.get(key_name) if isinstance(entry, dict) else None
            if key and key not in known:
                raise invalid(f"{key_name} '{key}' is not a key of this business card.")


def _find(state: SandboxState, collection: str, key: str, *, by_udi: bool = True) -> dict[str, Any]:
    match = _UDI_LOOKUP[collection].match(key) if by_udi else None
    noun = ENTITY_TYPE[collection]
    if match is not None:
        udi = odata.unquote(f"'{match.group(1)}'")
        if not udi.strip():
            raise KarbonError(400, "4002", "UserDefinedIdentifier is missing or empty")
        found = state.key_for_udi(collection, udi)
        if found is None:
            raise KarbonError(404, "4004", f"No {noun} found for provided UserDefinedIdentifer")
        key = found
    record = state.get(collection, key)
    if record is None:
        if collection == ORGANIZATIONS:
            raise KarbonError(404, "4004", f"No organization exists with a key of {key}.")
        raise KarbonError(404, "4004", "No Contact found for provided key")
    return record


def _fields_from(
    state: SandboxState, collection: str, body: dict[str, Any], key: str, old: dict[str, Any] | None
) -> dict[str, Any]:
    """The stored record a POST or PUT body describes: every property not sent is cleared."""
    fields = ORG_FIELDS if collection == ORGANIZATIONS else PERSON_FIELDS
    record: dict[str, Any] = {KEY_FIELD[collection]: key}
    for name in fields:
        value = body.get(name)
        if name == "EntityDescription":
            value = parse_description(value)
        elif name == "AccountingDetail":
            value = parse_accounting(value)
        elif value is not None and not isinstance(value, str):
            raise invalid(f"{name} must be a string.")
        record[name] = value if value not in ("",) else None
    if record.get("RestrictionLevel") is None:
        record["RestrictionLevel"] = (old or {}).get("RestrictionLevel") or "Public"
    _check_restriction(record)
    contact_type = record.get("ContactType")
    known = {t["Name"] for t in state.tenant.get("ContactTypes", [])}
    if contact_type is not None and known and contact_type not in known:
        raise invalid(f"ContactType '{contact_type}' is not a Contact Type of this tenant.")
    if collection == ORGANIZATIONS:
        if not (record.get("FullName") or "").strip():
            raise invalid("The FullName field is required.")
    else:
        if (
            not (record.get("FirstName") or "").strip()
            or not (record.get("LastName") or "").strip()
        ):
            raise invalid("The FirstName and LastName fields are required.")
        if old is not None and old.get(NAME_ORDER):
            record[NAME_ORDER] = old[NAME_ORDER]
        record["FullName"] = person_full_name(record)
    record["LastModifiedDateTime"] = state.stamp()
    return record


def _check_restriction(record: dict[str, Any]) -> None:
    level = record.get("RestrictionLevel")
    if level not in RESTRICTION_LEVELS:
        raise invalid("RestrictionLevel must be Public, Private or Hidden.")
    if level != "Public":
        raise KarbonError(
            403,
            "4021",
            f"This API application does not have permission to set RestrictionLevel to {level}.",
        )


def _cards_from(
    state: SandboxState, collection: str, key: str, raw: Any, *, replace: bool
) -> list[dict[str, Any]]:
    """Cards to store from a POST/PUT ``BusinessCards`` array; exactly one ends up primary."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("BusinessCards must be an array.")
    existing = {c["BusinessCardKey"]: c for c in state.cards_of(key)} if replace else {}
    cards = []
    for item in raw:
        # a create's cards are new whatever keys they carry (Karbon assigns the keys)
        card_key = item.get("BusinessCardKey") if isinstance(item, dict) and replace else None
        old = None
        if card_key:
            if card_key not in existing:
                raise invalid(
                    f"BusinessCardKey '{card_key}' is not a card of this {ENTITY_TYPE[collection]}."
                )
            old = existing[card_key]
        cards.append(
            parse_card(
                state,
                item,
                entity_type=ENTITY_TYPE[collection],
                entity_key=key,
                old=old,
                new_entity=not replace,
            )
        )
    primaries = [c for c in cards if c["IsPrimaryCard"]]
    for card in cards:
        card["IsPrimaryCard"] = False
    if cards:
        (primaries[0] if primaries else cards[0])["IsPrimaryCard"] = True
    return cards
